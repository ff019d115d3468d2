//! Reading a container's cgroup (created by the OCI runtime at the
//! `cgroupsPath` Ferry put in the spec): usage for `ferry stats`, and whether
//! the memory limit was hit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_core::Stats;
use ferry_local::cgroup::{oom, Version};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// v1 reports "no limit" as a huge page-aligned number.
const UNLIMITED: u64 = 1 << 60;

/// The `cgroupsPath` of a container's spec: its cgroup in every hierarchy.
pub fn cgroups_path(container_id: &str) -> String {
    format!("/ferry/{container_id}")
}

/// Remove the directories of cgroup `path` in every hierarchy (v1's
/// controllers and named ones, or v2's); whether none is left. An empty
/// cgroup is removed at once; one that still has processes stays.
pub fn remove(path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    let root = Path::new(CGROUP_ROOT);
    let hierarchies = std::fs::read_dir(root).into_iter().flatten().flatten().map(|e| e.path());
    let mut gone = true;
    for dir in hierarchies.chain([root.to_path_buf()]).map(|h| h.join(rel)) {
        match std::fs::remove_dir(&dir) {
            Ok(()) => {}
            // Not there, or `h` is one of v2's control files.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {}
            Err(_) => gone = false,
        }
    }
    gone
}

/// The directories of cgroup `path` (e.g. `/ferry/ferry-<id>`), per controller
/// (`memory`, `cpuacct`, `pids`, `freezer`) on v1, or `unified` on v2.
pub fn dirs_for(path: &str) -> BTreeMap<String, PathBuf> {
    let rel = path.trim_start_matches('/');
    let root = Path::new(CGROUP_ROOT);
    let mut out = BTreeMap::new();
    if root.join("cgroup.controllers").exists() {
        out.insert("unified".to_string(), root.join(rel));
        return out;
    }
    for c in ["memory", "cpuacct", "pids", "freezer"] {
        let d = root.join(c).join(rel);
        if d.exists() {
            out.insert(c.to_string(), d);
        }
    }
    if out.is_empty() {
        let u = root.join("unified").join(rel);
        if u.exists() {
            out.insert("unified".to_string(), u);
        }
    }
    out
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn read_u64(p: &Path) -> Option<u64> {
    read(p)?.trim().parse().ok()
}

fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Current usage of the container's cgroup.
pub fn stats(dirs: &BTreeMap<String, PathBuf>) -> Option<Stats> {
    let mut s = Stats::default();
    if let Some(u) = dirs.get("unified") {
        s.cpu_usage_ns = keyed(&read(&u.join("cpu.stat"))?, "usage_usec").unwrap_or(0) * 1000;
        s.memory_bytes = read_u64(&u.join("memory.current")).unwrap_or(0);
        s.memory_limit_bytes = read(&u.join("memory.max")).and_then(|v| v.trim().parse().ok());
        s.pids = read_u64(&u.join("pids.current")).unwrap_or(0);
        return Some(s);
    }
    s.cpu_usage_ns = read_u64(&dirs.get("cpuacct")?.join("cpuacct.usage"))?;
    if let Some(m) = dirs.get("memory") {
        s.memory_bytes = read_u64(&m.join("memory.usage_in_bytes")).unwrap_or(0);
        s.memory_limit_bytes = read_u64(&m.join("memory.limit_in_bytes")).filter(|l| *l < UNLIMITED);
    }
    s.pids = match dirs.get("pids") {
        Some(p) => read_u64(&p.join("pids.current")).unwrap_or(0),
        None => read(&dirs.get("cpuacct")?.join("cgroup.procs")).map(|t| t.lines().count() as u64).unwrap_or(0),
    };
    Some(s)
}

/// Whether the container's memory cgroup saw an out-of-memory kill, by the
/// rule the local runtime applies too ([`ferry_local::cgroup::oom`]).
pub fn out_of_memory(dirs: &BTreeMap<String, PathBuf>) -> bool {
    match (dirs.get("unified"), dirs.get("memory")) {
        (Some(unified), _) => oom::oom_killed(unified, Version::V2),
        (None, Some(memory)) => oom::oom_killed(memory, Version::V1),
        (None, None) => false,
    }
}

/// Take the kernel's cgroup migration lock once, off the critical path.
///
/// The first move of a process between cgroups after a quiet spell waits for
/// an RCU grace period (the writer side of `cgroup_threadgroup_rwsem`; 5-25 ms
/// measured here), moves within about a grace period of another do not. The
/// OCI runtime moves the container's init into its cgroup a few milliseconds
/// after it starts. The pre-forked monitor calls this as soon as it exists,
/// while the CLI still reads the workload file and prepares the bundle: it
/// moves itself into the cgroup it is already in, so the runtime's move finds
/// the lock warm. Best effort: errors are ignored.
pub fn prime_migration() {
    let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else { return };
    let root = Path::new(CGROUP_ROOT);
    let unified = if root.join("cgroup.controllers").exists() { root.to_path_buf() } else { root.join("unified") };
    let procs = own.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let dir = match controllers {
            "" => unified.clone(),
            c if c.split(',').any(|c| c == "pids") => root.join("pids"),
            _ => return None,
        };
        Some(dir.join(path.trim_start_matches('/')).join("cgroup.procs"))
    });
    if let Some(procs) = procs {
        let _ = std::fs::write(procs, std::process::id().to_string());
    }
}

/// Whether the memory controller is cgroup v1 (no `memory.oom.group`: the
/// monitor kills the rest of the container after an OOM kill).
pub fn memory_is_v1() -> bool {
    let root = Path::new(CGROUP_ROOT);
    !root.join("cgroup.controllers").exists() && root.join("memory").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priming_the_migration_lock_leaves_us_where_we_were() {
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        prime_migration();
        assert_eq!(std::fs::read_to_string("/proc/self/cgroup").unwrap(), before);
    }

    #[test]
    fn reads_v1_files() {
        let d = tempfile::tempdir().unwrap();
        let (m, c, p) = (d.path().join("m"), d.path().join("c"), d.path().join("p"));
        for x in [&m, &c, &p] {
            std::fs::create_dir(x).unwrap();
        }
        std::fs::write(c.join("cpuacct.usage"), "12345\n").unwrap();
        std::fs::write(m.join("memory.usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(m.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(m.join("memory.oom_control"), "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n").unwrap();
        std::fs::write(p.join("pids.current"), "3\n").unwrap();
        let dirs: BTreeMap<String, PathBuf> =
            [("memory".into(), m.clone()), ("cpuacct".into(), c), ("pids".into(), p)].into();
        let s = stats(&dirs).unwrap();
        assert_eq!((s.cpu_usage_ns, s.memory_bytes, s.memory_limit_bytes, s.pids), (12345, 4096, None, 3));
        assert!(!out_of_memory(&dirs));
        std::fs::write(m.join("memory.oom_control"), "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n").unwrap();
        assert!(out_of_memory(&dirs));
    }
}
