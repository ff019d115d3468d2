//! The client side: a Ferry server as one more [`Runtime`], so a context of
//! kind `server` (`ferry context create team --server URL --token-file FILE`)
//! makes `run`, `ps`, `logs -f`, `wait`, `stop`, `rm` and `inspect` work
//! against it through the same engine as every other runtime. A workload
//! becomes a job; the server chooses where it runs.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use ferry_core::{
    Capabilities, Handle, Launch, LogLine, LogOptions, LogSource, LogStream, Runtime, RuntimeError, RuntimeKind, Stats,
    Status, WorkloadId,
};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use crate::db::{JobRecord, JobState};
use crate::routes::jobs::LogEntry;

/// How often a client waiting for a queued job to start asks again.
const START_POLL: Duration = Duration::from_millis(100);
/// How long past its grace a stop waits for the server to see the job end.
const STOP_MARGIN: Duration = Duration::from_secs(30);
/// Detail key of the server's URL in a handle (shown by `ferry inspect`).
pub const DETAIL_SERVER: &str = "server";

/// A caller of a server's API with one token (the CLI's `admin` and `queue`
/// commands use it directly; [`ServerRuntime`] wraps it).
#[derive(Clone)]
pub struct ServerClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ServerClient {
    /// A client of the server at `url`, calling with `token`.
    pub fn new(url: &str, token: String) -> ServerClient {
        ServerClient { base: url.trim_end_matches('/').to_string(), token, http: reqwest::Client::new() }
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Unavailable(format!("Ferry server {}: {e}", self.base))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, RuntimeError> {
        req.bearer_auth(&self.token).send().await.map_err(|e| self.unavailable(e))
    }

    /// The answer's JSON, or the server's error message as a RuntimeError
    /// (`what` names the object for a not-found).
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        resp: reqwest::Response,
        what: &str,
    ) -> Result<T, RuntimeError> {
        let status = resp.status();
        if status == StatusCode::NO_CONTENT {
            return serde_json::from_value(Value::Null).map_err(|e| self.unavailable(e));
        }
        if status.is_success() {
            return resp.json().await.map_err(|e| self.unavailable(format!("unreadable answer: {e}")));
        }
        let body: Value = resp.json().await.unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or("no message").to_string();
        Err(match status {
            StatusCode::NOT_FOUND => RuntimeError::NotFound { runtime: RuntimeKind::Server, native_id: what.into() },
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => RuntimeError::InvalidWorkload(message),
            StatusCode::CONFLICT => RuntimeError::NotPossible { operation: "this", why: message },
            _ => self.unavailable(format!("{status}: {message}")),
        })
    }

    /// `method path` with an optional JSON body; the answer as `T`.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, RuntimeError> {
        let mut req = self.http.request(method, self.url(path));
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = self.send(req).await?;
        self.json(resp, path).await
    }
}

/// A Ferry server as a runtime: workloads become jobs in its queue.
pub struct ServerRuntime {
    client: ServerClient,
}

impl ServerRuntime {
    pub fn new(client: ServerClient) -> ServerRuntime {
        ServerRuntime { client }
    }

    async fn job(&self, id: &str) -> Result<JobRecord, RuntimeError> {
        self.client.call(reqwest::Method::GET, &format!("/v1/jobs/{id}"), None).await
    }
}

/// A job's state in Ferry's status model.
fn status_of(job: &JobRecord) -> Status {
    match job.state {
        JobState::Queued | JobState::Starting => Status::Pending,
        JobState::Running => Status::Running,
        JobState::Succeeded => Status::Succeeded,
        JobState::Failed => Status::Failed {
            exit_code: job.exit_code.map(|c| c as i32),
            reason: job.reason.clone().unwrap_or_else(|| "failed".into()),
        },
        JobState::Cancelled => Status::Cancelled,
    }
}

