//! `ferry_local::cgroup` against the machine's real cgroups (v1 or v2).
//!
//! These tests need root (or a delegated cgroup) and the memory, cpu,
//! cpuacct, pids and freezer controllers. They fail when cgroups are missing;
//! set `FERRY_SKIP_CGROUP_TESTS=1` to skip them knowingly (each skipped test
//! prints a line, and appends it to `$FERRY_SKIP_LOG` when that is set).

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ferry_local::cgroup::{self, Cgroup, CgroupError, Controller, Limits, Version};
use nix::sys::signal::Signal;

const MIB: u64 = 1 << 20;

/// True if the test should run; panics if cgroups lack what it needs.
fn require(test: &str, needs: &[Controller]) -> bool {
    if std::env::var("FERRY_SKIP_CGROUP_TESTS").is_ok_and(|v| !v.is_empty() && v != "0") {
        let line = format!("cgroup_real::{test}: skipped (FERRY_SKIP_CGROUP_TESTS is set)");
        println!("{line}");
        eprintln!("{line}");
        ferry_core::skip_log::append(&line);
        return false;
    }
    let support = cgroup::detect();
    let missing: Vec<Controller> = needs.iter().copied().filter(|c| !support.is_available(*c)).collect();
    assert!(
        missing.is_empty(),
        "{test} needs the cgroup controllers {missing:?}, but detect() says: {support}\n\
         (set FERRY_SKIP_CGROUP_TESTS=1 to skip the cgroup tests knowingly)"
    );
    true
}

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("test-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Kills and removes the cgroup however the test ends.
struct Guard(Cgroup);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill_all(Signal::SIGKILL);
        let _ = self.0.remove();
    }
}

impl std::ops::Deref for Guard {
    type Target = Cgroup;
    fn deref(&self) -> &Cgroup {
        &self.0
    }
}

fn create(tag: &str, limits: Limits) -> Guard {
    let cg = Cgroup::create(&unique(tag), &limits).unwrap_or_else(|e| panic!("create cgroup: {e}"));
    for d in cg.dirs() {
        assert!(d.is_dir(), "{} was not created", d.display());
    }
    Guard(cg)
}

/// Spawn `cmd` inside `cg`, joining it between fork and exec.
fn spawn_in(cg: &Cgroup, cmd: &mut Command) -> Child {
    let procs = cg.procs_paths();
    assert!(!procs.is_empty());
    // SAFETY: enter_procs only uses open/write/close on memory allocated before fork.
    unsafe { cmd.pre_exec(move || cgroup::enter_procs(&procs)) };
    cmd.spawn().expect("spawn test process")
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("/bin/sh");
    c.args(["-c", script]).stdin(Stdio::null());
    c
}

fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not end within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Poll `f` until it returns true, panicking with `what` after `limit`.
fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fields of /proc/PID/stat after the command name: [0] state, [3] session, [11] utime, [12] stime.
fn proc_stat(pid: i32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn cpu_ticks(pid: i32) -> u64 {
    let f = proc_stat(pid).expect("process is gone");
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Gone, or a zombie waiting to be reaped.
fn is_dead(pid: i32) -> bool {
    proc_stat(pid).is_none_or(|f| f[0] == "Z" || f[0] == "X")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn detect_reports_usable_controllers() {
    if !require("detect_reports_usable_controllers", &Controller::ALL) {
        return;
    }
    let support = cgroup::detect();
    println!("detect(): {support}");
    assert!(support.version().is_some());
    assert_eq!(support.available(), Controller::ALL.to_vec());
    assert!(support.unavailable().is_empty(), "{support}");
}

#[test]
fn memory_limit_gets_a_hog_oom_killed() {
    if !require("memory_limit_gets_a_hog_oom_killed", &[Controller::Memory]) {
        return;
    }
    let cg = create("oom", Limits { memory_bytes: Some(32 * MIB), ..Limits::default() });
    assert_eq!(cg.stats().unwrap().memory_limit_bytes, Some(32 * MIB));
    assert!(!cg.oom_killed(), "fresh cgroup reports an OOM kill");

    // `head` (outside the cgroup) feeds one 200 MiB line to `tail` (inside),
    // which must keep all of it in memory.
    let mut head =
        Command::new("head").args(["-c", "200M", "/dev/zero"]).stdout(Stdio::piped()).spawn().expect("spawn head");
    let mut tail = spawn_in(&cg, Command::new("tail").stdin(head.stdout.take().unwrap()).stdout(Stdio::null()));
    let st = wait_timeout(&mut tail, Duration::from_secs(60));
    let _ = head.kill();
    let _ = head.wait();
    assert_eq!(st.signal(), Some(libc::SIGKILL), "tail should be OOM-killed, ended with {st:?}");
    assert!(cg.oom_killed(), "oom_killed() is false after the OOM kill");

    // Control: the same kind of cgroup without a memory hog reports no OOM kill.
    let quiet = create("no-oom", Limits { memory_bytes: Some(32 * MIB), ..Limits::default() });
    let mut ok = spawn_in(&quiet, &mut sh("head -c 1M /dev/zero | tail > /dev/null"));
    assert!(wait_timeout(&mut ok, Duration::from_secs(30)).success());
    assert!(!quiet.oom_killed());
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    if !require("pids_limit_stops_a_fork_loop", &[Controller::Pids]) {
        return;
    }
    let cg = create("pids", Limits { pids: Some(5), ..Limits::default() });
    assert_eq!(read(&cg.path(Controller::Pids).unwrap().join("pids.max")).trim(), "5");
    let mut child = spawn_in(
        &cg,
        sh("i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); echo started $i; done; wait")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    // The kernel counts forks refused because of pids.max in pids.events.
    let events = cg.path(Controller::Pids).unwrap().join("pids.events");
    wait_for("a fork refused by pids.max", Duration::from_secs(10), || {
        read(&events).split_whitespace().nth(1).is_some_and(|n| n != "0")
    });
    let stats = cg.stats().unwrap();
    assert!(stats.pids <= 5, "pids.current = {} despite pids.max = 5", stats.pids);
    cg.kill_all(Signal::SIGKILL).unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let _ = child.wait();
    let started = out.lines().count();
    assert!(started <= 4, "{started} sleeps started under pids.max = 5:\n{out}");
    assert!(cg.pids().is_empty());
}

#[test]
fn freeze_stops_processes_and_thaw_resumes_them() {
    if !require("freeze_stops_processes_and_thaw_resumes_them", &[Controller::Freezer, Controller::Cpuacct]) {
        return;
    }
    let cg = create("freeze", Limits::default());
    assert!(cg.can_freeze());
    let mut child = spawn_in(&cg, &mut sh("while :; do :; done"));
    let pid = child.id() as i32;
    wait_for("the busy loop to use CPU", Duration::from_secs(5), || cpu_ticks(pid) > 0);

    cg.freeze().unwrap();
    assert!(cg.is_frozen());
    let (ticks, usage) = (cpu_ticks(pid), cg.stats().unwrap().cpu_usage_ns);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(cpu_ticks(pid), ticks, "a frozen process kept running");
    let frozen_delta = cg.stats().unwrap().cpu_usage_ns - usage;
    assert!(frozen_delta < 2_000_000, "frozen cgroup used {frozen_delta} ns of CPU");
    assert!(!is_dead(pid));

    cg.thaw().unwrap();
    assert!(!cg.is_frozen());
    wait_for("the thawed loop to use CPU again", Duration::from_secs(5), || cpu_ticks(pid) > ticks);
    assert!(cg.stats().unwrap().cpu_usage_ns > usage);

    cg.kill_all(Signal::SIGKILL).unwrap();
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(5)).signal(), Some(libc::SIGKILL));
}

#[test]
fn stats_and_cpu_limit() {
    if !require("stats_and_cpu_limit", &[Controller::Cpu, Controller::Cpuacct, Controller::Memory, Controller::Pids]) {
        return;
    }
    let limits = Limits { memory_bytes: Some(64 * MIB), cpu_millis: Some(200), pids: Some(50) };
    let cg = create("stats", limits);
    let cpu_dir = cg.path(Controller::Cpu).unwrap();
    match cg.version() {
        Version::V1 => {
            assert_eq!(read(&cpu_dir.join("cpu.cfs_quota_us")).trim(), "20000");
            assert_eq!(read(&cpu_dir.join("cpu.cfs_period_us")).trim(), "100000");
        }
        Version::V2 => assert_eq!(read(&cpu_dir.join("cpu.max")).trim(), "20000 100000"),
    }
    let before = cg.stats().unwrap();
    assert_eq!(before.cpu_usage_ns, 0);
    assert_eq!(before.pids, 0);
    assert_eq!(before.memory_limit_bytes, Some(64 * MIB));

    let start = Instant::now();
    let mut child = spawn_in(&cg, &mut sh("while :; do :; done"));
    std::thread::sleep(Duration::from_millis(1000));
    let running = cg.stats().unwrap();
    let elapsed = start.elapsed();
    assert!(running.cpu_usage_ns > 0, "{running:?}");
    assert!(running.memory_bytes > 0, "{running:?}");
    assert_eq!(running.pids, 1, "{running:?}");
    // 200 millicpus: at most ~20% of the wall time (plus one period of slack).
    let bound = elapsed.as_nanos() as u64 / 5 + 100_000_000;
    assert!(
        running.cpu_usage_ns <= bound,
        "busy loop used {} ms of CPU in {elapsed:?} despite a 0.2 CPU limit",
        running.cpu_usage_ns / 1_000_000
    );

    cg.kill_all(Signal::SIGKILL).unwrap();
    let _ = wait_timeout(&mut child, Duration::from_secs(5));
    let after = cg.stats().unwrap();
    assert_eq!(after.pids, 0);
    assert!(after.cpu_usage_ns >= running.cpu_usage_ns, "cpu usage is cumulative");
}

#[test]
fn kill_all_reaches_setsid_grandchildren() {
    if !require("kill_all_reaches_setsid_grandchildren", &[Controller::Freezer]) {
        return;
    }
    let cg = create("tree", Limits::default());
    let mut child =
        spawn_in(&cg, &mut sh("setsid sh -c 'sleep 1000 & sleep 1000 & wait' & setsid sleep 1000 & sleep 1000 & wait"));
    let root = child.id() as i32;
    let mut pids = Vec::new();
    wait_for("6 processes in the cgroup", Duration::from_secs(10), || {
        pids = cg.pids();
        pids.len() >= 6
    });
    let root_session = proc_stat(root).unwrap()[3].clone();
    let other_sessions = pids.iter().filter_map(|p| proc_stat(*p)).filter(|f| f[3] != root_session).count();
    assert!(other_sessions >= 3, "expected setsid'd processes among {pids:?}");

    cg.kill_all(Signal::SIGKILL).unwrap();
    assert!(cg.pids().is_empty(), "left: {:?}", cg.pids());
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(5)).signal(), Some(libc::SIGKILL));
    wait_for("every process to die", Duration::from_secs(5), || pids.iter().all(|p| is_dead(*p)));

    let dirs = cg.dirs().to_vec();
    cg.remove().unwrap();
    for d in dirs {
        assert!(!d.exists(), "{} still exists after remove()", d.display());
    }
    cg.remove().unwrap(); // idempotent
}

