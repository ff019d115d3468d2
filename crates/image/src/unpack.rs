//! Unpacking one layer tarball (plain or gzip) into a directory, safely.
//!
//! Every entry path is checked before anything is written: absolute paths,
//! `..` components and paths leading through a symlink already in the tree
//! are refused (the whole layer fails), so a malicious layer cannot write
//! outside its directory. Hard links must point inside the tree too.
//!
//! Whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) are either
//! turned into overlayfs form ([`UnpackMode::Overlay`]: a 0/0 character device
//! and the `trusted.overlay.opaque=y` xattr), or applied as deletions
//! ([`UnpackMode::Apply`], used when layers are stacked by copying).

use std::io::{BufRead, Read};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpackMode {
    /// Each layer in its own directory, stacked later by overlayfs.
    Overlay,
    /// Layers applied one after another into the same directory.
    Apply,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry {path:?} escapes the root filesystem ({why}); refusing the layer")]
    Escapes { path: String, why: &'static str },
    #[error("layer is compressed with {0}, which Ferry cannot unpack yet (use gzip or plain tar)")]
    Compression(&'static str),
    #[error("unpacking layer entry {path:?}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &str) -> impl FnOnce(std::io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Io { path: path.to_string(), source }
}

/// Hashes what passes through, to compute the diff id while unpacking.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Unpack `input` (tar, optionally gzip-compressed) into `dest`. Returns the
/// digest of the uncompressed tar stream (the layer's diff id).
pub fn unpack_layer(mut input: impl BufRead, dest: &Path, mode: UnpackMode) -> Result<String, UnpackError> {
    let head = input.fill_buf().map_err(io_err("<layer>"))?.to_vec();
    let reader: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(input))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(UnpackError::Compression("zstd"));
    } else {
        Box::new(input)
    };
    let mut hashing = HashingReader { inner: reader, hasher: Sha256::new() };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_unpack_xattrs(true);
        archive.set_overwrite(true);
        let entries = archive.entries().map_err(io_err("<layer>"))?;
        for entry in entries {
            let mut entry = entry.map_err(io_err("<layer>"))?;
            let raw = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let rel = safe_relative(&entry.path().map_err(io_err(&shown))?, &shown)?;
            if rel.as_os_str().is_empty() {
                continue; // "./" itself
            }
            check_no_symlink_ancestors(dest, &rel, &shown)?;
            let target = dest.join(&rel);
            let file_name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if file_name == OPAQUE_MARKER {
                let dir = target.parent().unwrap_or(dest).to_path_buf();
                std::fs::create_dir_all(&dir).map_err(io_err(&shown))?;
                match mode {
                    UnpackMode::Overlay => xattr::set(&dir, "trusted.overlay.opaque", b"y").map_err(io_err(&shown))?,
                    UnpackMode::Apply => clear_dir(&dir).map_err(io_err(&shown))?,
                }
                continue;
            }
            if let Some(hidden) = file_name.strip_prefix(WHITEOUT_PREFIX) {
                let victim = target.with_file_name(hidden);
                if hidden.is_empty() || hidden == "." || hidden == ".." {
                    return Err(UnpackError::Escapes { path: shown, why: "malformed whiteout" });
                }
                remove_any(&victim).map_err(io_err(&shown))?;
                if mode == UnpackMode::Overlay {
                    std::fs::create_dir_all(victim.parent().unwrap_or(dest)).map_err(io_err(&shown))?;
                    mknod_whiteout(&victim).map_err(io_err(&shown))?;
                }
                continue;
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(&shown))?;
            }
            let kind = entry.header().entry_type();
            // Replace whatever is there unless both are directories (a
            // directory entry keeps an existing directory's contents).
            if let Ok(m) = std::fs::symlink_metadata(&target) {
                if !(kind.is_dir() && m.is_dir()) {
                    remove_any(&target).map_err(io_err(&shown))?;
                }
            }
            if kind.is_hard_link() {
                let link = entry
                    .link_name()
                    .map_err(io_err(&shown))?
                    .ok_or_else(|| UnpackError::Escapes { path: shown.clone(), why: "hard link without target" })?;
                let link_rel = safe_relative(&link, &shown)?;
                check_no_symlink_ancestors(dest, &link_rel, &shown)?;
                std::fs::hard_link(dest.join(&link_rel), &target).map_err(io_err(&shown))?;
                continue;
            }
            entry.unpack(&target).map_err(io_err(&shown))?;
        }
    }
    // Read any trailing padding so the diff id covers the whole stream.
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(io_err("<layer>"))?;
    Ok(format!("sha256:{}", hex::encode(hashing.hasher.finalize())))
}

