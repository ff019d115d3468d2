//! `ps`, `logs`, `inspect`, `stop`, `rm`, `pause`, `resume`, `stats`.

use std::time::Duration;

use anyhow::{bail, Result};
use ferry_core::engine::Engine;
use ferry_core::store::WorkloadRecord;
use ferry_core::{LogOptions, Operation, Stats};
use futures::StreamExt;
use serde::Serialize;

use crate::app;
use crate::cli::{Format, LogsArgs, PsArgs, RmArgs, StatsArgs, StopArgs, TargetsArgs};
use crate::output::{self, ago, bytes, print_json, print_table, write_log_line};

pub async fn ps(ctx: Option<&str>, args: PsArgs) -> Result<u8> {
    let engine = app::engine(ctx)?;
    let recs = engine.list(args.all).await?;
    if args.quiet {
        recs.iter().for_each(|r| println!("{}", r.id));
        return Ok(0);
    }
    match args.output {
        Format::Json => print_json(&recs)?,
        Format::Table => {
            let mut t = output::table(&["ID", "NAME", "CONTEXT", "RUNTIME", "STATUS", "CREATED"]);
            for r in &recs {
                t.add_row(vec![
                    r.id.short().to_string(),
                    r.name.clone(),
                    r.context.clone(),
                    r.runtime.to_string(),
                    r.status.to_string(),
                    ago(r.created_at),
                ]);
            }
            print_table(&t);
        }
        Format::Wide => {
            let mut t =
                output::table(&["ID", "NAME", "CONTEXT", "RUNTIME", "NATIVE ID", "STATUS", "PORTS", "CREATED", "FILE"]);
            for r in &recs {
                t.add_row(vec![
                    r.id.to_string(),
                    r.name.clone(),
                    r.context.clone(),
                    r.runtime.to_string(),
                    r.handle.as_ref().map(|h| h.native_id.clone()).unwrap_or_default(),
                    r.status.to_string(),
                    r.handle.as_ref().and_then(|h| h.details.get("ports")).cloned().unwrap_or_default(),
                    r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    r.spec_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                ]);
            }
            print_table(&t);
        }
    }
    Ok(0)
}

pub async fn logs(ctx: Option<&str>, args: LogsArgs) -> Result<u8> {
    let engine = app::engine(ctx)?;
    let (_, handle, runtime) = engine.find_started(&args.workload).await?;
    let mut stream = runtime.logs(&handle, LogOptions { follow: args.follow, tail: args.tail }).await?;
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    while let Some(line) = stream.next().await {
        write_log_line(&line?, args.timestamps, &mut stdout.lock(), &mut stderr.lock())?;
    }
    Ok(0)
}

/// Everything known about one workload, for `ferry inspect`.
#[derive(Serialize)]
struct Inspection {
    #[serde(flatten)]
    record: WorkloadRecord,
    history: Vec<ferry_core::store::StatusEvent>,
    capabilities: Option<ferry_core::Capabilities>,
}

pub async fn inspect(ctx: Option<&str>, args: TargetsArgs) -> Result<u8> {
    let engine = app::engine(ctx)?;
    let mut out = Vec::new();
    for q in &args.workloads {
        let record = engine.find(q).await?;
        let history = engine.store()?.history(&record.id)?;
        let capabilities = engine.runtime_for(&record).ok().map(|r| r.capabilities());
        out.push(Inspection { record, history, capabilities });
    }
    print_json(&out)?;
    Ok(0)
}

pub async fn stop(ctx: Option<&str>, args: StopArgs) -> Result<u8> {
    let engine = app::engine(ctx)?;
    for q in &args.workloads {
        let (rec, handle, runtime) = engine.find_started(q).await?;
        runtime.stop(&handle, Duration::from_secs(args.grace_secs)).await?;
        let rec = engine.refresh(rec).await?;
        println!("{} {}", rec.name, rec.status);
    }
    Ok(0)
}

pub async fn rm(ctx: Option<&str>, args: RmArgs) -> Result<u8> {
    let engine = app::engine(ctx)?;
    for q in &args.workloads {
        let rec = engine.find(q).await?;
        let name = rec.name.clone();
        remove(&engine, rec, args.force).await?;
        println!("{name}");
    }
    Ok(0)
}

/// Remove a (refreshed) workload: its runtime's object, then its record. A
/// live one is refused unless `force`, which stops it at once first.
pub async fn remove(engine: &Engine, rec: WorkloadRecord, force: bool) -> Result<()> {
    if rec.status.is_live() && !force {
        bail!("{} is {}; stop it first or use `ferry rm --force`", rec.name, rec.status);
    }
    if let Some(handle) = &rec.handle {
        let runtime = engine.runtime_for(&rec)?;
        if rec.status.is_live() {
            runtime.stop(handle, Duration::from_secs(0)).await?;
        }
        match runtime.destroy(handle).await {
            Ok(()) | Err(ferry_core::RuntimeError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    engine.store()?.remove(&rec.id)?;
    Ok(())
}

pub async fn pause(ctx: Option<&str>, args: TargetsArgs, pause: bool) -> Result<u8> {
    let engine = app::engine(ctx)?;
    for q in &args.workloads {
        let (rec, handle, runtime) = engine.find_started(q).await?;
        let op = if pause { Operation::Pause } else { Operation::Resume };
        runtime.capabilities().require(runtime.kind(), op)?;
        if pause {
            runtime.pause(&handle).await?;
        } else {
            runtime.resume(&handle).await?;
        }
        let rec = engine.refresh(rec).await?;
        println!("{} {}", rec.name, rec.status);
    }
    Ok(0)
}

/// One row of `ferry stats`.
#[derive(Serialize)]
struct StatsRow {
    id: String,
    name: String,
    cpu_percent: f64,
    #[serde(flatten)]
    stats: Stats,
}

pub async fn stats(ctx: Option<&str>, args: StatsArgs) -> Result<u8> {
    let engine = app::engine(ctx)?;
    let mut targets = Vec::new();
    for q in &args.workloads {
        let (rec, handle, runtime) = engine.find_started(q).await?;
        runtime.capabilities().require(runtime.kind(), Operation::Stats)?;
        let first = runtime.stats(&handle).await?;
        targets.push((rec, handle, runtime, first));
    }
    let interval = Duration::from_millis(args.interval_ms.max(1));
    tokio::time::sleep(interval).await;
    let mut rows = Vec::new();
    for (rec, handle, runtime, first) in targets {
        let second = runtime.stats(&handle).await?;
        let cpu = second.cpu_usage_ns.saturating_sub(first.cpu_usage_ns) as f64 / interval.as_nanos() as f64 * 100.0;
        rows.push(StatsRow {
            id: rec.id.to_string(),
            name: rec.name,
            cpu_percent: (cpu * 100.0).round() / 100.0,
            stats: second,
        });
    }
    if args.output == Format::Json {
        print_json(&rows)?;
        return Ok(0);
    }
    let mut t = output::table(&["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS"]);
    for r in &rows {
        let limit = r.stats.memory_limit_bytes.map_or("-".to_string(), bytes);
        t.add_row(vec![
            r.id[..ferry_core::SHORT_LEN].to_string(),
            r.name.clone(),
            format!("{:.2}%", r.cpu_percent),
            format!("{} / {limit}", bytes(r.stats.memory_bytes)),
            r.stats.pids.to_string(),
        ]);
    }
    print_table(&t);
    Ok(0)
}