#[test]
fn kill_all_stops_a_fork_bomb() {
    if !require("kill_all_stops_a_fork_bomb", &[Controller::Pids]) {
        return;
    }
    let cg = create("bomb", Limits { pids: Some(64), ..Limits::default() });
    // Every process forks forever and, unlike a shell, survives failed forks,
    // so the cgroup stays full of forking processes until killed.
    let mut child = spawn_in(&cg, Command::new("perl").args(["-e", "fork while 1"]));
    wait_for("the bomb to fill the cgroup", Duration::from_secs(10), || cg.pids().len() >= 32);
    std::thread::sleep(Duration::from_millis(200));
    assert!(cg.pids().len() >= 32, "the bomb died out by itself: {:?}", cg.pids());
    cg.kill_all(Signal::SIGKILL).unwrap();
    assert!(cg.pids().is_empty(), "left: {:?}", cg.pids());
    let _ = wait_timeout(&mut child, Duration::from_secs(5));
    cg.remove().unwrap();
    assert!(!cg.exists());
}

#[test]
fn sigterm_is_delivered_and_a_frozen_cgroup_stays_frozen() {
    if !require("sigterm_is_delivered_and_a_frozen_cgroup_stays_frozen", &[Controller::Freezer]) {
        return;
    }
    let cg = create("term", Limits::default());
    let mut child = spawn_in(&cg, &mut sh("trap 'exit 3' TERM; while :; do sleep 0.05; done"));
    wait_for("the sleep loop", Duration::from_secs(5), || cg.pids().len() >= 2);
    cg.freeze().unwrap();
    cg.kill_all(Signal::SIGTERM).unwrap(); // signals without waiting
    assert!(cg.is_frozen(), "kill_all(SIGTERM) thawed a paused cgroup");
    std::thread::sleep(Duration::from_millis(100));
    assert!(child.try_wait().unwrap().is_none(), "a frozen process acted on SIGTERM");
    cg.thaw().unwrap();
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(5)).code(), Some(3));
}

