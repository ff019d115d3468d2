//! `ferry-local`: the local runtime. Workloads run as host processes, each
//! owned by a small detached monitor process (see [`monitor`]).
//!
//! Status mapping (native state → Ferry status):
//!
//! | native state                                   | Ferry status |
//! |------------------------------------------------|--------------|
//! | plan written, monitor not yet started the child | Pending |
//! | main process alive                              | Running |
//! | main process alive, cgroup frozen / SIGSTOPped  | Paused |
//! | exit code 0                                     | Succeeded |
//! | exit code N ≠ 0                                 | Failed{N, "exited with code N"} |
//! | killed by signal S                              | Failed{128+S, "killed by signal S"} |
//! | killed by the memory cgroup                     | Failed{137, "out of memory (…)"} |
//! | timeout reached                                 | Failed{code, "timed out after …"} |
//! | ended after `ferry stop`                        | Cancelled |
//! | monitor died before recording an end            | Failed{None, "monitor … died …"} |

pub mod cgroup;
pub mod follow;
pub mod launcher;
mod logfile;
pub mod monitor;
mod plan;
pub mod reaper;
pub mod sealed;
mod state;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferry_core::{
    Capabilities, Handle, Launch, LogOptions, LogStream, Result, Runtime, RuntimeError, RuntimeKind, Stats, Status,
    WorkloadId,
};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

pub use logfile::{parse_record, LogReader, LogWriter};
pub use plan::ProcessPlan;
pub use state::{
    add_adoption_details, observe, read_json, remove_replaced, unknown_dirs, write_json_atomic, MonitorState,
    WorkloadDir, WorkloadFiles,
};

/// Host processes under per-workload monitors, state kept under `root`.
pub struct LocalRuntime {
    root: PathBuf,
    context: String,
    monitor: launcher::MonitorCommand,
}

impl LocalRuntime {
    pub fn new(root: PathBuf, context: impl Into<String>, monitor: launcher::MonitorCommand) -> Self {
        LocalRuntime { root, context: context.into(), monitor }
    }

    fn dir(&self, h: &Handle) -> WorkloadDir {
        WorkloadDir(self.root.join(h.workload.as_str()))
    }

    fn handle_for(&self, id: WorkloadId) -> Handle {
        let dir = self.root.join(id.as_str());
        Handle {
            runtime: RuntimeKind::Local,
            native_id: id.to_string(),
            workload: id,
            details: [("dir".to_string(), dir.display().to_string())].into(),
        }
    }

    fn existing(&self, h: &Handle) -> Result<WorkloadDir> {
        let wd = self.dir(h);
        if wd.plan().exists() {
            Ok(wd)
        } else {
            Err(RuntimeError::NotFound { runtime: RuntimeKind::Local, native_id: h.native_id.clone() })
        }
    }

    /// The live state: `state.json`, corrected for pause and for a dead monitor.
    fn observe(&self, wd: &WorkloadDir) -> Result<MonitorState> {
        state::observe(wd, "workload", |st: &mut MonitorState| &mut st.status)
    }

    /// The state of a workload whose process is running, for `operation`.
    fn running_state(&self, h: &Handle, operation: &'static str) -> Result<(WorkloadDir, MonitorState, Pid)> {
        let wd = self.existing(h)?;
        let st = self.observe(&wd)?;
        match (st.status.is_live(), st.pid) {
            (true, Some(pid)) => Ok((wd, st, Pid::from_raw(pid))),
            _ => Err(RuntimeError::NotPossible {
                operation,
                why: format!("workload {} is {}", h.workload.short(), st.status),
            }),
        }
    }
}

