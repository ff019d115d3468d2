//! Prometheus metrics: queue length, dispatch latency, jobs by state and
//! pool (context), pool health. Counts come from the database at scrape time,
//! so they are right after a restart too.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::db::{Db, DbError, JobState};

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    queue_length: Gauge,
    jobs: Family<Labels, Gauge>,
    /// From submission to the runtime accepting the job.
    pub dispatch_latency: Histogram,
    pub pool_healthy: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let queue_length = Gauge::default();
        let jobs = Family::<Labels, Gauge>::default();
        let dispatch_latency = Histogram::new(exponential_buckets(0.005, 2.0, 16));
        let pool_healthy = Family::<Labels, Gauge>::default();
        registry.register("ferry_queue_length", "Jobs waiting to start", queue_length.clone());
        registry.register("ferry_jobs", "Jobs by state and pool (context)", jobs.clone());
        registry.register(
            "ferry_dispatch_latency_seconds",
            "Time from a job's submission to its runtime accepting it",
            dispatch_latency.clone(),
        );
        registry.register("ferry_pool_healthy", "1 when the pool passed its last health check", pool_healthy.clone());
        Metrics { registry, queue_length, jobs, dispatch_latency, pool_healthy }
    }
}

impl Metrics {
    /// The metrics in Prometheus' text format, with job counts read now.
    pub async fn render(&self, db: &Db) -> Result<String, DbError> {
        let counts = db.job_counts().await?;
        self.jobs.clear();
        let mut queued = 0;
        for (state, pool, n) in counts {
            if state == JobState::Queued {
                queued += n;
            }
            let labels = vec![("state".into(), state.as_str().into()), ("pool".into(), pool.unwrap_or_default())];
            self.jobs.get_or_create(&labels).set(n as i64);
        }
        self.queue_length.set(queued as i64);
        let mut out = String::new();
        encode(&mut out, &self.registry).map_err(|e| DbError::Corrupt { table: "metrics", why: e.to_string() })?;
        Ok(out)
    }
}
