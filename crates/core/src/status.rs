//! The status model every runtime maps its native states onto.
//!
//! ```text
//! Pending ──► Running ──► Succeeded | Failed{exit_code, reason} | Cancelled
//!               ▲  │
//!               │  ▼
//!              Paused
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a workload is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Status {
    /// Accepted by the runtime, not yet running (queued, pulling, scheduling).
    Pending,
    Running,
    /// Frozen; resumes where it stopped.
    Paused,
    /// Finished with exit code 0.
    Succeeded,
    /// Finished unsuccessfully. `exit_code` is absent when the runtime lost it
    /// (node failure, monitor killed); `reason` says why in the runtime's words.
    Failed {
        exit_code: Option<i32>,
        reason: String,
    },
    /// Stopped on request before it finished.
    Cancelled,
}

impl Status {
    /// Finished for good: no further transition is possible.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed { .. } | Status::Cancelled)
    }

    /// Still holds resources (pending, running or paused).
    pub fn is_live(&self) -> bool {
        !self.is_terminal()
    }

    /// Whether a stop request means anything: the workload still holds resources.
    pub fn can_stop(&self) -> bool {
        self.is_live()
    }

    /// Whether the workload can be frozen: a running one, or a queued one
    /// (Slurm holds a pending job; runtimes that cannot say so themselves).
    pub fn can_pause(&self) -> bool {
        matches!(self, Status::Pending | Status::Running)
    }

    /// Whether the workload can be thawed: only a paused one.
    pub fn can_resume(&self) -> bool {
        matches!(self, Status::Paused)
    }

    /// Whether its record may be removed: once it ended, or with `force`
    /// (which stops it first).
    pub fn can_remove(&self, force: bool) -> bool {
        self.is_terminal() || force
    }

    /// Short lowercase word, as shown in `ferry ps`.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Succeeded => "succeeded",
            Status::Failed { .. } => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    /// The exit code a CLI should itself exit with once this workload ended.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Status::Succeeded => Some(0),
            Status::Failed { exit_code, .. } => Some(exit_code.unwrap_or(1)),
            Status::Cancelled => Some(130),
            _ => None,
        }
    }
}

/// The name of a Linux signal number for failure reasons (`SIGKILL`), for
/// runtimes that only report the number (Docker, Slurm); `None` for the rare
/// ones, which callers word themselves.
pub fn signal_name(n: i32) -> Option<&'static str> {
    Some(match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Failed { exit_code: Some(c), reason } if !reason.is_empty() => {
                write!(f, "failed (exit {c}: {reason})")
            }
            Status::Failed { exit_code: Some(c), .. } => write!(f, "failed (exit {c})"),
            Status::Failed { exit_code: None, reason } => write!(f, "failed ({reason})"),
            other => f.write_str(other.word()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_have_exit_codes() {
        assert_eq!(Status::Succeeded.exit_code(), Some(0));
        let oom = Status::Failed { exit_code: Some(137), reason: "oom-killed".into() };
        assert_eq!(oom.exit_code(), Some(137));
        assert_eq!(oom.to_string(), "failed (exit 137: oom-killed)");
        assert_eq!(Status::Running.exit_code(), None);
        assert!(Status::Paused.is_live());
        assert!(Status::Cancelled.is_terminal());
    }

    #[test]
    fn guards_follow_the_state_diagram() {
        let ended =
            [Status::Succeeded, Status::Cancelled, Status::Failed { exit_code: Some(1), reason: String::new() }];
        for s in &ended {
            assert!(!s.can_stop() && !s.can_pause() && !s.can_resume(), "{s}");
            assert!(s.can_remove(false), "{s}");
        }
        for s in [Status::Pending, Status::Running, Status::Paused] {
            assert!(s.can_stop() && !s.can_remove(false) && s.can_remove(true), "{s}");
        }
        assert!(Status::Running.can_pause() && Status::Pending.can_pause() && !Status::Paused.can_pause());
        assert!(Status::Paused.can_resume() && !Status::Running.can_resume());
    }

    #[test]
    fn status_round_trips_through_json() {
        let s = Status::Failed { exit_code: None, reason: "monitor lost".into() };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, r#"{"state":"failed","exit_code":null,"reason":"monitor lost"}"#);
        assert_eq!(serde_json::from_str::<Status>(&j).unwrap(), s);
    }
}
