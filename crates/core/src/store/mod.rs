//! The state store: one SQLite file recording every workload Ferry started and
//! each status it went through.
//!
//! Several processes use it at once (the CLI, one monitor per local workload,
//! later the server), so:
//! - WAL journal: readers never block the writer and vice versa;
//! - every read-modify-write runs in a `BEGIN IMMEDIATE` transaction, which
//!   takes the write lock up front (waiting up to [`BUSY_TIMEOUT`]) instead of
//!   failing half-way when another writer got there first;
//! - the schema evolves through numbered [`MIGRATIONS`] tracked in
//!   `PRAGMA user_version`, and a file written by a newer Ferry is refused
//!   rather than misread.
//!
//! Nothing decoded from a row can panic: a row that no longer parses becomes
//! [`StoreError::Corrupt`], naming the workload and the column.
//!
//! This store holds workloads only, and owns its file's `user_version`. A
//! front end with tables of its own (the server's tenants, queue and
//! workflows) keeps them in a database of its own, with its own migrations.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferry_spec::Workload;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::context::did_you_mean;
use crate::{paths, ErrorKind, Handle, RuntimeKind, Status, WorkloadId};

mod busy;
mod pool;
mod reservation;
mod row;
mod schema;

pub use busy::BUSY_TIMEOUT;
pub use reservation::Reservation;
pub use schema::MIGRATIONS;

use pool::{Pool, PooledConnection, WAL_CHECKPOINT_PAGES};
use row::{decode_status, fmt_time, insert_row, known_exit_code, parse_time, to_json, RawRow, COLUMNS};

/// Everything that can go wrong with the store, worded for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("state store is damaged: {what}")]
    Corrupt { what: String },
    #[error("{}", not_found_message(query, suggestion.as_deref()))]
    NotFound { query: String, suggestion: Option<String> },
    #[error("{}", ambiguous_message(query, candidates))]
    Ambiguous { query: String, candidates: Vec<String> },
    #[error("a workload named {name:?} is still live ({id}); stop it, or pick another name with --name")]
    NameInUse { name: String, id: String },
    #[error("state store {} was written by a newer ferry (schema version {found}, this ferry knows up to {known}); upgrade ferry", path.display())]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// What kind of failure this is, for a protocol's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::Ambiguous { .. } => ErrorKind::Invalid,
            StoreError::NameInUse { .. } => ErrorKind::Conflict,
            StoreError::Sqlite(e) if busy::is_busy(e) => ErrorKind::Unavailable,
            StoreError::TooNew { .. } => ErrorKind::Unavailable,
            StoreError::Io { source, .. } => ErrorKind::of_io(source),
            StoreError::Sqlite(_) | StoreError::Corrupt { .. } => ErrorKind::Internal,
        }
    }
}

fn not_found_message(query: &str, suggestion: Option<&str>) -> String {
    let mut m = format!("no workload with id or name {query:?}");
    match suggestion {
        Some(s) => m.push_str(&format!("; did you mean {s:?}?")),
        None => m.push_str(" (see: ferry ps -a)"),
    }
    m
}

