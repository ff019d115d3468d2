//! Every call the server makes into Ferry's engine, and only here.
//!
//! `Engine::launch` is not `Send` yet (it holds the store's connection across
//! the runtime's start), so the engines live on one dedicated thread with its
//! own current-thread tokio runtime, fed by a channel; each call runs there
//! as a local task, so a slow start or a followed log does not hold the
//! others up. When the engine's futures become `Send`, this module alone
//! changes: the same methods call the engine directly.

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use ferry_core::context::Context;
use ferry_core::engine::{Engine, StoreSource};
use ferry_core::store::Store;
use ferry_core::{LogLine, LogOptions, Operation, Runtime, RuntimeError, Status};
use ferry_spec::Workload;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

/// Builds the runtime a context describes (the binary knows the runtime crates).
pub type Factory = Arc<dyn Fn(&Context) -> Result<Arc<dyn Runtime>, RuntimeError> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("no pool {0:?}")]
    NoPool(String),
    #[error(transparent)]
    Engine(#[from] ferry_core::engine::EngineError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("the engine thread is gone")]
    Gone,
    #[error("cannot start the engine thread: {0}")]
    Thread(String),
}

pub type Result<T, E = DispatchError> = std::result::Result<T, E>;

/// What a pool's runtime can run, read from its capabilities at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolAbilities {
    pub host_processes: bool,
    pub images: bool,
    pub gpus: bool,
}

/// A workload as its runtime reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub workload_id: String,
    pub status: Status,
}

type Reply<T> = oneshot::Sender<Result<T>>;

enum Call {
    Launch { pool: String, workload: Box<Workload>, name: String, reply: Reply<Observed> },
    Status { pool: String, workload_id: String, reply: Reply<Observed> },
    FindByName { pool: String, name: String, reply: Reply<Option<Observed>> },
    Stop { pool: String, workload_id: String, grace: Duration, reply: Reply<()> },
    Logs { pool: String, workload_id: String, follow: bool, lines: mpsc::Sender<Result<LogLine>>, reply: Reply<()> },
    Health { pool: String, reply: Reply<()> },
}

/// The handle the rest of the server calls the engine through (cheap to clone).
#[derive(Clone)]
pub struct Dispatch {
    tx: mpsc::UnboundedSender<Call>,
}

impl Dispatch {
    /// Start the engine thread with one engine per pool (`pools`: pool name
    /// and the Ferry context it runs on), all recording into the workload
    /// store at `store_path`. Returns what each pool's runtime can run.
    pub fn start(
        store_path: PathBuf,
        contexts: ferry_core::context::ContextStore,
        pools: Vec<(String, Context)>,
        factory: Factory,
    ) -> Result<(Dispatch, HashMap<String, PoolAbilities>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("ferry-engine".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => return drop(ready_tx.send(Err(DispatchError::Thread(e.to_string())))),
                };
                let engines = match open_engines(&store_path, &contexts, pools, &factory) {
                    Ok(engines) => engines,
                    Err(e) => return drop(ready_tx.send(Err(e))),
                };
                let abilities = engines
                    .iter()
                    .map(|(name, engine)| Ok((name.clone(), abilities_of(&*engine.runtime()?))))
                    .collect::<Result<HashMap<_, _>>>();
                let ok = abilities.is_ok();
                let _ = ready_tx.send(abilities);
                if ok {
                    tokio::task::LocalSet::new().block_on(&runtime, serve(engines, rx));
                }
            })
            .map_err(|e| DispatchError::Thread(e.to_string()))?;
        let abilities = ready_rx.recv().map_err(|_| DispatchError::Gone)??;
        Ok((Dispatch { tx }, abilities))
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Call) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| DispatchError::Gone)?;
        rx.await.map_err(|_| DispatchError::Gone)?
    }

    /// Start `workload` on `pool` under the instance name `name`.
    pub async fn launch(&self, pool: &str, workload: Workload, name: String) -> Result<Observed> {
        self.call(|reply| Call::Launch { pool: pool.into(), workload: Box::new(workload), name, reply }).await
    }

    /// The workload's status, refreshed from its runtime.
    pub async fn status(&self, pool: &str, workload_id: &str) -> Result<Observed> {
        self.call(|reply| Call::Status { pool: pool.into(), workload_id: workload_id.into(), reply }).await
    }

    /// The workload named `name` on `pool`, if the store or the runtime knows
    /// it (the runtime's unknown workloads are adopted first): how a restarted
    /// server learns whether a job it was starting did start.
    pub async fn find_by_name(&self, pool: &str, name: &str) -> Result<Option<Observed>> {
        self.call(|reply| Call::FindByName { pool: pool.into(), name: name.into(), reply }).await
    }

    pub async fn stop(&self, pool: &str, workload_id: &str, grace: Duration) -> Result<()> {
        self.call(|reply| Call::Stop { pool: pool.into(), workload_id: workload_id.into(), grace, reply }).await
    }

    /// The workload's output, line by line, into the returned channel (which
    /// closes at the end of the output, or when the workload ends if `follow`).
    pub async fn logs(&self, pool: &str, workload_id: &str, follow: bool) -> Result<mpsc::Receiver<Result<LogLine>>> {
        let (lines, rx) = mpsc::channel(256);
        self.call(|reply| Call::Logs { pool: pool.into(), workload_id: workload_id.into(), follow, lines, reply })
            .await?;
        Ok(rx)
    }

    /// Whether the pool's runtime answers (it lists its workloads).
    pub async fn health(&self, pool: &str) -> Result<()> {
        self.call(|reply| Call::Health { pool: pool.into(), reply }).await
    }
}

