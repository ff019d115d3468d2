//! The kind of a failure, kept through every layer (runtime, store, engine)
//! so that each protocol maps it once: a server to HTTP status codes, a CRI
//! server to gRPC codes, the CLI to its exit codes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure an error is; each error type of Ferry's libraries
/// answers `kind()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No such workload, context or runtime object.
    NotFound,
    /// Not possible in the current state: a live workload, a name in use, a
    /// workload still starting.
    Conflict,
    /// The runtime cannot do this at all (its capabilities say so).
    Unsupported,
    /// The request or workload is wrong: fix the input.
    Invalid,
    /// A service Ferry needs cannot be reached or used now (daemon down, no
    /// network, store locked); the same request may work later.
    Unavailable,
    /// Anything else: a bug, a damaged file, an error Ferry cannot classify.
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind of an I/O error: failures to reach something are
    /// `Unavailable`, the rest `Internal` (a missing file of Ferry's own is
    /// not a missing workload).
    pub fn of_io(e: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as Io;
        match e.kind() {
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::NotConnected
            | Io::TimedOut
            | Io::BrokenPipe
            | Io::AddrNotAvailable => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
