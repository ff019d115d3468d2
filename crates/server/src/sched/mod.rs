//! The scheduler's pure core, in the manner of HyperQueue's tako: one
//! function from a [`Snapshot`] and `now` to a [`Plan`]. No clock, no
//! database, no runtime; the driver feeds it and carries its plan out.
//!
//! A round: the queue is taken tenant by tenant (fair share: the tenant
//! with the smallest dominant share of what is running, divided by its
//! weight, goes next, among those whose next job has the highest effective
//! priority), each job is checked against its tenant's quota, then placed by
//! the strategy on a pool that matches, is healthy and has room. A job that
//! cannot start gets the reason it waits; jobs behind it may still start
//! (backfill: no preemption, no reservation).
//!
//! Arrays fit here as one queued entry with a count: the round would place as
//! many of its tasks as quota and room allow, without a row per task.

mod model;
mod placement;

use std::collections::{BTreeMap, VecDeque};

pub use model::*;
pub use placement::mismatch;

/// Waiting raises a job's priority by one per this many milliseconds, so
/// low-priority work is not starved forever by a stream of higher.
pub const AGING_MS: i64 = 10 * 60 * 1000;

/// The effective priority of `job` at `now`.
pub fn effective_priority(job: &QueuedJob, now_ms: i64) -> i64 {
    job.priority.saturating_add((now_ms - job.submitted_at).max(0) / AGING_MS)
}

/// Decide which queued jobs start now, where, and why the others wait.
pub fn schedule(snap: &Snapshot, strategy: Strategy, now_ms: i64) -> Plan {
    let mut free: Vec<Resources> = snap.pools.iter().map(|p| p.capacity).collect();
    let mut usage: BTreeMap<&str, (Resources, u64)> = BTreeMap::new();
    for h in &snap.holding {
        if let Some(i) = snap.pools.iter().position(|p| p.name == h.pool) {
            free[i] = free[i].minus(&h.holds);
        }
        let u = usage.entry(h.tenant.as_str()).or_default();
        *u = (u.0.plus(&h.holds), u.1 + 1);
    }
    let total = snap.pools.iter().filter(|p| p.healthy).fold(Resources::default(), |t, p| t.plus(&p.capacity));

    let mut queues: BTreeMap<&str, VecDeque<&QueuedJob>> = BTreeMap::new();
    let mut ordered: Vec<&QueuedJob> = snap.queued.iter().collect();
    ordered.sort_by(|a, b| {
        effective_priority(b, now_ms)
            .cmp(&effective_priority(a, now_ms))
            .then(a.submitted_at.cmp(&b.submitted_at))
            .then(a.id.cmp(&b.id))
    });
    for job in ordered {
        queues.entry(job.tenant.as_str()).or_default().push_back(job);
    }

    let mut plan = Plan::default();
    loop {
        let next = queues
            .iter()
            .filter_map(|(t, q)| q.front().map(|j| (*t, j)))
            .min_by(|(ta, ja), (tb, jb)| {
                effective_priority(jb, now_ms)
                    .cmp(&effective_priority(ja, now_ms))
                    .then_with(|| {
                        let share = |t: &str| {
                            dominant_share(usage.get(t).map(|u| u.0).unwrap_or_default(), &total)
                                / weight(snap, t) as f64
                        };
                        share(ta).total_cmp(&share(tb))
                    })
                    .then(ja.submitted_at.cmp(&jb.submitted_at))
                    .then(ja.id.cmp(&jb.id))
            })
            .map(|(t, _)| t);
        let Some(tenant) = next else { break };
        let Some(job) = queues.get_mut(tenant).and_then(VecDeque::pop_front) else { break };
        let (used, running) = usage.get(tenant).copied().unwrap_or_default();
        if let Some(wait) = over_quota(snap.tenants.iter().find(|t| t.name == tenant), &used, running, &job.needs) {
            plan.waiting.push((job.id.clone(), wait));
            continue;
        }
        match placement::choose(&snap.pools, &free, job, strategy) {
            Ok(i) => {
                free[i] = free[i].minus(&job.needs);
                let u = usage.entry(tenant).or_default();
                *u = (u.0.plus(&job.needs), u.1 + 1);
                plan.starts.push((job.id.clone(), snap.pools[i].name.clone()));
            }
            Err(wait) => plan.waiting.push((job.id.clone(), wait)),
        }
    }
    plan
}

fn weight(snap: &Snapshot, tenant: &str) -> u64 {
    snap.tenants.iter().find(|t| t.name == tenant).map_or(1, |t| t.weight.max(1))
}

/// The largest share of any one resource of all healthy pools that `used` holds (DRF).
fn dominant_share(used: Resources, total: &Resources) -> f64 {
    let share = |u: u64, t: u64| if t == 0 { 0.0 } else { u as f64 / t as f64 };
    share(used.millicpus, total.millicpus).max(share(used.memory, total.memory)).max(share(used.gpus, total.gpus))
}

/// The quota that starting a job needing `needs` would break, if any.
fn over_quota(limits: Option<&TenantLimits>, used: &Resources, running: u64, needs: &Resources) -> Option<Wait> {
    let limits = limits?;
    let checks = [
        ("running jobs", running, 1, limits.max_running),
        ("millicpus", used.millicpus, needs.millicpus, limits.max_millicpus),
        ("memory bytes", used.memory, needs.memory, limits.max_memory),
        ("gpus", used.gpus, needs.gpus, limits.max_gpus),
    ];
    checks.into_iter().find_map(|(resource, used, needs, limit)| {
        let limit = limit?;
        (used.saturating_add(needs) > limit).then_some(Wait::Quota { resource, used, needs, limit })
    })
}

#[cfg(test)]
mod tests;
