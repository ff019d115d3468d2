//! `ferry logs [-f]` on Kubernetes: the pod log of each attempt, in order.
//!
//! Following streams the current pod's log; when it ends, the next pod (a
//! retry) is awaited with a watch on the workload's pods and its Job or
//! Deployment, and streamed in turn. The stream ends once the workload is in
//! a terminal state and every started pod was read. stdout and stderr arrive
//! merged (the kubelet keeps one log per container), so every line is
//! reported as stdout.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_core::{LogLine, LogSource, RuntimeError};
use futures::channel::mpsc;
use futures::io::AsyncBufReadExt;
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams, WatchParams};
use kube::Api;

use crate::manifest::CONTAINER;
use crate::status::newest_first;
use crate::{KubeError, KubeRuntime, Target};

/// Longest wait for a watch event before looking again (a safety net for a
/// watch that silently stalled; normal progress is driven by events).
const WATCH_TIMEOUT_SECS: u32 = 60;

type Tx = mpsc::Sender<Result<LogLine, RuntimeError>>;

/// Has the main container started (so the kubelet has a log for it)?
pub(crate) fn started(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == CONTAINER))
        .and_then(|c| c.state.as_ref())
        .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
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

/// Follow the logs until the workload ends, moving to each new pod.
pub(crate) async fn follow(
    rt: &KubeRuntime,
    target: &Target,
    tail: Option<usize>,
    mut tx: Tx,
) -> Result<(), KubeError> {
    let client = rt.client().await?;
    let pods_api: Api<Pod> = Api::namespaced(client, &target.namespace);
    let selector = target.selector();
    let mut done: HashSet<String> = HashSet::new();
    let mut first = true;
    loop {
        let (all, pods_rv) = pods(&pods_api, &selector).await?;
        if first {
            // With --tail, earlier attempts are skipped entirely.
            if tail.is_some() {
                let newest_started = all.iter().rev().find(|p| started(p)).and_then(|p| p.metadata.name.clone());
                for p in &all {
                    if p.metadata.name != newest_started {
                        done.extend(p.metadata.name.clone());
                    }
                }
            }
        }
        let next = all.iter().find(|p| started(p) && !done.contains(p.metadata.name.as_deref().unwrap_or_default()));
        if let Some(p) = next {
            let name = p.metadata.name.clone().unwrap_or_default();
            let lp = LogParams {
                container: Some(CONTAINER.into()),
                follow: true,
                timestamps: true,
                tail_lines: if first { tail.map(|t| t as i64) } else { None },
                ..Default::default()
            };
            first = false;
            send_log(&mut tx, &pods_api, &name, &lp).await?;
            done.insert(name);
            continue;
        }
        // Nothing to read now: finished, or wait for the next change.
        let (status, object_rv) = rt.observe(target).await?;
        if status.is_terminal() {
            // A pod that started after the list above is read before ending.
            let (again, _) = pods(&pods_api, &selector).await?;
            if again.iter().any(|p| started(p) && !done.contains(p.metadata.name.as_deref().unwrap_or_default())) {
                continue;
            }
            return Ok(());
        }
        if tx.is_closed() {
            return Ok(());
        }
        wait_for_change(rt, target, &pods_rv, &object_rv).await?;
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
