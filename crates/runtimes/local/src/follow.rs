//! Following a workload's log while its monitor writes it (`ferry logs -f`,
//! attached `ferry run`).
//!
//! For its first [`INOTIFY_AFTER`] the follower polls, 1 ms apart at first,
//! so a short workload's end is seen at once. After that it sleeps on inotify
//! events of the workload's directory (the log grows, `state.json` is
//! replaced), with a slow poll as a safety net for what inotify cannot report
//! (a monitor that died). Not inotify from the start: closing an inotify
//! descriptor waits for an SRCU grace period (0–16 ms measured here), which
//! would be most of a short `ferry run`.
//!
//! When this process launched the workload through the pre-forked monitor,
//! the monitor also signals the recorded end on a pipe
//! ([`crate::launcher::take_end_signal`]; it also closes if the monitor
//! dies): the follower wakes at once then, and until then only reads the log,
//! asking whether the workload ended only every [`FOLLOW_POLL`].

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferry_core::{LogOptions, LogStream, RuntimeError, Status};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;

use serde::de::DeserializeOwned;

use crate::logfile::LogReader;
use crate::state::{read_json, WorkloadFiles};

/// How long to poll before watching with inotify.
pub const INOTIFY_AFTER: Duration = Duration::from_millis(500);
/// Longest sleep between two looks when inotify reports nothing.
pub const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// Polls 1 ms apart before backing off to [`MAX_POLL`].
const FAST_POLLS: u32 = 30;
/// Longest sleep between two polls (without inotify).
const MAX_POLL: Duration = Duration::from_millis(4);

/// A monitored workload's log (`ferry logs`, attached runs): the last
/// `opts.tail` records, then, with `opts.follow`, new ones until the monitor
/// has recorded the end (or died). `status` picks the status out of the
/// runtime's state type.
pub fn workload_log<S, D>(
    dir: D,
    opts: LogOptions,
    status: fn(&mut S) -> &mut Status,
) -> Result<LogStream, RuntimeError>
where
    S: DeserializeOwned + 'static,
    D: WorkloadFiles + Send + 'static,
{
    let mut reader = LogReader::new(dir.log());
    let history = reader.tail(opts.tail.unwrap_or(usize::MAX))?;
    let history = futures::stream::iter(history.into_iter().map(Ok));
    if !opts.follow {
        return Ok(Box::pin(history));
    }
    let path = dir.dir().to_path_buf();
    let ended = move || match read_json::<S>(&dir.state()) {
        Ok(mut st) => status(&mut st).is_terminal() || !crate::launcher::monitor_alive(&dir),
        Err(_) => true,
    };
    Ok(Box::pin(futures::StreamExt::chain(history, follow(reader, &path, ended))))
}

/// Stream the records of `reader`, then new ones as they come, until
/// `ended()` says the writer is done and the rest has been read. `dir` is
/// the directory whose changes mean "look again".
pub fn follow(reader: LogReader, dir: &Path, ended: impl Fn() -> bool + Send + 'static) -> LogStream {
    // SAFETY: the fd is owned by the `OwnedFd` moved into the `AsyncFd`, so it
    // stays open, and the same, for as long as the `AsyncFd` lives.
    let end = crate::launcher::take_end_signal(dir).and_then(|fd| unsafe { AsyncFd::register(fd) }.ok());
    let state = Follower {
        reader,
        dir: dir.to_path_buf(),
        started: Instant::now(),
        idle_polls: 0,
        watch: Watch::NotYet,
        end,
        ended,
        last_check: Instant::now(),
    };
    Box::pin(futures::stream::unfold(Some(state), |state| async move {
        let mut f = state?;
        loop {
            match f.reader.next_available() {
                Ok(Some(line)) => {
                    f.idle_polls = 0;
                    return Some((Ok(line), Some(f)));
                }
                Err(e) => return Some((Err(e), None)),
                Ok(None) => {}
            }
            if f.may_have_ended() && (f.ended)() {
                // One last read: lines written just before the end was recorded.
                return match f.reader.next_available() {
                    Ok(Some(line)) => Some((Ok(line), Some(f))),
                    _ => None,
                };
            }
            f.wait().await;
        }
    }))
}

