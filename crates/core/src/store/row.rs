//! Rows in and out: decoding what SQLite returns without any panic (a row
//! that no longer parses is [`StoreError::Corrupt`], naming the workload and
//! the column), and the encodings of times, paths and JSON columns.

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::params;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde::Serialize;

use super::{NewWorkload, Result, StoreError, WorkloadRecord};
use crate::{Handle, RuntimeKind, Status, WorkloadId};

pub(super) const COLUMNS: &str = "id, name, context, runtime, handle, spec, spec_path, created_at, status, updated_at";

/// A row as SQLite returned it, before any decoding that could fail.
pub(super) struct RawRow {
    id: String,
    name: String,
    context: String,
    runtime: String,
    handle: Option<String>,
    spec: String,
    spec_path: Option<Vec<u8>>,
    created_at: String,
    status: String,
    updated_at: String,
}

impl RawRow {
    pub(super) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            id: r.get(0)?,
            name: r.get(1)?,
            context: r.get(2)?,
            runtime: r.get(3)?,
            handle: r.get(4)?,
            spec: r.get(5)?,
            spec_path: bytes_of(r.get_ref(6)?),
            created_at: r.get(7)?,
            status: r.get(8)?,
            updated_at: r.get(9)?,
        })
    }

    pub(super) fn decode(self) -> Result<WorkloadRecord> {
        let id: WorkloadId = self.id.parse().map_err(|e| corrupt(&self.id, "id", e))?;
        let runtime: RuntimeKind = self.runtime.parse().map_err(|e| corrupt(&self.id, "runtime", e))?;
        let handle = match &self.handle {
            Some(h) => Some(serde_json::from_str(h).map_err(|e| corrupt(&self.id, "handle", e))?),
            None => None,
        };
        let spec = serde_json::from_str(&self.spec).map_err(|e| corrupt(&self.id, "spec", e))?;
        let status = decode_status(&self.id, "status", &self.status)?;
        Ok(WorkloadRecord {
            created_at: parse_time(&self.id, "created_at", &self.created_at)?,
            updated_at: parse_time(&self.id, "updated_at", &self.updated_at)?,
            id,
            name: self.name,
            context: self.context,
            runtime,
            handle,
            spec,
            spec_path: self.spec_path.map(path_from_bytes),
            status,
        })
    }
}

fn corrupt(id: &str, column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { what: format!("workload {id}: column {column} cannot be read: {e}") }
}

pub(super) fn decode_status(id: &str, column: &str, json: &str) -> Result<Status> {
    serde_json::from_str(json).map_err(|e| corrupt(id, column, e))
}

pub(super) fn parse_time(id: &str, column: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| corrupt(id, column, e))
}

/// Fixed-width RFC 3339, so text order is time order.
pub(super) fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    // Our own types always serialize; a failure here is a bug worth reporting, not a panic.
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt { what: format!("cannot encode a value: {e}") })
}

/// The exit code as the runtime reported it (none for cancelled or unknown).
pub(super) fn known_exit_code(s: &Status) -> Option<i32> {
    match s {
        Status::Succeeded => Some(0),
        Status::Failed { exit_code, .. } => *exit_code,
        _ => None,
    }
}

fn bytes_of(v: ValueRef<'_>) -> Option<Vec<u8>> {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(b.to_vec()),
        _ => None,
    }
}

/// Paths go in as UTF-8 text when they are, as raw bytes otherwise: no path is mangled.
fn path_to_sql(p: &Path) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match p.to_str() {
        Some(s) => Value::Text(s.to_owned()),
        #[cfg(unix)]
        None => Value::Blob(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec()),
        #[cfg(not(unix))]
        None => Value::Text(p.to_string_lossy().into_owned()),
    }
}

fn path_from_bytes(b: Vec<u8>) -> PathBuf {
    #[cfg(unix)]
    {
        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(b))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(&b).into_owned())
    }
}
/// Insert `w` with its first status event, in the caller's transaction.
pub(super) fn insert_row(
    conn: &Connection,
    w: &NewWorkload,
    handle: Option<&Handle>,
    status: &Status,
    now: DateTime<Utc>,
) -> Result<()> {
    let now = fmt_time(now);
    let status_json = to_json(status)?;
    let handle_json = handle.map(to_json).transpose()?;
    let code = known_exit_code(status);
    conn.execute(
        "INSERT INTO workloads (id, name, context, runtime, handle, spec, spec_path, created_at, status, live, exit_code, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?8)",
        params![
            w.id.as_str(),
            w.name,
            w.context,
            w.runtime.as_str(),
            handle_json,
            to_json(&w.spec)?,
            w.spec_path.as_deref().map(path_to_sql),
            now,
            status_json,
            status.is_live(),
            code,
        ],
    )?;
    conn.execute(
        "INSERT INTO status_events (workload_id, status, exit_code, at) VALUES (?1, ?2, ?3, ?4)",
        params![w.id.as_str(), status_json, code, now],
    )?;
    Ok(())
}
