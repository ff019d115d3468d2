//! The store's schema and how a file is brought up to it.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{Result, StoreError};

/// Schema migrations; entry `i` takes `user_version` from `i` to `i + 1`.
/// Append only: never edit a migration that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: workloads and their status history.
    r#"
    CREATE TABLE workloads (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        context    TEXT NOT NULL,
        runtime    TEXT NOT NULL,
        handle     TEXT,              -- JSON Handle, once started
        spec       TEXT NOT NULL,     -- JSON ferry_spec::Workload
        spec_path  TEXT,
        created_at TEXT NOT NULL,     -- RFC 3339 UTC, microseconds
        status     TEXT NOT NULL,     -- JSON Status
        live       INTEGER NOT NULL,  -- 1 while pending/running/paused: the unique-name rule
        exit_code  INTEGER,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX workloads_name ON workloads(name);
    CREATE INDEX workloads_created ON workloads(created_at);
    CREATE TABLE status_events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        workload_id TEXT NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
        status      TEXT NOT NULL,
        exit_code   INTEGER,
        at          TEXT NOT NULL
    );
    CREATE INDEX status_events_workload ON status_events(workload_id);
    "#,
    // 2: `ferry ps` and the unique-name check read only live workloads; with
    // thousands of finished ones, finding the few live rows must not scan them.
    r#"
    CREATE INDEX workloads_live ON workloads(live, name) WHERE live = 1;
    "#,
    // 3: facts about the store itself. `readoption` is set in a store that
    // was just created (possibly after the old one was lost): the next
    // listing looks for workloads in every context, not only the current one.
    r#"
    CREATE TABLE store_facts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO store_facts (key, value) VALUES ('readoption', 'pending');
    "#,
];
/// Bring `conn`'s file up to [`MIGRATIONS`], refusing a file written by a
/// newer Ferry rather than misreading it.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let too_new = |found| StoreError::TooNew { path: path.to_path_buf(), found, known };
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > known {
        return Err(too_new(version));
    }
    if version == known {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the lock.
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > known {
        return Err(too_new(version));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}
