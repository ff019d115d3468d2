//! Waiting out other processes' transactions: SQLite's busy handler, tuned
//! for Ferry's sub-millisecond transactions, and a retry loop for the few
//! statements that do not go through it.
//!
//! Everything here sleeps the calling thread (up to [`BUSY_TIMEOUT`]), which
//! is why the engine can run store calls off an async runtime's workers.

use std::time::{Duration, Instant};

use rusqlite::ErrorCode;

/// How long a writer waits for another process's transaction to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}
/// How long to wait, on the `retries`-th time SQLite finds the database
/// locked, before it tries again; `None` once [`BUSY_TIMEOUT`] is spent.
/// SQLite's own handler sleeps 1 ms at first, then 2, 5, 10 …: long next to
/// Ferry's transactions, which take a fraction of a millisecond, so a
/// monitor recording an end and the CLI reading it would lose a millisecond
/// to every collision. Poll every 100 µs for the first 10 ms instead, then
/// every millisecond.
fn busy_wait(retries: i32) -> Option<Duration> {
    const FAST_RETRIES: i32 = 100;
    const FAST: Duration = Duration::from_micros(100);
    const SLOW: Duration = Duration::from_millis(1);
    let fast_total = FAST * FAST_RETRIES as u32;
    let slow_retries = ((BUSY_TIMEOUT - fast_total).as_millis() / SLOW.as_millis()) as i32;
    match retries {
        r if r < FAST_RETRIES => Some(FAST),
        r if r < FAST_RETRIES + slow_retries => Some(SLOW),
        _ => None,
    }
}

/// SQLite's busy handler: sleep as [`busy_wait`] says, then retry.
pub(super) fn wait_while_busy(retries: i32) -> bool {
    busy_wait(retries).map(std::thread::sleep).is_some()
}

/// Run `f` again while SQLite reports the database busy, up to [`BUSY_TIMEOUT`].
pub(super) fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(e) if is_busy(&e) && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_database_is_polled_quickly_then_slowly_for_the_whole_timeout() {
        assert_eq!(busy_wait(0), Some(Duration::from_micros(100)));
        let waits: Vec<Duration> = (0..).map_while(busy_wait).collect();
        assert_eq!(waits.iter().sum::<Duration>(), BUSY_TIMEOUT);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "never waits less than before");
        assert_eq!(waits.last(), Some(&Duration::from_millis(1)));
    }
}
