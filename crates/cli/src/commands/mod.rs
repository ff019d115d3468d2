//! One module per group of subcommands. Each returns the process exit code.

mod context;
pub mod monitor;
mod render;
mod run;
mod spec;
mod workloads;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, Command};

pub async fn dispatch(cli: Cli) -> Result<u8> {
    let ctx = cli.context.as_deref();
    match cli.command {
        Command::Run(args) => run::run(ctx, args).await,
        Command::Ps(args) => workloads::ps(ctx, args).await,
        Command::Logs(args) => workloads::logs(ctx, args).await,
        Command::Inspect(args) => workloads::inspect(ctx, args).await,
        Command::Stop(args) => workloads::stop(ctx, args).await,
        Command::Rm(args) => workloads::rm(ctx, args).await,
        Command::Pause(args) => workloads::pause(ctx, args, true).await,
        Command::Resume(args) => workloads::pause(ctx, args, false).await,
        Command::Stats(args) => workloads::stats(ctx, args).await,
        Command::Context(cmd) => context::run(ctx, cmd),
        Command::Validate(args) => spec::validate(args),
        Command::Schema => spec::schema(),
        Command::Render(args) => render::render(args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ferry", &mut std::io::stdout());
            Ok(0)
        }
        Command::Monitor { .. } => unreachable!("dispatched in main before the async runtime starts"),
    }
}
