//! The per-workload monitor: a small detached process that owns the
//! workload's processes (as conmon does for podman), so `ferry run -d` returns
//! at once and the exit code is still recorded after the CLI has gone.
//!
//! It starts each attempt in a new session (one process group) inside the
//! workload's cgroup, copies stdout/stderr into the log file, enforces the
//! timeout, retries failed attempts, reaps orphans (it is a child subreaper),
//! kills whatever the main process left behind, and writes `state.json` at
//! every transition.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use ferry_core::{LogSource, RuntimeError, Status};
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::cgroup::Cgroup;
use crate::logfile::LogWriter;
use crate::plan::ProcessPlan;
use crate::reaper::Reaper;
use crate::state::{read_json, write_json_atomic, MonitorState, WorkloadDir, WorkloadFiles};

/// How long to wait for output pipes to drain after the workload ended.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a monitor lets a workload that just started run before it
/// writes "running" to the state file ([`save_start`]). Longer jobs show as
/// running this much later; shorter ones are spared a write (half a
/// millisecond here) between their start and their recorded end.
pub const RUNNING_GRACE: Duration = Duration::from_millis(2);

/// Copies a workload's output pipes into its log, one thread per pipe.
pub struct OutputPumps(mpsc::Receiver<()>);

impl OutputPumps {
    pub fn start(log: &LogWriter, pipes: impl IntoIterator<Item = (LogSource, Box<dyn std::io::Read + Send>)>) -> Self {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        for (source, pipe) in pipes {
            let log = log.clone();
            let done = done_tx.clone();
            thread::spawn(move || {
                let _ = log.pump(source, pipe);
                let _ = done.send(());
            });
        }
        OutputPumps(done_rx)
    }

    /// Wait until every pipe reached end of file, at most [`DRAIN_TIMEOUT`]
    /// (a grandchild may hold a pipe open after the workload ended).
    pub fn drain(self) {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while self.0.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_ok() {}
    }
}

/// Run the workload in `dir` to the end. `on_change` sees every new state
/// (the CLI uses it to record the status in Ferry's store). Returns the final
/// state.
pub fn run(dir: &Path, on_change: &mut dyn FnMut(&ProcessPlan, &MonitorState)) -> Result<MonitorState, RuntimeError> {
    let wd = WorkloadDir(dir.to_path_buf());
    let plan: ProcessPlan = read_json(&wd.plan())?;
    let log = LogWriter::open(&wd.log()).map_err(RuntimeError::io(format!("open {}", wd.log().display())))?;
    // Orphaned grandchildren are re-parented to us, so we can reap and kill them.
    // SAFETY: plain prctl call without pointers.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };

    let mut state: MonitorState = read_json(&wd.state()).unwrap_or_else(|_| MonitorState::pending());
    let reaper = Reaper::of_process();

    let attempts = plan.retries + 1;
    for attempt in 1..=attempts {
        if wd.stop_marker().exists() {
            // Stopped before this attempt started: nothing to run.
            state.status = Status::Cancelled;
            break;
        }
        let (cgroup, warnings) =
            match Cgroup::create_best_effort(&format!("{}-{attempt}", plan.workload_id), &plan.limits) {
                Ok((cg, w)) => (Some(cg), w),
                Err(e) => (None, vec![format!("no cgroup, limits and metrics unavailable: {e}")]),
            };
        for w in &warnings {
            let _ = log.record(LogSource::Stderr, format!("ferry: warning: {w}").as_bytes(), true);
        }
        state.cgroup = cgroup.clone();
        state.warnings = warnings;
        state.attempt = attempt;

        let outcome = run_attempt(&plan, &wd, &log, cgroup.as_ref(), &reaper, &mut |pid, ended| {
            state.status = Status::Running;
            state.pid = Some(pid);
            state.started_at.get_or_insert_with(Utc::now);
            save_start(&wd, &plan, &state, ended, on_change);
        });
        if let Some(cg) = &cgroup {
            let _ = cg.remove();
        }
        let retry = matches!(outcome, Status::Failed { .. }) && !outcome_is_final(&wd) && attempt < attempts;
        if retry {
            let msg = format!("ferry: attempt {attempt} of {attempts} {outcome}; retrying");
            let _ = log.record(LogSource::Stderr, msg.as_bytes(), true);
            continue;
        }
        state.status = outcome;
        break;
    }
    state.finished_at = Some(Utc::now());
    state.cgroup = None;
    let _ = std::fs::remove_file(wd.paused_marker());
    save(&wd, &plan, &state, on_change);
    crate::state::remove_replaced(wd.dir());
    Ok(state)
}

/// A stop request makes any failure final: no retry after `ferry stop`.
fn outcome_is_final(wd: &WorkloadDir) -> bool {
    wd.stop_marker().exists()
}

/// Write the new state to `state.json` (the runtime's truth), then let
/// `on_change` record it in the store. Shared with the OCI monitor.
pub fn save<P, S: serde::Serialize>(dir: &impl WorkloadFiles, plan: &P, state: &S, on_change: &mut dyn FnMut(&P, &S)) {
    if let Err(e) = write_json_atomic(&dir.state(), state) {
        tracing::error!("cannot record state: {e}");
    }
    on_change(plan, state);
}

