//! Child reaping for a monitor that is a child subreaper: one thread waits
//! for every child (its own and orphans re-parented to it) and keeps how each
//! ended, so the monitor can wait for one pid with a timeout.
//!
//! While the monitor has no child at all the thread sleeps until
//! [`Reaper::spawned`] says one exists, so an exit is seen the moment it
//! happens instead of at the next poll.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// Exits kept for pids nobody waited for yet (orphans mostly); older ones are
/// dropped so a workload that orphans many processes does not grow the monitor.
const KEEP_EXITS: usize = 256;

#[derive(Default)]
pub struct Reaper {
    inner: Mutex<Inner>,
    changed: Condvar,
}

#[derive(Default)]
struct Inner {
    exits: VecDeque<(i32, WaitStatus)>,
    /// Bumped by `spawned`; the thread compares it to what it last saw.
    spawns: u64,
}

impl Reaper {
    /// The reaper of this process, started on first use (a process has
    /// children for one reaper only). A pre-forked monitor starts it while it
    /// waits for its workload.
    pub fn of_process() -> Arc<Reaper> {
        static REAPER: OnceLock<Arc<Reaper>> = OnceLock::new();
        REAPER.get_or_init(Reaper::start).clone()
    }

    /// Start a reaping thread.
    pub fn start() -> Arc<Reaper> {
        let reaper = Arc::new(Reaper::default());
        let r = reaper.clone();
        thread::spawn(move || r.reap_forever());
        reaper
    }

    /// A child was just started: wake the thread if it sleeps for lack of one.
    pub fn spawned(&self) {
        self.lock().spawns += 1;
        self.changed.notify_all();
    }

    /// Wait up to `timeout` for `pid` to end.
    pub fn wait(&self, pid: i32, timeout: Duration) -> Option<WaitStatus> {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        loop {
            if let Some(i) = inner.exits.iter().position(|(p, _)| *p == pid) {
                return inner.exits.remove(i).map(|(_, ws)| ws);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            inner = self.changed.wait_timeout(inner, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reap_forever(&self) {
        let mut seen_spawns = 0;
        loop {
            match waitpid(Pid::from_raw(-1), None) {
                Ok(ws) => {
                    let Some(pid) = ws.pid() else { continue };
                    let mut inner = self.lock();
                    if inner.exits.len() == KEEP_EXITS {
                        inner.exits.pop_front();
                    }
                    inner.exits.push_back((pid.as_raw(), ws));
                    drop(inner);
                    self.changed.notify_all();
                }
                Err(Errno::EINTR) => {}
                Err(Errno::ECHILD) => {
                    let mut inner = self.lock();
                    while inner.spawns == seen_spawns {
                        inner = self.changed.wait(inner).unwrap_or_else(|p| p.into_inner());
                    }
                    seen_spawns = inner.spawns;
                }
                Err(e) => {
                    tracing::warn!("waitpid: {e}");
                    thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The reaper waits for any child, so it must not share a process with
    /// other tests' children: the test re-runs itself alone in a new process.
    #[test]
    fn sees_an_exit_started_after_it_went_to_sleep() {
        if std::env::var_os("FERRY_REAPER_TEST_CHILD").is_none() {
            let out = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "reaper::tests::sees_an_exit_started_after_it_went_to_sleep", "--nocapture"])
                .env("FERRY_REAPER_TEST_CHILD", "1")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("1 passed"),
                "{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let reaper = Reaper::start();
        thread::sleep(Duration::from_millis(20)); // the thread found no child and sleeps
        #[allow(clippy::zombie_processes)] // the reaper under test waits for it
        let child = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
        reaper.spawned();
        let ws = reaper.wait(child.id() as i32, Duration::from_secs(10));
        assert!(matches!(ws, Some(WaitStatus::Exited(_, 7))), "{ws:?}");
        assert_eq!(reaper.wait(child.id() as i32, Duration::from_millis(1)), None, "an exit is handed out once");
    }
}
