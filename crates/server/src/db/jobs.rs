//! The job queue. A job's life: `queued` → `starting` (a pool chosen, the
//! runtime being asked) → `running` → `succeeded` | `failed` | `cancelled`.
//! Every transition is one conditional UPDATE on the state it leaves, so two
//! writers (or a restarted server) can never move a job twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use utoipa::ToSchema;

use super::{now_ms, random_hex, Db, DbError, Result};
use crate::sched::Resources;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Starting,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Starting,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Starting => "starting",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed | JobState::Cancelled)
    }
}

/// What a submission records.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub tenant: String,
    pub submitted_by: String,
    pub workload: ferry_spec::Workload,
    pub placement: BTreeMap<String, String>,
    pub priority: i64,
    pub needs: Resources,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobRecord {
    pub id: String,
    pub tenant: String,
    pub submitted_by: String,
    pub name: String,
    pub state: JobState,
    pub priority: i64,
    /// What the job holds while it runs.
    pub needs: Resources,
    pub gpu_type: Option<String>,
    /// Pool labels the job must run on.
    pub placement: BTreeMap<String, String>,
    /// The pool (a Ferry context) chosen for it.
    pub pool: Option<String>,
    /// Its workload id in ferry-core's store, once started.
    pub workload_id: Option<String>,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
    pub cancel_requested: bool,
    /// Milliseconds since the Unix epoch.
    pub submitted_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The workload as submitted (the same model as the YAML file).
    #[schema(value_type = Object)]
    pub workload: serde_json::Value,
    /// While queued: why the scheduler has not started it (not stored; set by the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_reason: Option<String>,
}

impl JobRecord {
    /// The workload name a job gets in its runtime: derived from the job id,
    /// so a restarted server finds what it started before it died, and the
    /// engine's unique-live-name rule refuses a second start.
    pub fn workload_name(&self) -> String {
        format!("job-{}", self.id)
    }

    pub fn spec(&self) -> Result<ferry_spec::Workload> {
        serde_json::from_value(self.workload.clone())
            .map_err(|e| DbError::Corrupt { table: "jobs", why: format!("job {}: {e}", self.id) })
    }
}

fn job_from(row: &AnyRow) -> Result<JobRecord> {
    let corrupt = |why: String| DbError::Corrupt { table: "jobs", why };
    let state: String = row.try_get("state")?;
    let spec: String = row.try_get("spec")?;
    let placement: String = row.try_get("placement")?;
    let get_u64 = |col: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(col)?.max(0) as u64) };
    Ok(JobRecord {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        submitted_by: row.try_get("submitted_by")?,
        name: row.try_get("name")?,
        state: JobState::parse(&state).ok_or_else(|| corrupt(format!("unknown state {state:?}")))?,
        priority: row.try_get("priority")?,
        needs: Resources { millicpus: get_u64("millicpus")?, memory: get_u64("memory")?, gpus: get_u64("gpus")? },
        gpu_type: row.try_get("gpu_type")?,
        placement: serde_json::from_str(&placement).map_err(|e| corrupt(e.to_string()))?,
        pool: row.try_get("pool")?,
        workload_id: row.try_get("workload_id")?,
        exit_code: row.try_get("exit_code")?,
        reason: row.try_get("reason")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        submitted_at: row.try_get("submitted_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        workload: serde_json::from_str(&spec).map_err(|e| corrupt(e.to_string()))?,
        wait_reason: None,
    })
}

fn not_found(id: &str) -> DbError {
    DbError::NotFound { what: "job", name: id.into() }
}

impl Db {
    pub async fn insert_job(&self, job: NewJob) -> Result<JobRecord> {
        let id = random_hex(8);
        let spec =
            serde_json::to_string(&job.workload).map_err(|e| DbError::Corrupt { table: "jobs", why: e.to_string() })?;
        let placement = serde_json::to_string(&job.placement).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO jobs (id, tenant, submitted_by, name, spec, placement, priority, millicpus, memory, gpus,
                               gpu_type, state, submitted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&id)
        .bind(&job.tenant)
        .bind(&job.submitted_by)
        .bind(&job.workload.name)
        .bind(spec)
        .bind(placement)
        .bind(job.priority)
        .bind(job.needs.millicpus as i64)
        .bind(job.needs.memory as i64)
        .bind(job.needs.gpus as i64)
        .bind(job.workload.resources.gpu_type.clone())
        .bind(JobState::Queued.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.job(None, &id).await
    }

    /// One job; with `tenant`, only if it belongs to that tenant (another
    /// tenant's job is "not found", not "forbidden": its existence is not told).
    pub async fn job(&self, tenant: Option<&str>, id: &str) -> Result<JobRecord> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        let job = row.as_ref().map(job_from).transpose()?.ok_or_else(|| not_found(id))?;
        match tenant {
            Some(t) if t != job.tenant => Err(not_found(id)),
            _ => Ok(job),
        }
    }

