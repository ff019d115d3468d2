//! The engine: one context's runtime plus the state store, and the few rules
//! that tie them together (unique live names, status history, re-discovery).
//! Front ends (the CLI now, the scheduler daemon later) go through it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::Utc;
use ferry_spec::Workload;

use crate::context::{Context, ContextError, ContextStore};
use crate::launching::{self, LaunchMark};
use crate::store::{NewWorkload, Reservation, StatusEvent, Store, StoreError, WorkloadRecord};
use crate::{ErrorKind, Handle, Launch, LogOptions, LogStream, Operation, Runtime, RuntimeError, Status, WorkloadId};

/// Errors from the engine: the store's or the runtime's, with context.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("context {context:?} still has live workloads ({}); stop them first, or remove it with force (ferry context rm --force), which stops them", names.join(", "))]
    ContextHasLiveWorkloads { context: String, names: Vec<String> },
    #[error("workload {name} ({id}) never started: {status}")]
    NeverStarted { name: String, id: String, status: Status },
    #[error("workload {name} is {status}; stop it first, or remove it with force (ferry rm --force)")]
    Live { name: String, status: Status },
    #[error("workload {id}: its output ended but the runtime still reports it running")]
    EndNotRecorded { id: String },
    #[error("cannot open the state store {}: {source}", path.display())]
    StoreOpen { path: PathBuf, source: StoreError },
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error("cannot mark the workload as starting in {}: {source}", path.display())]
    Mark { path: PathBuf, source: std::io::Error },
}

impl EngineError {
    /// What kind of failure this is, for a protocol's status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Store(e) => e.kind(),
            EngineError::Runtime(e) => e.kind(),
            EngineError::Context(e) => e.kind(),
            EngineError::ContextHasLiveWorkloads { .. } => ErrorKind::Conflict,
            EngineError::NeverStarted { .. } | EngineError::Live { .. } => ErrorKind::Conflict,
            EngineError::EndNotRecorded { .. } => ErrorKind::Internal,
            EngineError::StoreOpen { source, .. } => match source.kind() {
                ErrorKind::Internal => ErrorKind::Internal,
                _ => ErrorKind::Unavailable,
            },
            EngineError::ShuttingDown => ErrorKind::Unavailable,
            EngineError::Mark { source, .. } => ErrorKind::of_io(source),
        }
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// Where the engine runs calls that may sleep their thread: store calls
/// (SQLite's busy handler waits up to [`crate::store::BUSY_TIMEOUT`] for
/// other processes) and waiting for the store to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockingCalls {
    /// On tokio's blocking pool, so that an async worker serving other
    /// tasks (a server's) never stalls. The default.
    #[default]
    Offload,
    /// On the calling thread: for a front end with one task in flight (the
    /// CLI), where a hand-off to another thread would only add latency.
    Inline,
}

/// Keys a runtime may put in [`Handle::details`] from `list()` so that a
/// workload can be re-adopted after the store was lost.
pub const DETAIL_NAME: &str = "name";
pub const DETAIL_SPEC: &str = "spec";

/// Builds the runtime a context describes (the front end knows which
/// runtime crates exist; the engine does not).
pub type RuntimeFactory = Box<dyn Fn(&Context) -> std::result::Result<Arc<dyn Runtime>, RuntimeError> + Send + Sync>;

/// Where the engine's state store comes from: a store already open, or a
/// thread opening it. `ferry run` starts that thread first thing, so the
/// opening (about a millisecond) overlaps reading the workload file and
/// preparing the workload, and only recording it waits.
pub enum StoreSource {
    Open(Store),
    Opening { path: PathBuf, thread: JoinHandle<std::result::Result<Store, StoreError>> },
}

impl StoreSource {
    /// Open the store at `path` in a thread of its own.
    pub fn open_in_background(path: PathBuf) -> StoreSource {
        let opening = path.clone();
        let thread = std::thread::spawn(move || {
            // Opening has time to spare (the store is needed once the
            // workload is prepared): the preparation, on the start's path,
            // goes first when both want the CPU. Nice 10, this thread only.
            crate::priority::set_thread_nice(0, 10);
            Store::open(&opening)
        });
        StoreSource::Opening { path, thread }
    }
}

