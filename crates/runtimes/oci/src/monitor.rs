//! The per-container monitor (the conmon pattern, as for the local runtime):
//! a detached process that starts the container with
//! `<runtime> run --detach` (or `restore --detach`), becomes the parent of
//! the container's init by being a child subreaper, copies its stdout/stderr
//! into the log file, enforces the timeout, retries, and records how it ended
//! in `state.json` even after the CLI is gone.
//!
//! When the kernel's OOM killer kills a process of the container, the monitor
//! kills the rest of it (cgroup v1 has no `memory.oom.group`), so a workload
//! does not half-survive an OOM.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use ferry_core::{LogSource, RuntimeError, Status};
use ferry_local::monitor::{humanize, save, save_start, OutputPumps, RUNNING_GRACE};
use ferry_local::reaper::Reaper;
use ferry_local::LogWriter;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

use crate::binary::RuntimeBinary;
use crate::cgroup;
use crate::state::{ContainerDir, OciPlan, OciState, WorkloadFiles};

/// How often the monitor looks at the memory cgroup while the container runs.
const OOM_POLL: Duration = Duration::from_millis(25);

/// Run the container of `dir` to the end. `on_change` sees every new state.
pub fn run(dir: &Path, on_change: &mut dyn FnMut(&OciPlan, &OciState)) -> Result<OciState, RuntimeError> {
    let cd = ContainerDir(dir.to_path_buf());
    let plan = cd.read_plan()?;
    let log = LogWriter::open(&cd.log()).map_err(RuntimeError::io(format!("open {}", cd.log().display())))?;
    // The container's init is re-parented to us when `run --detach` exits.
    // SAFETY: plain prctl call without pointers.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let reaper = Reaper::of_process();
    let rt = RuntimeBinary::new(&plan.runtime.binary, &plan.runtime_root)
        .exec_from(ferry_local::launcher::exec_path(&plan.runtime.binary, &cd.0.join("exe")));
    let mut state = cd.read_state().unwrap_or_else(|_| OciState::pending());
    for w in state.warnings.clone() {
        let _ = log.record(LogSource::Stderr, format!("ferry: warning: {w}").as_bytes(), true);
    }
    if let Err(e) = plan.rootfs.mount() {
        state.status = Status::Failed { exit_code: None, reason: format!("cannot mount the root filesystem: {e}") };
        state.finished_at = Some(Utc::now());
        save(&cd, &plan, &state, on_change);
        return Ok(state);
    }

    let attempts = plan.retries + 1;
    for attempt in 1..=attempts {
        state.attempt = attempt;
        if attempt > 1 {
            rt.delete(&plan.container_id);
        }
        let outcome = if cd.stop_marker().exists() {
            Status::Cancelled
        } else {
            run_attempt(&plan, &cd, &rt, &log, &reaper, attempt, &mut |pid, cgroups, ended| {
                state.status = Status::Running;
                state.pid = Some(pid);
                state.cgroups = cgroups;
                state.started_at.get_or_insert_with(Utc::now);
                save_start(&cd, &plan, &state, ended, on_change);
            })
        };
        let retry = matches!(outcome, Status::Failed { .. }) && !cd.stop_marker().exists() && attempt < attempts;
        if retry {
            let msg = format!("ferry: attempt {attempt} of {attempts} {outcome}; retrying");
            let _ = log.record(LogSource::Stderr, msg.as_bytes(), true);
            continue;
        }
        state.status = outcome;
        break;
    }
    let _ = std::fs::remove_file(cd.paused_marker());
    state.finished_at = Some(Utc::now());
    state.pid = None;
    save(&cd, &plan, &state, on_change);
    // Clean up after recording the end, so waiting callers are not delayed,
    // and at the lowest CPU priority (nice 19, inherited by `<runtime>
    // delete`), so the next start is not delayed either.
    ferry_core::priority::set_thread_nice(0, 19);
    rt.forget_ended(&plan.container_id);
    plan.rootfs.unmount();
    ferry_local::remove_replaced(&cd.0);
    if let Some(containers) = cd.0.parent() {
        crate::spare::replenish(&crate::spare::spares_of(containers));
    }
    Ok(state)
}

