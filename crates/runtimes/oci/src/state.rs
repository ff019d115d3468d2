//! On-disk state of one OCI container, owned by its monitor.
//!
//! ```text
//! <oci>/containers/<workload-id>/
//!   plan.json      what to run: runtime binary (and why), bundle, rootfs, timeout, retries
//!   spec.json      the workload as written, to re-adopt it without Ferry's store
//!   bundle/config.json   the OCI runtime spec
//!   rootfs/ upper/ work/ the container's root filesystem (overlay mount point and private layers)
//!   state.json     what the monitor last saw (replaced atomically)
//!   output.log     stdout+stderr in the local runtime's CRI-style format
//!   exe/<runtime>  link by which the monitor runs its sealed copy of the runtime binary
//!   monitor.pid / monitor.err / stop / paused   as for the local runtime
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_core::{RuntimeError, Status};
use serde::{Deserialize, Serialize};

use crate::rootfs::Rootfs;
use crate::select::Selection;

/// Everything the monitor needs, fixed at `start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OciPlan {
    pub workload_id: String,
    pub name: String,
    pub context: String,
    pub image: String,
    /// The id the OCI runtime knows the container by.
    pub container_id: String,
    pub runtime: Selection,
    /// `--root` of the runtime binary (its own state directory).
    pub runtime_root: PathBuf,
    pub bundle: PathBuf,
    pub rootfs: Rootfs,
    pub memory_limit: Option<u64>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub kill_grace: Duration,
    /// Set when this container is restored from a checkpoint instead of created.
    #[serde(default)]
    pub restore_from: Option<PathBuf>,
}

/// What the monitor reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OciState {
    pub status: Status,
    /// Host pid of the container's init process.
    pub pid: Option<i32>,
    pub attempt: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Cgroup directory per controller (`memory`, `cpuacct`, `pids`, or `unified` on v2).
    #[serde(default)]
    pub cgroups: BTreeMap<String, PathBuf>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl OciState {
    pub fn pending() -> OciState {
        OciState {
            status: Status::Pending,
            pid: None,
            attempt: 0,
            started_at: None,
            finished_at: None,
            cgroups: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }
}

/// Paths inside one container's directory.
#[derive(Debug, Clone)]
pub struct ContainerDir(pub PathBuf);

impl WorkloadFiles for ContainerDir {
    fn dir(&self) -> &Path {
        &self.0
    }
}

impl ContainerDir {
    pub fn bundle(&self) -> PathBuf {
        self.0.join("bundle")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.0.join("container.pid")
    }
    pub fn read_state(&self) -> Result<OciState, RuntimeError> {
        read_json(&self.state())
    }
    pub fn read_plan(&self) -> Result<OciPlan, RuntimeError> {
        read_json(&self.plan())
    }
}

pub use ferry_local::{read_json, write_json_atomic, WorkloadFiles};