fn open_engines(
    store_path: &std::path::Path,
    contexts: &ferry_core::context::ContextStore,
    pools: Vec<(String, Context)>,
    factory: &Factory,
) -> Result<HashMap<String, Rc<Engine>>> {
    let mut engines = HashMap::new();
    for (name, context) in pools {
        let store = Store::open(store_path).map_err(ferry_core::engine::EngineError::from)?;
        let factory = factory.clone();
        let engine = Engine::new(StoreSource::Open(store), context, contexts.clone(), Box::new(move |c| factory(c)));
        engines.insert(name, Rc::new(engine));
    }
    Ok(engines)
}

fn abilities_of(runtime: &dyn Runtime) -> PoolAbilities {
    let caps = runtime.capabilities();
    PoolAbilities {
        host_processes: caps.supports(Operation::HostProcess),
        images: caps.supports(Operation::Images),
        gpus: caps.supports(Operation::Gpus),
    }
}

/// The engine thread's loop: each call becomes a local task.
async fn serve(engines: HashMap<String, Rc<Engine>>, mut rx: mpsc::UnboundedReceiver<Call>) {
    while let Some(call) = rx.recv().await {
        let pool = match &call {
            Call::Launch { pool, .. }
            | Call::Status { pool, .. }
            | Call::FindByName { pool, .. }
            | Call::Stop { pool, .. }
            | Call::Logs { pool, .. }
            | Call::Health { pool, .. } => pool.clone(),
        };
        match engines.get(&pool) {
            Some(engine) => drop(tokio::task::spawn_local(run(engine.clone(), call))),
            None => fail(call, DispatchError::NoPool(pool)),
        }
    }
}

fn fail(call: Call, e: DispatchError) {
    match call {
        Call::Launch { reply, .. } | Call::Status { reply, .. } => drop(reply.send(Err(e))),
        Call::FindByName { reply, .. } => drop(reply.send(Err(e))),
        Call::Stop { reply, .. } | Call::Logs { reply, .. } | Call::Health { reply, .. } => drop(reply.send(Err(e))),
    }
}

async fn run(engine: Rc<Engine>, call: Call) {
    match call {
        Call::Launch { workload, name, reply, .. } => {
            let out = engine.launch(*workload, None, Some(name)).await.map(observed);
            let _ = reply.send(out.map_err(Into::into));
        }
        Call::Status { workload_id, reply, .. } => {
            let _ = reply.send(engine.find(&workload_id).await.map(observed).map_err(Into::into));
        }
        Call::FindByName { name, reply, .. } => {
            let _ = reply.send(find_by_name(&engine, &name).await);
        }
        Call::Stop { workload_id, grace, reply, .. } => {
            let _ = reply.send(stop(&engine, &workload_id, grace).await);
        }
        Call::Logs { workload_id, follow, lines, reply, .. } => {
            let opened = async {
                let (_, handle, runtime) = engine.find_started(&workload_id).await?;
                Ok::<_, DispatchError>(runtime.logs(&handle, LogOptions { follow, tail: None }).await?)
            }
            .await;
            match opened {
                Ok(mut stream) => {
                    let _ = reply.send(Ok(()));
                    while let Some(line) = stream.next().await {
                        if lines.send(line.map_err(Into::into)).await.is_err() {
                            break; // the client went away
                        }
                    }
                }
                Err(e) => drop(reply.send(Err(e))),
            }
        }
        Call::Health { reply, .. } => {
            let out = async { Ok::<_, DispatchError>(engine.runtime()?.list().await.map(drop)?) }.await;
            let _ = reply.send(out);
        }
    }
}

fn observed(rec: ferry_core::store::WorkloadRecord) -> Observed {
    Observed { workload_id: rec.id.to_string(), status: rec.status }
}

async fn find_by_name(engine: &Engine, name: &str) -> Result<Option<Observed>> {
    engine.adopt_unknown().await?;
    let records = engine.store()?.list(true).map_err(ferry_core::engine::EngineError::from)?;
    let found = records.into_iter().filter(|r| r.name == name).max_by_key(|r| r.created_at);
    match found {
        Some(rec) => Ok(Some(observed(engine.refresh(rec).await?))),
        None => Ok(None),
    }
}

async fn stop(engine: &Engine, workload_id: &str, grace: Duration) -> Result<()> {
    let (rec, handle, runtime) = engine.find_started(workload_id).await?;
    if rec.status.is_live() {
        runtime.stop(&handle, grace).await?;
    }
    Ok(())
}
