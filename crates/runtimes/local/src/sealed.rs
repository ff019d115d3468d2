//! Sealed in-memory copies of programs, to exec instead of the file on disk.
//!
//! crun and runc defend against CVE-2019-5736 (a container overwriting the
//! runtime binary through `/proc/self/exe`) by copying themselves into a
//! memfd and re-executing that copy, on every call: about 2 ms per `crun run`
//! here. Both skip the copy when they already run from a memfd sealed against
//! writing, growing and shrinking (runc's `memfd-bind` relies on this), which
//! is what [`SealedCopy`] makes. A monitor makes it while the CLI is still
//! preparing the workload, off the start's critical path.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The seals crun and runc look for: exactly these, so the copy can never change.
const SEALS: libc::c_int = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// A program copied into a sealed memfd (closed on exec, so nothing the
/// program starts inherits it).
#[derive(Debug)]
pub struct SealedCopy {
    /// The program it copies.
    pub original: PathBuf,
    fd: OwnedFd,
}

impl SealedCopy {
    /// Copy `program` into a sealed memfd. Only ELF executables are copied:
    /// a script run from `/proc/self/fd/N` would find that descriptor closed
    /// by the time its interpreter opens it.
    pub fn of(program: &Path) -> std::io::Result<SealedCopy> {
        let mut src = File::open(program)?;
        let mut magic = [0u8; 4];
        src.read_exact(&mut magic)?;
        if &magic != b"\x7fELF" {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not an ELF executable"));
        }
        let mut copy = File::from(memfd(c"ferry-sealed-exe")?);
        src.rewind()?;
        std::io::copy(&mut src, &mut copy)?;
        // SAFETY: fcntl on a descriptor we own, with an integer argument.
        if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(SealedCopy { original: program.to_path_buf(), fd: copy.into() })
    }

    /// A path that execs the copy, valid in this process and in children it
    /// spawns (until they exec): a symlink in `dir` to `/proc/self/fd/N`
    /// named as the original, so the process is called `crun` in `ps`, not
    /// `N`. The bare `/proc/self/fd/N` if the link cannot be made.
    pub fn exec_path(&self, dir: &Path) -> PathBuf {
        let fd_path = PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()));
        let Some(name) = self.original.file_name() else { return fd_path };
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        match std::fs::create_dir_all(dir).and_then(|()| std::os::unix::fs::symlink(&fd_path, &link)) {
            Ok(()) => link,
            Err(_) => fd_path,
        }
    }
}

/// An executable memfd that can be sealed. `MFD_EXEC` says it is meant to
/// be executed (kernels since 6.3 warn when neither it nor `MFD_NOEXEC_SEAL`
/// is given); older kernels reject the flag, so it is retried without.
fn memfd(name: &std::ffi::CStr) -> std::io::Result<OwnedFd> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create with a NUL-terminated name; the result is a new
    // descriptor we own or -1.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | libc::MFD_EXEC) };
    if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn which(name: &str) -> PathBuf {
        ["/usr/bin", "/bin"].iter().map(|d| Path::new(d).join(name)).find(|p| p.exists()).unwrap()
    }

    #[test]
    fn the_copy_is_fully_sealed_and_runs_from_memory() {
        let links = tempfile::tempdir().unwrap();
        let copy = SealedCopy::of(&which("cat")).unwrap();
        // SAFETY: fcntl on a descriptor the copy owns.
        let seals = unsafe { libc::fcntl(copy.fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert_eq!(seals, SEALS, "crun and runc compare the seals exactly");
        let exe = copy.exec_path(links.path());
        assert_eq!(exe, links.path().join("cat"));
        // The child reads where its own program came from, and its name.
        let out = Command::new(&exe).args(["/proc/self/comm"]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "cat");
        let out = Command::new(&exe).arg("/proc/self/maps").output().unwrap();
        let maps = String::from_utf8_lossy(&out.stdout);
        assert!(maps.lines().next().unwrap().contains("/memfd:ferry-sealed-exe"), "ran from {maps}");
        // Sealed against writing: not even we can change it now.
        let mut f = std::fs::OpenOptions::new().write(true).open(&exe).unwrap();
        assert!(std::io::Write::write_all(&mut f, b"x").is_err());
    }

    #[test]
    fn scripts_are_not_copied() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("wrapper");
        std::fs::write(&script, "#!/bin/sh\nexec true\n").unwrap();
        let err = SealedCopy::of(&script).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}
