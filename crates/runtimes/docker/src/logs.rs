//! Container output through the Engine logs API, demultiplexed into Ferry
//! log lines. A followed log spans restarts (`retries`): when Docker ends the
//! stream because the container exited, it is reopened while the container
//! is still live, skipping what was already delivered (by timestamp).

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use chrono::{DateTime, Utc};
use ferry_core::{LogLine, LogOptions, LogSource, LogStream, RuntimeError};
use futures::StreamExt;

use crate::client::engine_error;

/// The log stream of container `id`.
pub fn stream(docker: Docker, id: String, opts: LogOptions) -> LogStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<LogLine, RuntimeError>>(256);
    tokio::spawn(async move {
        if let Err(e) = pump(&docker, &id, opts, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}

async fn pump(
    docker: &Docker,
    id: &str,
    opts: LogOptions,
    tx: &tokio::sync::mpsc::Sender<Result<LogLine, RuntimeError>>,
) -> Result<(), RuntimeError> {
    let mut last: Option<DateTime<Utc>> = None;
    let mut first = true;
    loop {
        let state =
            docker.inspect_container(id, None).await.map_err(engine_error("reading", id))?.state.unwrap_or_default();
        let live = state.running == Some(true)
            || state.restarting == Some(true)
            || matches!(state.status, Some(bollard::models::ContainerStateStatusEnum::CREATED));
        let follow = opts.follow && live;
        let tail = match (first, opts.tail) {
            (true, Some(n)) => n.to_string(),
            _ => "all".to_owned(),
        };
        let since = last.map(|t| t.timestamp() as i32).unwrap_or(0);
        let options = LogsOptions { follow, stdout: true, stderr: true, timestamps: true, tail, since, until: 0 };
        let mut logs = docker.logs(id, Some(options));
        // Skip only what an earlier pass delivered: within one pass records
        // of stdout and stderr need not be in timestamp order.
        let delivered_up_to = last;
        while let Some(frame) = logs.next().await {
            let frame = frame.map_err(engine_error("reading the logs of", id))?;
            for line in parse_frame(frame) {
                if let (Some(l), Some(t)) = (delivered_up_to, line.time) {
                    if t <= l {
                        continue;
                    }
                }
                last = last.max(line.time);
                if tx.send(Ok(line)).await.is_err() {
                    return Ok(()); // the reader went away
                }
            }
        }
        first = false;
        if !follow {
            return Ok(());
        }
        // Docker ended a followed stream: the container exited. Read on if it
        // restarts (a retry), otherwise one last read picks up any tail.
        if state.restarting == Some(true) || state.running != Some(true) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// One multiplexed frame (`<RFC 3339 time> <text>`) → lines.
pub fn parse_frame(frame: LogOutput) -> Vec<LogLine> {
    let (source, bytes) = match frame {
        LogOutput::StdOut { message } | LogOutput::Console { message } => (LogSource::Stdout, message),
        LogOutput::StdErr { message } => (LogSource::Stderr, message),
        LogOutput::StdIn { .. } => return Vec::new(),
    };
    parse_bytes(source, &bytes)
}

fn parse_bytes(source: LogSource, bytes: &[u8]) -> Vec<LogLine> {
    let (time, text) = match bytes.iter().position(|b| *b == b' ') {
        Some(sp) => match std::str::from_utf8(&bytes[..sp]).ok().and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
            Some(t) => (Some(t.with_timezone(&Utc)), &bytes[sp + 1..]),
            None => (None, bytes),
        },
        None => (None, bytes),
    };
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.iter().position(|b| *b == b'\n') {
            Some(nl) => {
                out.push(LogLine { source, time, text: rest[..nl].to_vec(), complete: true });
                rest = &rest[nl + 1..];
            }
            None => {
                out.push(LogLine { source, time, text: rest.to_vec(), complete: false });
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_into_timestamped_lines() {
        let lines = parse_bytes(LogSource::Stderr, b"2026-11-23T12:00:00.123456789Z about to fail\n");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, b"about to fail");
        assert!(lines[0].complete);
        assert_eq!(lines[0].time.unwrap().timestamp_subsec_nanos(), 123456789);

        let lines = parse_bytes(LogSource::Stdout, b"2026-11-23T12:00:00Z no newline");
        assert!(!lines[0].complete);
        let lines = parse_bytes(LogSource::Stdout, b"2026-11-23T12:00:00Z a\nb\n");
        assert_eq!(lines.iter().map(|l| l.text.clone()).collect::<Vec<_>>(), [b"a".to_vec(), b"b".to_vec()]);
        // Without a timestamp the whole frame is text.
        assert_eq!(parse_bytes(LogSource::Stdout, b"x y\n")[0].text, b"x y");
    }
}
