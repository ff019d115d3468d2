//! `ferry`: parse arguments, call ferry-core, print. Exit codes: a workload's
//! own exit code for attached `run`; 125 when Ferry itself failed (as docker).

mod app;
mod cli;
mod commands;
mod output;
mod teardown;

use std::io::IsTerminal;
use std::process::ExitCode;

use ferry_local::launcher::{self, Forked};

use cli::{Cli, Command};

/// Exit code for errors of Ferry itself (bad file, unknown context …).
pub const EXIT_FERRY_ERROR: u8 = 125;

fn main() -> ExitCode {
    let cli = Cli::from_env();
    // The server logs what it does by default; commands only warnings.
    let server = matches!(cli.command, Command::Server(_));
    init_tracing(cli.global.verbose + u8::from(server));
    // Monitors need no async runtime: skip building one.
    match &cli.command {
        Command::Monitor { dir } => return ferry_monitor::local_main(dir),
        Command::OciMonitor { dir } => return ferry_monitor::oci_main(dir),
        // While this process has one thread: fork the workload's monitor now,
        // so it is ready by the time the workload is (see warm_up for what it
        // does meanwhile).
        Command::Run(_) => {
            if let Forked::Monitor { kind, dir } = launcher::prefork(ferry_monitor::warm_up) {
                return ferry_monitor::main_for(&kind, &dir).unwrap_or_else(|| {
                    eprintln!("ferry: no monitor of kind {kind:?}");
                    ExitCode::from(EXIT_FERRY_ERROR)
                });
            }
            app::open_store_in_background();
        }
        _ => {}
    }
    // After the pre-fork, so only the CLI has one (a monitor's exit is off
    // every path that someone waits on).
    // Not for the server: a long-running process gains nothing from it.
    if !matches!(cli.command, Command::Server(_)) {
        teardown::defer_to_helper();
    }
    // `run` mostly waits on its workload: one thread serves it, and starting
    // worker threads would cost every start a third of a millisecond.
    let mut builder = match cli.command {
        Command::Run(_) => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: error: cannot start async runtime: {e}");
            return ExitCode::from(EXIT_FERRY_ERROR);
        }
    };
    let result = rt.block_on(commands::dispatch(cli));
    // The command is done: exit without waiting for the idle worker threads
    // to wind down one by one (a millisecond on every command).
    rt.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ferry: error: {}", error_text(&e));
            ExitCode::from(EXIT_FERRY_ERROR)
        }
    }
}

/// The error and its causes, each said once: many errors already end with
/// their source's text, which `{:#}` would repeat (`…: No such file or
/// directory (os error 2): No such file or directory (os error 2)`).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if text.ends_with(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a terminal: in a file or a pipe they are noise.
    let ansi = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}
