//! One module per group of subcommands. Each returns the process exit code.

mod context;
mod docker;
mod kube;
mod mlcube;
pub mod oci;
mod render;
mod run;
mod spec;
mod workloads;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, Command};

pub async fn dispatch(cli: Cli) -> Result<u8> {
    let ctx = cli.global.context.as_deref();
    match cli.command {
        Command::Run(args) => run::run(ctx, args).await,
        Command::Ps(args) => workloads::ps(ctx, args).await,
        Command::Logs(args) => workloads::logs(ctx, args).await,
        Command::Inspect(args) => workloads::inspect(ctx, args).await,
        Command::Stop(args) => workloads::stop(ctx, args).await,
        Command::Rm(args) => workloads::rm(ctx, args).await,
        Command::Wait(args) => run::wait(ctx, args).await,
        Command::Pause(args) => workloads::pause(ctx, args, true).await,
        Command::Resume(args) => workloads::pause(ctx, args, false).await,
        Command::Stats(args) => workloads::stats(ctx, args).await,
        Command::Context(cmd) => context::run(ctx, cmd).await,
        Command::Validate(args) => spec::validate(args),
        Command::Schema => spec::schema(),
        Command::Render(args) => render::render(args),
        Command::PortForward(args) => kube::port_forward(ctx, args).await,
        Command::Build(args) => docker::build(ctx, args).await,
        Command::Push(args) => docker::push(ctx, args).await,
        Command::Up(args) => docker::up(ctx, args).await,
        Command::DockerTimeout { dir } => docker::timeout_supervisor(&dir).await,
        Command::Image(cmd) => oci::image(cmd).await,
        Command::Checkpoint(args) => oci::checkpoint(ctx, args).await,
        Command::Restore(args) => oci::restore(ctx, args).await,
        Command::Doctor(args) => oci::doctor(ctx, args).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ferry", &mut std::io::stdout());
            Ok(0)
        }
        Command::Monitor { .. } | Command::OciMonitor { .. } => {
            anyhow::bail!("internal: monitors are dispatched before the async runtime starts")
        }
    }
}
