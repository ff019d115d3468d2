//! Linux control groups for the local runtime: limits, metrics, pause and
//! reliable killing of a workload's processes.
//!
//! A small, dependency-free take on what youki's `libcgroups` does, limited to
//! what Ferry needs: the `memory`, `cpu`, `cpuacct`, `pids` and `freezer`
//! controllers, on cgroup v1 and cgroup v2.
//!
//! # Which cgroup version
//!
//! [`detect`] decides from `/proc/self/mountinfo`, never from guessed paths:
//!
//! * if any `cgroup` (v1) filesystem carrying one of the controllers above is
//!   mounted, v1 is used. That includes the "hybrid" layout (v1 controllers
//!   plus a controller-less `cgroup2` at `/sys/fs/cgroup/unified`); the
//!   `cgroup2` mount is then ignored;
//! * otherwise, if a `cgroup2` filesystem is mounted, v2 is used;
//! * otherwise cgroups are unavailable ([`Support::None`]).
//!
//! # Where the cgroups go
//!
//! Ferry's cgroups are nested under the cgroup the *current process* is in
//! (read from `/proc/self/cgroup`, made absolute through the mount that shows
//! it), in an intermediate `ferry` directory:
//!
//! ```text
//! v1: /sys/fs/cgroup/memory/<own memory cgroup>/ferry/<name>   (one per hierarchy)
//!     /sys/fs/cgroup/pids/<own pids cgroup>/ferry/<name>       …
//! v2: /sys/fs/cgroup/<own cgroup>/ferry/<name>                 (one directory)
//! ```
//!
//! so they inherit (and cannot escape) whatever limits the caller is under,
//! and only need write access to the caller's own sub-tree.
//!
//! On v2 a controller must be listed in `cgroup.subtree_control` of every
//! ancestor for a cgroup to get it, and the "no internal processes" rule
//! forbids enabling a controller there while the cgroup itself has processes
//! (only the root cgroup is exempt). [`Cgroup::create`] enables the
//! controllers in our own cgroup and in the `ferry` directory (which never
//! holds processes). When our own cgroup has processes — it always holds at
//! least us unless it is the root — and the controller is not already enabled
//! there (e.g. by a delegating service manager), the controller is reported
//! unavailable rather than moving anybody's processes around. `cpu.stat` and
//! `cgroup.freeze`/`cgroup.kill` are core v2 files, so CPU accounting, freezing
//! and killing work on v2 even when no controller can be enabled.
//!
//! # Putting processes in
//!
//! [`Cgroup::add_pid`] moves an existing process. To start a process inside
//! the cgroup (so nothing it does escapes, not even its first `fork`), write
//! `"0"` ("the calling process") into every file of [`Cgroup::procs_paths`]
//! from a `pre_exec` hook; [`enter_procs`] does exactly that with only
//! async-signal-safe calls and no allocation:
//!
//! ```no_run
//! # use std::os::unix::process::CommandExt;
//! # fn demo(cg: &ferry_local::cgroup::Cgroup) -> std::io::Result<()> {
//! let procs = cg.procs_paths(); // allocate before fork
//! let mut cmd = std::process::Command::new("sleep");
//! cmd.arg("10");
//! // SAFETY: enter_procs only calls open/write/close on memory prepared before fork.
//! unsafe { cmd.pre_exec(move || ferry_local::cgroup::enter_procs(&procs)) };
//! let _child = cmd.spawn()?;
//! # Ok(()) }
//! ```
//!
//! # Killing
//!
//! [`Cgroup::kill_all`] signals every process in the cgroup, wherever it
//! forked, double-forked or `setsid`'d to. On v2 with `cgroup.kill` (Linux
//! 5.14+) a SIGKILL is one write. Otherwise the cgroup is frozen first (when
//! the freezer is available), so nothing can fork between reading
//! `cgroup.procs` and signalling, then every process is signalled and the
//! cgroup thawed — the classic v1 trick (a SIGKILLed task frozen by the v1
//! freezer only dies once thawed). For SIGKILL this repeats until the cgroup
//! is empty or a timeout passes.
//!
//! Persisting: [`Cgroup`] is `Serialize + Deserialize` and holds only absolute
//! paths, so the monitor can store it as JSON and another process can
//! deserialize it and operate on the same cgroup.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::CString;
use std::fmt;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

pub mod oom;

/// Name of the intermediate directory holding all of Ferry's cgroups.
const FERRY_DIR: &str = "ferry";
/// CFS period written with every CPU limit (100 ms, the kernel default).
const CFS_PERIOD_US: u64 = 100_000;
/// The kernel rejects CFS quotas below 1 ms.
const MIN_CFS_QUOTA_US: u64 = 1_000;
/// How long [`Cgroup::freeze`] / [`Cgroup::thaw`] wait for the state to settle.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one freeze inside [`Cgroup::kill_all`] may take before signalling anyway.
const KILL_FREEZE_TIMEOUT: Duration = Duration::from_secs(1);
/// Default bound of [`Cgroup::kill_all`].
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Cgroup::remove`] retries `rmdir` while processes finish exiting.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Polling interval for state changes.
const POLL: Duration = Duration::from_millis(5);
/// Limits at or above this are "unlimited": v1 reports no limit as
/// `PAGE_COUNTER_MAX * PAGE_SIZE`, e.g. 9223372036854771712 with 4 KiB pages.
const UNLIMITED: u64 = 1 << 62;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// The controllers Ferry uses. On v2, `Cpuacct` stands for the core `cpu.stat`
/// file and `Freezer` for the core `cgroup.freeze` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    Memory,
    Cpu,
    Cpuacct,
    Pids,
    Freezer,
}

impl Controller {
    pub const ALL: [Controller; 5] =
        [Controller::Memory, Controller::Cpu, Controller::Cpuacct, Controller::Pids, Controller::Freezer];

    /// The kernel's name of the controller (as in mount options and `/proc/self/cgroup`).
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
        }
    }

    /// The file(s) whose presence in a cgroup directory proves the controller works there.
    fn key_files(self, version: Version) -> &'static [&'static str] {
        match (version, self) {
            (Version::V1, Controller::Memory) => &["memory.limit_in_bytes"],
            (Version::V1, Controller::Cpu) => &["cpu.cfs_quota_us", "cpu.cfs_period_us"],
            (Version::V1, Controller::Cpuacct) => &["cpuacct.usage"],
            (Version::V1, Controller::Pids) => &["pids.max"],
            (Version::V1, Controller::Freezer) => &["freezer.state"],
            (Version::V2, Controller::Memory) => &["memory.max"],
            (Version::V2, Controller::Cpu) => &["cpu.max"],
            (Version::V2, Controller::Cpuacct) => &["cpu.stat"],
            (Version::V2, Controller::Pids) => &["pids.max"],
            (Version::V2, Controller::Freezer) => &["cgroup.freeze"],
        }
    }

    /// v2 controllers that must be enabled through `cgroup.subtree_control`
    /// (the others are core files of every non-root cgroup).
    fn v2_enableable(self) -> bool {
        matches!(self, Controller::Memory | Controller::Cpu | Controller::Pids)
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// cgroup version of a [`Cgroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

