//! Marks that a process is starting a workload.
//!
//! A runtime that is not brief (Docker, Slurm, Kubernetes) is recorded as
//! `pending` before it is asked to start the workload, and gets its handle
//! after. A process killed in between leaves a `pending` record without a
//! handle, which another process must tell apart from a start still under
//! way. The starting process holds an advisory lock (flock) on a file named
//! after the workload for the whole start; the kernel drops it when the
//! process dies, whatever the way.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use crate::WorkloadId;

/// Held while this process starts one workload; released when dropped.
#[derive(Debug)]
pub struct LaunchMark {
    path: PathBuf,
    _file: File,
}

fn mark_path(dir: &Path, id: &WorkloadId) -> PathBuf {
    dir.join(format!("{id}.lock"))
}

impl LaunchMark {
    /// Mark `id` as being started by this process, in `dir`.
    pub fn hold(dir: &Path, id: &WorkloadId) -> io::Result<LaunchMark> {
        std::fs::create_dir_all(dir)?;
        let path = mark_path(dir, id);
        let file = File::create(&path)?;
        file.lock()?;
        Ok(LaunchMark { path, _file: file })
    }
}

impl Drop for LaunchMark {
    fn drop(&mut self) {
        // Removed before the lock goes (with the file, right after): a reader
        // that still opened it finds it unlocked and re-reads the record,
        // which the start completed first.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether a live process is starting `id`. A mark left by a dead process
/// is removed.
pub fn is_held(dir: &Path, id: &WorkloadId) -> bool {
    let path = mark_path(dir, id);
    let Ok(file) = File::open(&path) else { return false };
    match file.try_lock() {
        Ok(()) => {
            let _ = std::fs::remove_file(&path);
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_held_until_dropped_and_a_dead_holders_mark_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let id = WorkloadId::random();
        assert!(!is_held(dir.path(), &id));
        let mark = LaunchMark::hold(dir.path(), &id).unwrap();
        assert!(is_held(dir.path(), &id), "held by this process, seen through another open file");
        drop(mark);
        assert!(!is_held(dir.path(), &id));
        // What a killed process leaves: the file, without the lock.
        File::create(mark_path(dir.path(), &id)).unwrap();
        assert!(!is_held(dir.path(), &id));
        assert!(!mark_path(dir.path(), &id).exists(), "the stale mark is cleared");
    }
}
