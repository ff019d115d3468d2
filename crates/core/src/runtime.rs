//! The `Runtime` trait: what every backend (local, oci, docker, slurm,
//! kubernetes) implements, plus the small types that cross it.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_spec::Workload;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::{ErrorKind, Status, WorkloadId};

/// Which backend runs a workload. Shown as the VENDOR column of `ferry ps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Local,
    Oci,
    Docker,
    Slurm,
    Kubernetes,
    /// A Ferry server: it queues the workload and places it on one of its pools.
    Server,
}

impl RuntimeKind {
    pub const ALL: [RuntimeKind; 6] = [
        RuntimeKind::Local,
        RuntimeKind::Oci,
        RuntimeKind::Docker,
        RuntimeKind::Slurm,
        RuntimeKind::Kubernetes,
        RuntimeKind::Server,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Local => "local",
            RuntimeKind::Oci => "oci",
            RuntimeKind::Docker => "docker",
            RuntimeKind::Slurm => "slurm",
            RuntimeKind::Kubernetes => "kubernetes",
            RuntimeKind::Server => "server",
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuntimeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RuntimeKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let closest = RuntimeKind::ALL
                .into_iter()
                .map(|k| (strsim::levenshtein(s, k.as_str()), k))
                .min_by_key(|(d, _)| *d)
                .filter(|(d, _)| *d <= 3)
                .map(|(_, k)| format!("; did you mean {:?}?", k.as_str()))
                .unwrap_or_default();
            format!("unknown runtime {s:?} (expected one of local, oci, docker, slurm, kubernetes, server){closest}")
        })
    }
}

/// What a runtime can do, so callers can refuse early with a clear message
/// instead of failing obscurely inside the backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub pause: bool,
    pub checkpoint: bool,
    pub ports: bool,
    pub gpus: bool,
    pub multi_node: bool,
    pub stats: bool,
    /// Runs a workload without an image, as host processes.
    pub host_process: bool,
    /// Runs container images.
    pub images: bool,
}

/// An operation a caller may ask for; used in "not supported" messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Pause,
    Resume,
    Checkpoint,
    Restore,
    Stats,
    Ports,
    Gpus,
    MultiNode,
    HostProcess,
    Images,
}

impl Operation {
    pub const ALL: [Operation; 10] = [
        Operation::Pause,
        Operation::Resume,
        Operation::Checkpoint,
        Operation::Restore,
        Operation::Stats,
        Operation::Ports,
        Operation::Gpus,
        Operation::MultiNode,
        Operation::HostProcess,
        Operation::Images,
    ];

    /// Whether [`Operation::as_str`] names several things (`container images`),
    /// which take "are" in a sentence.
    pub fn is_plural(self) -> bool {
        matches!(
            self,
            Operation::Ports | Operation::Gpus | Operation::MultiNode | Operation::HostProcess | Operation::Images
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Pause => "pause",
            Operation::Resume => "resume",
            Operation::Checkpoint => "checkpoint",
            Operation::Restore => "restore",
            Operation::Stats => "stats",
            Operation::Ports => "published ports",
            Operation::Gpus => "GPUs",
            Operation::MultiNode => "multi-node workloads",
            Operation::HostProcess => "workloads without an image",
            Operation::Images => "container images",
        }
    }
}

impl Capabilities {
    pub fn supports(&self, op: Operation) -> bool {
        match op {
            Operation::Pause | Operation::Resume => self.pause,
            Operation::Checkpoint | Operation::Restore => self.checkpoint,
            Operation::Stats => self.stats,
            Operation::Ports => self.ports,
            Operation::Gpus => self.gpus,
            Operation::MultiNode => self.multi_node,
            Operation::HostProcess => self.host_process,
            Operation::Images => self.images,
        }
    }

    /// `Err(Unsupported)` unless the runtime of `kind` can do `op`.
    pub fn require(&self, kind: RuntimeKind, op: Operation) -> Result<(), RuntimeError> {
        if self.supports(op) {
            Ok(())
        } else {
            Err(RuntimeError::Unsupported { runtime: kind, operation: op.as_str() })
        }
    }