/// One front-end-neutral implementation of the workload lifecycle: launch,
/// status, stop, remove, pause, resume, logs, wait. The CLI, a server and a
/// CRI server call the same methods, whose futures are all `Send` (see
/// `engine_futures_are_send` below).
pub struct Engine {
    store: OnceLock<Store>,
    /// The thread opening the store, until [`Engine::store`] takes its result.
    opening: Mutex<Option<JoinHandle<std::result::Result<Store, StoreError>>>>,
    store_path: PathBuf,
    /// The context new workloads start in.
    pub context: Context,
    contexts: ContextStore,
    factory: RuntimeFactory,
    runtimes: Mutex<HashMap<String, Arc<dyn Runtime>>>,
    blocking: BlockingCalls,
}

impl Engine {
    pub fn new(store: StoreSource, context: Context, contexts: ContextStore, factory: RuntimeFactory) -> Self {
        let (store_path, store, opening) = match store {
            StoreSource::Open(s) => (s.path().to_path_buf(), OnceLock::from(s), None),
            StoreSource::Opening { path, thread } => (path, OnceLock::new(), Some(thread)),
        };
        let runtimes = Mutex::new(HashMap::new());
        let blocking = BlockingCalls::default();
        Engine { store, opening: Mutex::new(opening), store_path, context, contexts, factory, runtimes, blocking }
    }

    /// Choose where calls that may block run (see [`BlockingCalls`]).
    pub fn with_blocking_calls(mut self, blocking: BlockingCalls) -> Self {
        self.blocking = blocking;
        self
    }

