//! Holding a new workload's name while its runtime starts it.

use chrono::{SubsecRound, Utc};

use super::pool::PooledConnection;
use super::row::insert_row;
use super::{NewWorkload, Result, WorkloadRecord};
use crate::{Handle, Status};

/// A new workload's name held by [`super::Store::reserve`]: the store's write
/// lock, in an open transaction on a connection of its own. Dropping it
/// records nothing and frees the lock.
///
/// An owned value (`Send`, no borrow of the store), so a task can hold it
/// across `runtime.start(..).await` on any thread.
pub struct Reservation {
    conn: PooledConnection,
    workload: NewWorkload,
    open: bool,
}

impl Reservation {
    /// Begin the write transaction for `workload` (the name check is the caller's).
    pub(super) fn begin(conn: PooledConnection, workload: NewWorkload) -> Result<Reservation> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Reservation { conn, workload, open: true })
    }

    pub(super) fn conn(&self) -> &PooledConnection {
        &self.conn
    }

    /// The workload whose name is held.
    pub fn workload(&self) -> &NewWorkload {
        &self.workload
    }

    /// Record the workload, with its handle once it has one and the status
    /// its start left it in; returns the record as written.
    pub fn commit(mut self, handle: Option<&Handle>, status: &Status) -> Result<WorkloadRecord> {
        // Taken under the write lock, so creation times follow commit order
        // (to the microsecond, as stored).
        let now = Utc::now().trunc_subsecs(6);
        insert_row(&self.conn, &self.workload, handle, status, now)?;
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        let w = &self.workload;
        Ok(WorkloadRecord {
            id: w.id.clone(),
            name: w.name.clone(),
            context: w.context.clone(),
            runtime: w.runtime,
            handle: handle.cloned(),
            spec: w.spec.clone(),
            spec_path: w.spec_path.clone(),
            created_at: now,
            status: status.clone(),
            updated_at: now,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
