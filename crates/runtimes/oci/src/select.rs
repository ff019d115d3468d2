//! Which OCI runtime binary runs a container, and why (seed 001's order):
//!
//! 1. `FERRY_OCI_RUNTIME` in the environment, else the context's `oci_runtime`
//!    (for a workload that requests GPUs it must name a GPU runtime, whose
//!    file name starts with `nvidia-container-runtime`: runc or crun would
//!    run it on the CPU without a word);
//! 2. when the workload requests GPUs: `nvidia-container-runtime` on `PATH`,
//!    in `/usr/bin` or in `/usr/local/nvidia/toolkit` — and an error if none;
//! 3. otherwise `crun` if installed, else `runc`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable that overrides every other choice.
pub const ENV_OVERRIDE: &str = "FERRY_OCI_RUNTIME";

/// Places searched for the GPU runtime besides `PATH`.
pub const NVIDIA_DIRS: &[&str] = &["/usr/bin", "/usr/local/nvidia/toolkit"];
pub const NVIDIA_RUNTIME: &str = "nvidia-container-runtime";

/// The chosen binary and the reason, shown by `ferry inspect`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    pub binary: PathBuf,
    pub reason: String,
}

impl Selection {
    /// Short name of the binary (`runc`, `crun` …), used for its state directory.
    pub fn name(&self) -> String {
        self.binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "runtime".into())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("{source_name} names OCI runtime {name:?}, which was not found (looked on PATH)")]
    ExplicitNotFound { source_name: String, name: String },
    #[error(
        "the workload requests GPUs (resources.gpus) but {source_name} names OCI runtime {name:?}, which is not \
         a GPU runtime: name nvidia-container-runtime there, or unset it to have Ferry find one; \
         refusing to run it without GPUs"
    )]
    ExplicitNotGpu { source_name: String, name: String },
    #[error(
        "the workload requests GPUs (resources.gpus) but no GPU runtime was found: \
         nvidia-container-runtime is not on PATH, in /usr/bin or in /usr/local/nvidia/toolkit. \
         Install the NVIDIA container toolkit, or set FERRY_OCI_RUNTIME; refusing to run it without GPUs"
    )]
    NoGpuRuntime,
    #[error("no OCI runtime found: neither crun nor runc is on PATH (install one, e.g. `apt-get install crun`)")]
    NoRuntime,
}

/// What selection looks at, gathered so tests can vary it.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub env_override: Option<String>,
    pub context_setting: Option<String>,
    pub wants_gpus: bool,
    pub path: Option<OsString>,
}

impl Inputs {
    /// From this process's environment.
    pub fn from_env(context_setting: Option<String>, wants_gpus: bool) -> Inputs {
        Inputs {
            env_override: std::env::var(ENV_OVERRIDE).ok().filter(|v| !v.is_empty()),
            context_setting: context_setting.filter(|v| !v.is_empty()),
            wants_gpus,
            path: std::env::var_os("PATH"),
        }
    }
}

/// Apply the selection order.
pub fn select(i: &Inputs) -> Result<Selection, SelectError> {
    let explicit = i
        .env_override
        .as_ref()
        .map(|v| (v, ENV_OVERRIDE.to_string()))
        .or_else(|| i.context_setting.as_ref().map(|v| (v, "the context's oci_runtime setting".to_string())));
    if let Some((name, why)) = explicit {
        let binary = find(name, i.path.as_ref())
            .ok_or_else(|| SelectError::ExplicitNotFound { source_name: why.clone(), name: name.clone() })?;
        if i.wants_gpus && !is_gpu_runtime(&binary) {
            return Err(SelectError::ExplicitNotGpu { source_name: why, name: name.clone() });
        }
        return Ok(Selection { binary, reason: format!("{why} names it ({name})") });
    }
    if i.wants_gpus {
        if let Some(b) = find_on_path(NVIDIA_RUNTIME, i.path.as_ref()) {
            return Ok(Selection {
                binary: b,
                reason: "the workload requests GPUs; nvidia-container-runtime found on PATH".into(),
            });
        }
        for dir in NVIDIA_DIRS {
            let b = Path::new(dir).join(NVIDIA_RUNTIME);
            if is_executable(&b) {
                return Ok(Selection {
                    binary: b,
                    reason: format!("the workload requests GPUs; nvidia-container-runtime found in {dir}"),
                });
            }
        }
        return Err(SelectError::NoGpuRuntime);
    }
    if let Some(b) = find_on_path("crun", i.path.as_ref()) {
        return Ok(Selection { binary: b, reason: "default: crun is installed".into() });
    }
    if let Some(b) = find_on_path("runc", i.path.as_ref()) {
        return Ok(Selection { binary: b, reason: "default: crun is not installed, runc is".into() });
    }
    Err(SelectError::NoRuntime)
}