fn ambiguous_message(query: &str, candidates: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut list = candidates.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if candidates.len() > SHOWN {
        list.push_str(&format!(" and {} more", candidates.len() - SHOWN));
    }
    format!("{query:?} matches {} workload ids ({list}); type more of the id", candidates.len())
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One workload as recorded. Serializes as-is for `--output json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadRecord {
    pub id: WorkloadId,
    pub name: String,
    pub context: String,
    pub runtime: RuntimeKind,
    /// Absent until the runtime accepted the workload.
    pub handle: Option<Handle>,
    pub spec: Workload,
    pub spec_path: Option<PathBuf>,
    pub created_at: DateTime<Utc>,
    pub status: Status,
    pub updated_at: DateTime<Utc>,
}

/// One entry of a workload's status history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub status: Status,
    pub at: DateTime<Utc>,
}

/// What the caller knows about a workload before it starts.
#[derive(Debug, Clone)]
pub struct NewWorkload {
    pub id: WorkloadId,
    pub name: String,
    pub context: String,
    pub runtime: RuntimeKind,
    pub spec: Workload,
    pub spec_path: Option<PathBuf>,
}

/// A connection to the state store: cheap to clone (clones share this
/// process's connections), `Send` and `Sync`. Each call checks a connection
/// out for its duration; other processes open their own.
#[derive(Clone)]
pub struct Store {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path()).finish()
    }
}

impl Store {
    /// `$XDG_DATA_HOME/ferry/state.db`.
    pub fn default_path() -> PathBuf {
        paths::data_dir().join("state.db")
    }

    /// Open (creating if needed) the store at `path` and bring its schema up to date.
    ///
    /// New directories are made 0700 and the database files 0600: the store
    /// holds commands, environments and paths that are nobody else's business.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir).map_err(|source| StoreError::Io {
                action: "cannot create directory",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // Create the file ourselves so it is born 0600 (SQLite would use the umask).
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(path).map_err(|source| StoreError::Io { action: "cannot open", path: path.to_path_buf(), source })?;

        let mut conn = pool::connect(path, true)?;
        schema::migrate(&mut conn, path)?;
        let store = Store { pool: Pool::new(path.to_path_buf(), conn) };
        restrict_permissions(path);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        self.pool.path()
    }

    /// A connection for one call.
    fn conn(&self) -> Result<PooledConnection> {
        self.pool.get()
    }

    /// Copy what the write-ahead log holds into the database and empty the
    /// log (SQLite's TRUNCATE checkpoint): the next process to open the store
    /// reads the whole log back, which is then nothing instead of up to
    /// `WAL_CHECKPOINT_PAGES` pages, and no command's commit has to make the
    /// checkpoint itself. It waits for the disk (fsyncs) and, through the busy
    /// handler, for other processes' transactions, and makes the next write
    /// wait for it: for a process that has nothing left to do (a monitor
    /// after recording the end). Returns whether the whole log was copied and
    /// emptied (not when the wait ran out).
    pub fn checkpoint(&self) -> Result<bool> {
        let (busy, log, copied): (i64, i64, i64) =
            self.conn()?.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(busy == 0 && log == copied)
    }

    /// [`Store::checkpoint`] once the log holds more than half of
    /// `WAL_CHECKPOINT_PAGES` (of SQLite's default 4 KiB), so that a monitor
    /// does it only every so many workloads. Returns whether it did.
    pub fn checkpoint_if_long(&self) -> Result<bool> {
        let mut wal = self.path().to_path_buf().into_os_string();
        wal.push("-wal");
        let long = std::fs::metadata(&wal).is_ok_and(|m| m.len() > (WAL_CHECKPOINT_PAGES as u64 / 2) * 4096);
        if long {
            self.checkpoint()?;
        }
        Ok(long)
    }

    /// Record a new workload as `Pending`. Fails with [`StoreError::NameInUse`]
    /// if a live workload already has the name (checked and inserted under one
    /// write lock, so two concurrent `ferry run`s cannot both get it).
    pub fn insert(&self, w: &NewWorkload) -> Result<()> {
        self.reserve(w)?.commit(None, &Status::Pending).map(drop)
    }

    /// Hold the name of new workload `w`: take the write lock and check that
    /// no live workload has the name. Until the [`Reservation`] is committed
    /// (or dropped), no other process can record a workload, so the caller
    /// can start the workload first and record it after, off the start's path.
    pub fn reserve(&self, w: &NewWorkload) -> Result<Reservation> {
        let reservation = Reservation::begin(self.conn()?, w.clone())?;
        let holder: Option<String> = reservation
            .conn()
            .query_row("SELECT id FROM workloads WHERE name = ?1 AND live = 1 LIMIT 1", [&w.name], |r| r.get(0))
            .optional()?;
        match holder {
            Some(id) => Err(StoreError::NameInUse { name: w.name.clone(), id }),
            None => Ok(reservation),
        }
    }

    /// Record a workload found by a runtime's `list()` but missing here (the
    /// store was lost, or another machine started it). No name check: it exists
    /// whatever we think. Returns false if the id is already recorded.
    pub fn adopt(&self, w: &NewWorkload, handle: &Handle, status: &Status) -> Result<bool> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = Utc::now();
        let exists: bool =
            tx.query_row("SELECT EXISTS(SELECT 1 FROM workloads WHERE id = ?1)", [w.id.as_str()], |r| r.get(0))?;
        if exists {
            return Ok(false);
        }
        insert_row(&tx, w, Some(handle), status, now)?;
        tx.commit()?;
        Ok(true)
    }

    /// Remember the runtime's handle once it accepted the workload.
    pub fn set_handle(&self, id: &WorkloadId, handle: &Handle) -> Result<()> {
        let json = to_json(handle)?;
        let n = self.conn()?.execute(
            "UPDATE workloads SET handle = ?2, updated_at = ?3 WHERE id = ?1",
            params![id.as_str(), json, fmt_time(Utc::now())],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound { query: id.to_string(), suggestion: None });
        }
        Ok(())
    }

    /// Record `status` as of `at`, appending to the history. Returns whether
    /// anything changed: an unchanged status is not repeated, and a finished
    /// workload stays finished (the first terminal status wins, so a late
    /// "running" or a second opinion on how it ended is ignored).
    pub fn record_status(&self, id: &WorkloadId, status: &Status, at: DateTime<Utc>) -> Result<bool> {
        let json = to_json(status)?;
        let mut conn = self.conn()?;
        // Most calls find nothing new (a refresh of a settled workload): answer
        // those from a read, without queueing for the write lock.
        let current: Option<String> =
            conn.query_row("SELECT status FROM workloads WHERE id = ?1", [id.as_str()], |r| r.get(0)).optional()?;
        if let Some(current) = current {
            let current = decode_status(id.as_str(), "status", &current)?;
            if current == *status || current.is_terminal() {
                return Ok(false);
            }
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<String> =
            tx.query_row("SELECT status FROM workloads WHERE id = ?1", [id.as_str()], |r| r.get(0)).optional()?;
        let Some(current) = current else {
            return Err(StoreError::NotFound { query: id.to_string(), suggestion: None });
        };
        let current = decode_status(id.as_str(), "status", &current)?;
        if current == *status || current.is_terminal() {
            return Ok(false);
        }
        let at = fmt_time(at);
        let code = known_exit_code(status);
        tx.execute(
            "UPDATE workloads SET status = ?2, live = ?3, exit_code = ?4, updated_at = ?5 WHERE id = ?1",
            params![id.as_str(), json, status.is_live(), code, at],
        )?;
        tx.execute(
            "INSERT INTO status_events (workload_id, status, exit_code, at) VALUES (?1, ?2, ?3, ?4)",
            params![id.as_str(), json, code, at],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// The workload with exactly this id.
    pub fn get(&self, id: &WorkloadId) -> Result<WorkloadRecord> {
        let raw = self
            .conn()?
            .query_row(&format!("SELECT {COLUMNS} FROM workloads WHERE id = ?1"), [id.as_str()], RawRow::from_row)
            .optional()?;
        match raw {
            Some(raw) => raw.decode(),
            None => Err(StoreError::NotFound { query: id.to_string(), suggestion: None }),
        }
    }

    /// Find a workload the way a person names it: full id, else exact name
    /// (the live one, else the newest), else a unique id prefix (like git).
    ///
    /// Names come before prefixes so that a workload called `a` or `cafe` is
    /// never shadowed by whichever id happens to start with those letters; a
    /// full id always works.
    pub fn find(&self, query: &str) -> Result<WorkloadRecord> {
        if let Ok(id) = query.parse::<WorkloadId>() {
            match self.get(&id) {
                Err(StoreError::NotFound { .. }) => {}
                other => return other,
            }
        }
        let conn = self.conn()?;
        let by_name = conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM workloads WHERE name = ?1 \
                     ORDER BY live DESC, created_at DESC, rowid DESC LIMIT 1"
                ),
                [query],
                RawRow::from_row,
            )
            .optional()?;
        if let Some(raw) = by_name {
            return raw.decode();
        }
        let is_hex = !query.is_empty() && query.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if is_hex {
            // Hex digits need no LIKE escaping; `id >= q AND id < q || 'g'` would also do.
            let mut stmt = conn.prepare("SELECT id FROM workloads WHERE id LIKE ?1 || '%' ORDER BY id LIMIT 101")?;
            let ids = stmt.query_map([query], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            match ids.len() {
                0 => {}
                1 => {
                    let raw = conn
                        .query_row(
                            &format!("SELECT {COLUMNS} FROM workloads WHERE id = ?1"),
                            [&ids[0]],
                            RawRow::from_row,
                        )
                        .optional()?;
                    // Another process may have removed it in between.
                    if let Some(raw) = raw {
                        return raw.decode();
                    }
                }
                _ => return Err(StoreError::Ambiguous { query: query.to_owned(), candidates: ids }),
            }
        }
        let mut stmt = conn.prepare("SELECT DISTINCT name FROM workloads")?;
        let names = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Err(StoreError::NotFound {
            query: query.to_owned(),
            suggestion: did_you_mean(query, names.iter().map(String::as_str)),
        })
    }

    /// Workloads, newest first; only live ones unless `include_finished`.
    pub fn list(&self, include_finished: bool) -> Result<Vec<WorkloadRecord>> {
        let filter = if include_finished { "" } else { "WHERE live = 1" };
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare(&format!("SELECT {COLUMNS} FROM workloads {filter} ORDER BY created_at DESC, rowid DESC"))?;
        let raws = stmt.query_map([], RawRow::from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(RawRow::decode).collect()
    }

    /// Every recorded workload id.
    pub fn ids(&self) -> Result<std::collections::HashSet<WorkloadId>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT id FROM workloads")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ids.into_iter().filter_map(|id| id.parse().ok()).collect())
    }

    /// Names held by live workloads (which a new workload cannot take).
    pub fn names_in_use(&self) -> Result<Vec<String>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT DISTINCT name FROM workloads WHERE live = 1 ORDER BY name")?;
        let names = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(names)
    }

    /// A workload's statuses, oldest first.
    pub fn history(&self, id: &WorkloadId) -> Result<Vec<StatusEvent>> {
        let conn = self.conn()?;
        let exists: bool =
            conn.query_row("SELECT EXISTS(SELECT 1 FROM workloads WHERE id = ?1)", [id.as_str()], |r| r.get(0))?;
        if !exists {
            return Err(StoreError::NotFound { query: id.to_string(), suggestion: None });
        }
        let mut stmt = conn.prepare("SELECT status, at FROM status_events WHERE workload_id = ?1 ORDER BY seq")?;
        let rows = stmt
            .query_map([id.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(status, at)| {
                Ok(StatusEvent {
                    status: decode_status(id.as_str(), "status_events.status", &status)?,
                    at: parse_time(id.as_str(), "status_events.at", &at)?,
                })
            })
            .collect()
    }

    /// Forget a workload and its history.
    pub fn remove(&self, id: &WorkloadId) -> Result<()> {
        let n = self.conn()?.execute("DELETE FROM workloads WHERE id = ?1", [id.as_str()])?;
        if n == 0 {
            return Err(StoreError::NotFound { query: id.to_string(), suggestion: None });
        }
        Ok(())
    }

    /// Whether workloads must still be looked for in every context: this
    /// store was created (an older one may have been lost) and no listing
    /// has yet found every context's workloads.
    pub fn readoption_pending(&self) -> Result<bool> {
        let v: Option<String> = self
            .conn()?
            .query_row("SELECT value FROM store_facts WHERE key = 'readoption'", [], |r| r.get(0))
            .optional()?;
        Ok(v.as_deref() == Some("pending"))
    }

    /// Every context's workloads were looked for.
    pub fn readoption_done(&self) -> Result<()> {
        self.conn()?.execute("DELETE FROM store_facts WHERE key = 'readoption'", [])?;
        Ok(())
    }

    /// SQLite's own consistency check (`ferry doctor`, tests).
    pub fn integrity_check(&self) -> Result<()> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let lines = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        if lines.len() == 1 && lines[0] == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt { what: format!("{}: {}", self.path().display(), lines.join("; ")) })
        }
    }
}

/// Make the database and its WAL side files owner-only. Best effort: a file
/// owned by someone else (a shared store set up by an admin) is left alone.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            files.push(PathBuf::from(p));
        }
        for f in files {
            let Ok(meta) = std::fs::metadata(&f) else { continue };
            if meta.permissions().mode() & 0o077 != 0 {
                if let Err(e) = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)) {
                    tracing::warn!("cannot make {} private: {e}", f.display());
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;
    use std::time::Duration;

    fn spec(name: &str) -> Workload {
        serde_json::from_value(serde_json::json!({"name": name, "command": ["true"]})).expect("valid spec")
    }

    fn new(name: &str) -> NewWorkload {
        NewWorkload {
            id: WorkloadId::random(),
            name: name.into(),
            context: "default".into(),
            runtime: RuntimeKind::Local,
            spec: spec(name),
            spec_path: Some(PathBuf::from("/tmp/ferry.yaml")),
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("sub/dir/state.db")).expect("open");
        (dir, store)
    }

    /// Frames of the current write-ahead log (those carrying the header's
    /// salt), which the next process to open the store reads back.
    fn log_frames(db: &Path) -> usize {
        let wal = std::fs::read(db.with_extension("db-wal")).expect("read the log");
        if wal.len() < 32 {
            return 0;
        }
        let page = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
        let salt = &wal[16..24];
        wal[32..].chunks(24 + page).take_while(|f| f.len() == 24 + page && &f[8..16] == salt).count()
    }

    #[test]
    fn a_checkpoint_leaves_the_next_opener_a_short_log() {
        let (dir, store) = open();
        let db = dir.path().join("sub/dir/state.db");
        for i in 0..40 {
            store.insert(&new(&format!("w{i}"))).unwrap();
        }
        let grown = log_frames(&db);
        assert!(store.checkpoint().unwrap(), "nothing else holds the store");
        assert_eq!(log_frames(&db), 0, "the log is empty");
        store.insert(&new("after")).unwrap();
        let after = log_frames(&db);
        assert!(after < grown / 4, "the log started afresh: {after} frames after, {grown} before");
        assert!(!store.checkpoint_if_long().unwrap(), "a short log is left alone");
        for i in 0..200 {
            store.insert(&new(&format!("x{i}"))).unwrap();
        }
        assert!(store.checkpoint_if_long().unwrap(), "a long one is emptied");
        assert_eq!(log_frames(&db), 0);
        drop(store);
        let reopened = Store::open(&db).unwrap();
        assert_eq!(reopened.list(true).unwrap().len(), 241, "nothing lost");
    }

    fn with_id(name: &str, id: &str) -> NewWorkload {
        NewWorkload { id: id.parse().expect("id"), ..new(name) }
    }

    fn failed(code: i32) -> Status {
        Status::Failed { exit_code: Some(code), reason: "boom".into() }
    }

    #[test]
    fn insert_then_get_round_trips() {
        let (_d, s) = open();
        let w = new("train");
        s.insert(&w).unwrap();
        let r = s.get(&w.id).unwrap();
        assert_eq!(r.id, w.id);
        assert_eq!(r.name, "train");
        assert_eq!(r.context, "default");
        assert_eq!(r.runtime, RuntimeKind::Local);
        assert_eq!(r.spec, w.spec);
        assert_eq!(r.spec_path, w.spec_path);
        assert_eq!(r.status, Status::Pending);
        assert_eq!(r.handle, None);
        assert_eq!(r.created_at, r.updated_at);
        assert_eq!(s.history(&w.id).unwrap().len(), 1);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["status"]["state"], "pending");
        assert_eq!(json["runtime"], "local");
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_spec_path_survives() {
        use std::os::unix::ffi::OsStrExt;
        let (_d, s) = open();
        let p = PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/caf\xe9/ferry.yaml"));
        let w = NewWorkload { spec_path: Some(p.clone()), ..new("latin1") };
        s.insert(&w).unwrap();
        assert_eq!(s.get(&w.id).unwrap().spec_path, Some(p));
    }

    #[test]
    fn live_name_is_unique_but_finished_names_are_reusable() {
        let (_d, s) = open();
        let first = new("web");
        s.insert(&first).unwrap();
        let err = s.insert(&new("web")).unwrap_err();
        match &err {
            StoreError::NameInUse { name, id } => assert_eq!((name.as_str(), id.as_str()), ("web", first.id.as_str())),
            e => panic!("{e:?}"),
        }
        assert!(err.to_string().contains("--name"), "{err}");
        assert_eq!(s.names_in_use().unwrap(), ["web"]);
        s.record_status(&first.id, &Status::Running, Utc::now()).unwrap();
        s.record_status(&first.id, &Status::Paused, Utc::now()).unwrap();
        assert!(matches!(s.insert(&new("web")), Err(StoreError::NameInUse { .. })));
        s.record_status(&first.id, &Status::Cancelled, Utc::now()).unwrap();
        assert!(s.names_in_use().unwrap().is_empty());
        s.insert(&new("web")).unwrap();
    }

    /// A reservation holds the write lock: another process's reservation of
    /// the same name waits for it and is then refused; one dropped records
    /// nothing and frees the name.
    #[test]
    fn a_reservation_holds_its_name_until_committed() {
        let (_d, s) = open();
        let other = Store::open(s.path()).unwrap();
        let w = new("web");
        let held = s.reserve(&w).unwrap();
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel();
            let other = &other;
            let rival = new("web");
            scope.spawn(move || tx.send(other.reserve(&rival).map(drop)).unwrap());
            assert!(
                rx.recv_timeout(Duration::from_millis(300)).is_err(),
                "a second reservation must wait for the first"
            );
            let h = Handle {
                runtime: RuntimeKind::Local,
                workload: w.id.clone(),
                native_id: "1".into(),
                details: Default::default(),
            };
            let written = held.commit(Some(&h), &Status::Pending).unwrap();
            assert_eq!(written, s.get(&w.id).unwrap(), "commit returns the record as stored");
            let second = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the second reservation is answered once the first commits");
            assert!(matches!(second, Err(StoreError::NameInUse { ref id, .. }) if *id == w.id.as_str()), "{second:?}");
        });
        let db = new("db");
        drop(s.reserve(&db).unwrap());
        assert_eq!(s.list(true).unwrap().len(), 1, "a dropped reservation records nothing");
        other.insert(&db).unwrap();
    }

    #[test]
    fn record_status_appends_only_changes() {
        let (_d, s) = open();
        let w = new("job");
        s.insert(&w).unwrap();
        let t0 = Utc::now();
        assert!(s.record_status(&w.id, &Status::Running, t0).unwrap());
        assert!(!s.record_status(&w.id, &Status::Running, t0).unwrap());
        assert!(s.record_status(&w.id, &failed(3), t0 + chrono::Duration::seconds(1)).unwrap());
        let h = s.history(&w.id).unwrap();
        let states: Vec<_> = h.iter().map(|e| e.status.word()).collect();
        assert_eq!(states, ["pending", "running", "failed"]);
        assert_eq!(h[1].at, chrono::SubsecRound::trunc_subsecs(t0, 6));
        let r = s.get(&w.id).unwrap();
        assert_eq!(r.status, failed(3));
        assert_eq!(r.updated_at, h[2].at);
    }

    #[test]
    fn terminal_status_is_final() {
        let (_d, s) = open();
        let w = new("job");
        s.insert(&w).unwrap();
        assert!(s.record_status(&w.id, &Status::Succeeded, Utc::now()).unwrap());
        assert!(!s.record_status(&w.id, &Status::Running, Utc::now()).unwrap(), "late running report");
        assert!(!s.record_status(&w.id, &failed(1), Utc::now()).unwrap(), "second opinion");
        assert_eq!(s.get(&w.id).unwrap().status, Status::Succeeded);
        assert_eq!(s.history(&w.id).unwrap().len(), 2);
    }

    #[test]
    fn unknown_ids_are_not_found() {
        let (_d, s) = open();
        let id = WorkloadId::random();
        assert!(matches!(s.get(&id), Err(StoreError::NotFound { .. })));
        assert!(matches!(s.record_status(&id, &Status::Running, Utc::now()), Err(StoreError::NotFound { .. })));
        assert!(matches!(s.history(&id), Err(StoreError::NotFound { .. })));
        assert!(matches!(s.remove(&id), Err(StoreError::NotFound { .. })));
        let h = Handle {
            runtime: RuntimeKind::Local,
            workload: id.clone(),
            native_id: "1".into(),
            details: Default::default(),
        };
        assert!(matches!(s.set_handle(&id, &h), Err(StoreError::NotFound { .. })));
    }

    #[test]
    fn set_handle_is_stored() {
        let (_d, s) = open();
        let w = new("svc");
        s.insert(&w).unwrap();
        let mut details = std::collections::BTreeMap::new();
        details.insert("pid".to_owned(), "42".to_owned());
        let h = Handle { runtime: RuntimeKind::Local, workload: w.id.clone(), native_id: "42".into(), details };
        s.set_handle(&w.id, &h).unwrap();
        assert_eq!(s.get(&w.id).unwrap().handle, Some(h));
    }

    #[test]
    fn find_by_id_prefix_and_name() {
        let (_d, s) = open();
        let a = with_id("alpha", "abc00000000000000000000000000000");
        let b = with_id("beta", "abd00000000000000000000000000000");
        s.insert(&a).unwrap();
        s.insert(&b).unwrap();
        assert_eq!(s.find(a.id.as_str()).unwrap().id, a.id);
        assert_eq!(s.find("abc").unwrap().id, a.id);
        assert_eq!(s.find("abd0").unwrap().id, b.id);
        assert_eq!(s.find("beta").unwrap().id, b.id);
        match s.find("ab").unwrap_err() {
            StoreError::Ambiguous { query, candidates } => {
                assert_eq!(query, "ab");
                assert_eq!(candidates, [a.id.to_string(), b.id.to_string()]);
            }
            e => panic!("{e:?}"),
        }
        assert!(s.find("a").unwrap_err().to_string().contains("type more of the id"));
    }

    #[test]
    fn find_prefers_a_name_over_an_id_prefix() {
        let (_d, s) = open();
        let other = with_id("x", "cafe0000000000000000000000000000");
        let named = with_id("cafe", "11110000000000000000000000000000");
        s.insert(&other).unwrap();
        s.insert(&named).unwrap();
        assert_eq!(s.find("cafe").unwrap().id, named.id);
        assert_eq!(s.find("cafe0").unwrap().id, other.id);
    }

    #[test]
    fn find_by_name_prefers_live_then_newest() {
        let (_d, s) = open();
        let old = new("nightly");
        s.insert(&old).unwrap();
        s.record_status(&old.id, &Status::Succeeded, Utc::now()).unwrap();
        let newer = new("nightly");
        s.insert(&newer).unwrap();
        s.record_status(&newer.id, &failed(2), Utc::now()).unwrap();
        assert_eq!(s.find("nightly").unwrap().id, newer.id, "newest finished");
        let live = new("nightly");
        s.insert(&live).unwrap();
        let newest_finished = new("other");
        s.insert(&newest_finished).unwrap();
        assert_eq!(s.find("nightly").unwrap().id, live.id, "live wins");
        s.record_status(&live.id, &Status::Cancelled, Utc::now()).unwrap();
        assert_eq!(s.find("nightly").unwrap().id, live.id, "then newest");
    }

    #[test]
    fn find_unknown_suggests_a_name() {
        let (_d, s) = open();
        s.insert(&new("mnist-train")).unwrap();
        match s.find("mnist-trian").unwrap_err() {
            StoreError::NotFound { suggestion, .. } => assert_eq!(suggestion.as_deref(), Some("mnist-train")),
            e => panic!("{e:?}"),
        }
        let msg = s.find("zzz").unwrap_err().to_string();
        assert!(msg.contains("ferry ps -a"), "{msg}");
        assert!(matches!(s.find(""), Err(StoreError::NotFound { .. })));
        assert!(matches!(s.find("%"), Err(StoreError::NotFound { .. })));
    }

    #[test]
    fn list_is_newest_first_and_filters_finished() {
        let (_d, s) = open();
        let ws: Vec<_> = (0..3).map(|i| new(&format!("w{i}"))).collect();
        for w in &ws {
            s.insert(w).unwrap();
        }
        s.record_status(&ws[1].id, &Status::Succeeded, Utc::now()).unwrap();
        let all: Vec<_> = s.list(true).unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(all, ["w2", "w1", "w0"]);
        let live: Vec<_> = s.list(false).unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(live, ["w2", "w0"]);
    }

    #[test]
    fn remove_cascades_to_history() {
        let (_d, s) = open();
        let w = new("gone");
        s.insert(&w).unwrap();
        s.record_status(&w.id, &Status::Running, Utc::now()).unwrap();
        s.remove(&w.id).unwrap();
        assert!(matches!(s.get(&w.id), Err(StoreError::NotFound { .. })));
        let n: i64 = s.conn().unwrap().query_row("SELECT COUNT(*) FROM status_events", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn adopt_records_once_with_handle_and_status() {
        let (_d, s) = open();
        let w = new("found");
        let h = Handle {
            runtime: RuntimeKind::Local,
            workload: w.id.clone(),
            native_id: "7".into(),
            details: Default::default(),
        };
        assert!(s.adopt(&w, &h, &Status::Running).unwrap());
        assert!(!s.adopt(&w, &h, &Status::Running).unwrap());
        let r = s.get(&w.id).unwrap();
        assert_eq!((r.status, r.handle), (Status::Running, Some(h)));
    }

    #[test]
    fn corrupt_rows_are_errors_naming_id_and_column() {
        let (_d, s) = open();
        let w = new("bad");
        s.insert(&w).unwrap();
        s.conn().unwrap().execute("UPDATE workloads SET spec = '{not json' WHERE id = ?1", [w.id.as_str()]).unwrap();
        let msg = s.get(&w.id).unwrap_err().to_string();
        assert!(msg.contains(w.id.as_str()) && msg.contains("spec"), "{msg}");
        assert!(matches!(s.list(true), Err(StoreError::Corrupt { .. })));
        s.conn().unwrap().execute("UPDATE workloads SET status = '\"weird\"' WHERE id = ?1", [w.id.as_str()]).unwrap();
        let msg = s.record_status(&w.id, &Status::Running, Utc::now()).unwrap_err().to_string();
        assert!(msg.contains("status"), "{msg}");
        s.conn()
            .unwrap()
            .execute("UPDATE workloads SET created_at = 'yesterday' WHERE id = ?1", [w.id.as_str()])
            .unwrap();
        // The row can still be removed.
        s.remove(&w.id).unwrap();
    }

    #[test]
    fn reopening_keeps_data_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let w = new("persist");
        Store::open(&path).unwrap().insert(&w).unwrap();
        let s = Store::open(&path).unwrap();
        assert_eq!(s.get(&w.id).unwrap().name, "persist");
        let v: i64 = s.conn().unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let mode: String = s.conn().unwrap().pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        s.integrity_check().unwrap();
    }

    #[test]
    fn a_new_store_asks_for_readoption_once() {
        let (_d, s) = open();
        assert!(s.readoption_pending().unwrap());
        s.readoption_done().unwrap();
        assert!(!s.readoption_pending().unwrap());
        assert!(!Store::open(s.path()).unwrap().readoption_pending().unwrap(), "reopening keeps it done");
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(Store::open(&path).unwrap());
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err:?}");
        assert!(err.to_string().contains("upgrade ferry"), "{err}");
    }

    #[test]
    fn garbage_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(err.to_string().contains("not a database"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/state.db");
        let s = Store::open(&path).unwrap();
        s.insert(&new("x")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("new")), 0o700);
        for side in ["state.db-wal", "state.db-shm"] {
            let p = dir.path().join("new").join(side);
            if p.exists() {
                assert_eq!(mode(&p), 0o600, "{side}");
            }
        }
        // An existing world-readable store is tightened on open.
        drop(s);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(Store::open(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn store_and_reservation_are_send() {
        fn check<T: Send + Sync>() {}
        check::<Store>();
        fn send<T: Send + 'static>() {}
        send::<Reservation>();
    }

    /// A reservation is an owned value: it can cross to another thread (as a
    /// task holding it across an `.await` does) and commit there, while this
    /// process's other calls get connections of their own.
    #[test]
    fn a_reservation_commits_from_another_thread_while_the_store_serves_reads() {
        let (_d, s) = open();
        let w = new("moved");
        let held = s.reserve(&w).unwrap();
        assert!(s.list(true).unwrap().is_empty(), "a read is served while the name is held");
        let written = std::thread::spawn(move || held.commit(None, &Status::Pending).unwrap()).join().unwrap();
        assert_eq!(s.get(&w.id).unwrap(), written);
    }
}
