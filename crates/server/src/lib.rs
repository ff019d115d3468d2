//! `ferry-server`: one queue for many runtimes and many tenants.
//!
//! - [`db`]: the server's own tables (tenants, users, tokens, quotas, jobs) on SQLite or PostgreSQL.
//! - [`sched`]: the pure scheduling core (placement, strategies, priorities, fair share, quotas).
//! - [`driver`]: the async loop that feeds the core and carries its plans out.
//! - [`dispatch`]: the one module that calls Ferry's engine.
//! - [`routes`]: the HTTP API (axum) and its OpenAPI document.
//! - [`remote`]: the client side, a server as one more runtime for the CLI.

mod auth;
pub mod config;
pub mod db;
pub mod dispatch;
pub mod driver;
pub mod error;
mod extract;
pub mod metrics;
pub mod remote;
pub mod routes;
pub mod sched;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

use ferry_core::context::ContextStore;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

pub use config::{PoolConfig, ServerConfig};
pub use dispatch::Factory;
pub use routes::ApiDoc;

use crate::db::{Db, DbError, Role};
use crate::dispatch::{Dispatch, DispatchError};
use crate::driver::Driver;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    #[error("pool {pool}: {source}")]
    Context { pool: String, source: ferry_core::context::ContextError },
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: String, source: std::io::Error },
}

/// A server bound to its address, ready to run.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    driver: Driver,
    body_limit: usize,
}

impl Server {
    /// Open the database, start the engines of the pools, bind the address.
    pub async fn start(config: ServerConfig, contexts: ContextStore, factory: Factory) -> Result<Server, ServerError> {
        let db = Db::open(&config.database).await?;
        if let Some(path) = &config.bootstrap_token_file {
            bootstrap_admin(&db, path).await?;
        }
        let mut pools = Vec::new();
        for p in &config.pools {
            let context = contexts
                .get(p.context_name())
                .map_err(|source| ServerError::Context { pool: p.name.clone(), source })?;
            pools.push((p.name.clone(), context));
        }
        let (dispatch, abilities) = Dispatch::start(config.workload_store.clone(), contexts, pools, factory)?;
        let listener = TcpListener::bind(config.listen).await.map_err(|source| ServerError::Io {
            action: "cannot listen on",
            path: config.listen.to_string(),
            source,
        })?;
        let state = AppState {
            db,
            dispatch,
            metrics: Arc::default(),
            wake: Arc::new(Notify::new()),
            changes: watch::Sender::new(0),
            waiting: Arc::default(),
            pools: Arc::new(RwLock::new(Vec::new())),
        };
        let driver = Driver::new(state.clone(), config.pools.clone(), abilities, config.strategy, config.tick);
        Ok(Server { listener, state, driver, body_limit: config.body_limit })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serve until `shutdown` resolves: then stop accepting, finish the
    /// requests in flight, and stop the scheduler loop. Running workloads are
    /// left running (their monitors record their ends); the next start
    /// follows them again.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let driver = tokio::spawn(self.driver.run(stop_rx));
        let app = routes::router(self.state, self.body_limit);
        tracing::info!(addr = %self.listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()), "listening");
        let served = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await;
        let _ = stop_tx.send(true);
        let _ = driver.await;
        served.map_err(|source| ServerError::Io { action: "serving", path: "HTTP".into(), source })
    }
}

/// Resolves on SIGTERM or SIGINT: the signals that end the server cleanly.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => drop(s.recv().await),
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}

/// On a database with no users yet: create the `ops` tenant, an `admin`
/// user and its token, and write the token to `path` (mode 0600).
async fn bootstrap_admin(db: &Db, path: &Path) -> Result<(), ServerError> {
    if db.has_users().await? {
        return Ok(());
    }
    if db.tenant("ops").await.is_err() {
        db.create_tenant("ops", 1).await?;
    }
    db.create_user("admin", "ops", Role::Admin).await?;
    let (_, token) = db.create_token("admin").await?;
    write_secret(path, &token).map_err(|source| ServerError::Io {
        action: "cannot write the admin token to",
        path: path.display().to_string(),
        source,
    })?;
    tracing::info!(path = %path.display(), "created user admin; its token is in the file");
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    writeln!(f, "{secret}")
}
