//! The engine: one context's runtime plus the state store, and the few rules
//! that tie them together (unique live names, status history, re-discovery).
//! Front ends (the CLI now, the scheduler daemon later) go through it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use chrono::Utc;
use ferry_spec::Workload;

use crate::context::{Context, ContextStore};
use crate::store::{NewWorkload, Reservation, Store, StoreError, WorkloadRecord};
use crate::{Handle, Launch, Runtime, RuntimeError, Status, WorkloadId};

/// Errors from the engine: the store's or the runtime's, with context.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("workload {name} ({id}) never started: {status}")]
    NeverStarted { name: String, id: String, status: Status },
    #[error("cannot open the state store {}: {source}", path.display())]
    StoreOpen { path: PathBuf, source: StoreError },
}

pub type Result<T> = std::result::Result<T, EngineError>;

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
}

impl Engine {
    pub fn new(store: StoreSource, context: Context, contexts: ContextStore, factory: RuntimeFactory) -> Self {
        let (store_path, store, opening) = match store {
            StoreSource::Open(s) => (s.path().to_path_buf(), OnceLock::from(s), None),
            StoreSource::Opening { path, thread } => (path, OnceLock::new(), Some(thread)),
        };
        let runtimes = Mutex::new(HashMap::new());
        Engine { store, opening: Mutex::new(opening), store_path, context, contexts, factory, runtimes }
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

    /// Start a new workload and record it. The runtime prepares it while the
    /// store may still be opening; nothing starts before its name is held
    /// (see [`Store::reserve`]). A failure to prepare or start is recorded
    /// as `Failed` (never lost) and returned. Returns the record as written
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
        runtime.capabilities().check_workload(kind, &workload)?;
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
        // Recorded now, or (a brief start) while it starts.
        let reservation = if runtime.start_is_brief() {
            Some(reservation)
        } else {
            reservation.commit(None, &Status::Pending)?;
            None
        };
        let started = match prepared {
            Ok(()) => runtime.start(&launch).await,
            Err(e) => Err(e),
        };
        let store = self.store()?;
        match (started, reservation) {
            (Ok(handle), Some(reservation)) => match reservation.commit(Some(&handle), &Status::Pending) {
                Ok(written) => return Ok(written),
                Err(e) => {
                    // Unrecorded, it would run unseen until a `ps` adopts it.
                    if let Err(d) = runtime.destroy(&handle).await {
                        tracing::warn!("cannot remove workload {id}, which could not be recorded: {d}");
                    }
                    return Err(e.into());
                }
            },
            (Ok(handle), None) => store.set_handle(&id, &handle)?,
            (Err(e), reservation) => {
                let failed = Status::Failed { exit_code: None, reason: format!("failed to start: {e}") };
                match reservation {
                    Some(reservation) => drop(reservation.commit(None, &failed)?),
                    None => drop(store.record_status(&id, &failed, Utc::now())?),
                }
                return Err(e.into());
            }
        }
        self.refresh(store.get(&id)?).await
    }

    /// Hold a new workload's name. Its holder may be live only in the store:
    /// the store may not know yet that the holder ended (its monitor writes
    /// the end to the runtime's own state first and to the store a moment
    /// later, and a monitor may have died), so the holder is refreshed from
    /// its runtime before the name is refused.
    async fn reserve<'a>(&'a self, record: &'a NewWorkload) -> Result<Reservation<'a>> {
        let store = self.store()?;
        match store.reserve(record) {
            Err(StoreError::NameInUse { id, .. }) => {
                if let Some(holder) = id.parse::<WorkloadId>().ok().and_then(|id| store.get(&id).ok()) {
                    self.refresh(holder).await?;
                }
                Ok(store.reserve(record)?)
            }
            other => Ok(other?),
        }
    }

    /// Bring a record up to date with its runtime (no-op once it ended).
    pub async fn refresh(&self, rec: WorkloadRecord) -> Result<WorkloadRecord> {
        if rec.status.is_terminal() {
            return Ok(rec);
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
        self.store()?.record_status(&rec.id, &status, Utc::now())?;
        Ok(self.store()?.get(&rec.id)?)
    }

    /// Find by id, id prefix or name, refreshed.
    pub async fn find(&self, query: &str) -> Result<WorkloadRecord> {
        let rec = self.store()?.find(query)?;
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

    /// All workloads, refreshed; first adopts any the runtime knows but the
    /// store does not (the store was lost or another machine started them).
    pub async fn list(&self, include_finished: bool) -> Result<Vec<WorkloadRecord>> {
        self.adopt_unknown().await?;
        let mut out = Vec::new();
        // A finished workload never becomes live again: only live records need
        // asking their runtime.
        for rec in self.store()?.list(include_finished)? {
            let rec = self.refresh(rec).await?;
            if include_finished || rec.status.is_live() {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Re-discover workloads from the runtime. Returns how many were adopted.
    pub async fn adopt_unknown(&self) -> Result<usize> {
        let mut adopted = 0;
        let known = self.store()?.ids()?;
        for (mut handle, status) in self.runtime()?.list_unknown(&known).await? {
            let Some(spec) = handle.details.remove(DETAIL_SPEC).and_then(|s| serde_json::from_str::<Workload>(&s).ok())
            else {
                tracing::warn!("cannot adopt {}: the runtime kept no spec", handle.native_id);
                continue;
            };
            let name = handle.details.remove(DETAIL_NAME).unwrap_or_else(|| spec.name.clone());
            self.store()?.adopt(
                &NewWorkload {
                    id: handle.workload.clone(),
                    name,
                    context: self.context.name.clone(),
                    runtime: handle.runtime,
                    spec,
                    spec_path: None,
                },
                &handle,
                &status,
            )?;
            adopted += 1;
        }
        Ok(adopted)
    }
}
