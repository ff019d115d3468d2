//! Following a workload's log while its monitor writes it (`ferry logs -f`,
//! attached `ferry run`). The follower sleeps on inotify events of the
//! workload's directory (the log grows, `state.json` is replaced), so a line
//! or the end reaches the user as soon as it is written; a slow poll remains
//! for what inotify cannot report (a monitor that died) and for file systems
//! without inotify.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;
use std::time::Duration;

use ferry_core::LogStream;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;

use crate::logfile::LogReader;

/// Longest sleep between two looks when no event comes.
pub const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// The sleep where inotify is unavailable.
const FALLBACK_POLL: Duration = Duration::from_millis(10);

/// Stream the records of `reader`, then new ones as they come, until
/// `ended()` says the writer is done and the rest has been read. `dir` is
/// the directory whose changes mean "look again".
pub fn follow(reader: LogReader, dir: &Path, ended: impl Fn() -> bool + Send + 'static) -> LogStream {
    let watch = DirWatch::new(dir).map_err(|e| tracing::debug!("inotify on {}: {e}; polling", dir.display())).ok();
    let state = Follower { reader, watch, ended };
    Box::pin(futures::stream::unfold(Some(state), |state| async move {
        let mut f = state?;
        loop {
            match f.reader.next_available() {
                Ok(Some(line)) => return Some((Ok(line), Some(f))),
                Err(e) => return Some((Err(e), None)),
                Ok(None) => {}
            }
            if (f.ended)() {
                // One last read: lines written just before the end was recorded.
                return match f.reader.next_available() {
                    Ok(Some(line)) => Some((Ok(line), Some(f))),
                    _ => None,
                };
            }
            match &f.watch {
                Some(w) => w.changed(FOLLOW_POLL).await,
                None => tokio::time::sleep(FALLBACK_POLL).await,
            }
        }
    }))
}

struct Follower<F> {
    reader: LogReader,
    watch: Option<DirWatch>,
    ended: F,
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
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CREATE | AddWatchFlags::IN_DELETE_SELF,
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
                tokio::time::sleep(Duration::from_millis(30)).await;
                writer.record(LogSource::Stderr, b"after", true).unwrap();
                done.store(true, Ordering::SeqCst);
            }
        });
        assert_eq!(stream.next().await.unwrap().unwrap().text, b"after");
        assert!(stream.next().await.is_none(), "the stream ends once the writer is done");
        late.await.unwrap();
    }
}
