//! Spare container directories, made ahead of time.
//!
//! A container needs five directories of its own: its bundle, the overlay's
//! mount point, upper and work directories, and the one holding the link to
//! the runtime's sealed copy. A mkdir on ext4 takes 25 µs at the median here
//! but up to 2 ms when the block allocator has to search, and a start made
//! five of them. So each container's monitor, in its cleanup after the end is
//! recorded, makes the directories of later containers under `spares/`, and
//! a start takes one with a single rename (or makes its own when none is
//! left).

use std::path::{Path, PathBuf};

/// The directories inside a container's directory that a start needs.
const SKELETON: [&str; 5] = ["bundle", "rootfs", "upper", "work", "exe"];
/// How many spares to keep: enough for starts in quick succession; parallel
/// starts beyond it make their own directories.
const KEEP: usize = 2;

/// Where the spares of the containers in `containers` are kept.
pub fn spares_of(containers: &Path) -> PathBuf {
    containers.with_file_name("spares")
}

/// Move a spare into place as the (not yet existing) container directory
/// `dir`. False when there is none left (another start may have taken the
/// last one meanwhile): then the caller makes the directories.
pub fn claim(spares: &Path, dir: &Path) -> bool {
    ready(spares).into_iter().any(|spare| std::fs::rename(spare, dir).is_ok())
}

/// Make spares until [`KEEP`] are ready. Each is built under a dot-name and
/// renamed when complete, so [`claim`] never takes a half-made one.
pub fn replenish(spares: &Path) {
    for n in ready(spares).len()..KEEP {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("{}-{nanos}-{n}", std::process::id());
        let building = spares.join(format!(".{name}"));
        if SKELETON.iter().all(|d| std::fs::create_dir_all(building.join(d)).is_ok()) {
            let _ = std::fs::rename(&building, spares.join(name));
        } else {
            let _ = std::fs::remove_dir_all(&building);
        }
    }
}

fn ready(spares: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(spares) else { return Vec::new() };
    entries.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with('.')).map(|e| e.path()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_takes_a_complete_spare_until_none_is_left() {
        let root = tempfile::tempdir().unwrap();
        let containers = root.path().join("containers");
        std::fs::create_dir_all(&containers).unwrap();
        let spares = spares_of(&containers);
        assert_eq!(spares, root.path().join("spares"));
        assert!(!claim(&spares, &containers.join("a")), "no spares yet");

        replenish(&spares);
        assert_eq!(ready(&spares).len(), KEEP);
        // A spare still being built is never taken.
        std::fs::create_dir_all(spares.join(".half-made/bundle")).unwrap();
        for (i, id) in ["a", "b"].iter().enumerate() {
            assert!(claim(&spares, &containers.join(id)), "spare {i}");
            for d in SKELETON {
                assert!(containers.join(id).join(d).is_dir(), "{id}/{d}");
            }
        }
        assert!(!claim(&spares, &containers.join("c")), "the half-made one stays");
        assert!(spares.join(".half-made").is_dir());
        replenish(&spares);
        assert_eq!(ready(&spares).len(), KEEP, "replenished after use");
    }
}
