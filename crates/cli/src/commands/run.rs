//! `ferry run FILE`: validate, record, start; then either print the id
//! (`-d`) or stream the output and exit with the workload's exit code.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Result;
use ferry_core::engine::Engine;
use ferry_core::{Handle, LogOptions, Runtime, RuntimeKind, Status, WorkloadId};
use futures::StreamExt;

use crate::app;
use crate::cli::{RunArgs, TargetsArgs};
use crate::output::write_log_line;

/// Grace period when Ctrl-C stops an attached workload.
const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

pub async fn run(ctx: Option<&str>, args: RunArgs) -> Result<u8> {
    let (mut workload, spec_path) = super::mlcube::load_workload(&args.file, &args.mlcube)?;
    workload.env.extend(args.env);
    let engine = app::engine(ctx)?;
    if !matches!(engine.context.runtime, RuntimeKind::Local | RuntimeKind::Oci) {
        // Only these runtimes have monitors: let the one forked at start go.
        ferry_local::launcher::release_preforked();
    }
    super::mlcube::check_platform(&args.mlcube, engine.context.runtime, &format!("context {:?}", engine.context.name))?;
    let rec = engine.launch(workload, Some(spec_path), args.name).await?;
    if args.detach {
        println!("{}", rec.id);
        return Ok(0);
    }
    // `launch` returned the record refreshed: no need to look it up again.
    let (rec, handle, runtime) = engine.started(rec)?;
    let status = attach(&engine, &*runtime, &handle, &rec.id).await?;
    // At a terminal, say how it ended (the exit code alone is easy to miss);
    // in scripts only what the exit code cannot tell (killed, OOM, timeout).
    let unusual = matches!(&status, Status::Failed { reason, .. } if !reason.starts_with("exited with code"));
    if unusual || std::io::stderr().is_terminal() {
        eprintln!("ferry: {} {status} ({} on {}, id {})", rec.name, rec.runtime, rec.context, rec.id.short());
    }
    Ok(status.exit_code().map_or(1, |c| c.clamp(0, 255) as u8))
}

/// Stream output until the workload ends; Ctrl-C stops it (once) and keeps
/// streaming until the runtime confirms the end.
async fn attach(engine: &Engine, runtime: &dyn Runtime, handle: &Handle, id: &WorkloadId) -> Result<Status> {
    let mut logs = runtime.logs(handle, LogOptions { follow: true, tail: None }).await?;
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    loop {
        tokio::select! {
            line = logs.next() => match line {
                Some(line) => write_log_line(&line?, false, &mut stdout.lock(), &mut stderr.lock())?,
                None => break,
            },
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                eprintln!("ferry: stopping {id} (Ctrl-C again is ignored; use `ferry stop` from another shell)");
                runtime.stop(handle, INTERRUPT_GRACE).await?;
            }
        }
    }
    let _ = stdout.lock().flush();
    // The runtime's own record (the monitor's state file, say) is the source
    // of truth and has the end first; the store follows it (the monitor
    // records it there too, and any later refresh would).
    match runtime.status(handle).await {
        Ok(status) if status.is_terminal() => Ok(status),
        _ => Ok(engine.ended(id).await?.status),
    }
}

/// `ferry wait`: wait for each workload to end, then print its exit code.
pub async fn wait(ctx: Option<&str>, args: TargetsArgs) -> Result<u8> {
    let engine = app::engine(ctx)?;
    for q in &args.workloads {
        let status = engine.wait(q).await?.status;
        match status.exit_code() {
            Some(code) => println!("{code}"),
            None => println!("{}", status),
        }
    }
    Ok(0)
}
