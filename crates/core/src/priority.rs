//! CPU priority of Ferry's background threads (opening the store, a
//! monitor's warm-up and clean-up): work with time to spare gives the CPU
//! to a start's path.

/// Set the nice value of thread `tid` of this process (0: the calling
/// thread). Linux applies it to that one thread, not to the whole process.
/// Best effort: a thread that keeps its priority only runs less politely.
pub fn set_thread_nice(tid: libc::id_t, nice: i32) {
    // SAFETY: setpriority on a thread of ours; no pointers.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of(tid: libc::id_t) -> i32 {
        // SAFETY: getpriority on a thread of ours; no pointers.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) }
    }

    fn gettid() -> libc::id_t {
        // SAFETY: gettid has no arguments.
        unsafe { libc::gettid() as libc::id_t }
    }

    #[test]
    fn only_the_named_thread_changes() {
        let before = nice_of(0);
        let own = std::thread::spawn(|| {
            set_thread_nice(0, 10);
            nice_of(0)
        });
        assert_eq!(own.join().unwrap(), 10, "the calling thread, named by 0");
        assert_eq!(nice_of(0), before, "another thread keeps its value");

        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let named = std::thread::spawn(move || {
            tid_tx.send(gettid()).unwrap();
            go_rx.recv().unwrap();
            nice_of(0)
        });
        set_thread_nice(tid_rx.recv().unwrap(), 19);
        go_tx.send(()).unwrap();
        assert_eq!(named.join().unwrap(), 19, "a thread named by its id");
        assert_eq!(nice_of(0), before, "the caller keeps its value");
    }
}