#[async_trait]
impl Runtime for ServerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Server
    }

    /// What the server's pools can do is the server's to check: it answers
    /// a job no pool can run with the reason it waits.
    fn capabilities(&self) -> Capabilities {
        Capabilities { gpus: true, multi_node: true, host_process: true, images: true, ..Default::default() }
    }

    async fn start(&self, launch: &Launch) -> Result<Handle, RuntimeError> {
        let yaml = ferry_spec::to_yaml(&launch.workload);
        let body = serde_json::json!({ "workload": yaml });
        let job: JobRecord = self.client.call(reqwest::Method::POST, "/v1/jobs", Some(&body)).await?;
        Ok(Handle {
            runtime: RuntimeKind::Server,
            workload: launch.id.clone(),
            native_id: job.id,
            details: [(DETAIL_SERVER.to_string(), self.client.base.clone())].into(),
        })
    }

    async fn status(&self, h: &Handle) -> Result<Status, RuntimeError> {
        Ok(status_of(&self.job(&h.native_id).await?))
    }

    async fn list(&self) -> Result<Vec<(Handle, Status)>, RuntimeError> {
        let jobs: Vec<JobRecord> = self.client.call(reqwest::Method::GET, "/v1/jobs", None).await?;
        Ok(jobs
            .into_iter()
            .map(|job| {
                let handle = Handle {
                    runtime: RuntimeKind::Server,
                    workload: WorkloadId::random(),
                    native_id: job.id.clone(),
                    details: Default::default(),
                };
                (handle, status_of(&job))
            })
            .collect())
    }

    /// Jobs submitted from elsewhere are the server's to list (`GET
    /// /v1/jobs`); this client's store keeps the ones it started.
    async fn list_unknown(&self, _known: &HashSet<WorkloadId>) -> Result<Vec<(Handle, Status)>, RuntimeError> {
        Ok(Vec::new())
    }

    async fn logs(&self, h: &Handle, opts: LogOptions) -> Result<LogStream, RuntimeError> {
        // A queued job has no output yet: following waits for it to start.
        loop {
            let job = self.job(&h.native_id).await?;
            if job.workload_id.is_some() || job.state.is_terminal() || !opts.follow {
                break;
            }
            tokio::time::sleep(START_POLL).await;
        }
        let url = self.client.url(&format!("/v1/jobs/{}/logs?follow={}", h.native_id, opts.follow));
        let resp = self.client.send(self.client.http.get(url)).await?;
        if resp.status() == StatusCode::CONFLICT {
            return Ok(futures::stream::empty().boxed()); // ended without starting
        }
        if !resp.status().is_success() {
            let failed = self.client.json::<Value>(resp, &h.native_id).await.err();
            return Err(failed.unwrap_or_else(|| self.client.unavailable("logs")));
        }
        let lines = ndjson_lines(resp.bytes_stream());
        let lines = lines.map(|entry| {
            let entry = entry?;
            Ok(LogLine {
                source: if entry.stream == "stderr" { LogSource::Stderr } else { LogSource::Stdout },
                time: entry.time,
                text: entry.text.into_bytes(),
                complete: true,
            })
        });
        Ok(match opts.tail {
            // The server sends everything; keep the last lines only.
            Some(n) if !opts.follow => {
                let all: Vec<_> = lines.collect().await;
                futures::stream::iter(all.into_iter().rev().take(n).collect::<Vec<_>>().into_iter().rev()).boxed()
            }
            _ => lines.boxed(),
        })
    }

    async fn stats(&self, _h: &Handle) -> Result<Stats, RuntimeError> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Server, operation: "stats" })
    }

    /// Cancel the job, then wait (the grace period and a margin) until the
    /// server has seen it end, as a local stop returns once it stopped.
    async fn stop(&self, h: &Handle, grace: Duration) -> Result<(), RuntimeError> {
        let id = &h.native_id;
        match self.client.call::<Value>(reqwest::Method::POST, &format!("/v1/jobs/{id}/cancel"), None).await {
            Err(RuntimeError::NotPossible { .. }) => return Ok(()), // already ended
            other => drop(other?),
        }
        let timeout = grace.as_secs() + STOP_MARGIN.as_secs();
        self.client.call::<Value>(reqwest::Method::GET, &format!("/v1/jobs/{id}/wait?timeout={timeout}"), None).await?;
        Ok(())
    }

    /// The server keeps its jobs' records; removing one here forgets it locally.
    async fn destroy(&self, _h: &Handle) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn pause(&self, _h: &Handle) -> Result<(), RuntimeError> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Server, operation: "pause" })
    }

    async fn resume(&self, _h: &Handle) -> Result<(), RuntimeError> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Server, operation: "resume" })
    }

    async fn checkpoint(&self, _h: &Handle, _to: &Path) -> Result<(), RuntimeError> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Server, operation: "checkpoint" })
    }

    async fn restore(&self, _from: &Path) -> Result<Handle, RuntimeError> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Server, operation: "restore" })
    }

    async fn gpu_enabled(&self) -> Result<bool, RuntimeError> {
        let pools: Vec<Value> = self.client.call(reqwest::Method::GET, "/v1/pools", None).await?;
        Ok(pools.iter().any(|p| p["gpus"].as_u64().is_some_and(|g| g > 0)))
    }
}

/// Split a byte stream of newline-delimited JSON into entries.
fn ndjson_lines<B: AsRef<[u8]>>(
    bytes: impl futures::Stream<Item = reqwest::Result<B>> + Send + 'static,
) -> impl futures::Stream<Item = Result<LogEntry, RuntimeError>> + Send + 'static {
    let mut buf = Vec::new();
    bytes
        .map(move |chunk| {
            let chunk = chunk.map_err(|e| RuntimeError::Unavailable(format!("log stream: {e}")))?;
            buf.extend_from_slice(chunk.as_ref());
            let mut entries = Vec::new();
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let entry = serde_json::from_slice::<LogEntry>(&line)
                    .map_err(|e| RuntimeError::Unavailable(format!("log stream: {e}")))?;
                entries.push(Ok(entry));
            }
            Ok::<_, RuntimeError>(entries)
        })
        .flat_map(|batch| match batch {
            Ok(entries) => futures::stream::iter(entries).boxed(),
            Err(e) => futures::stream::iter(vec![Err(e)]).boxed(),
        })
}
