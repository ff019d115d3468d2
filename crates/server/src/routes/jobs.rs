//! Jobs: submit, list, get, cancel, logs, wait; the queue and the pools.
//! Every handler scopes by the caller's tenant: another tenant's job is 404.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::config::millicpus;
use crate::db::{JobRecord, JobState, NewJob, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::sched::Resources;
use crate::state::{AppState, PoolStatus};

/// CPUs a job holds when its workload declares none.
pub const DEFAULT_CPUS: f64 = 1.0;
/// Priorities run from -PRIORITY_RANGE to PRIORITY_RANGE.
pub const PRIORITY_RANGE: i64 = 1000;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The workload file's text (the YAML `ferry run` reads).
    #[schema(example = "name: hello\ncommand: [echo, hi]\n")]
    pub workload: String,
    /// Higher starts first (-1000 to 1000, default 0).
    #[serde(default)]
    pub priority: i64,
    /// Labels the pool must carry, e.g. {"site": "hpc"}.
    #[serde(default)]
    pub placement: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only jobs in this state.
    pub state: Option<JobState>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Keep streaming until the job ends.
    #[serde(default)]
    pub follow: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// Give up after this many seconds (default 60, at most 3600) and return the job as it is.
    pub timeout: Option<u64>,
}

/// One line of a job's output, as `logs` streams them (newline-delimited JSON).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogEntry {
    /// stdout or stderr.
    pub stream: String,
    pub text: String,
    /// When the runtime recorded the line, if it did (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub time: Option<chrono::DateTime<chrono::Utc>>,
}

/// A queued job and why it waits.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueEntry {
    pub id: String,
    pub name: String,
    pub priority: i64,
    pub submitted_at: i64,
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = SubmitRequest,
    responses((status = 201, body = JobRecord), (status = 422, body = ErrorBody, description = "invalid workload or request"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = [])))]
pub async fn submit(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<SubmitRequest>,
) -> ApiResult<Response> {
    let caller = auth.require(Role::Member)?;
    let workload = ferry_spec::parse_str(&req.workload, Path::new("workload.yaml"))?;
    if req.priority.abs() > PRIORITY_RANGE {
        return Err(ApiError::invalid(
            "body.priority",
            format!("an integer from -{PRIORITY_RANGE} to {PRIORITY_RANGE}"),
            format!("priority {} is out of range", req.priority),
        ));
    }
    let r = &workload.resources;
    let needs = Resources {
        millicpus: millicpus(r.cpus.unwrap_or(DEFAULT_CPUS)),
        memory: r.memory.map_or(0, |m| m.bytes()),
        gpus: u64::from(r.gpus.unwrap_or(0)),
    };
    check_within_quota(&st, &caller.tenant, &needs).await?;
    let job = st
        .db
        .insert_job(NewJob {
            tenant: caller.tenant.clone(),
            submitted_by: caller.user.clone(),
            workload,
            placement: req.placement,
            priority: req.priority,
            needs,
        })
        .await?;
    tracing::info!(job = %job.id, tenant = %job.tenant, user = %job.submitted_by, "job submitted");
    st.wake.notify_one();
    Ok((StatusCode::CREATED, Json(job)).into_response())
}

/// A job that needs more than its tenant may ever hold would wait forever: refuse it now.
async fn check_within_quota(st: &AppState, tenant: &str, needs: &Resources) -> ApiResult<()> {
    let quota = st.db.tenant(tenant).await?.quota;
    let over = [
        ("cpus", quota.cpus.map(millicpus), needs.millicpus, 1000.0),
        ("memory", quota.memory, needs.memory, 1.0),
        ("gpus", quota.gpus, needs.gpus, 1.0),
    ]
    .into_iter()
    .find(|(_, limit, need, _)| limit.is_some_and(|l| *need > l));
    match over {
        Some((field, Some(limit), need, unit)) => Err(ApiError::invalid(
            format!("workload.resources.{field}"),
            format!("at most {} (tenant {tenant}'s quota)", limit as f64 / unit),
            format!(
                "the job needs {} {field}, more than tenant {tenant}'s quota of {}",
                need as f64 / unit,
                limit as f64 / unit
            ),
        )),
        _ => Ok(()),
    }
}

