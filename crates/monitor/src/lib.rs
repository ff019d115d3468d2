//! The per-workload monitors of the local and OCI runtimes, run as
//! `ferry-monitor local|oci DIR` (or, where that binary was not built, as
//! `ferry __monitor DIR` / `ferry __oci-monitor DIR`). Besides the runtime's
//! own state files they record every status change in Ferry's store, so
//! nothing depends on the CLI still running.
//!
//! `ferry run` usually needs neither: it forks its monitor before it does
//! anything else (see `ferry_local::launcher`) and the copy calls
//! [`local_main`] / [`oci_main`] directly. `ferry-monitor` (built from
//! `crates/cli/src/bin/`) is a binary of its own because an exec'd monitor
//! starts on the critical path: without the CLI's dependencies it loads in
//! about half the time.

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use ferry_core::store::Store;
use ferry_core::{Status, WorkloadId};

/// Run the monitor of `kind` (`local` or `oci`, as `MonitorCommand::kind`
/// names it) on `dir`; `None` for a kind there is no monitor of.
pub fn main_for(kind: &str, dir: &Path) -> Option<ExitCode> {
    match kind {
        "local" => Some(local_main(dir)),
        "oci" => Some(oci_main(dir)),
        _ => None,
    }
}

/// What a pre-forked monitor does while it waits for its workload: warm the
/// cgroup migration lock for a container runtime (see
/// `ferry_oci::cgroup::prime_migration`) and start the reaper thread, so
/// neither delays the workload's start. (Not the store connection: opening
/// it while the CLI opens its own would make one wait for the other's WAL
/// recovery.)
pub fn warm_up() {
    ferry_local::reaper::Reaper::of_process();
    // The priming has time to spare; the CLI preparing the workload has
    // not: nice 10 for this thread (the reaper's, started above, keeps the
    // normal priority, as it reports the workload's end).
    ferry_core::priority::set_thread_nice(0, 10);
    ferry_oci::cgroup::prime_migration();
}

pub fn local_main(dir: &Path) -> ExitCode {
    let recorder = StoreRecorder::new();
    let result = ferry_local::monitor::run(dir, &mut |plan, st| {
        recorder.record(&plan.workload_id, &st.status, st.finished_at.or(st.started_at))
    });
    finish("ferry monitor", recorder, result.map(drop))
}

pub fn oci_main(dir: &Path) -> ExitCode {
    let recorder = StoreRecorder::new();
    let result = ferry_oci::monitor::run(dir, &mut |plan, st| {
        recorder.record(&plan.workload_id, &st.status, st.finished_at.or(st.started_at))
    });
    finish("ferry oci monitor", recorder, result.map(drop))
}

fn finish(who: &str, recorder: StoreRecorder, result: Result<(), ferry_core::RuntimeError>) -> ExitCode {
    recorder.finish();
    lower_priority_of_process();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{who}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Lower every thread of this process to the lowest CPU priority (nice 19)
/// before the monitor exits: the last thread to end tears down the address
/// space (half a millisecond here), and at normal priority that delays the
/// next `ferry run`. `setpriority` changes one thread at a time, and the
/// reaper's thread still has the normal one.
fn lower_priority_of_process() {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return };
    for tid in tasks.flatten().filter_map(|t| t.file_name().to_str()?.parse::<libc::id_t>().ok()) {
        ferry_core::priority::set_thread_nice(tid, 19);
    }
}

/// A status change for the store: workload id, status, when.
type StatusRecord = (String, Status, DateTime<Utc>);

/// Writes status changes to the store from a thread of its own, in order.
/// Opening SQLite and committing then happen while the workload runs, not
/// between its end and the monitor noticing it; the runtime's state file,
/// written first, stays the source of truth meanwhile.
struct StoreRecorder {
    /// Started at the first status, not before: while the runtime starts the
    /// workload, neither the thread's start nor the store's opening delays
    /// it (the CLI holds the store open then, so opening it is cheap).
    writer: std::cell::OnceCell<(mpsc::Sender<StatusRecord>, JoinHandle<()>)>,
}

impl StoreRecorder {
    fn new() -> Self {
        StoreRecorder { writer: std::cell::OnceCell::new() }
    }

    fn spawn_writer() -> (mpsc::Sender<StatusRecord>, JoinHandle<()>) {
        let who = "ferry monitor";
        let (tx, rx) = mpsc::channel::<StatusRecord>();
        let thread = std::thread::spawn(move || {
            let store = match Store::open(&Store::default_path()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{who}: state store unavailable, recording in the workload's directory only: {e}");
                    return;
                }
            };
            for (id, status, at) in rx {
                let Ok(id) = id.parse::<WorkloadId>() else { continue };
                if let Err(e) = store.record_status(&id, &status, at) {
                    eprintln!("{who}: cannot record status of {id}: {e}");
                }
            }
            // The monitor is done: keep the log the next command reads back
            // short, at the lowest CPU priority (this thread only).
            ferry_core::priority::set_thread_nice(0, 19);
            if let Err(e) = store.checkpoint_if_long() {
                eprintln!("{who}: cannot checkpoint the state store: {e}");
            }
        });
        (tx, thread)
    }

    /// Record a status the runtime's state file already holds; once it is
    /// the end, also tell the CLI that launched a pre-forked monitor.
    fn record(&self, workload_id: &str, status: &Status, at: Option<DateTime<Utc>>) {
        let (tx, _) = self.writer.get_or_init(StoreRecorder::spawn_writer);
        let _ = tx.send((workload_id.to_string(), status.clone(), at.unwrap_or_else(Utc::now)));
        if status.is_terminal() {
            ferry_local::launcher::end_recorded();
        }
    }

    /// Wait until everything sent is written.
    fn finish(self) {
        if let Some((tx, thread)) = self.writer.into_inner() {
            drop(tx);
            let _ = thread.join();
        }
    }
}
