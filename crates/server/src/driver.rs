//! The scheduler loop: the thin async shell around [`crate::sched::schedule`].
//! Each round it reads a snapshot from the database, lets the pure core plan,
//! and carries the plan out through [`Dispatch`]; it also follows started
//! jobs to their end, stops cancelled ones, and checks the pools' health.
//! A submission or a cancel wakes it; otherwise it runs every `tick`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferry_core::Status;

use crate::config::{millicpus, PoolConfig};
use crate::db::{now_ms, DbError, JobRecord, JobState};
use crate::dispatch::{DispatchError, Observed, PoolAbilities};
use crate::sched::{self, Holding, Pool, QueuedJob, Snapshot, Strategy, TenantLimits};
use crate::state::{AppState, PoolStatus};

/// The least time between two rounds: a burst of submissions (each wakes the
/// loop) makes one round, not one each (HyperQueue's scheduler loop does the same).
const MIN_ROUND_GAP: Duration = Duration::from_millis(50);
/// How often pools are health-checked.
const HEALTH_EVERY: Duration = Duration::from_secs(15);
/// Grace given to a cancelled job between SIGTERM (or equivalent) and kill.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
}

pub struct Driver {
    st: AppState,
    pools: Vec<PoolConfig>,
    abilities: HashMap<String, PoolAbilities>,
    strategy: Strategy,
    tick: Duration,
    last_health: Option<Instant>,
}

impl Driver {
    pub fn new(
        st: AppState,
        pools: Vec<PoolConfig>,
        abilities: HashMap<String, PoolAbilities>,
        strategy: Strategy,
        tick: Duration,
    ) -> Driver {
        Driver { st, pools, abilities, strategy, tick, last_health: None }
    }

