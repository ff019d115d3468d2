//! This process's connections to one store file.
//!
//! A connection is checked out for one call (or for a [`super::Reservation`]'s
//! whole life) and comes back when dropped. Checked-out connections are owned
//! values, so a reservation can be held across an `.await` by a task that
//! moves between threads; callers that find every connection out (a server
//! with a reservation held while the runtime starts) get a new one, which
//! waits for the write lock like any other process would.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::config::DbConfig;
use rusqlite::Connection;

use super::busy::{retry_busy, wait_while_busy};
use super::Result;

/// WAL size (in 4 KiB pages) at which a commit checkpoints it (SQLite's default is 1000).
pub(super) const WAL_CHECKPOINT_PAGES: i64 = 256;

/// Idle connections kept for reuse; more are closed when returned.
const MAX_IDLE: usize = 8;

pub(super) struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    pub(super) fn new(path: PathBuf, first: Connection) -> Arc<Pool> {
        Arc::new(Pool { path, idle: Mutex::new(vec![first]) })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// An idle connection, or a new one when all are checked out.
    pub(super) fn get(self: &Arc<Self>) -> Result<PooledConnection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect(&self.path, false)?,
        };
        Ok(PooledConnection { conn: Some(conn), pool: self.clone() })
    }
}

/// Open `path` and set this connection's options. `first`: also switch the
/// file to WAL (persistent in the file, so later connections need not).
pub(super) fn connect(path: &Path, first: bool) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_handler(Some(wait_while_busy))?;
    // Switching to WAL needs a brief exclusive lock; when many processes open
    // a brand-new file at once, retry instead of failing.
    retry_busy(|| {
        if first {
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?; // safe with WAL; commits survive crashes
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Every `ferry` command is a short-lived process. By default the
        // last connection to close checkpoints the WAL into the database
        // and deletes it, and the next one re-creates it: four fsyncs per
        // command. Keep the WAL instead (the next opener reads it back):
        // a monitor that has recorded its workload's end empties it
        // (`checkpoint`), and otherwise a commit checkpoints every
        // WAL_CHECKPOINT_PAGES pages.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
    })?;
    Ok(conn)
}

/// A connection checked out of the [`Pool`]; returned to it when dropped.
/// A panic while it was out leaves nothing half done (an open transaction
/// rolls back when the statement owning it is dropped, or on `ROLLBACK` in
/// [`super::Reservation`]'s drop).
pub(super) struct PooledConnection {
    conn: Option<Connection>,
    pool: Arc<Pool>,
}

impl Deref for PooledConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // A connection left inside a transaction (it should not be) is not reused.
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}