/// Start the runtime command that creates the container; output pipes go to the log.
fn run_attempt(
    plan: &OciPlan,
    cd: &ContainerDir,
    rt: &RuntimeBinary,
    log: &LogWriter,
    reaper: &Reaper,
    attempt: u32,
    on_running: &mut dyn FnMut(i32, std::collections::BTreeMap<String, std::path::PathBuf>, bool),
) -> Status {
    let pid_file = cd.pid_file();
    let _ = std::fs::remove_file(&pid_file);
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    match (&plan.restore_from, attempt) {
        (Some(image), 1) => {
            args.extend(["restore".into(), "--detach".into(), "--image-path".into(), image.into()]);
        }
        _ => args.extend(["run".into(), "--detach".into()]),
    }
    args.extend(["--bundle".into(), plan.bundle.clone().into(), "--pid-file".into(), pid_file.clone().into()]);
    args.push(plan.container_id.clone().into());

    let pipes = (std::io::pipe(), std::io::pipe());
    let ((out_r, out_w), (err_r, err_w)) = match pipes {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => return Status::Failed { exit_code: None, reason: format!("pipe: {e}") },
    };
    let mut cmd = rt.command(&args);
    cmd.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
    let spawned = cmd.spawn();
    drop(cmd); // close our copies of the write ends: EOF comes when the container's processes end
    let child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("ferry: cannot run {}: {e}", rt.binary.display());
            let _ = log.record(LogSource::Stderr, msg.as_bytes(), true);
            return Status::Failed { exit_code: None, reason: msg.trim_start_matches("ferry: ").into() };
        }
    };
    reaper.spawned();
    // The pumps start once the runtime runs, not before it: the pipes hold
    // what is written meanwhile, and starting their threads costs the start.
    let pumps = OutputPumps::start(
        log,
        [
            (LogSource::Stdout, Box::new(out_r) as Box<dyn std::io::Read + Send>),
            (LogSource::Stderr, Box::new(err_r) as _),
        ],
    );
    let launched = reaper.wait(child.id() as i32, Duration::from_secs(120));
    let launched_ok = matches!(launched, Some(WaitStatus::Exited(_, 0)));
    let pid = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<i32>().ok());
    let (true, Some(pid)) = (launched_ok, pid) else {
        let verb = if plan.restore_from.is_some() && attempt == 1 { "restore" } else { "run" };
        let reason = format!(
            "{} {verb} failed ({}); its error is in the workload's log",
            rt.name(),
            launched.map(|w| format!("{w:?}")).unwrap_or_else(|| "no answer in 120s".into())
        );
        let _ = log.record(LogSource::Stderr, format!("ferry: {reason}").as_bytes(), true);
        pumps.drain();
        return Status::Failed { exit_code: None, reason };
    };
    let cgroups = cgroup::dirs_for(&cgroup::cgroups_path(&plan.container_id));
    let ended = reaper.wait(pid, RUNNING_GRACE);
    on_running(pid, cgroups.clone(), ended.is_some());
    if cd.stop_marker().exists() {
        // `ferry stop` came while the container was starting.
        let _ = rt.kill(&plan.container_id, "TERM");
    }

    // Timeout escalation: running → (deadline) SIGTERM → (grace) SIGKILL.
    let mut deadline = plan.timeout.map(|t| Instant::now() + t);
    let mut phase = Phase::Running;
    let mut oom = false;
    let status = loop {
        if let Some(ws) = ended.or_else(|| reaper.wait(pid, OOM_POLL)) {
            break ws;
        }
        if !oom && cgroup::out_of_memory(&cgroups) {
            oom = true;
            let limit = plan.memory_limit.map(|b| format!(" (memory limit {b} bytes)")).unwrap_or_default();
            let _ = log.record(
                LogSource::Stderr,
                format!("ferry: out of memory{limit}; killing the container").as_bytes(),
                true,
            );
            let _ = rt.kill(&plan.container_id, "KILL");
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            match phase {
                Phase::Running => {
                    let t = humanize(plan.timeout.unwrap_or_default());
                    let _ = log.record(
                        LogSource::Stderr,
                        format!("ferry: timed out after {t}; sending SIGTERM").as_bytes(),
                        true,
                    );
                    let _ = rt.kill(&plan.container_id, "TERM");
                    phase = Phase::Terminating;
                    deadline = Some(Instant::now() + plan.kill_grace);
                }
                Phase::Terminating => {
                    let _ = rt.kill(&plan.container_id, "KILL");
                    phase = Phase::Killed;
                    deadline = None;
                }
                Phase::Killed => deadline = None,
            }
        }
    };
    // Read the OOM record before `delete` removes the cgroup.
    let oom = oom || cgroup::out_of_memory(&cgroups);
    pumps.drain();
    classify(status, phase != Phase::Running, oom, plan, cd)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Terminating,
    Killed,
}

/// Map how the container's init ended onto Ferry's status. ferry-init exits
/// with 128 + N when the workload's main process was killed by signal N.
pub fn classify(ws: WaitStatus, timed_out: bool, oom: bool, plan: &OciPlan, cd: &ContainerDir) -> Status {
    let code = match ws {
        WaitStatus::Exited(_, c) => c,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        other => {
            tracing::warn!("unexpected wait status {other:?}");
            1
        }
    };
    if cd.stop_marker().exists() {
        return Status::Cancelled;
    }
    if timed_out {
        return Status::Failed {
            exit_code: Some(code),
            reason: format!("timed out after {}", humanize(plan.timeout.unwrap_or_default())),
        };
    }
    if oom && code != 0 {
        let limit = plan.memory_limit.map(|b| format!(" (memory limit {b} bytes)")).unwrap_or_default();
        return Status::Failed { exit_code: Some(code), reason: format!("out of memory{limit}") };
    }
    status_for_code(code)
}

pub fn status_for_code(code: i32) -> Status {
    if code == 0 {
        return Status::Succeeded;
    }
    match (code > 128).then(|| Signal::try_from(code - 128).ok()).flatten() {
        Some(sig) => Status::Failed { exit_code: Some(code), reason: format!("killed by signal {}", sig.as_str()) },
        None => Status::Failed { exit_code: Some(code), reason: format!("exited with code {code}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_above_128_name_the_signal() {
        assert_eq!(status_for_code(0), Status::Succeeded);
        assert_eq!(
            status_for_code(137),
            Status::Failed { exit_code: Some(137), reason: "killed by signal SIGKILL".into() }
        );
        assert_eq!(status_for_code(3), Status::Failed { exit_code: Some(3), reason: "exited with code 3".into() });
        assert_eq!(
            status_for_code(255),
            Status::Failed { exit_code: Some(255), reason: "exited with code 255".into() }
        );
    }
}
