//! Calling the OCI runtime binary (runc, crun or a compatible wrapper) with
//! Ferry's own state directory (`--root`).

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ferry_core::RuntimeError;

#[derive(Debug, Clone)]
pub struct RuntimeBinary {
    pub binary: PathBuf,
    pub root: PathBuf,
    /// What is exec'd: `binary`, or a sealed copy of it (see
    /// `ferry_local::sealed`), which still sees `binary` as its `argv[0]`.
    exec: PathBuf,
}

impl RuntimeBinary {
    pub fn new(binary: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        let binary = binary.into();
        RuntimeBinary { exec: binary.clone(), binary, root: root.into() }
    }

    /// Exec `path` (a sealed copy of the binary) instead of the binary.
    pub fn exec_from(self, path: PathBuf) -> Self {
        RuntimeBinary { exec: path, ..self }
    }

    /// `<binary> --root <root> <args…>`.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(&self.exec);
        c.arg0(&self.binary).arg("--root").arg(&self.root).args(args).stdin(Stdio::null());
        c
    }

    /// Run to completion; stdout on success, an error quoting stderr otherwise.
    pub fn run<I, S>(&self, what: &str, args: I) -> Result<String, RuntimeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out =
            self.command(args).output().map_err(RuntimeError::io(format!("cannot run {}", self.binary.display())))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(RuntimeError::internal(format!(
                "{} {what} failed ({}): {}",
                self.name(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    pub fn name(&self) -> String {
        self.binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    pub fn kill(&self, id: &str, signal: &str) -> Result<(), RuntimeError> {
        self.run("kill", ["kill", id, signal]).map(drop)
    }

    pub fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("pause", ["pause", id]).map(drop)
    }

    pub fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("resume", ["resume", id]).map(drop)
    }

    /// Forget the container (killing what is left); fine if it is already gone.
    pub fn delete(&self, id: &str) {
        let _ = self.command(["delete", "--force", id]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }

    /// [`RuntimeBinary::delete`] of a container whose processes have all
    /// ended, without starting the runtime (a millisecond or more of CPU per
    /// container here, which back to back slows the next start). runc and
    /// crun keep a container's state in one directory under `--root`, and
    /// their cgroupfs driver makes the spec's `cgroupsPath` in each
    /// hierarchy: those are removed, the cgroups first. Another runtime, or
    /// anything left behind (a cgroup still busy), gets `delete --force`.
    pub fn forget_ended(&self, id: &str) {
        let known = matches!(self.name().as_str(), "runc" | "crun");
        if !(known && crate::cgroup::remove(&crate::cgroup::cgroups_path(id)) && remove_dir_gone(&self.root.join(id))) {
            self.delete(id);
        }
    }

    /// `<binary> state <id>` as JSON (`status`: created, running, paused, stopped).
    pub fn state(&self, id: &str) -> Result<serde_json::Value, RuntimeError> {
        let out = self.run("state", ["state", id])?;
        serde_json::from_str(&out).map_err(|e| RuntimeError::internal(format!("{} state: bad JSON: {e}", self.name())))
    }

    /// `<binary> --version`, first line.
    pub fn version(binary: &Path) -> Result<String, String> {
        let out = Command::new(binary).arg("--version").output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().next().unwrap_or_default().to_string())
    }
}

/// Remove `dir` and what it holds; whether it is gone.
fn remove_dir_gone(dir: &Path) -> bool {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}