    /// The state store, once open (waits for the thread opening it).
    pub fn store(&self) -> Result<&Store> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let mut opening = self.opening.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = self.store.get() {
            return Ok(store); // opened by another caller meanwhile
        }
        // After a thread that panicked (it should not) or an earlier failure: open here.
        let opened = match opening.take().map(JoinHandle::join) {
            Some(Ok(opened)) => opened,
            Some(Err(_)) | None => Store::open(&self.store_path),
        };
        let store = opened.map_err(|source| EngineError::StoreOpen { path: self.store_path.clone(), source })?;
        Ok(self.store.get_or_init(|| store))
    }

    /// Where [`LaunchMark`]s live: next to the store they are about.
    fn marks_dir(&self) -> PathBuf {
        self.store_path.parent().unwrap_or(std::path::Path::new(".")).join("launching")
    }

    /// The runtime of the context in force.
    pub fn runtime(&self) -> Result<Arc<dyn Runtime>> {
        let ctx = self.context.clone();
        self.runtime_of(&ctx)
    }

    fn runtime_of(&self, ctx: &Context) -> Result<Arc<dyn Runtime>> {
        let mut cache = self.runtimes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rt) = cache.get(&ctx.name) {
            return Ok(rt.clone());
        }
        let rt = (self.factory)(ctx)?;
        cache.insert(ctx.name.clone(), rt.clone());
        Ok(rt)
    }

    /// The runtime that started `rec` (its context may not be the current one).
    pub fn runtime_for(&self, rec: &WorkloadRecord) -> Result<Arc<dyn Runtime>> {
        if rec.context == self.context.name {
            return self.runtime();
        }
        let ctx = self.contexts.get(&rec.context).map_err(|e| {
            RuntimeError::Unavailable(format!("workload {} was started in context {:?}: {e}", rec.name, rec.context))
        })?;
        self.runtime_of(&ctx)
    }

    /// Refuse `workload` if the runtime of the context in force lacks what
    /// it needs: what [`Engine::launch`] checks first, for a front end that
    /// has work to do before launching (a build, a push) and must not do it
    /// for a workload that will be refused.
    pub fn check(&self, workload: &Workload) -> Result<()> {
        let runtime = self.runtime()?;
        Ok(runtime.capabilities().check_workload(runtime.kind(), workload)?)
    }

    /// Run `call` on the store where [`BlockingCalls`] says.
    async fn on_store<T, F>(&self, call: F) -> Result<T>
    where
        F: FnOnce(&Store) -> std::result::Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        match self.blocking {
            BlockingCalls::Inline => Ok(call(self.store()?)?),
            BlockingCalls::Offload => {
                // A store still opening (the CLI's `run` only) is waited for here.
                let store = self.store()?.clone();
                Ok(self.offload(move || call(&store)).await??)
            }
        }
    }

    /// Run `call` on tokio's blocking pool; a panic there is this task's.
    async fn offload<T: Send + 'static>(&self, call: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        match tokio::task::spawn_blocking(call).await {
            Ok(out) => Ok(out),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(EngineError::ShuttingDown),
        }
    }

    /// Start a new workload and record it. The runtime prepares it while the
    /// store may still be opening; nothing starts before its name is held
    /// (see [`Store::reserve`]). A failure to prepare or start is a refusal:
    /// it is returned, and leaves no record and nothing in the runtime
    /// ([`Runtime::discard`]). What fails once started is the workload's own
    /// end, recorded by its runtime. Returns the record as written
    /// at the start when the start is brief (the caller asks the runtime
    /// what happened since), else refreshed from the runtime.
    pub async fn launch(
        &self,
        workload: Workload,
        spec_path: Option<PathBuf>,
        name: Option<String>,
    ) -> Result<WorkloadRecord> {
        let runtime = self.runtime()?;
        let kind = runtime.kind();
        self.check(&workload)?;
        let id = WorkloadId::random();
        let name = name.unwrap_or_else(|| workload.name.clone());
        let spec_dir = spec_path
            .as_ref()
            .and_then(|p| {
                p.parent().map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d.to_path_buf() })
            })
            .unwrap_or_else(|| PathBuf::from("."));
        let record = NewWorkload {
            id: id.clone(),
            name: name.clone(),
            context: self.context.name.clone(),
            runtime: kind,
            spec: workload.clone(),
            spec_path: spec_path.clone(),
        };
        let launch = Launch { id: id.clone(), name, context: self.context.name.clone(), workload, spec_dir };
        let prepared = runtime.prepare(&launch).await;
        let reservation = match self.reserve(&record).await {
            Ok(r) => r,
            Err(e) => {
                if prepared.is_ok() {
                    runtime.discard(&launch).await;
                }
                return Err(e);
            }
        };
        // Recorded now, or (a brief start) while it starts: the reservation,
        // an owned value, holds the name across the start.
        // A start that is not brief is recorded first, as `pending` without
        // a handle, under a mark that says this process is starting it: if
        // the process dies before the handle is recorded, a later refresh
        // finds the mark released and asks the runtime (`reconcile`).
        let (reservation, _mark) = if runtime.start_is_brief() {
            (Some(reservation), None)
        } else {
            let mark = LaunchMark::hold(&self.marks_dir(), &id)
                .map_err(|source| EngineError::Mark { path: self.marks_dir(), source })?;
            self.commit(reservation, None, Status::Pending).await?;
            tracing::debug!(workload = %id, "recorded as pending; starting");
            (None, Some(mark))
        };
        let started = match prepared {
            Ok(()) => runtime.start(&launch).await,
            Err(e) => Err(e),
        };
        if let Ok(handle) = &started {
            tracing::debug!(workload = %id, native_id = %handle.native_id, "accepted by the runtime");
        }
        match (started, reservation) {
            (Ok(handle), Some(reservation)) => {
                match self.commit(reservation, Some(handle.clone()), Status::Pending).await {
                    Ok(written) => return Ok(written),
                    Err(e) => {
                        // Unrecorded, it would run unseen until a `ps` adopts it.
                        if let Err(d) = runtime.destroy(&handle).await {
                            tracing::warn!("cannot remove workload {id}, which could not be recorded: {d}");
                        }
                        return Err(e);
                    }
                }
            }
            (Ok(handle), None) => {
                let id = id.clone();
                self.on_store(move |s| s.set_handle(&id, &handle)).await?
            }
            (Err(e), reservation) => {
                // A refusal: nothing started, so nothing stays, neither a
                // row (the reservation rolls back, the pending row goes)
                // nor what the attempt left in the runtime.
                match reservation {
                    Some(reservation) => drop(reservation),
                    None => {
                        let pending = id.clone();
                        self.on_store(move |s| s.remove(&pending)).await?
                    }
                }
                runtime.discard(&launch).await;
                return Err(e.into());
            }
        }
        let rec = self.get(&id).await?;
        self.refresh(rec).await
    }

    /// Commit a reservation where [`BlockingCalls`] says (it holds the write
    /// lock, so the commit itself never waits for other processes).
    async fn commit(&self, reservation: Reservation, handle: Option<Handle>, status: Status) -> Result<WorkloadRecord> {
        match self.blocking {
            BlockingCalls::Inline => Ok(reservation.commit(handle.as_ref(), &status)?),
            BlockingCalls::Offload => Ok(self.offload(move || reservation.commit(handle.as_ref(), &status)).await??),
        }
    }

    /// Hold a new workload's name. Its holder may be live only in the store:
    /// the store may not know yet that the holder ended (its monitor writes
    /// the end to the runtime's own state first and to the store a moment
    /// later, and a monitor may have died), so the holder is refreshed from
    /// its runtime before the name is refused.
    async fn reserve(&self, record: &NewWorkload) -> Result<Reservation> {
        let attempt = record.clone();
        match self.on_store(move |s| s.reserve(&attempt)).await {
            Err(EngineError::Store(StoreError::NameInUse { id, .. })) => {
                if let Ok(id) = id.parse::<WorkloadId>() {
                    if let Ok(holder) = self.get(&id).await {
                        self.refresh(holder).await?;
                    }
                }
                let attempt = record.clone();
                self.on_store(move |s| s.reserve(&attempt)).await
            }
            other => other,
        }
    }

    async fn get(&self, id: &WorkloadId) -> Result<WorkloadRecord> {
        let id = id.clone();
        self.on_store(move |s| s.get(&id)).await
    }

    /// Record `status` for `id` as of now.
    async fn record(&self, id: &WorkloadId, status: Status) -> Result<()> {
        let id = id.clone();
        self.on_store(move |s| s.record_status(&id, &status, Utc::now()).map(drop)).await
    }

    /// Bring a record up to date with its runtime (no-op once it ended).
    pub async fn refresh(&self, rec: WorkloadRecord) -> Result<WorkloadRecord> {
        if rec.status.is_terminal() {
            return Ok(rec);
        }
        if rec.handle.is_none() {
            return self.reconcile(rec).await;
        }
        let Some(handle) = &rec.handle else { return Ok(rec) };
        let runtime = match self.runtime_for(&rec) {
            Ok(rt) => rt,
            Err(e) => {
                tracing::warn!("cannot refresh {}: {e}", rec.name);
                return Ok(rec);
            }
        };
        let status = match runtime.status(handle).await {
            Ok(s) => s,
            Err(RuntimeError::NotFound { .. }) => Status::Failed {
                exit_code: None,
                reason: format!("the {} runtime no longer knows this workload", handle.runtime),
            },
            Err(e) => return Err(e.into()),
        };
        // Re-read even when nothing changed here: the runtime's own monitor
        // may have recorded a newer status meanwhile.
        self.record(&rec.id, status).await?;
        self.get(&rec.id).await
    }

    /// A live record without a handle: its start is under way, or the
    /// process starting it died before recording the handle. Then the
    /// runtime, asked for its workloads, tells whether it accepted it (the
    /// handle is recorded, and a start left half done is finished) or not
    /// (the record fails, as it never started).
    async fn reconcile(&self, rec: WorkloadRecord) -> Result<WorkloadRecord> {
        if launching::is_held(&self.marks_dir(), &rec.id) {
            return Ok(rec);
        }
        // The start may have completed just before its mark went.
        let rec = self.get(&rec.id).await?;
        if rec.handle.is_some() || rec.status.is_terminal() {
            return Box::pin(self.refresh(rec)).await;
        }
        let runtime = match self.runtime_for(&rec) {
            Ok(rt) => rt,
            Err(e) => {
                tracing::warn!("cannot reconcile {}: {e}", rec.name);
                return Ok(rec);
            }
        };
        let found = runtime.list().await?.into_iter().find(|(h, _)| h.workload == rec.id);
        let id = rec.id.clone();
        match found {
            Some((mut handle, status)) => {
                handle.details.remove(DETAIL_SPEC);
                handle.details.remove(DETAIL_NAME);
                if status == Status::Pending {
                    runtime.finish_start(&handle).await?;
                }
                let recorded = handle.clone();
                self.on_store(move |s| s.set_handle(&id, &recorded)).await?;
                let status = runtime.status(&handle).await.unwrap_or(status);
                self.record(&rec.id, status).await?;
            }
            None => {
                let reason = format!(
                    "never started: the ferry process starting it ended before the {} runtime accepted it",
                    rec.runtime
                );
                self.record(&id, Status::Failed { exit_code: None, reason }).await?;
            }
        }
        self.get(&rec.id).await
    }

    /// Find by id, id prefix or name, refreshed.
    pub async fn find(&self, query: &str) -> Result<WorkloadRecord> {
        let query = query.to_owned();
        let rec = self.on_store(move |s| s.find(&query)).await?;
        self.refresh(rec).await
    }

    /// Find a started workload with the runtime that owns it.
    pub async fn find_started(&self, query: &str) -> Result<(WorkloadRecord, Handle, Arc<dyn Runtime>)> {
        self.started(self.find(query).await?)
    }

    /// The handle and runtime of a record that was started (as `launch` returns it).
    pub fn started(&self, rec: WorkloadRecord) -> Result<(WorkloadRecord, Handle, Arc<dyn Runtime>)> {
        let Some(handle) = rec.handle.clone() else {
            return Err(EngineError::NeverStarted { name: rec.name, id: rec.id.to_string(), status: rec.status });
        };
        let runtime = self.runtime_for(&rec)?;
        Ok((rec, handle, runtime))
    }

    /// A workload's statuses, oldest first.
    pub async fn history(&self, id: &WorkloadId) -> Result<Vec<StatusEvent>> {
        let id = id.clone();
        self.on_store(move |s| s.history(&id)).await
    }

    /// All workloads, refreshed; first adopts any the runtime knows but the
    /// store does not (the store was lost or another machine started them).
    pub async fn list(&self, include_finished: bool) -> Result<Vec<WorkloadRecord>> {
        if self.on_store(|s| s.readoption_pending()).await? {
            self.adopt_everywhere().await?;
        } else {
            self.adopt_unknown().await?;
        }
        let mut out = Vec::new();
        // A finished workload never becomes live again: only live records need
        // asking their runtime.
        for rec in self.on_store(move |s| s.list(include_finished)).await? {
            let rec = self.refresh(rec).await?;
            if include_finished || rec.status.is_live() {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Re-discover workloads from the runtime. Returns how many were adopted.
    pub async fn adopt_unknown(&self) -> Result<usize> {
        let context = self.context.clone();
        self.adopt_from(&context).await
    }

    /// Re-discover workloads in every configured context, for a store that
    /// was just created (the one before may have been lost). A context whose
    /// runtime cannot answer is named in a warning, and the search is made
    /// again by the next listing. Returns how many were adopted.
    pub async fn adopt_everywhere(&self) -> Result<usize> {
        let mut adopted = 0;
        let mut complete = true;
        for ctx in self.contexts.list()? {
            match self.adopt_from(&ctx).await {
                Ok(n) => adopted += n,
                Err(e) => {
                    complete = false;
                    tracing::warn!("cannot look for workloads in context {:?}: {e}", ctx.name);
                }
            }
        }
        if complete {
            self.on_store(|s| s.readoption_done()).await?;
        }
        Ok(adopted)
    }

    /// Adopt the workloads `ctx`'s runtime knows but the store does not.
    async fn adopt_from(&self, ctx: &Context) -> Result<usize> {
        let mut adopted = 0;
        let known = self.on_store(|s| s.ids()).await?;
        for (mut handle, status) in self.runtime_of(ctx)?.list_unknown(&known).await? {
            let Some(spec) = handle.details.remove(DETAIL_SPEC).and_then(|s| serde_json::from_str::<Workload>(&s).ok())
            else {
                tracing::warn!("cannot adopt {}: the runtime kept no spec", handle.native_id);
                continue;
            };
            let name = handle.details.remove(DETAIL_NAME).unwrap_or_else(|| spec.name.clone());
            let found = NewWorkload {
                id: handle.workload.clone(),
                name,
                context: ctx.name.clone(),
                runtime: handle.runtime,
                spec,
                spec_path: None,
            };
            self.on_store(move |s| s.adopt(&found, &handle, &status)).await?;
            adopted += 1;
        }
        Ok(adopted)
    }

    /// Ask a workload to stop (SIGTERM or its runtime's equivalent, then
    /// kill after `grace`). A workload that already ended is left as it is.
    /// Returns the record refreshed after the request.
    pub async fn stop(&self, query: &str, grace: Duration) -> Result<WorkloadRecord> {
        let rec = self.find(query).await?;
        if !rec.status.can_stop() {
            return Ok(rec);
        }
        let (rec, handle, runtime) = self.started(rec)?;
        runtime.stop(&handle, grace).await?;
        self.refresh(rec).await
    }

    /// Remove a workload: its runtime's object and its record. A live one is
    /// refused unless `force`, which stops it (no grace) first. A runtime
    /// object already gone is no obstacle. Returns the record as it was.
    pub async fn remove(&self, query: &str, force: bool) -> Result<WorkloadRecord> {
        let rec = self.find(query).await?;
        if !rec.status.can_remove(force) {
            return Err(EngineError::Live { name: rec.name, status: rec.status });
        }
        let runtime = match (&rec.handle, self.runtime_for(&rec)) {
            (Some(_), Ok(runtime)) => Some(runtime),
            // A finished workload of a context removed since: only its record is left to forget.
            (Some(_), Err(e)) if rec.status.is_terminal() && self.contexts.get(&rec.context).is_err() => {
                tracing::warn!("forgetting {} without its runtime's object: {e}", rec.name);
                None
            }
            (Some(_), Err(e)) => return Err(e),
            (None, _) => None,
        };
        if let (Some(handle), Some(runtime)) = (&rec.handle, runtime) {
            if rec.status.can_stop() {
                runtime.stop(handle, Duration::ZERO).await?;
            }
            match runtime.destroy(handle).await {
                Ok(()) | Err(RuntimeError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let id = rec.id.clone();
        self.on_store(move |s| s.remove(&id)).await?;
        Ok(rec)
    }

    /// Remove context `name` and, since nothing could reach them after, its
    /// workloads (their runtime's objects and records). Live workloads
    /// refuse the removal, unless `force`, which stops them (after `grace`)
    /// first. Returns the workloads removed, as they ended.
    pub async fn remove_context(&self, name: &str, force: bool, grace: Duration) -> Result<Vec<WorkloadRecord>> {
        let mut mine = Vec::new();
        for rec in self.on_store(|s| s.list(true)).await? {
            if rec.context == name {
                mine.push(self.refresh(rec).await?);
            }
        }
        let live: Vec<String> = mine.iter().filter(|r| r.status.is_live()).map(|r| r.name.clone()).collect();
        if !live.is_empty() && !force {
            return Err(EngineError::ContextHasLiveWorkloads { context: name.to_owned(), names: live });
        }
        let mut removed = Vec::new();
        for rec in mine {
            let id = rec.id.to_string();
            let ended = if rec.status.is_live() { self.stop(&id, grace).await? } else { rec };
            self.remove(&id, true).await?;
            removed.push(ended);
        }
        self.contexts.remove(name)?;
        Ok(removed)
    }

    /// Freeze a running workload. Returns the record refreshed after.
    pub async fn pause(&self, query: &str) -> Result<WorkloadRecord> {
        self.freeze_or_thaw(query, Operation::Pause).await
    }

    /// Thaw a paused workload. Returns the record refreshed after.
    pub async fn resume(&self, query: &str) -> Result<WorkloadRecord> {
        self.freeze_or_thaw(query, Operation::Resume).await
    }

    async fn freeze_or_thaw(&self, query: &str, op: Operation) -> Result<WorkloadRecord> {
        let (rec, handle, runtime) = self.find_started(query).await?;
        runtime.capabilities().require(runtime.kind(), op)?;
        let allowed = match op {
            Operation::Pause => rec.status.can_pause(),
            _ => rec.status.can_resume(),
        };
        if !allowed {
            let why = format!("workload {} is {}", rec.name, rec.status);
            return Err(RuntimeError::NotPossible { operation: op.as_str(), why }.into());
        }
        match op {
            Operation::Pause => runtime.pause(&handle).await?,
            _ => runtime.resume(&handle).await?,
        }
        self.refresh(rec).await
    }

    /// A started workload's output.
    pub async fn logs(&self, query: &str, opts: LogOptions) -> Result<LogStream> {
        let (_, handle, runtime) = self.find_started(query).await?;
        Ok(runtime.logs(&handle, opts).await?)
    }

    /// Wait until a workload ends; returns its final record. Follows its
    /// output without keeping it: every runtime ends that stream when the
    /// workload ends.
    pub async fn wait(&self, query: &str) -> Result<WorkloadRecord> {
        let (rec, handle, runtime) = self.find_started(query).await?;
        if rec.status.is_terminal() {
            return Ok(rec);
        }
        let mut output = runtime.logs(&handle, LogOptions { follow: true, tail: Some(0) }).await?;
        while let Some(line) = futures::StreamExt::next(&mut output).await {
            line?;
        }
        self.ended(&rec.id).await
    }

    /// The record of a workload whose output just ended: the runtime
    /// records the end at that moment, or very soon after.
    pub async fn ended(&self, id: &WorkloadId) -> Result<WorkloadRecord> {
        const POLLS: u32 = 500;
        const EVERY: Duration = Duration::from_millis(10);
        for _ in 0..POLLS {
            let rec = self.refresh(self.get(id).await?).await?;
            if rec.status.is_terminal() {
                return Ok(rec);
            }
            tokio::time::sleep(EVERY).await;
        }
        Err(EngineError::EndNotRecorded { id: id.to_string() })
    }
}

/// Compile-time proof that the futures a server spawns are `Send` (never called).
#[allow(dead_code)]
fn engine_futures_are_send(engine: &Engine, workload: Workload, id: &WorkloadId, rec: WorkloadRecord) {
    fn send<T: Send>(_: T) {}
    send(engine.launch(workload, None, None));
    send(engine.find("q"));
    send(engine.refresh(rec));
    send(engine.list(true));
    send(engine.adopt_unknown());
    send(engine.adopt_everywhere());
    send(engine.remove_context("c", true, Duration::ZERO));
    send(engine.history(id));
    send(engine.stop("q", Duration::ZERO));
    send(engine.remove("q", true));
    send(engine.pause("q"));
    send(engine.resume("q"));
    send(engine.logs("q", LogOptions::default()));
    send(engine.wait("q"));
    send(engine.ended(id));
    send(engine.find_started("q"));
}
