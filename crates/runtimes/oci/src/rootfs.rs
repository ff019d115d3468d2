//! A container's root filesystem: an overlay of the image's unpacked layers
//! (shared by every container of the image, read-only) with a private upper
//! directory, so starting a second container copies nothing. Where overlayfs
//! cannot be mounted, the layers are copied into a private directory instead,
//! with a warning in the workload's log.
//!
//! The overlay is mounted `volatile` where the kernel has it (5.10 and
//! later): overlayfs then never syncs the upper directory, which otherwise
//! costs a sync of the whole host filesystem at every unmount (0.3 ms here,
//! more on a busy disk). The upper directory is a container's scratch space:
//! it is not reused after the container ends, a restore starts from the
//! image again, and what must outlive a container goes to its `outputs`.

use std::path::{Path, PathBuf};

use ferry_core::RuntimeError;
use ferry_image::{Image, ImageStore};
use serde::{Deserialize, Serialize};

/// How the rootfs of one container was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Rootfs {
    Overlay { lower: Vec<PathBuf>, upper: PathBuf, work: PathBuf, target: PathBuf },
    Copy { target: PathBuf, why: String },
}

impl Rootfs {
    pub fn target(&self) -> &Path {
        match self {
            Rootfs::Overlay { target, .. } | Rootfs::Copy { target, .. } => target,
        }
    }

    /// Mount it (again); a no-op for a copy or an overlay that is mounted.
    pub fn mount(&self) -> Result<(), RuntimeError> {
        let Rootfs::Overlay { lower, upper, work, target } = self else { return Ok(()) };
        if is_mounted(target) {
            return Ok(());
        }
        // A volatile overlay leaves a marker in its work directory, and
        // overlayfs refuses to mount those directories again while it is
        // there (after a crash the upper directory may be torn). This
        // container's own scratch space, mounted again, may be reused.
        let _ = std::fs::remove_dir_all(work.join("work/incompat/volatile"));
        mount_overlay(lower, upper, work, target)
    }