/// What [`detect`] found. Per controller, `Ok` means usable and `Err` says why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// cgroup v1 (or hybrid). Each usable controller maps to our own cgroup
    /// directory in its hierarchy, under which Ferry's cgroups are created.
    V1 { controllers: BTreeMap<Controller, Result<PathBuf, String>> },
    /// cgroup v2. `own` is our own cgroup directory; `Ok(())` means the
    /// controller is enabled for, or can be enabled for, cgroups nested under it.
    V2 { mount: PathBuf, own: PathBuf, controllers: BTreeMap<Controller, Result<(), String>> },
    /// No usable cgroup filesystem.
    None { reason: String },
}

impl Support {
    pub fn version(&self) -> Option<Version> {
        match self {
            Support::V1 { .. } => Some(Version::V1),
            Support::V2 { .. } => Some(Version::V2),
            Support::None { .. } => None,
        }
    }

    /// Whether `c` can be used.
    pub fn is_available(&self, c: Controller) -> bool {
        match self {
            Support::V1 { controllers } => matches!(controllers.get(&c), Some(Ok(_))),
            Support::V2 { controllers, .. } => matches!(controllers.get(&c), Some(Ok(()))),
            Support::None { .. } => false,
        }
    }

    /// The usable controllers.
    pub fn available(&self) -> Vec<Controller> {
        Controller::ALL.into_iter().filter(|c| self.is_available(*c)).collect()
    }

    /// The unusable controllers and why.
    pub fn unavailable(&self) -> Vec<(Controller, String)> {
        let reason = |c: Controller| -> Option<String> {
            match self {
                Support::V1 { controllers } => match controllers.get(&c) {
                    Some(Ok(_)) => None,
                    Some(Err(r)) => Some(r.clone()),
                    None => Some("not checked".into()),
                },
                Support::V2 { controllers, .. } => match controllers.get(&c) {
                    Some(Ok(())) => None,
                    Some(Err(r)) => Some(r.clone()),
                    None => Some("not checked".into()),
                },
                Support::None { reason } => Some(reason.clone()),
            }
        };
        Controller::ALL.into_iter().filter_map(|c| reason(c).map(|r| (c, r))).collect()
    }
}

impl fmt::Display for Support {
    /// One line, e.g. `cgroup v1: memory, cpu, cpuacct, pids, freezer usable`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match self {
            Support::V1 { .. } => "v1",
            Support::V2 { .. } => "v2",
            Support::None { reason } => return write!(f, "cgroups unavailable: {reason}"),
        };
        let ok: Vec<&str> = self.available().iter().map(|c| c.name()).collect();
        write!(f, "cgroup {v}: ")?;
        if ok.is_empty() {
            write!(f, "no controller usable")?;
        } else {
            write!(f, "{} usable", ok.join(", "))?;
        }
        for (c, why) in self.unavailable() {
            write!(f, "; {c} unavailable: {why}")?;
        }
        Ok(())
    }
}

/// Resource limits for a new cgroup. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory limit in bytes; swap is limited too (it may not dodge the limit).
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// CPU bandwidth in thousandths of a CPU: 1000 = one full CPU, 500 = half
    /// of one. Values below 10 are raised to 10 (the kernel's 1 ms minimum quota).
    #[serde(default)]
    pub cpu_millis: Option<u64>,
    /// Maximum number of tasks (processes and threads).
    #[serde(default)]
    pub pids: Option<u64>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.memory_bytes.is_none() && self.cpu_millis.is_none() && self.pids.is_none()
    }

    /// The requested limits as (controller, human description).
    fn requested(&self) -> Vec<(Controller, String)> {
        let mut out = Vec::new();
        if let Some(b) = self.memory_bytes {
            out.push((Controller::Memory, format!("memory limit of {b} bytes")));
        }
        if let Some(m) = self.cpu_millis {
            out.push((Controller::Cpu, format!("cpu limit of {m} millicpus")));
        }
        if let Some(p) = self.pids {
            out.push((Controller::Pids, format!("pids limit of {p}")));
        }
        out
    }
}

/// Point-in-time usage of a [`Cgroup`]. Values whose controller is
/// unavailable read as 0 (`None` for the limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupStats {
    /// Total CPU time of all processes that ever ran in the cgroup, in ns
    /// (v1 `cpuacct.usage`, v2 `cpu.stat` `usage_usec` × 1000).
    pub cpu_usage_ns: u64,
    /// Current memory charge, page cache included (v1 `memory.usage_in_bytes`,
    /// v2 `memory.current`).
    pub memory_bytes: u64,
    /// The memory limit, `None` when unlimited.
    pub memory_limit_bytes: Option<u64>,
    /// Tasks (processes and threads) from `pids.current`; without the pids
    /// controller, the number of processes in `cgroup.procs`.
    pub pids: u64,
}

/// Errors of this module. I/O errors name the file and the OS error.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroups are not usable: {0}")]
    Unsupported(String),
    #[error("the cgroup {controller} controller is not available: {reason}")]
    ControllerUnavailable { controller: Controller, reason: String },
    #[error("invalid cgroup name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unexpected content {content:?} in {}", path.display())]
    Parse { path: PathBuf, content: String },
    #[error("timed out after {waited:?} waiting for {what} ({})", path.display())]
    Timeout { what: String, path: PathBuf, waited: Duration },
    #[error("cgroup {} already exists and still has processes", path.display())]
    InUse { path: PathBuf },
}

impl CgroupError {
    fn io(op: impl Into<String>, path: &Path, source: io::Error) -> Self {
        CgroupError::Io { op: op.into(), path: path.to_path_buf(), source }
    }
}

/// A cgroup created by Ferry (one directory per v1 hierarchy, or one v2 directory).
///
/// Holds only absolute paths: serialize it to JSON, deserialize it in another
/// process, and it refers to the same cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    version: Version,
    name: String,
    /// Every directory created, without duplicates (v1: one per hierarchy; v2: one).
    dirs: Vec<PathBuf>,
    /// The directory serving each usable controller.
    controllers: BTreeMap<Controller, PathBuf>,
}

// ---------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------

/// Where the cgroup filesystems are and which cgroup we are in, as read from
/// `/proc/self/mountinfo` and `/proc/self/cgroup` (no probing).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Layout {
    /// Our own directory in each controller's hierarchy, or why there is none.
    V1(BTreeMap<Controller, Result<PathBuf, String>>),
    V2 {
        mount: PathBuf,
        own: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// The directory of the filesystem shown at `mount_point` (not `/` for bind mounts).
    root: String,
    mount_point: PathBuf,
    fstype: String,
    super_opts: Vec<String>,
}

/// One line of `/proc/self/cgroup`: `id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProcCgroup {
    id: String,
    controllers: Vec<String>,
    path: String,
}

