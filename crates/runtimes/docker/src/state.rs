//! Ferry's own facts about a container that Docker cannot hold (labels are
//! fixed at create time): one small directory per workload.
//!
//! ```text
//! <root>/<workload id>/stop-requested   `ferry stop` asked (→ Cancelled)
//! <root>/<workload id>/timed-out        the timeout supervisor stopped it; holds the reason
//! <root>/<workload id>/timeout.json     the supervisor's instructions
//! <root>/<workload id>/supervisor.err   the supervisor's stderr
//! ```
//!
//! Kept on the machine running `ferry`, beside its state store.

use std::path::{Path, PathBuf};

use ferry_core::RuntimeError;

use crate::status::Markers;

#[derive(Debug, Clone)]
pub struct WorkloadState(pub PathBuf);

impl WorkloadState {
    pub fn new(root: &Path, workload_id: &str) -> Self {
        WorkloadState(root.join(workload_id))
    }

    pub fn stop_requested(&self) -> PathBuf {
        self.0.join("stop-requested")
    }

    pub fn timed_out(&self) -> PathBuf {
        self.0.join("timed-out")
    }

    pub fn timeout_plan(&self) -> PathBuf {
        self.0.join("timeout.json")
    }

    pub fn supervisor_err(&self) -> PathBuf {
        self.0.join("supervisor.err")
    }

    fn ensure(&self) -> Result<(), RuntimeError> {
        std::fs::create_dir_all(&self.0).map_err(RuntimeError::io(format!("cannot create {}", self.0.display())))
    }

    /// Write `content` to `file` (inside this directory), creating the directory.
    pub fn write(&self, file: &Path, content: &str) -> Result<(), RuntimeError> {
        self.ensure()?;
        std::fs::write(file, content).map_err(RuntimeError::io(format!("cannot write {}", file.display())))
    }

    pub fn markers(&self) -> Markers {
        Markers {
            stop_requested: self.stop_requested().exists(),
            timed_out: std::fs::read_to_string(self.timed_out()).ok().map(|s| s.trim().to_owned()),
        }
    }

    /// Forget everything (after `destroy`).
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