#[async_trait]
impl Runtime for LocalRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Local
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            pause: true,
            checkpoint: false,
            ports: true,
            gpus: true,
            multi_node: false,
            stats: true,
            host_process: true,
            images: false,
        }
    }

    /// A few local files and an order to the pre-forked monitor.
    fn start_is_brief(&self) -> bool {
        true
    }

    async fn start(&self, launch: &Launch) -> Result<Handle> {
        self.capabilities().check_workload(RuntimeKind::Local, &launch.workload)?;
        if launch.workload.resources.gpus.unwrap_or(0) > 0 && !self.gpu_enabled().await? {
            return Err(RuntimeError::NotPossible {
                operation: "resources.gpus",
                why: "no NVIDIA GPU on this host (no /dev/nvidia0); refusing to run a GPU workload on CPU".into(),
            });
        }
        let plan = ProcessPlan::from_launch(launch)?;
        let handle = self.handle_for(launch.id.clone());
        let wd = self.dir(&handle);
        std::fs::create_dir_all(&wd.0).map_err(RuntimeError::io(format!("cannot create {}", wd.0.display())))?;
        state::write_json_atomic(&wd.plan(), &plan)?;
        state::write_json_atomic(&wd.spec(), &launch.workload)?;
        state::write_json_atomic(&wd.state(), &MonitorState::pending())?;
        launcher::launch(&self.monitor, &wd)
            .map_err(RuntimeError::io(format!("cannot start monitor {}", self.monitor.program.display())))?;
        Ok(handle)
    }

    async fn status(&self, h: &Handle) -> Result<Status> {
        let wd = self.existing(h)?;
        Ok(self.observe(&wd)?.status)
    }

    async fn list(&self) -> Result<Vec<(Handle, Status)>> {
        self.list_unknown(&HashSet::new()).await
    }

    async fn list_unknown(&self, known: &HashSet<WorkloadId>) -> Result<Vec<(Handle, Status)>> {
        let mut out = Vec::new();
        for (id, path) in state::unknown_dirs(&self.root, known)? {
            let wd = WorkloadDir(path);
            let Ok(plan) = state::read_json::<ProcessPlan>(&wd.plan()) else { continue };
            if plan.context != self.context {
                continue;
            }
            if let Ok(st) = self.observe(&wd) {
                let mut h = self.handle_for(id);
                state::add_adoption_details(&mut h, &plan.name, &wd);
                out.push((h, st.status));
            }
        }
        Ok(out)
    }

    async fn logs(&self, h: &Handle, opts: LogOptions) -> Result<LogStream> {
        follow::workload_log(self.existing(h)?, opts, |st: &mut MonitorState| &mut st.status)
    }

    async fn stats(&self, h: &Handle) -> Result<Stats> {
        let (_, st, pid) = self.running_state(h, "stats")?;
        match &st.cgroup {
            Some(cg) => {
                let s = cg.stats().map_err(|e| RuntimeError::internal(e.to_string()))?;
                Ok(Stats {
                    cpu_usage_ns: s.cpu_usage_ns,
                    memory_bytes: s.memory_bytes,
                    memory_limit_bytes: s.memory_limit_bytes,
                    pids: s.pids,
                })
            }
            None => Err(RuntimeError::NotPossible {
                operation: "stats",
                why: format!(
                    "workload {} (pid {pid}) has no cgroup on this machine: {}",
                    h.workload.short(),
                    st.warnings.join("; ")
                ),
            }),
        }
    }

    async fn stop(&self, h: &Handle, grace: Duration) -> Result<()> {
        let wd = self.existing(h)?;
        if self.observe(&wd)?.status.is_terminal() {
            return Ok(());
        }
        // The marker makes the monitor record `cancelled` and start no further
        // attempt, even if it has not started the first one yet.
        std::fs::write(wd.stop_marker(), b"").map_err(RuntimeError::io("write stop marker"))?;
        let mut signalled: Option<Instant> = None;
        let mut killed = false;
        let deadline = Instant::now() + grace + Duration::from_secs(30);
        loop {
            let st = self.observe(&wd)?;
            if st.status.is_terminal() {
                return Ok(());
            }
            if let Some(pid) = st.pid.map(Pid::from_raw) {
                match signalled {
                    None => {
                        monitor::signal_all(pid, st.cgroup.as_ref(), Signal::SIGTERM);
                        let _ = killpg(pid, Signal::SIGCONT);
                        let _ = std::fs::remove_file(wd.paused_marker());
                        signalled = Some(Instant::now());
                    }
                    Some(at) if !killed && at.elapsed() >= grace => {
                        monitor::signal_all(pid, st.cgroup.as_ref(), Signal::SIGKILL);
                        killed = true;
                    }
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                return Err(RuntimeError::internal(format!(
                    "workload {} did not end after SIGKILL; its monitor may be stuck (see {})",
                    h.workload.short(),
                    wd.monitor_err().display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn destroy(&self, h: &Handle) -> Result<()> {
        let wd = self.existing(h)?;
        let st = self.observe(&wd)?;
        if st.status.is_live() {
            return Err(RuntimeError::NotPossible {
                operation: "remove",
                why: format!("workload {} is {}; stop it first (or use --force)", h.workload.short(), st.status),
            });
        }
        std::fs::remove_dir_all(&wd.0).map_err(RuntimeError::io(format!("cannot remove {}", wd.0.display())))
    }

    async fn pause(&self, h: &Handle) -> Result<()> {
        let (wd, st, pid) = self.running_state(h, "pause")?;
        // Freezing polls the cgroup (up to its timeout): off the async workers.
        let cgroup = st.cgroup;
        let frozen = tokio::task::spawn_blocking(move || match &cgroup {
            Some(cg) if cg.can_freeze() => cg.freeze().map_err(|e| RuntimeError::internal(e.to_string())),
            _ => killpg(pid, Signal::SIGSTOP).map_err(|e| RuntimeError::internal(format!("SIGSTOP: {e}"))),
        })
        .await;
        match frozen {
            Ok(done) => done?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(RuntimeError::internal(format!("pause: {e}"))),
        }
        std::fs::write(wd.paused_marker(), b"").map_err(RuntimeError::io("write paused marker"))
    }

    async fn resume(&self, h: &Handle) -> Result<()> {
        let (wd, st, pid) = self.running_state(h, "resume")?;
        if st.status != Status::Paused {
            return Err(RuntimeError::NotPossible { operation: "resume", why: format!("workload is {}", st.status) });
        }
        match &st.cgroup {
            Some(cg) if cg.can_freeze() => cg.thaw().map_err(|e| RuntimeError::internal(e.to_string()))?,
            _ => killpg(pid, Signal::SIGCONT).map_err(|e| RuntimeError::internal(format!("SIGCONT: {e}")))?,
        }
        std::fs::remove_file(wd.paused_marker()).map_err(RuntimeError::io("remove paused marker"))
    }

    async fn checkpoint(&self, _h: &Handle, _to: &Path) -> Result<()> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Local, operation: "checkpoint" })
    }

    async fn restore(&self, _from: &Path) -> Result<Handle> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Local, operation: "restore" })
    }

    async fn gpu_enabled(&self) -> Result<bool> {
        Ok(Path::new("/dev/nvidia0").exists())
    }
}