/// Whether `binary` is the NVIDIA runtime (or one of its variants, such as
/// `nvidia-container-runtime.cdi`): the only runtimes that give a container GPUs.
fn is_gpu_runtime(binary: &Path) -> bool {
    binary.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(NVIDIA_RUNTIME))
}

/// A name with a slash is a path; otherwise it is looked up on PATH.
fn find(name: &str, path: Option<&OsString>) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    find_on_path(name, path)
}

pub fn find_on_path(name: &str, path: Option<&OsString>) -> Option<PathBuf> {
    let path = path?;
    std::env::split_paths(path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin_dir(names: &[&str]) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        for n in names {
            let p = d.path().join(n);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        d
    }

    fn inputs(dir: &tempfile::TempDir) -> Inputs {
        Inputs { path: Some(dir.path().as_os_str().to_owned()), ..Default::default() }
    }

    #[test]
    fn crun_before_runc() {
        let d = bin_dir(&["runc", "crun"]);
        let s = select(&inputs(&d)).unwrap();
        assert_eq!(s.name(), "crun");
        assert!(s.reason.contains("crun is installed"), "{}", s.reason);
        let d = bin_dir(&["runc"]);
        assert_eq!(select(&inputs(&d)).unwrap().name(), "runc");
        let d = bin_dir(&[]);
        assert_eq!(select(&inputs(&d)), Err(SelectError::NoRuntime));
    }

    #[test]
    fn env_beats_context_beats_default() {
        let d = bin_dir(&["runc", "crun"]);
        let mut i = inputs(&d);
        i.context_setting = Some("runc".into());
        let s = select(&i).unwrap();
        assert_eq!(s.name(), "runc");
        assert!(s.reason.contains("context"), "{}", s.reason);
        i.env_override = Some("crun".into());
        let s = select(&i).unwrap();
        assert_eq!(s.name(), "crun");
        assert!(s.reason.contains(ENV_OVERRIDE), "{}", s.reason);
        i.env_override = Some("youki".into());
        assert!(matches!(select(&i), Err(SelectError::ExplicitNotFound { .. })));
    }

    #[test]
    fn gpus_with_an_explicit_runtime_need_it_to_be_a_gpu_runtime() {
        let d = bin_dir(&["runc", "crun", NVIDIA_RUNTIME]);
        let mut i = inputs(&d);
        i.wants_gpus = true;
        i.context_setting = Some("runc".into());
        let e = select(&i).unwrap_err();
        assert!(matches!(&e, SelectError::ExplicitNotGpu { name, .. } if name == "runc"), "{e:?}");
        assert!(e.to_string().contains("context's oci_runtime") && e.to_string().contains("requests GPUs"), "{e}");
        i.env_override = Some("crun".into());
        assert!(matches!(select(&i), Err(SelectError::ExplicitNotGpu { name, .. }) if name == "crun"));
        // Naming the GPU runtime, by name or by path, is fine.
        i.env_override = Some(NVIDIA_RUNTIME.into());
        assert_eq!(select(&i).unwrap().name(), NVIDIA_RUNTIME);
        i.env_override = Some(d.path().join(NVIDIA_RUNTIME).to_string_lossy().into_owned());
        assert_eq!(select(&i).unwrap().name(), NVIDIA_RUNTIME);
        // Without GPUs an explicit runc is just runc.
        i.wants_gpus = false;
        i.env_override = None;
        assert_eq!(select(&i).unwrap().name(), "runc");
    }

    #[test]
    fn gpus_need_the_nvidia_runtime() {
        let d = bin_dir(&["runc", "crun", NVIDIA_RUNTIME]);
        let mut i = inputs(&d);
        i.wants_gpus = true;
        let s = select(&i).unwrap();
        assert_eq!(s.name(), NVIDIA_RUNTIME);
        assert!(s.reason.contains("requests GPUs"), "{}", s.reason);
        // Without GPUs the nvidia runtime is not picked.
        i.wants_gpus = false;
        assert_eq!(select(&i).unwrap().name(), "crun");
        // GPUs but no GPU runtime anywhere: a clear error (unless the host has one in NVIDIA_DIRS).
        if NVIDIA_DIRS.iter().all(|d| !Path::new(d).join(NVIDIA_RUNTIME).exists()) {
            let d = bin_dir(&["runc"]);
            let mut i = inputs(&d);
            i.wants_gpus = true;
            let e = select(&i).unwrap_err();
            assert_eq!(e, SelectError::NoGpuRuntime);
            assert!(e.to_string().contains("requests GPUs"));
        }
    }
}
