//! `timeout:` on Docker. The Engine has no deadline for containers, so a
//! small detached supervisor (`ferry __docker-timeout <dir>`, started by
//! `start`) sleeps until each attempt's deadline and stops the container,
//! recording why first. It exits as soon as the container ends.
//!
//! A timed-out attempt is not retried: Docker treats the stop as manual and
//! ends its restart policy.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bollard::query_parameters::StopContainerOptions;
use chrono::{DateTime, Utc};
use ferry_core::RuntimeError;
use serde::{Deserialize, Serialize};

use crate::client;
use crate::state::WorkloadState;

/// Seconds between SIGTERM and SIGKILL when a timeout stops a container.
pub const TIMEOUT_GRACE_SECS: i32 = 10;

/// What the supervisor needs, written to `timeout.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimeoutPlan {
    pub host: String,
    pub container: String,
    pub timeout_ms: u64,
}

/// Start the detached supervisor for `plan` (`exe __docker-timeout <dir>`).
pub fn spawn(exe: &Path, state: &WorkloadState, plan: &TimeoutPlan) -> Result<(), RuntimeError> {
    let json = serde_json::to_string(plan).map_err(|e| RuntimeError::internal(e.to_string()))?;
    state.write(&state.timeout_plan(), &json)?;
    let err =
        std::fs::File::create(state.supervisor_err()).map_err(RuntimeError::io("cannot create supervisor.err"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("__docker-timeout").arg(&state.0).stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
    // SAFETY: setsid() is async-signal-safe; it detaches the supervisor from
    // the CLI's session so Ctrl-C on the CLI does not reach it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(RuntimeError::io(format!("cannot start {} __docker-timeout", exe.display())))?;
    // Reap it in the background so no zombie lingers while the CLI runs.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(())
}

/// The supervisor's body: enforce the plan in `dir` until the container ends.
pub async fn supervise(dir: &Path) -> Result<(), RuntimeError> {
    let state = WorkloadState(PathBuf::from(dir));
    let text = std::fs::read_to_string(state.timeout_plan())
        .map_err(RuntimeError::io(format!("cannot read {}", state.timeout_plan().display())))?;
    let plan: TimeoutPlan =
        serde_json::from_str(&text).map_err(|e| RuntimeError::internal(format!("timeout.json: {e}")))?;
    let docker = client::connect(&plan.host)?;
    let timeout = Duration::from_millis(plan.timeout_ms);
    loop {
        let info = match docker.inspect_container(&plan.container, None).await {
            Ok(i) => i,
            Err(e) if client::status_code(&e) == Some(404) => return Ok(()),
            Err(e) => return Err(client::engine_error("inspecting", &plan.container)(e)),
        };
        let st = info.state.unwrap_or_default();
        if st.restarting == Some(true) || matches!(st.status, Some(bollard::models::ContainerStateStatusEnum::CREATED))
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        if st.running != Some(true) {
            return Ok(());
        }
        let started = st
            .started_at
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now);
        let elapsed = (Utc::now() - started).to_std().unwrap_or_default();
        if elapsed >= timeout {
            let reason = format!("timed out after {}", humanize(timeout));
            state.write(&state.timed_out(), &reason)?;
            let opts = StopContainerOptions { t: Some(TIMEOUT_GRACE_SECS), signal: None };
            match docker.stop_container(&plan.container, Some(opts)).await {
                Ok(()) => {}
                Err(e) if matches!(client::status_code(&e), Some(304) | Some(404)) => {}
                Err(e) => return Err(client::engine_error("stopping", &plan.container)(e)),
            }
            return Ok(());
        }
        // Sleep until the deadline, but look again at least every second in
        // case the container restarted (a new attempt, a new deadline).
        tokio::time::sleep((timeout - elapsed).min(Duration::from_secs(1))).await;
    }
}

/// How a duration reads in messages (`1m30s`), as the workload file and the
/// local runtime write it.
pub fn humanize(d: Duration) -> String {
    ferry_spec::Duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_the_file() {
        assert_eq!(humanize(Duration::from_secs(1)), "1s");
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
    }
}
