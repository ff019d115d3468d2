//! The on-disk state of one local workload, owned by its monitor.
//!
//! ```text
//! <root>/<workload-id>/
//!   plan.json      what to run (written once by `start`)
//!   spec.json      the workload as written, to re-adopt it without the store
//!   state.json     what the monitor last saw (replaced atomically)
//!   output.log     stdout+stderr, one timestamped line each (see logfile)
//!   monitor.pid    the monitor's pid, to tell a dead monitor from a live one
//!   monitor.err    the monitor's own diagnostics
//!   stop           present once a stop was requested: the end is "cancelled"
//!   paused         present while paused
//! ```
//!
//! These files, not Ferry's SQLite store, are the local runtime's truth, so
//! `list()` can re-discover every workload after the store is lost.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ferry_core::{engine, Handle, RuntimeError, Status, WorkloadId};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::cgroup::Cgroup;

/// What the monitor reports about its workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorState {
    pub status: Status,
    /// Pid (and process group) of the current attempt's main process.
    pub pid: Option<i32>,
    /// 1-based attempt number (retries start further attempts).
    pub attempt: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The workload's cgroup, when one could be created.
    pub cgroup: Option<Cgroup>,
    /// Limits that could not be enforced on this machine, and why.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl MonitorState {
    pub fn pending() -> Self {
        MonitorState {
            status: Status::Pending,
            pid: None,
            attempt: 0,
            started_at: None,
            finished_at: None,
            cgroup: None,
            warnings: Vec::new(),
        }
    }
}

/// The files of a monitored workload's directory, the same for the local and
/// the OCI runtime (which adds its bundle and the container's pid file).
pub trait WorkloadFiles {
    fn dir(&self) -> &Path;
    fn plan(&self) -> PathBuf {
        self.dir().join("plan.json")
    }
    fn spec(&self) -> PathBuf {
        self.dir().join("spec.json")
    }
    fn state(&self) -> PathBuf {
        self.dir().join("state.json")
    }
    fn log(&self) -> PathBuf {
        self.dir().join("output.log")
    }
    fn monitor_pid(&self) -> PathBuf {
        self.dir().join("monitor.pid")
    }
    fn monitor_err(&self) -> PathBuf {
        self.dir().join("monitor.err")
    }
    fn stop_marker(&self) -> PathBuf {
        self.dir().join("stop")
    }
    fn paused_marker(&self) -> PathBuf {
        self.dir().join("paused")
    }
}

/// One local workload's directory.
#[derive(Debug, Clone)]
pub struct WorkloadDir(pub PathBuf);

impl WorkloadFiles for WorkloadDir {
    fn dir(&self) -> &Path {
        &self.0
    }
}

impl WorkloadDir {
    pub fn read_state(&self) -> Result<MonitorState, RuntimeError> {
        read_json(&self.state())
    }
}

/// The state a monitor last wrote, corrected for what the file cannot tell:
/// a monitor that died before recording the end, and a pause. `status`
/// picks the status out of the runtime's state type; `who` names the
/// workload in the message ("workload", "container").
pub fn observe<S: DeserializeOwned>(
    dir: &impl WorkloadFiles,
    who: &str,
    status: fn(&mut S) -> &mut Status,
) -> Result<S, RuntimeError> {
    let mut st: S = read_json(&dir.state())?;
    if status(&mut st).is_terminal() {
        return Ok(st);
    }
    if !crate::launcher::monitor_alive(dir) {
        // Re-read: the monitor may have written its final state and exited
        // between our two reads.
        st = read_json(&dir.state())?;
        let s = status(&mut st);
        if !s.is_terminal() {
            *s = Status::Failed {
                exit_code: None,
                reason: format!(
                    "the {who}'s monitor died before recording how it ended (see {})",
                    dir.monitor_err().display()
                ),
            };
        }
        return Ok(st);
    }
    let s = status(&mut st);
    if *s == Status::Running && dir.paused_marker().exists() {
        *s = Status::Paused;
    }
    Ok(st)
}

