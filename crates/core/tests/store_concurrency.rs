//! The state store under concurrent writers: several connections in one
//! process, and several real processes (this test binary re-executed as
//! children), all working on one file at once. Nothing may be lost, nothing
//! may be corrupted, and the unique-live-name rule must hold across them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};

use chrono::Utc;
use ferry_core::store::{Store, StoreError};
use ferry_core::Status;

/// Set (to the database path) in a child process: play the child's role.
const CHILD_ENV: &str = "FERRY_STORE_CHILD";
/// Which child this is, to keep names distinct.
const CHILD_TAG_ENV: &str = "FERRY_STORE_CHILD_TAG";

const CHILDREN: usize = 3;
const PER_CHILD: usize = 150;
/// Names every child tries to take; exactly one process may win each.
const SHARED_NAMES: usize = 20;

use common::new_workload as new;

/// Insert `count` workloads named `<prefix>-<i>`, each going
/// running → paused → succeeded (4 events with the initial pending).
fn hammer(store: &Store, prefix: &str, count: usize) {
    for i in 0..count {
        let w = new(&format!("{prefix}-{i}"));
        store.insert(&w).expect("insert");
        for status in [Status::Running, Status::Paused, Status::Succeeded] {
            assert!(store.record_status(&w.id, &status, Utc::now()).expect("record_status"));
        }
        // Readers run between writers too.
        if i % 25 == 0 {
            store.list(false).expect("list");
            store.find(&w.name).expect("find");
        }
    }
}

fn count(path: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open for counting");
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

fn integrity(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("open for integrity check");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check")
}

#[test]
fn threads_with_their_own_connections_lose_nothing() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 200;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (path, start) = (path.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait(); // open at the same moment too: a brand-new file, migrated once
                let store = Store::open(&path).expect("open");
                hammer(&store, &format!("thread{t}"), PER_THREAD);
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker thread panicked");
    }
    let total = (THREADS * PER_THREAD) as i64;
    assert_eq!(count(&path, "SELECT COUNT(*) FROM workloads"), total);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM status_events"), total * 4);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM workloads WHERE live = 1"), 0);
    assert_eq!(integrity(&path), "ok");
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.list(true).expect("list").len(), total as usize);
    store.integrity_check().expect("integrity");
}

#[test]
fn concurrent_inserts_of_one_live_name_have_one_winner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    drop(Store::open(&path).expect("create"));
    for round in 0..25 {
        let name = format!("race-{round}");
        let start = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (path, start, name) = (path.clone(), start.clone(), name.clone());
                std::thread::spawn(move || {
                    let store = Store::open(&path).expect("open");
                    start.wait();
                    store.insert(&new(&name))
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|r| r.join().expect("racer panicked")).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(
            results.iter().any(|r| matches!(r, Err(StoreError::NameInUse { name: n, .. }) if *n == name)),
            "round {round}: {results:?}"
        );
    }
    assert_eq!(count(&path, "SELECT COUNT(*) FROM workloads"), 25);
}

/// The child role: does nothing unless the parent test set [`CHILD_ENV`].
#[test]
fn child_hammer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let tag = std::env::var(CHILD_TAG_ENV).expect("child tag");
    let store = Store::open(Path::new(&path)).expect("child open");
    // Interleave the contested names with the private ones.
    for i in 0..PER_CHILD {
        let w = new(&format!("proc{tag}-{i}"));
        store.insert(&w).expect("insert");
        for status in [Status::Running, Status::Paused, Status::Succeeded] {
            assert!(store.record_status(&w.id, &status, Utc::now()).expect("record_status"));
        }
        if i % (PER_CHILD / SHARED_NAMES) == 0 && i / (PER_CHILD / SHARED_NAMES) < SHARED_NAMES {
            let shared = format!("shared-{}", i / (PER_CHILD / SHARED_NAMES));
            match store.insert(&new(&shared)) {
                Ok(()) | Err(StoreError::NameInUse { .. }) => {}
                Err(e) => panic!("shared insert {shared}: {e}"),
            }
        }
        if i % 30 == 0 {
            store.list(true).expect("list");
        }
    }
}

#[test]
fn processes_hammering_one_file_lose_nothing() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // we are a child; only `child_hammer` runs here
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("state.db");
    let exe = std::env::current_exe().expect("test binary path");
    let children: Vec<_> = (0..CHILDREN)
        .map(|i| {
            Command::new(&exe)
                .args(["child_hammer", "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, &path)
                .env(CHILD_TAG_ENV, i.to_string())
                .output_spawn()
        })
        .collect();
    // The parent reads while the children write.
    let mut reads = 0;
    while children.iter().any(|c| c.running()) {
        let store = Store::open(&path).expect("parent open during writes");
        store.list(true).expect("parent list during writes");
        reads += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child {i} failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("1 passed"), "child {i} did not run child_hammer:\n{stdout}");
    }
    let private = (CHILDREN * PER_CHILD) as i64;
    assert_eq!(count(&path, "SELECT COUNT(*) FROM workloads WHERE name LIKE 'proc%'"), private);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM workloads WHERE name LIKE 'shared-%'"), SHARED_NAMES as i64);
    assert_eq!(
        count(&path, "SELECT COUNT(DISTINCT name) FROM workloads WHERE name LIKE 'shared-%'"),
        SHARED_NAMES as i64
    );
    assert_eq!(count(&path, "SELECT COUNT(*) FROM status_events"), private * 4 + SHARED_NAMES as i64);
    assert_eq!(integrity(&path), "ok");
    assert!(reads > 0, "the parent never managed to read");
}

/// A child process whose output is collected on a thread, so a chatty child
/// cannot block on a full pipe while the parent polls.
struct Child {
    done: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<std::process::Output>,
}

impl Child {
    fn running(&self) -> bool {
        !self.done.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn wait(self) -> std::process::Output {
        self.thread.join().expect("child reader thread panicked")
    }
}

trait OutputSpawn {
    fn output_spawn(&mut self) -> Child;
}

impl OutputSpawn for Command {
    fn output_spawn(&mut self) -> Child {
        let child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn child test process");
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            let out = child.wait_with_output().expect("wait for child");
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            out
        });
        Child { done, thread }
    }
}