    /// Every capability `w` needs that this runtime lacks, checked before start.
    pub fn check_workload(&self, kind: RuntimeKind, w: &Workload) -> Result<(), RuntimeError> {
        if w.image.is_none() {
            self.require(kind, Operation::HostProcess)?;
        } else {
            self.require(kind, Operation::Images)?;
        }
        if w.resources.gpus.unwrap_or(0) > 0 {
            self.require(kind, Operation::Gpus)?;
        }
        if w.nodes > 1 {
            self.require(kind, Operation::MultiNode)?;
        }
        if !w.ports.is_empty() {
            // Refused rather than started unreachable.
            self.require(kind, Operation::Ports)?;
        }
        Ok(())
    }
}

/// The runtime's own name for a started workload, enough to find it again
/// without the state store (a pid directory, a container id, a job id …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handle {
    pub runtime: RuntimeKind,
    pub workload: WorkloadId,
    /// Native id: container id, Slurm job id, Kubernetes object name …
    pub native_id: String,
    /// Runtime-specific facts worth showing in `ferry inspect` (pids, ports, chosen binary).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

/// Everything a runtime needs to start one workload.
#[derive(Debug, Clone)]
pub struct Launch {
    pub id: WorkloadId,
    /// Instance name (unique among live workloads).
    pub name: String,
    pub context: String,
    pub workload: Workload,
    /// Directory of the workload file: relative paths are resolved against it.
    pub spec_dir: PathBuf,
}

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    Stdout,
    Stderr,
}

/// One line of a workload's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub source: LogSource,
    pub time: Option<DateTime<Utc>>,
    /// The line without its trailing newline; may be non-UTF-8.
    pub text: Vec<u8>,
    /// False when the line was cut (no newline yet, or over the line limit).
    pub complete: bool,
}

/// How `logs()` should read.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
}

pub type LogStream = BoxStream<'static, Result<LogLine, RuntimeError>>;

/// Point-in-time resource usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Total CPU time consumed, in nanoseconds.
    pub cpu_usage_ns: u64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: Option<u64>,
    pub pids: u64,
}

/// Errors a runtime reports. Messages are written for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{operation} {} not supported by the {runtime} runtime", is_or_are(operation))]
    Unsupported { runtime: RuntimeKind, operation: &'static str },
    #[error("{operation} is not possible: {why}")]
    NotPossible { operation: &'static str, why: String },
    /// The runtime (or the context naming it) cannot be used at all.
    #[error("{0}")]
    Unavailable(String),
    #[error("no such workload in the {runtime} runtime: {native_id}")]
    NotFound { runtime: RuntimeKind, native_id: String },
    #[error("invalid workload: {0}")]
    InvalidWorkload(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A backend's own failure, with its kind as the backend judged it.
    #[error("{message}")]
    Backend { kind: ErrorKind, message: String },
}

impl RuntimeError {
    /// A backend failure of `kind`.
    pub fn backend(kind: ErrorKind, message: impl Into<String>) -> RuntimeError {
        RuntimeError::Backend { kind, message: message.into() }
    }

    /// A backend failure Ferry cannot classify further.
    pub fn internal(message: impl Into<String>) -> RuntimeError {
        RuntimeError::backend(ErrorKind::Internal, message)
    }

    /// What kind of failure this is, for a protocol's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RuntimeError::Unsupported { .. } => ErrorKind::Unsupported,
            RuntimeError::NotPossible { .. } => ErrorKind::Conflict,
            RuntimeError::Unavailable(_) => ErrorKind::Unavailable,
            RuntimeError::NotFound { .. } => ErrorKind::NotFound,
            RuntimeError::InvalidWorkload(_) => ErrorKind::Invalid,
            RuntimeError::Io { source, .. } => ErrorKind::of_io(source),
            RuntimeError::Backend { kind, .. } => *kind,
        }
    }

    /// Wrap an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let context = context.into();
        move |source| RuntimeError::Io { context, source }
    }
}

