//! Docker container state → Ferry status (the one mapping table of this
//! runtime; also in the crate docs and the README).

use bollard::models::{ContainerState, ContainerStateStatusEnum};
use ferry_core::Status;

/// What Ferry itself recorded about a container's end (Docker keeps no such
/// facts: labels are fixed at create time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    /// `ferry stop` asked for the stop.
    pub stop_requested: bool,
    /// The timeout supervisor stopped it; holds "timed out after …".
    pub timed_out: Option<String>,
}

/// Map an inspected container state onto Ferry's status.
///
/// `memory_limit` is only used to word the out-of-memory reason.
pub fn map_state(state: &ContainerState, markers: &Markers, memory_limit: Option<i64>) -> Status {
    use ContainerStateStatusEnum as S;
    match state.status {
        Some(S::CREATED) | Some(S::EMPTY) | None => Status::Pending,
        Some(S::RUNNING) if state.paused == Some(true) => Status::Paused,
        Some(S::PAUSED) => Status::Paused,
        Some(S::RUNNING) | Some(S::RESTARTING) | Some(S::STOPPING) => Status::Running,
        Some(S::EXITED) | Some(S::DEAD) | Some(S::REMOVING) => ended(state, markers, memory_limit),
    }
}

fn ended(state: &ContainerState, markers: &Markers, memory_limit: Option<i64>) -> Status {
    let code = state.exit_code.unwrap_or(0) as i32;
    if markers.stop_requested {
        return Status::Cancelled;
    }
    if let Some(reason) = &markers.timed_out {
        return Status::Failed { exit_code: Some(code), reason: reason.clone() };
    }
    if state.oom_killed == Some(true) {
        let limit = memory_limit.filter(|l| *l > 0).map(|b| format!(" (memory limit {b} bytes)")).unwrap_or_default();
        return Status::Failed { exit_code: Some(code), reason: format!("out of memory{limit}") };
    }
    let engine_error = state.error.as_deref().filter(|e| !e.is_empty());
    match (code, engine_error) {
        (_, Some(err)) => {
            Status::Failed { exit_code: Some(if code == 0 { 125 } else { code }), reason: err.to_owned() }
        }
        (0, None) => Status::Succeeded,
        (c, None) if (129..=128 + 64).contains(&c) => {
            Status::Failed { exit_code: Some(c), reason: format!("killed by signal {}", signal_name(c - 128)) }
        }
        (c, None) => Status::Failed { exit_code: Some(c), reason: format!("exited with code {c}") },
    }
}

/// `docker ps` summary state (`running`, `exited` …) and its status text
/// (`Exited (3) 2 seconds ago`) → status, for containers that are still live;
/// `None` when the container ended (inspect it for the exact reason).
pub fn map_summary(state: &str) -> Option<Status> {
    match state {
        "created" => Some(Status::Pending),
        "running" | "restarting" => Some(Status::Running),
        "paused" => Some(Status::Paused),
        _ => None,
    }
}

/// Signal name as the local runtime words it (`SIGKILL`), or the number.
pub fn signal_name(n: i32) -> String {
    ferry_core::status::signal_name(n).map_or_else(|| format!("signal {n}"), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(code: i64) -> ContainerState {
        ContainerState { status: Some(ContainerStateStatusEnum::EXITED), exit_code: Some(code), ..Default::default() }
    }

    #[test]
    fn live_states() {
        let mut s = ContainerState { status: Some(ContainerStateStatusEnum::RUNNING), ..Default::default() };
        assert_eq!(map_state(&s, &Markers::default(), None), Status::Running);
        s.paused = Some(true);
        assert_eq!(map_state(&s, &Markers::default(), None), Status::Paused);
        s.status = Some(ContainerStateStatusEnum::CREATED);
        assert_eq!(map_state(&s, &Markers::default(), None), Status::Pending);
        s.status = Some(ContainerStateStatusEnum::RESTARTING);
        assert_eq!(map_state(&s, &Markers::default(), None), Status::Running);
    }

    #[test]
    fn exits_map_like_the_local_runtime() {
        let m = Markers::default();
        assert_eq!(map_state(&exited(0), &m, None), Status::Succeeded);
        assert_eq!(
            map_state(&exited(3), &m, None),
            Status::Failed { exit_code: Some(3), reason: "exited with code 3".into() }
        );
        assert_eq!(
            map_state(&exited(137), &m, None),
            Status::Failed { exit_code: Some(137), reason: "killed by signal SIGKILL".into() }
        );
        let mut oom = exited(137);
        oom.oom_killed = Some(true);
        assert_eq!(
            map_state(&oom, &m, Some(33554432)),
            Status::Failed { exit_code: Some(137), reason: "out of memory (memory limit 33554432 bytes)".into() }
        );
        let mut bad = exited(127);
        bad.error = Some("exec: \"nope\": executable file not found in $PATH".into());
        assert!(
            matches!(map_state(&bad, &m, None), Status::Failed { exit_code: Some(127), reason } if reason.contains("nope"))
        );
    }

    #[test]
    fn markers_win() {
        let stop = Markers { stop_requested: true, timed_out: None };
        assert_eq!(map_state(&exited(143), &stop, None), Status::Cancelled);
        let to = Markers { stop_requested: false, timed_out: Some("timed out after 1s".into()) };
        assert_eq!(
            map_state(&exited(143), &to, None),
            Status::Failed { exit_code: Some(143), reason: "timed out after 1s".into() }
        );
    }

    #[test]
    fn summaries() {
        assert_eq!(map_summary("running"), Some(Status::Running));
        assert_eq!(map_summary("paused"), Some(Status::Paused));
        assert_eq!(map_summary("exited"), None);
    }
}