#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = Vec<JobRecord>), (status = 401, body = ErrorBody)), security(("token" = [])))]
pub async fn list(
    State(st): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<JobRecord>>> {
    let caller = auth.require(Role::Viewer)?;
    let mut jobs = st.db.jobs_of(&caller.tenant, q.state).await?;
    for job in &mut jobs {
        job.wait_reason = st.wait_reason(&job.id);
    }
    Ok(Json(jobs))
}

#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = JobRecord), (status = 404, body = ErrorBody)), security(("token" = [])))]
pub async fn get(State(st): State<AppState>, auth: Auth, UrlPath(id): UrlPath<String>) -> ApiResult<Json<JobRecord>> {
    let caller = auth.require(Role::Viewer)?;
    let mut job = st.db.job(Some(&caller.tenant), &id).await?;
    job.wait_reason = st.wait_reason(&job.id);
    Ok(Json(job))
}

#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = JobRecord), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub async fn cancel(
    State(st): State<AppState>,
    auth: Auth,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<JobRecord>> {
    let caller = auth.require(Role::Member)?;
    let job = st.db.job(Some(&caller.tenant), &id).await?;
    if job.state.is_terminal() {
        return Err(ApiError::conflict(format!("job {id} already ended ({})", job.state.as_str())));
    }
    let job = st.db.request_cancel(&caller.tenant, &id).await?;
    tracing::info!(job = %id, user = %caller.user, "cancel requested");
    st.job_changed();
    st.wake.notify_one();
    Ok(Json(job))
}

#[utoipa::path(get, path = "/v1/jobs/{id}/logs", tag = "jobs", params(("id" = String, Path), LogsQuery),
    responses((status = 200, content_type = "application/x-ndjson", body = LogEntry, description = "one LogEntry per line"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "not started yet")),
    security(("token" = [])))]
pub async fn logs(
    State(st): State<AppState>,
    auth: Auth,
    UrlPath(id): UrlPath<String>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    let caller = auth.require(Role::Viewer)?;
    let job = st.db.job(Some(&caller.tenant), &id).await?;
    let (Some(pool), Some(workload_id)) = (&job.pool, &job.workload_id) else {
        return Err(ApiError::conflict(format!(
            "job {id} has not started yet ({}): it has no output",
            job.state.as_str()
        )));
    };
    let lines = st.dispatch.logs(pool, workload_id, q.follow).await?;
    let body = ReceiverStream::new(lines).map(|line| {
        let line = line.map_err(|e| std::io::Error::other(e.to_string()))?;
        let entry = LogEntry {
            stream: match line.source {
                ferry_core::LogSource::Stdout => "stdout".into(),
                ferry_core::LogSource::Stderr => "stderr".into(),
            },
            text: String::from_utf8_lossy(&line.text).into_owned(),
            time: line.time,
        };
        let mut out = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        out.push(b'\n');
        Ok::<_, std::io::Error>(out)
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(body)).into_response())
}

#[utoipa::path(get, path = "/v1/jobs/{id}/wait", tag = "jobs", params(("id" = String, Path), WaitQuery),
    responses((status = 200, body = JobRecord, description = "the job, ended unless the timeout passed first"),
              (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn wait(
    State(st): State<AppState>,
    auth: Auth,
    UrlPath(id): UrlPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> ApiResult<Json<JobRecord>> {
    let caller = auth.require(Role::Viewer)?;
    let timeout = Duration::from_secs(q.timeout.unwrap_or(60).min(3600));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut changes = st.changes.subscribe();
    loop {
        // Subscribed before reading: a change after this read wakes us.
        changes.mark_unchanged();
        let job = st.db.job(Some(&caller.tenant), &id).await?;
        if job.state.is_terminal() {
            return Ok(Json(job));
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return Ok(Json(job)) },
            _ = tokio::time::sleep_until(deadline) => return Ok(Json(job)),
        }
    }
}

#[utoipa::path(get, path = "/v1/queue", tag = "jobs",
    responses((status = 200, body = Vec<QueueEntry>)), security(("token" = [])))]
pub async fn queue(State(st): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<QueueEntry>>> {
    let caller = auth.require(Role::Viewer)?;
    let jobs = st.db.jobs_of(&caller.tenant, Some(JobState::Queued)).await?;
    let entries = jobs
        .into_iter()
        .map(|j| QueueEntry {
            reason: st.wait_reason(&j.id).unwrap_or_else(|| "not yet considered by the scheduler".into()),
            id: j.id,
            name: j.name,
            priority: j.priority,
            submitted_at: j.submitted_at,
        })
        .collect();
    Ok(Json(entries))
}

#[utoipa::path(get, path = "/v1/pools", tag = "jobs",
    responses((status = 200, body = Vec<PoolStatus>)), security(("token" = [])))]
pub async fn pools(State(st): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<PoolStatus>>> {
    auth.require(Role::Viewer)?;
    Ok(Json(st.pools.read().unwrap_or_else(|p| p.into_inner()).clone()))
}