/// The verb that agrees with an operation's name in "… not supported".
fn is_or_are(operation: &str) -> &'static str {
    match Operation::ALL.iter().find(|o| o.as_str() == operation) {
        Some(o) if o.is_plural() => "are",
        _ => "is",
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A backend that runs workloads. One value per context.
///
/// Implementations own their native state (pid files, containers, jobs) and
/// must be able to find their own workloads again through [`Runtime::list`]
/// even if Ferry's state store is lost.
#[async_trait]
pub trait Runtime: Send + Sync {
    fn kind(&self) -> RuntimeKind;
    fn capabilities(&self) -> Capabilities;
    /// Get ready to start `launch` while the engine records it (in the
    /// state store, which may still be opening): write what `start` needs,
    /// start nothing. The engine then calls either [`Runtime::start`] (the
    /// workload is recorded) or [`Runtime::discard`] (it could not be, e.g.
    /// its name is in use). The default does nothing: `start` does it all.
    async fn prepare(&self, _launch: &Launch) -> Result<()> {
        Ok(())
    }
    /// Undo a successful [`Runtime::prepare`] of a workload that will not
    /// start, or remove what a failed [`Runtime::start`] left (a job folder
    /// written before the submission was refused). Best effort.
    async fn discard(&self, _launch: &Launch) {}
    /// Start the workload (after [`Runtime::prepare`], or without it).
    async fn start(&self, launch: &Launch) -> Result<Handle>;
    /// Whether `start` (after `prepare`) is brief and local: no network, no
    /// waiting on a service. Then the engine holds the store's write lock
    /// across it and records the workload while it starts, instead of
    /// before; other writers wait that long. The default is false.
    fn start_is_brief(&self) -> bool {
        false
    }
    /// Finish the start of a workload that this runtime accepted but that
    /// the process starting it never got to run (it died in between), found
    /// by the engine through [`Runtime::list`]. The default does nothing:
    /// most runtimes run what they accepted by themselves.
    async fn finish_start(&self, _h: &Handle) -> Result<()> {
        Ok(())
    }
    async fn status(&self, h: &Handle) -> Result<Status>;
    /// All workloads this runtime started (for this context), with their status.
    async fn list(&self) -> Result<Vec<(Handle, Status)>>;
    /// The workloads of [`Runtime::list`] whose ids are not in `known`: what
    /// the engine adopts after the store was lost. Runtimes that read files
    /// for each workload override it to skip the known ones before reading.
    async fn list_unknown(&self, known: &HashSet<WorkloadId>) -> Result<Vec<(Handle, Status)>> {
        let mut all = self.list().await?;
        all.retain(|(h, _)| !known.contains(&h.workload));
        Ok(all)
    }
    async fn logs(&self, h: &Handle, opts: LogOptions) -> Result<LogStream>;
    async fn stats(&self, h: &Handle) -> Result<Stats>;
    /// Ask to stop (SIGTERM or equivalent); kill everything after `grace`.
    async fn stop(&self, h: &Handle, grace: Duration) -> Result<()>;
    /// Forget the workload and free what it held. Refuses a live workload.
    async fn destroy(&self, h: &Handle) -> Result<()>;
    async fn pause(&self, h: &Handle) -> Result<()>;
    async fn resume(&self, h: &Handle) -> Result<()>;
    async fn checkpoint(&self, h: &Handle, to: &Path) -> Result<()>;
    async fn restore(&self, from: &Path) -> Result<Handle>;
    async fn gpu_enabled(&self) -> Result<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_says_is_or_are_as_the_operation_needs() {
        let say = |runtime, op: Operation| RuntimeError::Unsupported { runtime, operation: op.as_str() }.to_string();
        assert_eq!(say(RuntimeKind::Kubernetes, Operation::Pause), "pause is not supported by the kubernetes runtime");
        assert_eq!(
            say(RuntimeKind::Local, Operation::Images),
            "container images are not supported by the local runtime"
        );
        assert_eq!(say(RuntimeKind::Slurm, Operation::Ports), "published ports are not supported by the slurm runtime");
        assert_eq!(say(RuntimeKind::Slurm, Operation::Stats), "stats is not supported by the slurm runtime");
    }
}
