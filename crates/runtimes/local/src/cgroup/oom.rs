//! Whether a memory cgroup saw an out-of-memory kill: the one rule that every
//! runtime reading cgroups applies (the local runtime's monitor, the OCI
//! runtime's), so that one workload is never "out of memory" on one runtime
//! and "exited with code 137" on another.
//!
//! - v2: `oom_kill` in `memory.events` is non-zero.
//! - v1: `under_oom` in `memory.oom_control` is non-zero (the OOM killer is
//!   disabled for the cgroup and its processes wait at the limit: out of
//!   memory as surely as a kill), or its `oom_kill` counter is (Linux 4.13+).
//!   Older kernels have no counter; there the limit was hit (a non-zero
//!   `memory.failcnt`) and peak usage (`memory.max_usage_in_bytes`) reached
//!   the limit within 64 KiB — which a process that survived by reclaiming
//!   cache can also show, so the counter wins wherever it exists.
//!
//! A missing or unreadable file counts as "no".

use std::path::Path;

use super::{keyed, read_file, read_u64, Version, UNLIMITED};

/// Peak usage this close to the limit counts as having reached it (v1 without a counter).
const NEAR_LIMIT: u64 = 64 * 1024;

/// Apply the rule to the memory controller's directory `memory_dir`.
pub fn oom_killed(memory_dir: &Path, version: Version) -> bool {
    let counter = |file: &str, key: &str| read_file(&memory_dir.join(file)).ok().and_then(|t| keyed(&t, key));
    match version {
        Version::V2 => counter("memory.events", "oom_kill").unwrap_or(0) > 0,
        Version::V1 => {
            if counter("memory.oom_control", "under_oom").unwrap_or(0) > 0 {
                return true;
            }
            if let Some(kills) = counter("memory.oom_control", "oom_kill") {
                return kills > 0;
            }
            let get = |f: &str| read_u64(&memory_dir.join(f)).ok();
            match (get("memory.failcnt"), get("memory.limit_in_bytes"), get("memory.max_usage_in_bytes")) {
                (Some(fails), Some(limit), Some(peak)) => {
                    fails > 0 && limit < UNLIMITED && peak.saturating_add(NEAR_LIMIT) >= limit
                }
                _ => false,
            }
        }
    }
}