    /// A tenant's jobs, oldest first, optionally in one state.
    pub async fn jobs_of(&self, tenant: &str, state: Option<JobState>) -> Result<Vec<JobRecord>> {
        let rows = match state {
            Some(s) => {
                sqlx::query("SELECT * FROM jobs WHERE tenant = $1 AND state = $2 ORDER BY submitted_at, id")
                    .bind(tenant)
                    .bind(s.as_str())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM jobs WHERE tenant = $1 ORDER BY submitted_at, id")
                    .bind(tenant)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(job_from).collect()
    }

    /// Every job in one of `states` (the scheduler's view), oldest first.
    pub async fn jobs_in(&self, states: &[JobState]) -> Result<Vec<JobRecord>> {
        let mut out = Vec::new();
        for s in states {
            let rows = sqlx::query("SELECT * FROM jobs WHERE state = $1 ORDER BY submitted_at, id")
                .bind(s.as_str())
                .fetch_all(&self.pool)
                .await?;
            for r in &rows {
                out.push(job_from(r)?);
            }
        }
        Ok(out)
    }

    /// How many jobs are in each (state, pool): the metrics' view.
    pub async fn job_counts(&self) -> Result<Vec<(JobState, Option<String>, u64)>> {
        let rows = sqlx::query("SELECT state, pool, COUNT(*) AS n FROM jobs GROUP BY state, pool")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            let state: String = r.try_get("state")?;
            if let Some(s) = JobState::parse(&state) {
                out.push((s, r.try_get("pool")?, r.try_get::<i64, _>("n")?.max(0) as u64));
            }
        }
        Ok(out)
    }

    /// Move a job from `from` to `to`, setting the given columns. False when
    /// the job was no longer in `from` (someone else moved it first).
    async fn transition(&self, id: &str, from: JobState, to: JobState, set: Transition<'_>) -> Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET state = $1,
                pool = COALESCE($2, pool),
                workload_id = COALESCE($3, workload_id),
                exit_code = COALESCE($4, exit_code),
                reason = COALESCE($5, reason),
                started_at = CASE WHEN $6 = 1 THEN $7 ELSE started_at END,
                ended_at = CASE WHEN $8 = 1 THEN $7 ELSE ended_at END
             WHERE id = $9 AND state = $10",
        )
        .bind(to.as_str())
        .bind(set.pool)
        .bind(set.workload_id)
        .bind(set.exit_code)
        .bind(set.reason)
        .bind(i64::from(to == JobState::Running))
        .bind(now)
        .bind(i64::from(to.is_terminal()))
        .bind(id)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claim a queued job for `pool`, before the runtime is asked: a server
    /// that dies now finds it `starting` and checks the runtime, never starts it blind.
    pub async fn claim(&self, id: &str, pool: &str) -> Result<bool> {
        self.transition(id, JobState::Queued, JobState::Starting, Transition { pool: Some(pool), ..Default::default() })
            .await
    }

    pub async fn mark_running(&self, id: &str, workload_id: &str) -> Result<bool> {
        let set = Transition { workload_id: Some(workload_id), ..Default::default() };
        self.transition(id, JobState::Starting, JobState::Running, set).await
    }

    /// A claimed job that never reached its runtime goes back to the queue.
    pub async fn requeue(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE jobs SET state = $1, pool = NULL WHERE id = $2 AND state = $3")
            .bind(JobState::Queued.as_str())
            .bind(id)
            .bind(JobState::Starting.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Record a job's end (from whichever live state it was in).
    pub async fn mark_ended(
        &self,
        id: &str,
        from: JobState,
        to: JobState,
        exit_code: Option<i64>,
        reason: Option<&str>,
    ) -> Result<bool> {
        self.transition(id, from, to, Transition { exit_code, reason, ..Default::default() }).await
    }

    /// Ask for a job to be cancelled: a queued job is cancelled at once, a
    /// started one is flagged for the scheduler loop to stop.
    pub async fn request_cancel(&self, tenant: &str, id: &str) -> Result<JobRecord> {
        let job = self.job(Some(tenant), id).await?;
        if job.state == JobState::Queued
            && self
                .mark_ended(id, JobState::Queued, JobState::Cancelled, None, Some("cancelled before it started"))
                .await?
        {
            return self.job(None, id).await;
        }
        sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND tenant = $2")
            .bind(id)
            .bind(tenant)
            .execute(&self.pool)
            .await?;
        self.job(None, id).await
    }
}

/// The columns a transition may set besides the state.
#[derive(Default)]
struct Transition<'a> {
    pool: Option<&'a str>,
    workload_id: Option<&'a str>,
    exit_code: Option<i64>,
    reason: Option<&'a str>,
}