/// Describe what cgroup support this process has. Probes writability by
/// creating (and removing) a child directory of our own cgroup in each hierarchy.
pub fn detect() -> Support {
    let layout = match read_layout() {
        Ok(l) => l,
        Err(reason) => return Support::None { reason },
    };
    match layout {
        Layout::V1(own) => Support::V1 { controllers: probe_v1(own) },
        Layout::V2 { mount, own } => {
            let controllers = probe_v2(&own);
            Support::V2 { mount, own, controllers }
        }
    }
}

fn read_layout() -> Result<Layout, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let cgroups =
        std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    layout_from(&mountinfo, &cgroups)
}

/// Decide v1/v2 and locate our own cgroup directories.
fn layout_from(mountinfo: &str, proc_cgroup: &str) -> Result<Layout, String> {
    let mounts = parse_mountinfo(mountinfo);
    let cgroups = parse_proc_cgroup(proc_cgroup);
    let v1: Vec<&Mount> = mounts.iter().filter(|m| m.fstype == "cgroup").collect();
    let has = |m: &Mount, c: Controller| m.super_opts.iter().any(|o| o == c.name());

    if v1.iter().any(|m| Controller::ALL.iter().any(|c| has(m, *c))) {
        let mut out = BTreeMap::new();
        for c in Controller::ALL {
            let candidates: Vec<&&Mount> = v1.iter().filter(|m| has(m, c)).collect();
            let entry = if candidates.is_empty() {
                Err(format!("no cgroup v1 hierarchy with the {c} controller is mounted"))
            } else {
                match cgroups.iter().find(|l| l.id != "0" && l.controllers.iter().any(|n| n == c.name())) {
                    None => Err(format!("/proc/self/cgroup has no {c} line")),
                    Some(line) => candidates.iter().find_map(|m| own_dir(m, &line.path)).ok_or_else(|| {
                        format!("our {c} cgroup {} is not visible under any mount of that hierarchy", line.path)
                    }),
                }
            };
            out.insert(c, entry);
        }
        return Ok(Layout::V1(out));
    }

    let v2: Vec<&Mount> = mounts.iter().filter(|m| m.fstype == "cgroup2").collect();
    if v2.is_empty() {
        return Err("no cgroup filesystem is mounted (per /proc/self/mountinfo)".into());
    }
    let line = cgroups
        .iter()
        .find(|l| l.id == "0" && l.controllers.is_empty())
        .ok_or("cgroup2 is mounted but /proc/self/cgroup has no `0::` line")?;
    v2.iter()
        .find_map(|m| own_dir(m, &line.path).map(|own| Layout::V2 { mount: m.mount_point.clone(), own }))
        .ok_or_else(|| format!("our cgroup {} is not visible under any cgroup2 mount", line.path))
}

/// Our cgroup `path` (as in `/proc/self/cgroup`) as a directory under mount `m`,
/// when that mount shows it.
fn own_dir(m: &Mount, path: &str) -> Option<PathBuf> {
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    let rel = if m.root == "/" {
        path
    } else {
        let rest = path.strip_prefix(m.root.as_str())?;
        if !rest.is_empty() && !rest.starts_with('/') {
            return None; // root "/a" must not match "/ab"
        }
        rest
    };
    let rel = rel.trim_start_matches('/');
    // Outside our cgroup namespace the kernel shows paths like "/../sibling".
    if rel.split('/').any(|seg| seg == "..") {
        return None;
    }
    Some(if rel.is_empty() { m.mount_point.clone() } else { m.mount_point.join(rel) })
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 6 || r.len() < 3 {
                return None;
            }
            Some(Mount {
                root: unescape_mount(l[3]),
                mount_point: PathBuf::from(unescape_mount(l[4])),
                fstype: r[0].to_string(),
                super_opts: r[2].split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// Undo mountinfo's octal escapes (`\040` for a space, …).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|d| (b'0'..=b'7').contains(d)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroup> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.splitn(3, ':');
            let id = it.next()?.to_string();
            let ctrls = it.next()?;
            let path = it.next()?.to_string();
            let controllers = ctrls.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
            Some(ProcCgroup { id, controllers, path })
        })
        .collect()
}

static PROBE_SEQ: AtomicU64 = AtomicU64::new(0);

