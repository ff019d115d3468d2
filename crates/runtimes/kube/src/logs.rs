//! `ferry logs [-f]` on Kubernetes: the pod log of each attempt, in order.
//!
//! Following streams every run of the container as it starts (a Job's retries,
//! a Deployment's replacement pods, a container the kubelet restarts), found
//! with a watch on the workload's pods and its Job or Deployment. The stream
//! ends once the workload is in a terminal state and every started run was
//! read. stdout and stderr arrive merged (the kubelet keeps one log per
//! container), so every line is reported as stdout.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_core::{LogLine, LogSource, RuntimeError};
use futures::channel::mpsc;
use futures::io::AsyncBufReadExt;
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{ListParams, LogParams, WatchParams};
use kube::Api;

use crate::manifest::CONTAINER;
use crate::status::newest_first;
use crate::{KubeError, KubeRuntime, Target};

/// Longest wait for a watch event before looking again (a safety net for a
/// watch that silently stalled; normal progress is driven by events).
const WATCH_TIMEOUT_SECS: u32 = 60;

type Tx = mpsc::Sender<Result<LogLine, RuntimeError>>;

/// The status of the pod's workload container, once the kubelet reports one.
fn main_status(p: &Pod) -> Option<&ContainerStatus> {
    p.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == CONTAINER)
}

/// Has the main container started (so the kubelet has a log for it)?
pub(crate) fn started(p: &Pod) -> bool {
    main_status(p).and_then(|c| c.state.as_ref()).is_some_and(|s| s.running.is_some() || s.terminated.is_some())
}

/// Pods of the workload, oldest first.
async fn pods(pods_api: &Api<Pod>, selector: &str) -> Result<(Vec<Pod>, String), KubeError> {
    let list = pods_api.list(&ListParams::default().labels(selector)).await?;
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut items = list.items;
    newest_first(&mut items);
    items.reverse();
    Ok((items, rv))
}

/// Split `2026-01-01T00:00:00.123456789Z text` into its time and text.
pub fn parse_timestamped(line: &[u8]) -> (Option<DateTime<Utc>>, &[u8]) {
    if let Some(space) = line.iter().position(|b| *b == b' ') {
        if let Ok(ts) = std::str::from_utf8(&line[..space]) {
            if let Ok(t) = DateTime::parse_from_rfc3339(ts) {
                return (Some(t.with_timezone(&Utc)), &line[space + 1..]);
            }
        }
    }
    (None, line)
}

