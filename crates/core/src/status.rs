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
    fn status_round_trips_through_json() {
        let s = Status::Failed { exit_code: None, reason: "monitor lost".into() };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, r#"{"state":"failed","exit_code":null,"reason":"monitor lost"}"#);
        assert_eq!(serde_json::from_str::<Status>(&j).unwrap(), s);
    }
}