struct Follower<F> {
    reader: LogReader,
    dir: PathBuf,
    started: Instant,
    idle_polls: u32,
    watch: Watch,
    /// Readable (end of file) once the monitor recorded the end (or died).
    end: Option<AsyncFd<OwnedFd>>,
    ended: F,
    /// When `ended()` was last asked.
    last_check: Instant,
}

enum Watch {
    NotYet,
    Inotify(DirWatch),
    Unavailable,
}

impl<F> Follower<F> {
    /// Whether to ask `ended()` (it reads the state file and checks the
    /// monitor: a tenth of a millisecond of CPU that a starting workload
    /// would rather have). With the monitor's end signal, only once that
    /// fired, or as a slow safety net; without it, every time.
    fn may_have_ended(&mut self) -> bool {
        if self.end.is_none() || self.last_check.elapsed() >= FOLLOW_POLL {
            self.last_check = Instant::now();
            return true;
        }
        false
    }

    /// Sleep until something may have changed. The caller looks again after
    /// every return, so a watch set up here misses nothing.
    async fn wait(&mut self) {
        if matches!(self.watch, Watch::NotYet) && self.started.elapsed() >= INOTIFY_AFTER {
            self.watch = match DirWatch::new(&self.dir) {
                Ok(w) => Watch::Inotify(w),
                Err(e) => {
                    tracing::debug!("inotify on {}: {e}; polling", self.dir.display());
                    Watch::Unavailable
                }
            };
            return;
        }
        // 1 ms while a short workload may be ending (unless the monitor will
        // say so), then back off.
        let fast = self.idle_polls < FAST_POLLS && self.end.is_none();
        self.idle_polls += 1;
        let nap = async {
            match &self.watch {
                Watch::Inotify(w) => w.changed(FOLLOW_POLL).await,
                Watch::NotYet | Watch::Unavailable => {
                    tokio::time::sleep(if fast { Duration::from_millis(1) } else { MAX_POLL }).await
                }
            }
        };
        let Some(end) = &self.end else { return nap.await };
        let signalled = tokio::select! {
            _ = nap => false,
            _ = end.readable() => true,
        };
        if signalled {
            // It stays readable: one wake-up is all it gives.
            self.end = None;
        }
    }
}

/// An inotify watch on one directory, readable from async code.
struct DirWatch(AsyncFd<InotifyFd>);

struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl DirWatch {
    fn new(dir: &Path) -> std::io::Result<Self> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        inotify.add_watch(
            dir,
            AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE_SELF,
        )?;
        // SAFETY: the fd belongs to the `Inotify` moved into the `AsyncFd`, so
        // it stays open, and the same, for as long as the `AsyncFd` lives.
        let fd = unsafe { AsyncFd::register(InotifyFd(inotify)) }.map_err(|e| e.into_parts().1)?;
        Ok(DirWatch(fd))
    }

    /// Return once something in the directory changed (events are consumed),
    /// or after `max`.
    async fn changed(&self, max: Duration) {
        let wait = async {
            loop {
                let Ok(mut guard) = self.0.readable().await else { return };
                match guard.get_inner().0.read_events() {
                    Ok(_) => return,
                    Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
                    Err(e) => {
                        tracing::debug!("inotify read: {e}");
                        return;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(max, wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logfile::LogWriter;
    use ferry_core::LogSource;
    use futures::StreamExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn sees_lines_and_the_end_as_they_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        let writer = LogWriter::open(&path).unwrap();
        writer.record(LogSource::Stdout, b"before", true).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let ended = {
            let done = done.clone();
            move || done.load(Ordering::SeqCst)
        };
        let mut stream = follow(LogReader::new(path), dir.path(), ended);
        assert_eq!(stream.next().await.unwrap().unwrap().text, b"before");
        let late = tokio::spawn({
            let done = done.clone();
            async move {
                // Past the polling phase: the line is seen through inotify.
                tokio::time::sleep(INOTIFY_AFTER + Duration::from_millis(100)).await;
                writer.record(LogSource::Stderr, b"after", true).unwrap();
                done.store(true, Ordering::SeqCst);
            }
        });
        assert_eq!(stream.next().await.unwrap().unwrap().text, b"after");
        assert!(stream.next().await.is_none(), "the stream ends once the writer is done");
        late.await.unwrap();
    }
}
