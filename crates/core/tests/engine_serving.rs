//! The engine as a server uses it: one `Arc<Engine>` shared by tasks that
//! `tokio::spawn` moves between the worker threads of a multi-thread
//! runtime, with store calls on the blocking pool. Only the store is real
//! here (no runtime is needed by what these calls do); the runtimes'
//! lifecycle is held by the conformance suite.

mod common;

use std::sync::Arc;

use chrono::Utc;
use ferry_core::context::{Context, ContextStore};
use ferry_core::engine::{Engine, EngineError, StoreSource};
use ferry_core::store::Store;
use ferry_core::{ErrorKind, RuntimeError, RuntimeKind, Status};

use common::new_workload as new;

fn engine(dir: &std::path::Path) -> (Arc<Engine>, Store) {
    let store = Store::open(&dir.join("state.db")).expect("open the store");
    let engine = Engine::new(
        StoreSource::Open(store.clone()),
        Context::builtin_default(),
        ContextStore::open(dir.join("contexts")),
        Box::new(|ctx| Err(RuntimeError::Unavailable(format!("no runtime is built for context {}", ctx.name)))),
    );
    (Arc::new(engine), store)
}

#[test]
fn spawned_tasks_share_one_engine_and_errors_keep_their_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = engine(dir.path());
    let mut finished = Vec::new();
    for i in 0..16 {
        let w = new(&format!("done-{i}"));
        store.insert(&w).expect("insert");
        store.record_status(&w.id, &Status::Succeeded, Utc::now()).expect("record");
        finished.push(w);
    }
    let live = new("live");
    store.insert(&live).expect("insert");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let tasks: Vec<_> = finished
            .iter()
            .map(|w| {
                let (engine, name) = (engine.clone(), w.name.clone());
                tokio::spawn(async move { engine.find(&name).await })
            })
            .collect();
        for (task, w) in tasks.into_iter().zip(&finished) {
            let rec = task.await.expect("task").expect("found");
            assert_eq!((rec.id, rec.status), (w.id.clone(), Status::Succeeded));
        }

        let e = engine.clone();
        let missing = tokio::spawn(async move { e.find("no-such-workload").await }).await.expect("task");
        assert_eq!(missing.expect_err("not found").kind(), ErrorKind::NotFound);

        // The lifecycle rule is the engine's: a live workload is not removed without force.
        let e = engine.clone();
        let refused = tokio::spawn(async move { e.remove("live", false).await }).await.expect("task");
        match refused {
            Err(err @ EngineError::Live { .. }) => assert_eq!(err.kind(), ErrorKind::Conflict),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(store.get(&live.id).expect("still recorded").status, Status::Pending);

        let e = engine.clone();
        let removed = tokio::spawn(async move { e.remove("done-3", false).await }).await.expect("task");
        assert_eq!(removed.expect("removed").id, finished[3].id);
        assert!(store.get(&finished[3].id).is_err(), "the record is gone");

        // A workload that never started cannot be paused: a conflict, not a crash.
        let e = engine.clone();
        let never = tokio::spawn(async move { e.pause("live").await }).await.expect("task");
        assert_eq!(never.expect_err("refused").kind(), ErrorKind::Conflict);
    });
}

#[test]
fn the_name_rule_is_a_conflict_through_the_layers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_engine, store) = engine(dir.path());
    store.insert(&new("web")).expect("insert");
    let err = EngineError::from(store.insert(&new("web")).expect_err("name in use"));
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let unsupported = RuntimeError::Unsupported { runtime: RuntimeKind::Slurm, operation: "pause" };
    assert_eq!(EngineError::from(unsupported).kind(), ErrorKind::Unsupported);
}