async fn send_log(tx: &mut Tx, pods_api: &Api<Pod>, pod: &str, lp: &LogParams) -> Result<(), KubeError> {
    let reader = pods_api.log_stream(pod, lp).await?;
    futures::pin_mut!(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| KubeError::Backend(format!("reading the log of pod {pod}: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        let complete = buf.last() == Some(&b'\n');
        if complete {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        let (time, text) = parse_timestamped(&buf);
        let line = LogLine { source: LogSource::Stdout, time, text: text.to_vec(), complete };
        if tx.send(Ok(line)).await.is_err() {
            // The reader went away; stop quietly.
            return Ok(());
        }
    }
}

/// Read all logs once (no follow): every started pod oldest first, or only
/// the newest pod's last `tail` lines.
pub(crate) async fn read(rt: &KubeRuntime, target: &Target, tail: Option<usize>, mut tx: Tx) -> Result<(), KubeError> {
    let pods_api: Api<Pod> = Api::namespaced(rt.client().await?, &target.namespace);
    let (all, _) = pods(&pods_api, &target.selector()).await?;
    let started: Vec<&Pod> = all.iter().filter(|p| started(p)).collect();
    let chosen: Vec<&Pod> = match tail {
        Some(_) => started.last().copied().into_iter().collect(),
        None => started,
    };
    for p in chosen {
        let lp = LogParams {
            container: Some(CONTAINER.into()),
            timestamps: true,
            tail_lines: tail.map(|t| t as i64),
            ..Default::default()
        };
        send_log(&mut tx, &pods_api, p.metadata.name.as_deref().unwrap_or_default(), &lp).await?;
    }
    Ok(())
}

/// The container's restart count: with the pod's name, it names one run of the
/// container, whose log the kubelet serves while it is the current one.
fn restarts(p: &Pod) -> i32 {
    main_status(p).map_or(0, |c| c.restart_count)
}

fn run_of(p: &Pod) -> (String, i32) {
    (p.metadata.name.clone().unwrap_or_default(), restarts(p))
}

/// Follow the logs until the workload ends: every run of the container, in each
/// pod, as it starts. Runs are read side by side, so a Deployment's new pod is
/// followed while the old one is still terminating, and a container that the
/// kubelet restarts in the same pod is followed again.
pub(crate) async fn follow(rt: &KubeRuntime, target: &Target, tail: Option<usize>, tx: Tx) -> Result<(), KubeError> {
    let client = rt.client().await?;
    let pods_api: Api<Pod> = Api::namespaced(client, &target.namespace);
    let selector = target.selector();
    let mut seen: HashSet<(String, i32)> = HashSet::new();
    let mut readers = tokio::task::JoinSet::new();
    let mut first = true;
    loop {
        let (all, pods_rv) = pods(&pods_api, &selector).await?;
        let started_runs: Vec<&Pod> = all.iter().filter(|p| started(p)).collect();
        if first && tail.is_some() {
            // With --tail, earlier attempts are skipped entirely.
            let skipped = started_runs.len().saturating_sub(1);
            seen.extend(started_runs[..skipped].iter().map(|p| run_of(p)));
        }
        for p in started_runs {
            let run = run_of(p);
            if seen.insert(run.clone()) {
                let lp = LogParams {
                    container: Some(CONTAINER.into()),
                    follow: true,
                    timestamps: true,
                    tail_lines: if first { tail.map(|t| t as i64) } else { None },
                    ..Default::default()
                };
                readers.spawn(send_run_log(tx.clone(), pods_api.clone(), run.0, lp));
            }
        }
        first = false;
        let (status, object_rv) = rt.observe(target).await?;
        if status.is_terminal() {
            // Read what is left, then once more for a run that started meanwhile.
            while let Some(done) = readers.join_next().await {
                reader_ended(done)?;
            }
            let (again, _) = pods(&pods_api, &selector).await?;
            if again.iter().any(|p| started(p) && !seen.contains(&run_of(p))) {
                continue;
            }
            return Ok(());
        }
        if tx.is_closed() {
            return Ok(());
        }
        // A change of the pods or the object, or the end of a run (perhaps restarted).
        tokio::select! {
            changed = wait_for_change(rt, target, &pods_rv, &object_rv) => changed?,
            Some(done) = readers.join_next(), if !readers.is_empty() => reader_ended(done)?,
        }
    }
}

/// A log reader's end: its own error, or a panic of its task, becomes the stream's.
fn reader_ended(done: Result<Result<(), KubeError>, tokio::task::JoinError>) -> Result<(), KubeError> {
    done.map_err(|e| KubeError::Backend(format!("log reader: {e}")))?
}

/// One run's log; a pod deleted before its log could be opened has nothing more to say.
async fn send_run_log(mut tx: Tx, pods_api: Api<Pod>, pod: String, lp: LogParams) -> Result<(), KubeError> {
    match send_log(&mut tx, &pods_api, &pod, &lp).await {
        Err(KubeError::Api(kube::Error::Api(s))) if s.code == 404 || s.code == 400 => Ok(()),
        other => other,
    }
}

/// Block until a pod of the workload or its Job/Deployment changes.
pub(crate) async fn wait_for_change(
    rt: &KubeRuntime,
    target: &Target,
    pods_rv: &str,
    object_rv: &str,
) -> Result<(), KubeError> {
    let client = rt.client().await?;
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &target.namespace);
    let wp = WatchParams::default().labels(&target.selector()).timeout(WATCH_TIMEOUT_SECS);
    let pod_events = pods_api.watch(&wp, pods_rv).await?.boxed();
    let object_events = rt.watch_object(target, object_rv).await?;
    let mut merged = futures::stream::select(pod_events.map(|e| e.map(|_| ())), object_events);
    let guard = Duration::from_secs(u64::from(WATCH_TIMEOUT_SECS) + 5);
    match tokio::time::timeout(guard, merged.next()).await {
        Ok(Some(Err(e))) => Err(e.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_split_off() {
        let (t, text) = parse_timestamped(b"2026-01-02T03:04:05.123456789Z hello world");
        assert_eq!(t.unwrap().to_rfc3339(), "2026-01-02T03:04:05.123456789+00:00");
        assert_eq!(text, b"hello world");
        let (t, text) = parse_timestamped(b"no timestamp here");
        assert!(t.is_none());
        assert_eq!(text, b"no timestamp here");
    }
}