#[test]
fn reopened_from_json_controls_the_same_cgroup() {
    if !require("reopened_from_json_controls_the_same_cgroup", &[Controller::Memory, Controller::Pids]) {
        return;
    }
    let cg = create("json", Limits { pids: Some(10), ..Limits::default() });
    let json = serde_json::to_string(&*cg).unwrap();
    let reopened: Cgroup = serde_json::from_str(&json).unwrap();
    assert_eq!(reopened, *cg);

    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    reopened.add_pid(pid).unwrap();
    assert_eq!(cg.pids(), vec![pid]);
    let own = read(Path::new(&format!("/proc/{pid}/cgroup")));
    assert!(own.contains(&format!("/ferry/{}", cg.name())), "{own}");
    assert_eq!(reopened.stats().unwrap().pids, 1);

    reopened.kill_all(Signal::SIGKILL).unwrap();
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(5)).signal(), Some(libc::SIGKILL));
    reopened.remove().unwrap();
    assert!(!cg.exists());
}

#[test]
fn names_are_reused_only_when_empty() {
    if !require("names_are_reused_only_when_empty", &[Controller::Memory]) {
        return;
    }
    let name = unique("reuse");
    let first = Guard(Cgroup::create(&name, &Limits::default()).unwrap());
    // A stale, empty cgroup of the same name is replaced.
    let second = Guard(Cgroup::create(&name, &Limits { memory_bytes: Some(48 * MIB), ..Limits::default() }).unwrap());
    assert_eq!(second.dirs(), first.dirs());
    assert_eq!(second.stats().unwrap().memory_limit_bytes, Some(48 * MIB));
    // One with processes is not.
    let mut child = spawn_in(&second, Command::new("sleep").arg("30"));
    match Cgroup::create(&name, &Limits::default()) {
        Err(CgroupError::InUse { .. }) => {}
        other => panic!("expected InUse, got {other:?}"),
    }
    assert_eq!(second.pids(), vec![child.id() as i32], "the failed create disturbed the cgroup");
    second.kill_all(Signal::SIGKILL).unwrap();
    let _ = child.wait();
    assert!(matches!(Cgroup::create("../escape", &Limits::default()), Err(CgroupError::InvalidName { .. })));
}

#[test]
fn best_effort_creation_reports_no_warnings_when_everything_works() {
    if !require("best_effort_creation_reports_no_warnings_when_everything_works", &Controller::ALL) {
        return;
    }
    let limits = Limits { memory_bytes: Some(64 * MIB), cpu_millis: Some(1500), pids: Some(100) };
    let (cg, warnings) = Cgroup::create_best_effort(&unique("best"), &limits).unwrap();
    let cg = Guard(cg);
    assert!(warnings.is_empty(), "{warnings:?}");
    for c in Controller::ALL {
        assert!(cg.has(c), "{c} missing");
    }
}