/// Normalise an entry path: strip `./`, refuse absolute paths and `..`.
fn safe_relative(p: &Path, shown: &str) -> Result<PathBuf, UnpackError> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err(UnpackError::Escapes { path: shown.to_string(), why: "contains `..`" }),
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::Escapes { path: shown.to_string(), why: "absolute path" })
            }
        }
    }
    Ok(out)
}

/// Refuse a path whose parent directories include a symlink already unpacked
/// (writing through it could land anywhere on the host).
fn check_no_symlink_ancestors(root: &Path, rel: &Path, shown: &str) -> Result<(), UnpackError> {
    let mut cur = root.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(UnpackError::Escapes { path: shown.to_string(), why: "leads through a symlink" })
            }
            Ok(_) => {}
            Err(_) => break, // does not exist yet: nothing below it can be a symlink
        }
    }
    Ok(())
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn clear_dir(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        remove_any(&e?.path())?;
    }
    Ok(())
}

fn mknod_whiteout(p: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: mknod with a valid NUL-terminated path.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    fn layer(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, body: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..`; write the raw name to test hostile archives.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, body).unwrap();
    }

    fn symlink(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_link(&mut h, path, target).unwrap();
    }

    #[test]
    fn plain_files_and_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        let tar = layer(|b| file(b, "etc/hello", b"hi\n"));
        let id = unpack_layer(&tar[..], dir.path(), UnpackMode::Overlay).unwrap();
        assert_eq!(std::fs::read(dir.path().join("etc/hello")).unwrap(), b"hi\n");
        assert_eq!(id, crate::store::sha256_digest(&tar));
    }

    #[test]
    fn parent_dir_and_absolute_paths_are_refused() {
        for bad in ["../evil", "a/../../evil", "/abs"] {
            let dir = tempfile::tempdir().unwrap();
            let tar = layer(|b| file(b, bad, b"x"));
            let err = unpack_layer(&tar[..], &dir.path().join("root"), UnpackMode::Apply).unwrap_err();
            assert!(matches!(err, UnpackError::Escapes { .. }), "{bad}: {err}");
            assert!(!dir.path().join("evil").exists());
        }
    }

    #[test]
    fn writing_through_a_symlink_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let tar = layer(|b| {
            symlink(b, "link", outside.path().to_str().unwrap());
            file(b, "link/owned", b"x");
        });
        let err = unpack_layer(&tar[..], dir.path(), UnpackMode::Apply).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(!outside.path().join("owned").exists());
    }

    #[test]
    fn whiteouts_in_overlay_and_apply_modes() {
        let lower = layer(|b| {
            file(b, "d/keep", b"1");
            file(b, "d/gone", b"2");
            file(b, "o/old", b"3");
        });
        let upper = layer(|b| {
            file(b, "d/.wh.gone", b"");
            file(b, "o/.wh..wh..opq", b"");
            file(b, "o/new", b"4");
        });
        // Apply: deletions happen.
        let dir = tempfile::tempdir().unwrap();
        unpack_layer(&lower[..], dir.path(), UnpackMode::Apply).unwrap();
        unpack_layer(&upper[..], dir.path(), UnpackMode::Apply).unwrap();
        assert!(dir.path().join("d/keep").exists());
        assert!(!dir.path().join("d/gone").exists());
        assert!(!dir.path().join("o/old").exists());
        assert!(dir.path().join("o/new").exists());
        // Overlay: whiteout device and opaque xattr.
        let dir = tempfile::tempdir().unwrap();
        unpack_layer(&upper[..], dir.path(), UnpackMode::Overlay).unwrap();
        let m = std::fs::symlink_metadata(dir.path().join("d/gone")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(xattr::get(dir.path().join("o"), "trusted.overlay.opaque").unwrap(), Some(b"y".to_vec()));
    }

    #[test]
    fn gzip_layers_are_recognised() {
        use std::io::Write;
        let tar = layer(|b| file(b, "f", b"gz"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let id = unpack_layer(&gz[..], dir.path(), UnpackMode::Overlay).unwrap();
        assert_eq!(id, crate::store::sha256_digest(&tar), "diff id is of the uncompressed tar");
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"gz");
    }
}