/// Record that the workload started: in the store, and in `state.json`
/// unless it `ended` already (within [`RUNNING_GRACE`]), as the end will be
/// written there next. Shared with the OCI monitor.
pub fn save_start<P, S: serde::Serialize>(
    dir: &impl WorkloadFiles,
    plan: &P,
    state: &S,
    ended: bool,
    on_change: &mut dyn FnMut(&P, &S),
) {
    if ended {
        on_change(plan, state);
    } else {
        save(dir, plan, state, on_change);
    }
}

/// One attempt: start, wait (with timeout), clean up, classify the end.
fn run_attempt(
    plan: &ProcessPlan,
    wd: &WorkloadDir,
    log: &LogWriter,
    cgroup: Option<&Cgroup>,
    reaper: &Reaper,
    on_running: &mut dyn FnMut(i32, bool),
) -> Status {
    let procs: Vec<CString> = cgroup.map(|c| c.procs_paths()).unwrap_or_default();
    let mut cmd = Command::new(&plan.argv[0]);
    cmd.args(&plan.argv[1..])
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&plan.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (setsid, open, write, close) on
    // memory prepared before fork. Failing to join the cgroup fails the spawn:
    // a workload must not run outside its limits unnoticed.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            crate::cgroup::enter_procs(&procs)
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("ferry: cannot start {:?}: {e}", plan.argv[0]);
            let _ = log.record(LogSource::Stderr, msg.as_bytes(), true);
            let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            return Status::Failed { exit_code: Some(code), reason: msg.trim_start_matches("ferry: ").to_string() };
        }
    };
    reaper.spawned();
    let pid = Pid::from_raw(child.id() as i32);

    let pipes = [
        child.stdout.take().map(|p| (LogSource::Stdout, Box::new(p) as Box<dyn std::io::Read + Send>)),
        child.stderr.take().map(|p| (LogSource::Stderr, Box::new(p) as Box<dyn std::io::Read + Send>)),
    ];
    let pumps = OutputPumps::start(log, pipes.into_iter().flatten());
    let ended = reaper.wait(pid.as_raw(), RUNNING_GRACE);
    on_running(pid.as_raw(), ended.is_some());

    // Timeout escalation: running → (deadline) SIGTERM → (grace) SIGKILL.
    let mut deadline = plan.timeout.map(|t| Instant::now() + t);
    let mut phase = Phase::Running;
    let status = loop {
        let wait = deadline.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
        if let Some(ws) = ended.or_else(|| reaper.wait(pid.as_raw(), wait)) {
            break ws;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            match phase {
                Phase::Running => {
                    let msg = format!(
                        "ferry: timed out after {}; sending SIGTERM",
                        humanize(plan.timeout.unwrap_or_default())
                    );
                    let _ = log.record(LogSource::Stderr, msg.as_bytes(), true);
                    signal_all(pid, cgroup, Signal::SIGTERM);
                    phase = Phase::Terminating;
                    deadline = Some(Instant::now() + plan.kill_grace);
                }
                Phase::Terminating | Phase::Killed => {
                    signal_all(pid, cgroup, Signal::SIGKILL);
                    phase = Phase::Killed;
                    deadline = None;
                }
            }
        }
    };
    let timed_out = phase != Phase::Running;
    // Nothing outlives the main process of a workload.
    signal_all(pid, cgroup, Signal::SIGKILL);
    pumps.drain();
    let _ = child.try_wait(); // already reaped by the reaper; keeps std quiet

    classify(status, timed_out, plan, wd, cgroup)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Terminating,
    Killed,
}

/// Signal the whole workload: its process group and everything in its cgroup.
/// A frozen cgroup is thawed so the signal is acted on.
pub(crate) fn signal_all(pgid: Pid, cgroup: Option<&Cgroup>, sig: Signal) {
    let _ = killpg(pgid, sig);
    if let Some(cg) = cgroup {
        let _ = cg.kill_all(sig);
        let _ = cg.thaw();
    }
}

/// Map how the main process ended onto Ferry's status.
fn classify(ws: WaitStatus, timed_out: bool, plan: &ProcessPlan, wd: &WorkloadDir, cgroup: Option<&Cgroup>) -> Status {
    let (code, signal) = match ws {
        WaitStatus::Exited(_, c) => (c, None),
        WaitStatus::Signaled(_, sig, _) => (128 + sig as i32, Some(sig)),
        other => (1, {
            tracing::warn!("unexpected wait status {other:?}");
            None
        }),
    };
    if wd.stop_marker().exists() {
        return Status::Cancelled;
    }
    if timed_out {
        return Status::Failed {
            exit_code: Some(code),
            reason: format!("timed out after {}", humanize(plan.timeout.unwrap_or_default())),
        };
    }
    // The OOM killer may pick any process of the workload; it explains the
    // end only when the main process did not exit cleanly.
    if code != 0 && cgroup.is_some_and(|c| c.oom_killed()) {
        let limit = plan.limits.memory_bytes.map(|b| format!(" (memory limit {b} bytes)")).unwrap_or_default();
        return Status::Failed { exit_code: Some(code), reason: format!("out of memory{limit}") };
    }
    match (code, signal) {
        (0, _) => Status::Succeeded,
        (_, Some(sig)) => {
            Status::Failed { exit_code: Some(code), reason: format!("killed by signal {}", sig.as_str()) }
        }
        (c, None) => Status::Failed { exit_code: Some(c), reason: format!("exited with code {c}") },
    }
}

/// How a duration reads in messages (`1m30s`), as the workload file writes it.
pub fn humanize(d: Duration) -> String {
    ferry_spec::Duration(d).to_string()
}