/// For `list_unknown`: each workload directory under `root` whose id is not
/// in `known` (what the store lost or never had). No `root` yet: none.
pub fn unknown_dirs(root: &Path, known: &HashSet<WorkloadId>) -> Result<Vec<(WorkloadId, PathBuf)>, RuntimeError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RuntimeError::io(format!("cannot list {}", root.display()))(e)),
    };
    Ok(entries
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_string_lossy().parse::<WorkloadId>().ok()?, entry.path())))
        .filter(|(id, _)| !known.contains(id))
        .collect())
}

/// What the engine needs to adopt a workload found by `list`: its name and,
/// where readable, its spec as written.
pub fn add_adoption_details(h: &mut Handle, name: &str, dir: &impl WorkloadFiles) {
    h.details.insert(engine::DETAIL_NAME.into(), name.to_string());
    if let Ok(spec) = std::fs::read_to_string(dir.spec()) {
        h.details.insert(engine::DETAIL_SPEC.into(), spec);
    }
}

/// Write JSON so that readers never see a half-written file. The temporary
/// name carries our pid and a count, so no two writes share one; a file it
/// replaces is left behind under that name (see [`replace`]) until
/// [`remove_replaced`].
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), RuntimeError> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let body = serde_json::to_vec_pretty(value).map_err(|e| RuntimeError::internal(e.to_string()))?;
    let mut f = std::fs::File::create(&tmp).map_err(RuntimeError::io(format!("cannot write {}", tmp.display())))?;
    f.write_all(&body).map_err(RuntimeError::io(format!("cannot write {}", tmp.display())))?;
    drop(f);
    replace(&tmp, path).map_err(RuntimeError::io(format!("cannot replace {}", path.display())))
}

/// Put `new` in place of `path` atomically. An existing file is swapped out
/// (`RENAME_EXCHANGE`) and stays under `new`'s name, instead of being renamed
/// over or deleted now. Both of those would make a status write wait on
/// the disk, on the path of every workload's start and end:
/// - ext4 flushes the new file's data before a rename over an existing file
///   returns (its `auto_da_alloc` guard for editors that skip fsync):
///   0.15-0.2 ms here;
/// - freeing a file's blocks on a filesystem mounted with `discard` waits for
///   the device to trim them: 0.5-5 ms here.
///
/// Where the swap is impossible (nothing to swap, or a filesystem without
/// it) this is a plain rename.
fn replace(new: &Path, path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let (Ok(from), Ok(to)) =
        (std::ffi::CString::new(new.as_os_str().as_bytes()), std::ffi::CString::new(path.as_os_str().as_bytes()))
    else {
        return std::fs::rename(new, path);
    };
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    let swapped =
        unsafe { libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_EXCHANGE) };
    if swapped == 0 {
        return Ok(());
    }
    std::fs::rename(new, path)
}

/// Delete the replaced versions of files that this process left in `dir`
/// ([`write_json_atomic`]): for a monitor's cleanup, once the end is recorded
/// and nobody waits for it.
pub fn remove_replaced(dir: &Path) {
    let mark = format!(".tmp{}-", std::process::id());
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().contains(&mark) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, RuntimeError> {
    let body = std::fs::read(path).map_err(RuntimeError::io(format!("cannot read {}", path.display())))?;
    serde_json::from_slice(&body).map_err(|e| RuntimeError::internal(format!("{} is corrupt: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_create_then_replace_and_the_replaced_version_goes_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let names = || {
            let mut n: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            n.sort();
            n
        };
        write_json_atomic(&path, &serde_json::json!({"status": "pending"})).unwrap();
        assert_eq!(read_json::<serde_json::Value>(&path).unwrap()["status"], "pending");
        assert_eq!(names(), vec![std::ffi::OsString::from("state.json")], "a new file leaves nothing behind");
        write_json_atomic(&path, &serde_json::json!({"status": "running"})).unwrap();
        assert_eq!(read_json::<serde_json::Value>(&path).unwrap()["status"], "running");
        let left = names();
        assert_eq!(left.len(), 2, "the replaced version waits for remove_replaced: {left:?}");
        let old = dir.path().join(&left[1]);
        assert_eq!(read_json::<serde_json::Value>(&old).unwrap()["status"], "pending", "and is never rewritten");
        remove_replaced(dir.path());
        assert_eq!(names(), vec![std::ffi::OsString::from("state.json")]);
    }
}