    /// Unmount (lazily, so a process still holding it cannot block cleanup).
    pub fn unmount(&self) {
        if let Rootfs::Overlay { target, .. } = self {
            if is_mounted(target) {
                let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

/// Prepare the rootfs of a container in `dir` (`dir/rootfs`, `dir/upper`, `dir/work`).
pub fn prepare(store: &ImageStore, img: &Image, dir: &Path) -> Result<(Rootfs, Option<String>), RuntimeError> {
    let backend = |e: ferry_image::StoreError| RuntimeError::internal(e.to_string());
    let target = dir.join("rootfs");
    let upper = dir.join("upper");
    let work = dir.join("work");
    for d in [&target, &upper, &work] {
        std::fs::create_dir_all(d).map_err(RuntimeError::io(format!("cannot create {}", d.display())))?;
    }
    let lower = store.layer_dirs(img).map_err(backend)?;
    let lower = if lower.is_empty() {
        // overlayfs needs at least one lower directory.
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).map_err(RuntimeError::io("create empty layer"))?;
        vec![empty]
    } else {
        lower
    };
    match mount_overlay(&lower, &upper, &work, &target) {
        Ok(()) => Ok((Rootfs::Overlay { lower, upper, work, target }, None)),
        Err(e) => {
            let why = format!("overlayfs unavailable ({e}); copying the image's layers instead (slower, uses disk)");
            tracing::warn!("{why}");
            let _ = std::fs::remove_dir_all(&upper);
            let _ = std::fs::remove_dir_all(&work);
            store.flatten_into(img, &target).map_err(backend)?;
            Ok((Rootfs::Copy { target, why: why.clone() }, Some(why)))
        }
    }
}

fn mount_overlay(lower: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<(), RuntimeError> {
    // overlayfs lists lower directories top-most first.
    let lowerdir: Vec<String> = lower.iter().rev().map(|p| p.display().to_string()).collect();
    let data = format!("lowerdir={},upperdir={},workdir={}", lowerdir.join(":"), upper.display(), work.display());
    let mount = |data: &str| {
        nix::mount::mount(Some("overlay"), target, Some("overlay"), nix::mount::MsFlags::empty(), Some(data))
    };
    match mount(&format!("{data},volatile")) {
        // Kernels before 5.10 do not know `volatile`.
        Err(nix::errno::Errno::EINVAL) => mount(&data),
        other => other,
    }
    .map_err(|e| RuntimeError::internal(format!("mount overlay on {}: {e}", target.display())))
}

/// Whether a filesystem is mounted on `target`: an overlay has a device of
/// its own, unlike the directory it is mounted on (two `stat`s, where reading
/// `/proc/self/mountinfo` takes a fifth of a millisecond on a busy host).
fn is_mounted(target: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev());
    match (dev(target), target.parent().map(dev)) {
        (Ok(own), Some(Ok(parent))) => own != parent,
        _ => false,
    }
}

/// Whether overlayfs can be mounted here (for `ferry doctor`).
pub fn overlay_works(scratch: &Path) -> Result<(), String> {
    let d = tempfile::Builder::new().prefix("overlay-check-").tempdir_in(scratch).map_err(|e| e.to_string())?;
    let (l, u, w, t) = (d.path().join("l"), d.path().join("u"), d.path().join("w"), d.path().join("t"));
    for p in [&l, &u, &w, &t] {
        std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
    }
    mount_overlay(&[l], &u, &w, &t).map_err(|e| e.to_string())?;
    let _ = nix::mount::umount2(&t, nix::mount::MntFlags::MNT_DETACH);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mountinfo lines of what is mounted on `target`.
    fn mounts_on(target: &Path) -> Vec<String> {
        let needle = format!(" {} ", target.display());
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(String::from)
            .collect()
    }

    fn overlays_on(target: &Path) -> usize {
        mounts_on(target).len()
    }

    /// Empty lower, upper, work and target directories in a temporary one.
    fn overlay_dirs() -> (tempfile::TempDir, [PathBuf; 4]) {
        let d = tempfile::tempdir().unwrap();
        let dirs = ["l", "u", "w", "t"].map(|n| d.path().join(n));
        for p in &dirs {
            std::fs::create_dir_all(p).unwrap();
        }
        (d, dirs)
    }

    #[test]
    fn an_overlay_is_mounted_once_and_seen_until_unmounted() {
        let (_d, [lower, upper, work, target]) = overlay_dirs();
        std::fs::write(lower.join("from-the-image"), b"").unwrap();
        let fs = Rootfs::Overlay { lower: vec![lower], upper, work, target: target.clone() };
        assert!(!is_mounted(&target));
        fs.mount().expect("overlayfs (needs root)");
        assert!(is_mounted(&target));
        assert!(target.join("from-the-image").exists());
        fs.mount().unwrap();
        assert_eq!(overlays_on(&target), 1, "a second mount() is a no-op");
        fs.unmount();
        assert!(!is_mounted(&target));
        assert_eq!(overlays_on(&target), 0);
    }

    #[test]
    fn the_overlay_is_volatile_and_mounts_again_after_an_unmount() {
        let (_d, [lower, upper, work, target]) = overlay_dirs();
        let fs = Rootfs::Overlay { lower: vec![lower], upper: upper.clone(), work, target: target.clone() };
        fs.mount().expect("overlayfs (needs root)");
        let lines = mounts_on(&target);
        assert!(lines.iter().any(|l| l.contains("volatile")), "not volatile: {lines:?}");
        std::fs::write(target.join("scratch"), b"kept until the end").unwrap();
        fs.unmount();
        // overlayfs refuses a volatile overlay's directories while its
        // marker is there; mount() clears it.
        fs.mount().expect("mount the same directories again");
        assert_eq!(std::fs::read(target.join("scratch")).unwrap(), b"kept until the end");
        assert_eq!(std::fs::read(upper.join("scratch")).unwrap(), b"kept until the end");
        fs.unmount();
    }
}