/// A unique child name for probing.
fn probe_name() -> String {
    format!("ferry-probe-{}-{}", std::process::id(), PROBE_SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Try creating a child in each distinct v1 directory; check the controller's files in it.
fn probe_v1(own: BTreeMap<Controller, Result<PathBuf, String>>) -> BTreeMap<Controller, Result<PathBuf, String>> {
    let mut out = BTreeMap::new();
    let mut probed: BTreeMap<PathBuf, Result<PathBuf, String>> = BTreeMap::new(); // own dir → probe dir
    for (c, dir) in own {
        let dir = match dir {
            Ok(d) => d,
            Err(e) => {
                out.insert(c, Err(e));
                continue;
            }
        };
        let probe = probed
            .entry(dir.clone())
            .or_insert_with(|| {
                let p = dir.join(probe_name());
                std::fs::create_dir(&p)
                    .map(|()| p)
                    .map_err(|e| format!("cannot create a child cgroup in {}: {e}", dir.display()))
            })
            .clone();
        let status = probe.and_then(|p| match missing_file(&p, c.key_files(Version::V1)) {
            None => Ok(dir.clone()),
            Some(f) => Err(format!("a child cgroup of {} has no {f}", dir.display())),
        });
        out.insert(c, status);
    }
    for probe in probed.into_values().flatten() {
        let _ = rmdir_retry(&probe, REMOVE_TIMEOUT);
    }
    out
}

fn missing_file(dir: &Path, files: &[&'static str]) -> Option<&'static str> {
    files.iter().copied().find(|f| !dir.join(f).exists())
}

/// Predict, without changing anything, what nesting under `own` can offer on v2.
fn probe_v2(own: &Path) -> BTreeMap<Controller, Result<(), String>> {
    let mut out = BTreeMap::new();
    let probe = own.join(probe_name());
    let probe_ok =
        std::fs::create_dir(&probe).map_err(|e| format!("cannot create a child cgroup in {}: {e}", own.display()));
    for c in Controller::ALL {
        let status = match &probe_ok {
            Err(e) => Err(e.clone()),
            Ok(()) if c.v2_enableable() => v2_enableable(own, c),
            Ok(()) => match missing_file(&probe, c.key_files(Version::V2)) {
                None => Ok(()),
                Some(f) => Err(format!("child cgroups have no {f} (kernel too old?)")),
            },
        };
        out.insert(c, status);
    }
    if probe_ok.is_ok() {
        let _ = rmdir_retry(&probe, REMOVE_TIMEOUT);
    }
    out
}

/// Whether controller `c` is, or may be, enabled in `own/cgroup.subtree_control`.
fn v2_enableable(own: &Path, c: Controller) -> Result<(), String> {
    let words = |f: &str| -> Result<BTreeSet<String>, String> {
        let p = own.join(f);
        std::fs::read_to_string(&p)
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    if words("cgroup.subtree_control")?.contains(c.name()) {
        return Ok(());
    }
    if !words("cgroup.controllers")?.contains(c.name()) {
        return Err(not_offered(own));
    }
    if !is_v2_root(own) && !read_procs(own).map(|p| p.is_empty()).unwrap_or(false) {
        return Err(no_internal_processes(own, c));
    }
    Ok(())
}

fn not_offered(own: &Path) -> String {
    format!("not enabled for our cgroup {} by its parent (absent from its cgroup.controllers)", own.display())
}

fn no_internal_processes(own: &Path, c: Controller) -> String {
    format!(
        "our cgroup {} has processes and {c} is not in its cgroup.subtree_control; cgroup v2's \
         no-internal-processes rule forbids enabling it for nested cgroups (run Ferry in a delegated \
         cgroup with {c} already enabled for its children)",
        own.display()
    )
}

/// The root cgroup is the only one without `cgroup.type`; it is exempt from
/// the no-internal-processes rule.
fn is_v2_root(dir: &Path) -> bool {
    !dir.join("cgroup.type").exists()
}

// ---------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------

impl Cgroup {
    /// Create cgroup `name` nested under our own cgroup and apply `limits`.
    ///
    /// Fails if a requested limit's controller is unavailable
    /// ([`CgroupError::ControllerUnavailable`]) or cannot be applied; nothing
    /// is left behind then. Controllers that are unavailable but not needed
    /// for a limit are silently left out (stats read 0, see [`Cgroup::has`]).
    /// A stale, empty cgroup of the same name is replaced.
    pub fn create(name: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        create_impl(name, limits, true).map(|(cg, _)| cg)
    }

    /// Like [`Cgroup::create`], but a limit that cannot be enforced becomes a
    /// warning (one line each, for the user) instead of an error. Still fails
    /// when no cgroup can be created at all.
    pub fn create_best_effort(name: &str, limits: &Limits) -> Result<(Cgroup, Vec<String>), CgroupError> {
        create_impl(name, limits, false)
    }
}

fn validate_name(name: &str) -> Result<(), CgroupError> {
    let bad = |why| Err(CgroupError::InvalidName { name: name.to_string(), why });
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 200 {
        return bad("longer than 200 bytes");
    }
    if name == "." || name == ".." {
        return bad("not a directory name");
    }
    if name.contains(['/', '\0', '\n']) {
        return bad("contains '/', NUL or a newline");
    }
    if name.starts_with("cgroup.") || Controller::ALL.iter().any(|c| name.starts_with(&format!("{}.", c.name()))) {
        return bad("looks like a cgroup control file");
    }
    Ok(())
}

fn create_impl(name: &str, limits: &Limits, strict: bool) -> Result<(Cgroup, Vec<String>), CgroupError> {
    validate_name(name)?;
    let layout = read_layout().map_err(CgroupError::Unsupported)?;
    let (cg, unavailable) = match layout {
        Layout::V1(own) => create_v1(name, own)?,
        Layout::V2 { own, .. } => create_v2(name, &own)?,
    };
    let mut warnings = Vec::new();
    for (controller, what) in limits.requested() {
        if cg.has(controller) {
            continue;
        }
        let reason = unavailable.get(&controller).cloned().unwrap_or_else(|| "unknown reason".into());
        if strict {
            let _ = cg.remove();
            return Err(CgroupError::ControllerUnavailable { controller, reason });
        }
        warnings.push(format!("{what} not enforced: the cgroup {controller} controller is not available: {reason}"));
    }
    for problem in cg.apply(limits) {
        match problem {
            Err(e) if strict => {
                let _ = cg.remove();
                return Err(e);
            }
            Err(e) => warnings.push(format!("limit not enforced: {e}")),
            Ok(()) => {}
        }
    }
    tracing::debug!(cgroup = ?cg, ?limits, ?warnings, "created cgroup");
    Ok((cg, warnings))
}

type Unavailable = BTreeMap<Controller, String>;

fn create_v1(
    name: &str,
    own: BTreeMap<Controller, Result<PathBuf, String>>,
) -> Result<(Cgroup, Unavailable), CgroupError> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut made: BTreeMap<PathBuf, Result<PathBuf, String>> = BTreeMap::new(); // own dir → leaf
    let mut controllers = BTreeMap::new();
    let mut unavailable = BTreeMap::new();
    let mut first_error: Option<CgroupError> = None;
    for (c, own_dir) in own {
        let own_dir = match own_dir {
            Ok(d) => d,
            Err(e) => {
                unavailable.insert(c, e);
                continue;
            }
        };
        let leaf = made
            .entry(own_dir.clone())
            .or_insert_with(|| match make_nested(&own_dir, name, |_| Ok(())) {
                Ok(leaf) => {
                    dirs.push(leaf.clone());
                    Ok(leaf)
                }
                Err(e) => {
                    let msg = e.to_string();
                    if matches!(e, CgroupError::InUse { .. }) || first_error.is_none() {
                        first_error = Some(e);
                    }
                    Err(msg)
                }
            })
            .clone();
        match leaf {
            Ok(leaf) => match missing_file(&leaf, c.key_files(Version::V1)) {
                None => {
                    controllers.insert(c, leaf);
                }
                Some(f) => {
                    unavailable.insert(c, format!("{} has no {f}", leaf.display()));
                }
            },
            Err(e) => {
                unavailable.insert(c, e);
            }
        }
    }
    let cg = Cgroup { version: Version::V1, name: name.to_string(), dirs, controllers };
    if let Some(e @ CgroupError::InUse { .. }) = first_error {
        let _ = cg.remove();
        return Err(e);
    }
    if cg.dirs.is_empty() {
        return Err(match first_error {
            Some(e) => e,
            None => CgroupError::Unsupported(
                unavailable.iter().map(|(c, r)| format!("{c}: {r}")).collect::<Vec<_>>().join("; "),
            ),
        });
    }
    Ok((cg, unavailable))
}

fn create_v2(name: &str, own: &Path) -> Result<(Cgroup, Unavailable), CgroupError> {
    let mut unavailable = BTreeMap::new();
    // Enabling happens in `prepare`, after `ferry/` exists and before the leaf
    // is made, so the leaf is born with the controllers.
    let leaf = make_nested(own, name, |ferry| {
        unavailable.clear();
        for c in Controller::ALL.into_iter().filter(|c| c.v2_enableable()) {
            if let Err(reason) = enable_v2(own, ferry, c) {
                unavailable.insert(c, reason);
            }
        }
        Ok(())
    })?;
    let mut controllers = BTreeMap::new();
    for c in Controller::ALL {
        if unavailable.contains_key(&c) {
            continue;
        }
        match missing_file(&leaf, c.key_files(Version::V2)) {
            None => {
                controllers.insert(c, leaf.clone());
            }
            Some(f) => {
                unavailable.insert(c, format!("{} has no {f}", leaf.display()));
            }
        }
    }
    Ok((Cgroup { version: Version::V2, name: name.to_string(), dirs: vec![leaf], controllers }, unavailable))
}

/// Enable `c` in `own/cgroup.subtree_control` and `ferry/cgroup.subtree_control`.
fn enable_v2(own: &Path, ferry: &Path, c: Controller) -> Result<(), String> {
    let offered = own.join("cgroup.controllers");
    let offered = std::fs::read_to_string(&offered).map_err(|e| format!("cannot read {}: {e}", offered.display()))?;
    if !offered.split_whitespace().any(|w| w == c.name()) {
        return Err(not_offered(own));
    }
    for (i, dir) in [own, ferry].into_iter().enumerate() {
        let file = dir.join("cgroup.subtree_control");
        let current = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        if current.split_whitespace().any(|w| w == c.name()) {
            continue;
        }
        if let Err(e) = write_file(&file, &format!("+{}", c.name())) {
            let busy = matches!(&e, CgroupError::Io { source, .. } if source.raw_os_error() == Some(libc::EBUSY));
            return Err(if i == 0 && busy { no_internal_processes(own, c) } else { e.to_string() });
        }
    }
    Ok(())
}

/// Make `parent/ferry/name`, replacing a stale empty one. `prepare` runs on
/// `parent/ferry` after creating it. Retries when a concurrent
/// [`Cgroup::remove`] deleted `ferry/` between the two `mkdir`s.
fn make_nested(
    parent: &Path,
    name: &str,
    mut prepare: impl FnMut(&Path) -> Result<(), CgroupError>,
) -> Result<PathBuf, CgroupError> {
    let ferry = parent.join(FERRY_DIR);
    let leaf = ferry.join(name);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match std::fs::create_dir(&ferry) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(CgroupError::io("create directory", &ferry, e)),
        }
        prepare(&ferry)?;
        match std::fs::create_dir(&leaf) {
            Ok(()) => return Ok(leaf),
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < 5 => continue,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 5 => {
                // Left over from a crashed run? Reuse the name only if nothing runs there.
                match read_procs(&leaf) {
                    Ok(p) if p.is_empty() => {
                        tracing::debug!(path = %leaf.display(), "replacing stale cgroup");
                        rmdir_retry(&leaf, REMOVE_TIMEOUT)?;
                    }
                    _ => return Err(CgroupError::InUse { path: leaf }),
                }
            }
            Err(e) => return Err(CgroupError::io("create directory", &leaf, e)),
        }
    }
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

impl Cgroup {
    pub fn version(&self) -> Version {
        self.version
    }

    /// The name given to [`Cgroup::create`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All directories of this cgroup (v1: one per hierarchy; v2: one).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The directory serving `c`, if that controller is usable.
    pub fn path(&self, c: Controller) -> Option<&Path> {
        self.controllers.get(&c).map(PathBuf::as_path)
    }

    /// Whether controller `c` is usable in this cgroup.
    pub fn has(&self, c: Controller) -> bool {
        self.controllers.contains_key(&c)
    }

    /// Whether [`Cgroup::freeze`] can work (a freezer is available).
    pub fn can_freeze(&self) -> bool {
        self.has(Controller::Freezer)
    }

    /// The (v2: only) directory, for messages; empty only for a hand-made value.
    fn first_dir(&self) -> &Path {
        self.dirs.first().map_or(Path::new(""), PathBuf::as_path)
    }

    /// Whether the cgroup's directories still exist.
    pub fn exists(&self) -> bool {
        self.dirs.iter().any(|d| d.is_dir())
    }

    /// Write limits into the (new) cgroup. One result per limit file written.
    fn apply(&self, limits: &Limits) -> Vec<Result<(), CgroupError>> {
        let mut out = Vec::new();
        if let (Some(bytes), Some(dir)) = (limits.memory_bytes, self.path(Controller::Memory)) {
            let v = bytes.to_string();
            match self.version {
                Version::V1 => {
                    // memory first: memsw may never be below it.
                    out.push(write_file(&dir.join("memory.limit_in_bytes"), &v));
                    let memsw = dir.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() {
                        out.push(write_file(&memsw, &v));
                    }
                }
                Version::V2 => {
                    out.push(write_file(&dir.join("memory.max"), &v));
                    let swap = dir.join("memory.swap.max");
                    if swap.exists() {
                        out.push(write_file(&swap, "0"));
                    }
                }
            }
        }
        if let (Some(millis), Some(dir)) = (limits.cpu_millis, self.path(Controller::Cpu)) {
            let quota = millis.saturating_mul(CFS_PERIOD_US / 1000).max(MIN_CFS_QUOTA_US);
            match self.version {
                Version::V1 => {
                    out.push(write_file(&dir.join("cpu.cfs_period_us"), &CFS_PERIOD_US.to_string()));
                    out.push(write_file(&dir.join("cpu.cfs_quota_us"), &quota.to_string()));
                }
                Version::V2 => out.push(write_file(&dir.join("cpu.max"), &format!("{quota} {CFS_PERIOD_US}"))),
            }
        }
        if let (Some(pids), Some(dir)) = (limits.pids, self.path(Controller::Pids)) {
            out.push(write_file(&dir.join("pids.max"), &pids.to_string()));
        }
        out
    }

    /// Move process `pid` (with all its threads) into the cgroup.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            write_file(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// The files a process writes `"0"` into to enter this cgroup, as C strings.
    ///
    /// Made for a `pre_exec` hook: compute them *before* forking, then in the
    /// child write `"0"` (meaning "this process") into each with nothing but
    /// `open`/`write`/`close` — see [`enter_procs`]. Allocating or locking
    /// after `fork` in a multi-threaded program can deadlock.
    ///
    /// On v1 this is `tasks`, not `cgroup.procs`: the forked child has a single
    /// thread, so moving that thread moves the process, and the kernel moves
    /// the current thread without write-locking the global threadgroup
    /// semaphore, whose RCU grace period costs 5–25 ms per `cgroup.procs`
    /// write on a v1 hierarchy. v2 has no such file; its `cgroup.procs` is used.
    pub fn procs_paths(&self) -> Vec<CString> {
        let file = match self.version {
            Version::V1 => "tasks",
            Version::V2 => "cgroup.procs",
        };
        self.dirs.iter().filter_map(|d| CString::new(d.join(file).as_os_str().as_bytes()).ok()).collect()
    }

    /// Freeze every process in the cgroup and wait (up to 5 s) until they all
    /// are. On timeout the cgroup is thawed again and an error returned.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.freeze_for(FREEZE_TIMEOUT, true)
    }

    fn freeze_for(&self, timeout: Duration, undo_on_timeout: bool) -> Result<(), CgroupError> {
        let dir = self.freezer_dir()?;
        let (file, value) = match self.version {
            Version::V1 => (dir.join("freezer.state"), "FROZEN"),
            Version::V2 => (dir.join("cgroup.freeze"), "1"),
        };
        write_file(&file, value)?;
        let start = Instant::now();
        let mut polls = 0u32;
        loop {
            if self.frozen_state(dir)? == Some(true) {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                if undo_on_timeout {
                    let _ = self.thaw();
                }
                return Err(CgroupError::Timeout { what: "the cgroup to freeze".into(), path: file, waited: timeout });
            }
            polls += 1;
            // v1 retries tasks that could not be frozen yet only on a new write.
            if self.version == Version::V1 && polls >= 20 {
                polls = 0;
                write_file(&file, value)?;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Let the processes run again; waits (up to 5 s) for the thaw to take effect.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        let dir = self.freezer_dir()?;
        let file = match self.version {
            Version::V1 => dir.join("freezer.state"),
            Version::V2 => dir.join("cgroup.freeze"),
        };
        write_file(&file, if self.version == Version::V1 { "THAWED" } else { "0" })?;
        let start = Instant::now();
        while self.frozen_state(dir)? != Some(false) {
            if start.elapsed() >= FREEZE_TIMEOUT {
                return Err(CgroupError::Timeout {
                    what: "the cgroup to thaw".into(),
                    path: file,
                    waited: FREEZE_TIMEOUT,
                });
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Whether the cgroup is completely frozen (false while still freezing,
    /// or when there is no freezer).
    pub fn is_frozen(&self) -> bool {
        self.freezer_dir().ok().and_then(|d| self.frozen_state(d).ok().flatten()) == Some(true)
    }

    /// `Some(true)` frozen, `Some(false)` thawed, `None` in between.
    fn frozen_state(&self, dir: &Path) -> Result<Option<bool>, CgroupError> {
        match self.version {
            Version::V1 => {
                let p = dir.join("freezer.state");
                let s = read_file(&p)?;
                match s.trim() {
                    "FROZEN" => Ok(Some(true)),
                    "THAWED" => Ok(Some(false)),
                    "FREEZING" => Ok(None),
                    other => Err(CgroupError::Parse { path: p, content: other.to_string() }),
                }
            }
            Version::V2 => {
                let p = dir.join("cgroup.events");
                let s = read_file(&p)?;
                match keyed(&s, "frozen") {
                    Some(1) => Ok(Some(true)),
                    Some(0) => {
                        // "frozen 0" while freezing is requested means "in progress".
                        let want = read_file(&dir.join("cgroup.freeze"))?;
                        Ok(if want.trim() == "1" { None } else { Some(false) })
                    }
                    _ => Err(CgroupError::Parse { path: p, content: s }),
                }
            }
        }
    }

    fn freezer_dir(&self) -> Result<&Path, CgroupError> {
        self.path(Controller::Freezer).ok_or_else(|| CgroupError::ControllerUnavailable {
            controller: Controller::Freezer,
            reason: format!("it was not available when cgroup {} was created", self.name),
        })
    }

    /// Every process in the cgroup (union of all hierarchies' `cgroup.procs`),
    /// sorted, without duplicates. Exited processes are not listed, even before
    /// they are reaped. Unreadable files are skipped.
    pub fn pids(&self) -> Vec<i32> {
        let mut all = BTreeSet::new();
        for d in &self.dirs {
            match read_procs(d) {
                Ok(p) => all.extend(p),
                Err(e) => tracing::debug!("{e}"),
            }
        }
        all.into_iter().collect()
    }

    /// [`Cgroup::kill_all_timeout`] with a 5 s timeout.
    pub fn kill_all(&self, signal: Signal) -> Result<(), CgroupError> {
        self.kill_all_timeout(signal, KILL_TIMEOUT)
    }

    /// Send `signal` to every process in the cgroup, including ones that
    /// daemonized or called `setsid`.
    ///
    /// * SIGKILL: uses v2's `cgroup.kill` when present; otherwise freezes the
    ///   cgroup (if possible), SIGKILLs every process, thaws, and repeats until
    ///   the cgroup is empty. Returns [`CgroupError::Timeout`] if processes
    ///   remain after `timeout`. The cgroup ends thawed.
    /// * Other signals: one pass under a freeze (when possible) so no process
    ///   forked meanwhile is missed — without a freezer, passes repeat until one
    ///   finds no new process. Does not wait for the processes to exit. A cgroup
    ///   that was frozen stays frozen; the signal is acted on when it is thawed.
    ///
    /// The calling process is never signalled, even if it is in the cgroup.
    pub fn kill_all_timeout(&self, signal: Signal, timeout: Duration) -> Result<(), CgroupError> {
        let start = Instant::now();
        let me = std::process::id() as i32;
        let is_kill = signal == Signal::SIGKILL;
        if is_kill && self.version == Version::V2 {
            let file = self.first_dir().join("cgroup.kill");
            if file.exists() {
                match write_file(&file, "1") {
                    Ok(()) => return self.wait_empty(me, start, timeout),
                    Err(e) => tracing::debug!("{e}; signalling processes one by one"),
                }
            }
        }
        if self.pids().iter().all(|p| *p == me) {
            return Ok(());
        }
        let freezer = self.can_freeze();
        let was_frozen = freezer && self.is_frozen();
        let keep_frozen = was_frozen && !is_kill;
        let mut signalled: HashSet<i32> = HashSet::new();
        loop {
            let frozen = freezer && (was_frozen || self.freeze_for(KILL_FREEZE_TIMEOUT, false).is_ok());
            let mut found_new = false;
            for pid in self.pids() {
                if pid == me {
                    continue;
                }
                let new = signalled.insert(pid);
                found_new |= new;
                if !new && !is_kill {
                    continue;
                }
                match kill(Pid::from_raw(pid), signal) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(e) => tracing::warn!(pid, %signal, "cannot signal process in cgroup {}: {e}", self.name),
                }
            }
            if freezer && !keep_frozen {
                self.thaw()?;
            }
            if !is_kill {
                if frozen || !found_new {
                    return Ok(());
                }
            } else {
                // Give the killed processes a moment to exit before another pass.
                let settle = Instant::now() + Duration::from_millis(100);
                while Instant::now() < settle {
                    if self.pids().iter().all(|p| *p == me) {
                        return Ok(());
                    }
                    std::thread::sleep(POLL);
                }
            }
            if start.elapsed() >= timeout {
                let left = self.pids().into_iter().filter(|p| *p != me).count();
                return Err(CgroupError::Timeout {
                    what: format!("{left} process(es) to be signalled with {signal} / exit"),
                    path: self.first_dir().to_path_buf(),
                    waited: timeout,
                });
            }
        }
    }

    fn wait_empty(&self, me: i32, start: Instant, timeout: Duration) -> Result<(), CgroupError> {
        loop {
            let left = self.pids().into_iter().filter(|p| *p != me).count();
            if left == 0 {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(CgroupError::Timeout {
                    what: format!("{left} killed process(es) to exit"),
                    path: self.first_dir().to_path_buf(),
                    waited: timeout,
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Current usage (see [`CgroupStats`] for where each number comes from).
    pub fn stats(&self) -> Result<CgroupStats, CgroupError> {
        let mut s = CgroupStats::default();
        if let Some(dir) = self.path(Controller::Cpuacct) {
            s.cpu_usage_ns = match self.version {
                Version::V1 => read_u64(&dir.join("cpuacct.usage"))?,
                Version::V2 => {
                    let p = dir.join("cpu.stat");
                    let text = read_file(&p)?;
                    let usec = keyed(&text, "usage_usec").ok_or(CgroupError::Parse { path: p, content: text })?;
                    usec.saturating_mul(1000)
                }
            };
        }
        if let Some(dir) = self.path(Controller::Memory) {
            let (usage, limit) = match self.version {
                Version::V1 => ("memory.usage_in_bytes", "memory.limit_in_bytes"),
                Version::V2 => ("memory.current", "memory.max"),
            };
            s.memory_bytes = read_u64(&dir.join(usage))?;
            s.memory_limit_bytes = read_limit(&dir.join(limit))?;
        }
        s.pids = match self.path(Controller::Pids) {
            Some(dir) => read_u64(&dir.join("pids.current"))?,
            None => self.pids().len() as u64,
        };
        Ok(s)
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup, by
    /// the rule of [`oom`]. False without a memory controller.
    pub fn oom_killed(&self) -> bool {
        self.path(Controller::Memory).is_some_and(|dir| oom::oom_killed(dir, self.version))
    }

    /// Delete the cgroup's directories, retrying briefly (2 s) while they are
    /// busy with exiting processes. Already-removed directories are fine.
    /// Fails with EBUSY if processes remain: use [`Cgroup::kill_all`] first.
    /// The shared `ferry/` parent is removed too once empty.
    pub fn remove(&self) -> Result<(), CgroupError> {
        let mut result = Ok(());
        for d in &self.dirs {
            if let Err(e) = rmdir_retry(d, REMOVE_TIMEOUT) {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        for d in &self.dirs {
            if let Some(parent) = d.parent().filter(|p| p.file_name() == Some(FERRY_DIR.as_ref())) {
                // Fails harmlessly (EBUSY/ENOTEMPTY) while other workloads use it.
                let _ = std::fs::remove_dir(parent);
            }
        }
        result
    }
}

/// Put the calling (single-threaded) process into the cgroup(s) whose entry
/// files ([`Cgroup::procs_paths`]) are given, by writing `"0"` to each.
/// Async-signal-safe and allocation-free, so it can run in a `pre_exec` hook
/// between `fork` and `exec`. Stops at the first failure.
pub fn enter_procs(procs_paths: &[CString]) -> io::Result<()> {
    for p in procs_paths {
        // SAFETY: `p` is a valid NUL-terminated string; open/write/close are
        // async-signal-safe and the buffer is a static.
        unsafe {
            let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = libc::write(fd, b"0".as_ptr().cast(), 1);
            let err = if n == 1 { None } else { Some(io::Error::last_os_error()) };
            libc::close(fd);
            if let Some(e) = err {
                return Err(e);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// File helpers
// ---------------------------------------------------------------------------

/// Write `value` to a cgroup file with a single `write(2)`, as the kernel expects.
fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    let op = || format!("write {value:?} to");
    let mut f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| CgroupError::io(op(), path, e))?;
    match f.write(value.as_bytes()) {
        Ok(n) if n == value.len() => Ok(()),
        Ok(_) => Err(CgroupError::io(op(), path, io::Error::new(io::ErrorKind::WriteZero, "short write"))),
        Err(e) => Err(CgroupError::io(op(), path, e)),
    }
}

fn read_file(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|e| CgroupError::io("read", path, e))
}

fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let s = read_file(path)?;
    s.trim().parse().map_err(|_| CgroupError::Parse { path: path.to_path_buf(), content: s })
}

/// A limit file: "max" (v2) or a huge number (v1) mean no limit.
fn read_limit(path: &Path) -> Result<Option<u64>, CgroupError> {
    let s = read_file(path)?;
    parse_limit(&s).ok_or_else(|| CgroupError::Parse { path: path.to_path_buf(), content: s })
}

fn parse_limit(s: &str) -> Option<Option<u64>> {
    match s.trim() {
        "max" => Some(None),
        t => t.parse::<u64>().ok().map(|v| (v < UNLIMITED).then_some(v)),
    }
}

/// The number after `key` in "key value" lines (`cpu.stat`, `memory.events`, …).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == key).then(|| it.next()?.parse().ok()).flatten()
    })
}

fn read_procs(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let p = dir.join("cgroup.procs");
    let s = read_file(&p)?;
    s.split_whitespace()
        .map(|w| w.parse().map_err(|_| CgroupError::Parse { path: p.clone(), content: w.to_string() }))
        .collect()
}

/// `rmdir`, retrying on EBUSY (processes still exiting) until `timeout`; NotFound is success.
fn rmdir_retry(dir: &Path, timeout: Duration) -> Result<(), CgroupError> {
    let start = Instant::now();
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(CgroupError::io("remove", dir, e)),
        }
    }
}

// ---------------------------------------------------------------------------
// Tests of the parsing and decisions (the real-cgroup tests are in tests/cgroup_*.rs)
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
6:freezer:/
4:memory:/process_api/60a0
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn hybrid_uses_v1_and_nests_under_own_cgroup() {
        let Layout::V1(map) = layout_from(HYBRID_MOUNTINFO, HYBRID_CGROUP).unwrap() else { panic!("not v1") };
        assert_eq!(map[&Controller::Memory], Ok(PathBuf::from("/sys/fs/cgroup/memory/process_api/60a0")));
        assert_eq!(map[&Controller::Pids], Ok(PathBuf::from("/sys/fs/cgroup/pids")));
        assert_eq!(map[&Controller::Cpuacct], Ok(PathBuf::from("/sys/fs/cgroup/cpuacct")));
        assert_eq!(map.len(), 5);
    }

    #[test]
    fn comounted_cpu_cpuacct_and_missing_controller() {
        let mi = "\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let cg = "3:cpu,cpuacct:/user.slice\n2:memory:/user.slice\n0::/user.slice\n";
        let Layout::V1(map) = layout_from(mi, cg).unwrap() else { panic!("not v1") };
        assert_eq!(map[&Controller::Cpu], Ok(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/user.slice")));
        assert_eq!(map[&Controller::Cpu], map[&Controller::Cpuacct]);
        assert!(map[&Controller::Pids].as_ref().unwrap_err().contains("no cgroup v1 hierarchy"));
    }

    #[test]
    fn pure_v2_and_bind_mounted_root() {
        let mi = "25 20 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let cg = "0::/user.slice/user-1000.slice/session-2.scope\n";
        assert_eq!(
            layout_from(mi, cg).unwrap(),
            Layout::V2 {
                mount: "/sys/fs/cgroup".into(),
                own: "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope".into()
            }
        );
        // A container that bind-mounts its own sub-tree (root field is not "/").
        let mi = "25 20 0:22 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            layout_from(mi, "0::/docker/abc/inner\n").unwrap(),
            Layout::V2 { mount: "/sys/fs/cgroup".into(), own: "/sys/fs/cgroup/inner".into() }
        );
        assert!(layout_from(mi, "0::/docker/abcdef\n").is_err());
        assert!(layout_from(mi, "0::/../other\n").is_err());
        // Only a controller-less v1 named hierarchy: still v2.
        let mi = "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n\
                  41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert!(matches!(layout_from(mi, "1:name=systemd:/\n0::/x\n").unwrap(), Layout::V2 { .. }));
    }

    #[test]
    fn no_cgroup_fs() {
        let mi = "31 23 0:28 / / rw - ext4 /dev/vda rw\n";
        assert!(layout_from(mi, "0::/\n").unwrap_err().contains("no cgroup filesystem"));
    }

    #[test]
    fn mountinfo_escapes_and_optional_fields() {
        let m = parse_mountinfo("36 35 98:0 / /mnt/with\\040space rw shared:1 master:2 - cgroup2 none rw\n");
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(m[0].fstype, "cgroup2");
        assert_eq!(unescape_mount("a\\134b"), "a\\b");
        assert_eq!(unescape_mount("trailing\\04"), "trailing\\04");
    }

    #[test]
    fn limits_and_keyed_files() {
        assert_eq!(parse_limit("max\n"), Some(None));
        assert_eq!(parse_limit("9223372036854771712\n"), Some(None));
        assert_eq!(parse_limit("33554432\n"), Some(Some(33554432)));
        assert_eq!(parse_limit("junk"), None);
        let stat = "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n";
        assert_eq!(keyed(stat, "usage_usec"), Some(1234));
        assert_eq!(keyed(stat, "usage"), None);
        assert_eq!(keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"), Some(3));
    }

    #[test]
    fn names_are_validated() {
        for bad in ["", ".", "..", "a/b", "cgroup.procs", "memory.max", "x\0y"] {
            assert!(matches!(validate_name(bad), Err(CgroupError::InvalidName { .. })), "{bad:?}");
        }
        validate_name("wl-0123abcd-1").unwrap();
    }

    #[test]
    fn serde_shape_is_stable() {
        let cg = Cgroup {
            version: Version::V1,
            name: "w".into(),
            dirs: vec!["/sys/fs/cgroup/memory/ferry/w".into()],
            controllers: [(Controller::Memory, PathBuf::from("/sys/fs/cgroup/memory/ferry/w"))].into(),
        };
        let json = serde_json::to_string(&cg).unwrap();
        assert_eq!(
            json,
            r#"{"version":"v1","name":"w","dirs":["/sys/fs/cgroup/memory/ferry/w"],"controllers":{"memory":"/sys/fs/cgroup/memory/ferry/w"}}"#
        );
        assert_eq!(serde_json::from_str::<Cgroup>(&json).unwrap(), cg);
        let l: Limits = serde_json::from_str(r#"{"memory_bytes":5}"#).unwrap();
        assert_eq!(l, Limits { memory_bytes: Some(5), ..Limits::default() });
    }

    #[test]
    fn support_display() {
        let s = Support::V1 {
            controllers: [
                (Controller::Memory, Ok(PathBuf::from("/m"))),
                (Controller::Pids, Err("no cgroup v1 hierarchy with the pids controller is mounted".into())),
            ]
            .into(),
        };
        assert!(s.is_available(Controller::Memory));
        assert!(!s.is_available(Controller::Pids));
        let text = s.to_string();
        assert!(text.starts_with("cgroup v1: memory usable; "), "{text}");
        assert!(text.contains("pids unavailable: no cgroup v1 hierarchy"), "{text}");
    }
    /// The v2 code paths, on a hybrid machine's extra cgroup2 mount: it usually
    /// has no controllers, but cpu.stat, cgroup.freeze and cgroup.kill are core
    /// files. (Pure v2 machines run the v2 paths in tests/cgroup_real.rs.)
    #[test]
    fn v2_core_files_on_a_hybrid_cgroup2_mount() {
        use std::os::unix::process::{CommandExt, ExitStatusExt};
        let skip = |why: &str| println!("v2_core_files_on_a_hybrid_cgroup2_mount: skipped: {why}");
        if std::env::var("FERRY_SKIP_CGROUP_TESTS").is_ok_and(|v| !v.is_empty() && v != "0") {
            return skip("FERRY_SKIP_CGROUP_TESTS is set");
        }
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let pc = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        if !matches!(layout_from(&mi, &pc), Ok(Layout::V1(_))) {
            return skip("not a cgroup v1/hybrid machine");
        }
        let line = parse_proc_cgroup(&pc).into_iter().find(|l| l.id == "0");
        let own = parse_mountinfo(&mi)
            .iter()
            .filter(|m| m.fstype == "cgroup2")
            .find_map(|m| own_dir(m, &line.as_ref()?.path));
        let Some(own) = own else { return skip("no cgroup2 mount next to v1") };

        let support = probe_v2(&own);
        assert_eq!(support[&Controller::Cpuacct], Ok(()), "{support:?}");
        assert_eq!(support[&Controller::Freezer], Ok(()), "{support:?}");

        let name = format!("unit-v2-{}", std::process::id());
        let (cg, unavailable) = create_v2(&name, &own).unwrap();
        let cleanup = scopeguard(&cg);
        assert_eq!(cg.version(), Version::V2);
        assert!(cg.has(Controller::Cpuacct) && cg.can_freeze(), "{cg:?} {unavailable:?}");
        for c in Controller::ALL {
            assert_eq!(cg.has(c), support[&c].is_ok(), "{c}: {unavailable:?} vs {support:?}");
        }
        // Limits on controllers that are missing: strict mode names them.
        if let Some((c, why)) = unavailable.iter().next() {
            assert!(!why.is_empty(), "{c}");
        }

        let procs = cg.procs_paths();
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", "while :; do :; done"]);
        // SAFETY: enter_procs only calls open/write/close.
        unsafe { cmd.pre_exec(move || enter_procs(&procs)) };
        let mut child = cmd.spawn().unwrap();
        let pid = child.id() as i32;
        assert_eq!(cg.pids(), vec![pid]);

        cg.freeze().unwrap();
        assert!(cg.is_frozen());
        let a = cg.stats().unwrap().cpu_usage_ns;
        std::thread::sleep(Duration::from_millis(200));
        let b = cg.stats().unwrap().cpu_usage_ns;
        assert!(b - a < 2_000_000, "frozen v2 cgroup used {} ns", b - a);
        cg.thaw().unwrap();
        assert!(!cg.is_frozen());
        std::thread::sleep(Duration::from_millis(100));
        let st = cg.stats().unwrap();
        assert!(st.cpu_usage_ns > b, "{st:?}");
        assert_eq!(st.pids, 1);

        cg.kill_all(Signal::SIGKILL).unwrap(); // via cgroup.kill
        assert!(cg.pids().is_empty());
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        drop(cleanup);
        assert!(!cg.exists());
    }

    struct Cleanup<'a>(&'a Cgroup);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill_all(Signal::SIGKILL);
            let _ = self.0.remove();
        }
    }
    fn scopeguard(cg: &Cgroup) -> Cleanup<'_> {
        Cleanup(cg)
    }
}
