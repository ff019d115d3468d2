//! Resource usage of a container, read straight from its cgroup when the
//! Engine runs on this machine (the container's main pid names the cgroup in
//! `/proc/<pid>/cgroup`; works for the cgroupfs and systemd drivers, v1 and
//! v2), else from the Engine's one-shot stats API.

use std::path::{Path, PathBuf};

use bollard::query_parameters::StatsOptions;
use bollard::Docker;
use ferry_core::{RuntimeError, Stats};
use futures::StreamExt;

use crate::client::engine_error;

/// Read cgroup stats of the process `pid` (the container's init), if readable.
pub fn from_cgroup(pid: i64) -> Option<Stats> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let root = Path::new("/sys/fs/cgroup");
    let mut v1: Vec<(String, PathBuf)> = Vec::new();
    let mut v2: Option<PathBuf> = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            v2 = Some(root.join(rel));
        } else {
            for c in controllers.split(',') {
                v1.push((c.to_owned(), root.join(c).join(rel)));
            }
        }
    }
    let dir = |name: &str| v1.iter().find(|(c, _)| c == name).map(|(_, p)| p.clone());
    if let (Some(cpuacct), Some(memory)) = (dir("cpuacct"), dir("memory")) {
        let limit = read_u64(&memory.join("memory.limit_in_bytes")).filter(|l| *l < (1 << 62));
        return Some(Stats {
            cpu_usage_ns: read_u64(&cpuacct.join("cpuacct.usage"))?,
            memory_bytes: read_u64(&memory.join("memory.usage_in_bytes"))?,
            memory_limit_bytes: limit,
            pids: dir("pids").and_then(|p| read_u64(&p.join("pids.current"))).unwrap_or(0),
        });
    }
    let dir = v2?;
    let cpu = std::fs::read_to_string(dir.join("cpu.stat")).ok()?;
    let usec = cpu.lines().find_map(|l| l.strip_prefix("usage_usec ")).and_then(|v| v.trim().parse::<u64>().ok())?;
    Some(Stats {
        cpu_usage_ns: usec * 1000,
        memory_bytes: read_u64(&dir.join("memory.current"))?,
        memory_limit_bytes: read_u64(&dir.join("memory.max")),
        pids: read_u64(&dir.join("pids.current")).unwrap_or(0),
    })
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// The Engine's view (remote daemons): one sample, no streaming.
pub async fn from_engine(docker: &Docker, id: &str) -> Result<Stats, RuntimeError> {
    let mut s = docker.stats(id, Some(StatsOptions { stream: false, one_shot: true }));
    let Some(sample) = s.next().await else {
        return Err(RuntimeError::internal(format!("docker: no stats for {id}")));
    };
    let sample = sample.map_err(engine_error("reading the stats of", id))?;
    let cpu = sample.cpu_stats.and_then(|c| c.cpu_usage).and_then(|u| u.total_usage).unwrap_or(0);
    let mem = sample.memory_stats.unwrap_or_default();
    Ok(Stats {
        cpu_usage_ns: cpu,
        memory_bytes: mem.usage.unwrap_or(0),
        memory_limit_bytes: mem.limit.filter(|l| *l < (1 << 62)),
        pids: sample.pids_stats.and_then(|p| p.current).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_cgroup_is_readable_or_absent_without_panicking() {
        // Whatever the machine: never a panic, and CPU time is counted when readable.
        if let Some(s) = from_cgroup(std::process::id() as i64) {
            assert!(s.memory_bytes > 0, "{s:?}");
        }
        assert!(from_cgroup(-5).is_none());
    }
}
