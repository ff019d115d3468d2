//! Which pool a job goes to: first what could ever run it (static match),
//! then what is healthy and has room now, then the strategy's choice.

use super::model::{Pool, QueuedJob, Resources, Strategy, Wait};

/// Why `pool` can never run `job`, or `None` when it could.
pub fn mismatch(pool: &Pool, job: &QueuedJob) -> Option<String> {
    if job.image && !pool.images {
        return Some(format!("{} runs no images", pool.name));
    }
    if !job.image && !pool.host_processes {
        return Some(format!("{} runs no host processes (the job has no image)", pool.name));
    }
    if let Some(want) = &job.gpu_type {
        if job.needs.gpus > 0 && pool.gpu_type.as_deref() != Some(want.as_str()) {
            return Some(format!("{} has no {want} GPUs", pool.name));
        }
    }
    for (key, want) in &job.placement {
        if pool.labels.get(key) != Some(want) {
            return Some(format!("{} lacks label {key}={want}", pool.name));
        }
    }
    if !job.needs.fits_in(&pool.capacity) {
        return Some(format!("{} is smaller than the job", pool.name));
    }
    None
}

/// The pool to start `job` on, given what each pool has free (`free[i]` for
/// `pools[i]`), or why it waits.
pub fn choose(pools: &[Pool], free: &[Resources], job: &QueuedJob, strategy: Strategy) -> Result<usize, Wait> {
    let candidates: Vec<usize> = (0..pools.len()).filter(|&i| mismatch(&pools[i], job).is_none()).collect();
    if candidates.is_empty() {
        let why: Vec<String> = pools.iter().filter_map(|p| mismatch(p, job)).collect();
        let why = if why.is_empty() { "no pools are configured".to_string() } else { why.join("; ") };
        return Err(Wait::NoPool { why });
    }
    let healthy: Vec<usize> = candidates.iter().copied().filter(|&i| pools[i].healthy).collect();
    if healthy.is_empty() {
        return Err(Wait::Unhealthy { pools: candidates.iter().map(|&i| pools[i].name.clone()).collect() });
    }
    let fitting = healthy.into_iter().filter(|&i| job.needs.fits_in(&free[i]));
    let score = |i: usize| free_share_after(&pools[i].capacity, &free[i], &job.needs);
    let best = match strategy {
        Strategy::Binpack => {
            fitting.min_by(|&a, &b| score(a).total_cmp(&score(b)).then_with(|| pools[a].name.cmp(&pools[b].name)))
        }
        Strategy::Spread => {
            fitting.min_by(|&a, &b| score(b).total_cmp(&score(a)).then_with(|| pools[a].name.cmp(&pools[b].name)))
        }
        Strategy::Cheapest => fitting.min_by(|&a, &b| {
            pools[a]
                .cost_per_hour
                .total_cmp(&pools[b].cost_per_hour)
                .then_with(|| score(a).total_cmp(&score(b)))
                .then_with(|| pools[a].name.cmp(&pools[b].name))
        }),
    };
    best.ok_or(Wait::Busy)
}

/// The share of a pool left free once `needs` is placed on it, averaged over
/// the resources the pool has: 0 = full, 1 = empty.
fn free_share_after(capacity: &Resources, free: &Resources, needs: &Resources) -> f64 {
    let after = free.minus(needs);
    let dims = [(after.millicpus, capacity.millicpus), (after.memory, capacity.memory), (after.gpus, capacity.gpus)];
    let (sum, n) = dims
        .iter()
        .filter(|(_, cap)| *cap > 0)
        .fold((0.0, 0), |(sum, n), (left, cap)| (sum + *left as f64 / *cap as f64, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}
