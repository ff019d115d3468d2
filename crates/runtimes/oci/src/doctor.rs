//! Prerequisite checks for `ferry doctor`: runtime binaries and versions,
//! which one would be chosen, cgroup controllers, overlayfs, CRIU.

use std::path::Path;

use serde::Serialize;

use crate::binary::RuntimeBinary;
use crate::select;

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// False for checks that only matter for some workloads (GPUs, checkpoints).
    pub required: bool,
}

/// Run every check. `scratch` is where an overlay test mount may be made.
pub fn checks(context_setting: Option<String>, scratch: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    let path = std::env::var_os("PATH");
    for name in ["crun", "runc", select::NVIDIA_RUNTIME] {
        let found = select::find_on_path(name, path.as_ref()).or_else(|| {
            (name == select::NVIDIA_RUNTIME)
                .then(|| select::NVIDIA_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| p.exists()))
                .flatten()
        });
        out.push(match found {
            Some(p) => Check {
                name: name.into(),
                ok: true,
                detail: format!("{} ({})", p.display(), RuntimeBinary::version(&p).unwrap_or_else(|e| e)),
                required: false,
            },
            None => Check { name: name.into(), ok: false, detail: "not found".into(), required: false },
        });
    }
    let choice = select::select(&select::Inputs::from_env(context_setting, false));
    out.push(match choice {
        Ok(s) => Check {
            name: "runtime choice".into(),
            ok: true,
            detail: format!("{} — {}", s.binary.display(), s.reason),
            required: true,
        },
        Err(e) => Check { name: "runtime choice".into(), ok: false, detail: e.to_string(), required: true },
    });
    let support = ferry_local::cgroup::detect();
    let missing: Vec<String> = support.unavailable().iter().map(|(c, why)| format!("{c}: {why}")).collect();
    out.push(Check {
        name: "cgroups".into(),
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            support.to_string()
        } else {
            format!("{support}; missing: {}", missing.join("; "))
        },
        required: true,
    });
    let _ = std::fs::create_dir_all(scratch);
    out.push(match crate::rootfs::overlay_works(scratch) {
        Ok(()) => Check {
            name: "overlayfs".into(),
            ok: true,
            detail: "mountable: container root filesystems share image layers".into(),
            required: false,
        },
        Err(e) => Check {
            name: "overlayfs".into(),
            ok: false,
            detail: format!("cannot mount ({e}); containers fall back to copying their image's layers"),
            required: false,
        },
    });
    out.push(match crate::criu_check() {
        Ok(()) => Check {
            name: "criu".into(),
            ok: true,
            detail: "`criu check` passes: checkpoint/restore available".into(),
            required: false,
        },
        Err(e) => Check { name: "criu".into(), ok: false, detail: e, required: false },
    });
    out
}
