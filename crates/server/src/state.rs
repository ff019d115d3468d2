//! What the HTTP handlers and the scheduler loop share.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio::sync::{watch, Notify};
use utoipa::ToSchema;

use crate::config::PoolConfig;
use crate::db::Db;
use crate::dispatch::Dispatch;
use crate::metrics::Metrics;

/// A pool as `GET /v1/pools` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PoolStatus {
    #[serde(flatten)]
    pub config: PoolConfig,
    pub healthy: bool,
    /// Why the last health check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_error: Option<String>,
    pub host_processes: bool,
    pub images: bool,
}

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub dispatch: Dispatch,
    pub metrics: Arc<Metrics>,
    /// Wakes the scheduler loop (a submission, a cancel).
    pub wake: Arc<Notify>,
    /// Bumped whenever a job changes state: `wait` listens to it.
    pub changes: watch::Sender<u64>,
    /// Why each queued job waits, from the last scheduling round.
    pub waiting: Arc<RwLock<HashMap<String, String>>>,
    pub pools: Arc<RwLock<Vec<PoolStatus>>>,
}

impl AppState {
    /// Tell the listeners that some job changed.
    pub fn job_changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn wait_reason(&self, job: &str) -> Option<String> {
        self.waiting.read().unwrap_or_else(|p| p.into_inner()).get(job).cloned()
    }
}