    /// Run until `shutdown` fires. A failing round is logged and retried next tick.
    pub async fn run(mut self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        if let Err(e) = self.recover().await {
            tracing::error!("recovering jobs that were starting: {e}");
        }
        loop {
            if let Err(e) = self.round().await {
                tracing::error!("scheduling round failed: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(MIN_ROUND_GAP) => {}
                _ = shutdown.changed() => break,
            }
            tokio::select! {
                _ = self.st.wake.notified() => {}
                _ = tokio::time::sleep(self.tick) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tracing::info!("scheduler loop stopped");
    }

    /// After a restart: a job left `starting` either reached its runtime
    /// (its workload exists under the job's name: it is running) or did not
    /// (back to the queue). Either way it runs once.
    async fn recover(&mut self) -> Result<(), DriverError> {
        for job in self.st.db.jobs_in(&[JobState::Starting]).await? {
            let Some(pool) = job.pool.clone() else {
                self.st.db.requeue(&job.id).await?;
                continue;
            };
            match self.st.dispatch.find_by_name(&pool, &job.workload_name()).await {
                Ok(Some(found)) => {
                    tracing::info!(job = %job.id, workload = %found.workload_id, "recovered a job that had started");
                    self.st.db.mark_running(&job.id, &found.workload_id).await?;
                    record_end(&self.st, &job.id, JobState::Running, job.cancel_requested, &found.status).await?;
                }
                Ok(None) => {
                    tracing::info!(job = %job.id, "requeued a job that never reached its runtime");
                    self.st.db.requeue(&job.id).await?;
                }
                Err(e) => tracing::warn!(job = %job.id, "cannot tell whether it started, will retry: {e}"),
            }
        }
        self.st.job_changed();
        Ok(())
    }

    async fn round(&mut self) -> Result<(), DriverError> {
        if self.last_health.is_none_or(|t| t.elapsed() >= HEALTH_EVERY) {
            self.check_health().await;
            self.last_health = Some(Instant::now());
        }
        self.follow_running().await?;
        self.place().await
    }

    async fn check_health(&mut self) {
        let mut statuses = Vec::new();
        for pool in &self.pools {
            let health = self.st.dispatch.health(&pool.name).await;
            if let Err(e) = &health {
                tracing::warn!(pool = %pool.name, "health check failed: {e}");
            }
            let abilities = self.abilities.get(&pool.name).copied();
            self.st
                .metrics
                .pool_healthy
                .get_or_create(&vec![("pool".into(), pool.name.clone())])
                .set(i64::from(health.is_ok()));
            statuses.push(PoolStatus {
                config: pool.clone(),
                healthy: health.is_ok(),
                health_error: health.err().map(|e| e.to_string()),
                host_processes: abilities.is_some_and(|a| a.host_processes),
                images: abilities.is_some_and(|a| a.images),
            });
        }
        *self.st.pools.write().unwrap_or_else(|p| p.into_inner()) = statuses;
    }

    /// Ask the runtimes about started jobs; record ends; stop cancelled ones.
    async fn follow_running(&mut self) -> Result<(), DriverError> {
        for job in self.st.db.jobs_in(&[JobState::Running]).await? {
            let (Some(pool), Some(workload)) = (&job.pool, &job.workload_id) else { continue };
            if job.cancel_requested {
                if let Err(e) = self.st.dispatch.stop(pool, workload, CANCEL_GRACE).await {
                    tracing::warn!(job = %job.id, "cannot stop: {e}");
                }
            }
            match self.st.dispatch.status(pool, workload).await {
                Ok(Observed { status, .. }) => {
                    record_end(&self.st, &job.id, JobState::Running, job.cancel_requested, &status).await?;
                }
                Err(e) => tracing::warn!(job = %job.id, "cannot read its status: {e}"),
            }
        }
        Ok(())
    }

    /// One scheduling round: snapshot, plan, start.
    async fn place(&mut self) -> Result<(), DriverError> {
        let queued = self.st.db.jobs_in(&[JobState::Queued]).await?;
        let holding_jobs = self.st.db.jobs_in(&[JobState::Starting, JobState::Running]).await?;
        let snapshot = Snapshot {
            pools: self.pool_views(),
            tenants: self
                .st
                .db
                .tenants()
                .await?
                .into_iter()
                .map(|t| TenantLimits {
                    max_millicpus: t.quota.cpus.map(millicpus),
                    max_memory: t.quota.memory,
                    max_gpus: t.quota.gpus,
                    max_running: t.quota.running,
                    weight: t.weight,
                    name: t.name,
                })
                .collect(),
            queued: queued.iter().map(queued_view).collect(),
            holding: holding_jobs
                .iter()
                .filter_map(|j| Some(Holding { tenant: j.tenant.clone(), pool: j.pool.clone()?, holds: j.needs }))
                .collect(),
        };
        let plan = sched::schedule(&snapshot, self.strategy, now_ms());
        *self.st.waiting.write().unwrap_or_else(|p| p.into_inner()) =
            plan.waiting.iter().map(|(id, why)| (id.clone(), why.to_string())).collect();
        let by_id: HashMap<&str, &JobRecord> = queued.iter().map(|j| (j.id.as_str(), j)).collect();
        for (id, pool) in &plan.starts {
            let Some(&job) = by_id.get(id.as_str()) else { continue };
            // Claimed here, before the runtime is asked: the next round counts
            // it as holding its pool, and a crash in between is found by
            // [`Driver::recover`]. The start itself runs on its own, so a slow
            // one (an image pull) holds no other job up.
            if !self.st.db.claim(&job.id, pool).await? {
                continue; // cancelled meanwhile
            }
            self.st.job_changed();
            tokio::spawn(launch(self.st.clone(), job.clone(), pool.clone()));
        }
        Ok(())
    }

    fn pool_views(&self) -> Vec<Pool> {
        let health = self.st.pools.read().unwrap_or_else(|p| p.into_inner());
        self.pools
            .iter()
            .map(|p| {
                let abilities = self.abilities.get(&p.name);
                Pool {
                    name: p.name.clone(),
                    capacity: p.capacity(),
                    gpu_type: p.gpu_type.clone(),
                    labels: p.labels.clone(),
                    cost_per_hour: p.cost_per_hour,
                    host_processes: abilities.is_some_and(|a| a.host_processes),
                    images: abilities.is_some_and(|a| a.images),
                    healthy: health.iter().any(|s| s.config.name == p.name && s.healthy),
                }
            })
            .collect()
    }
}

/// Start a claimed job on `pool` and record the outcome.
async fn launch(st: AppState, job: JobRecord, pool: String) {
    if let Err(e) = try_launch(&st, &job, &pool).await {
        tracing::error!(job = %job.id, "recording its start failed (the next start of the server resolves it): {e}");
    }
}

async fn try_launch(st: &AppState, job: &JobRecord, pool: &str) -> Result<(), DriverError> {
    let workload = job.spec()?;
    match st.dispatch.launch(pool, workload, job.workload_name()).await {
        Ok(started) => {
            let latency = (now_ms() - job.submitted_at).max(0) as f64 / 1000.0;
            st.metrics.dispatch_latency.observe(latency);
            tracing::info!(job = %job.id, pool, workload = %started.workload_id, "job started");
            st.db.mark_running(&job.id, &started.workload_id).await?;
            st.job_changed();
            record_end(st, &job.id, JobState::Running, false, &started.status).await
        }
        Err(e) => {
            tracing::warn!(job = %job.id, pool, "start failed: {e}");
            let reason = format!("failed to start on {pool}: {e}");
            st.db.mark_ended(&job.id, JobState::Starting, JobState::Failed, None, Some(&reason)).await?;
            st.job_changed();
            Ok(())
        }
    }
}

/// If `status` is an end, move the job there from `from`.
async fn record_end(
    st: &AppState,
    id: &str,
    from: JobState,
    cancelled: bool,
    status: &Status,
) -> Result<(), DriverError> {
    let (state, code, reason) = match status {
        _ if !status.is_terminal() => return Ok(()),
        _ if cancelled => (JobState::Cancelled, status.exit_code(), Some("cancelled".to_string())),
        Status::Succeeded => (JobState::Succeeded, Some(0), None),
        Status::Failed { exit_code, reason } => (JobState::Failed, *exit_code, Some(reason.clone())),
        _ => (JobState::Cancelled, status.exit_code(), Some(status.to_string())),
    };
    if st.db.mark_ended(id, from, state, code.map(i64::from), reason.as_deref()).await? {
        tracing::info!(job = %id, state = state.as_str(), "job ended");
        st.job_changed();
    }
    Ok(())
}

fn queued_view(job: &JobRecord) -> QueuedJob {
    QueuedJob {
        id: job.id.clone(),
        tenant: job.tenant.clone(),
        priority: job.priority,
        submitted_at: job.submitted_at,
        needs: job.needs,
        gpu_type: job.gpu_type.clone(),
        image: job.workload.get("image").is_some_and(|i| !i.is_null()),
        placement: job.placement.clone(),
    }
}
