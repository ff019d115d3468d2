//! Scheduler tables: a snapshot in, a plan out. No clock, no network.

use std::collections::BTreeMap;

use super::*;

const GIB: u64 = 1 << 30;

fn res(cpus: u64, mem_gib: u64, gpus: u64) -> Resources {
    Resources { millicpus: cpus * 1000, memory: mem_gib * GIB, gpus }
}

fn pool(name: &str, cap: Resources, cost: f64) -> Pool {
    Pool {
        name: name.into(),
        capacity: cap,
        gpu_type: None,
        labels: BTreeMap::new(),
        cost_per_hour: cost,
        host_processes: true,
        images: true,
        healthy: true,
    }
}

fn job(id: &str, tenant: &str, needs: Resources) -> QueuedJob {
    QueuedJob {
        id: id.into(),
        tenant: tenant.into(),
        priority: 0,
        // The queue's order among equals: the sum of the id's bytes, so each table reads its own order.
        submitted_at: id.bytes().map(i64::from).sum(),
        needs,
        gpu_type: None,
        image: false,
        placement: BTreeMap::new(),
    }
}

fn holding(tenant: &str, pool: &str, holds: Resources) -> Holding {
    Holding { tenant: tenant.into(), pool: pool.into(), holds }
}

/// Mixed pools as the issue describes them: a host, an OCI node, a Slurm partition.
fn mixed() -> Vec<Pool> {
    let mut local = pool("local", res(4, 8, 0), 0.0);
    local.images = false;
    let oci = pool("oci", res(8, 16, 0), 0.5);
    let mut slurm = pool("slurm", res(64, 256, 4), 3.0);
    slurm.gpu_type = Some("h100".into());
    slurm.labels.insert("site".into(), "hpc".into());
    vec![local, oci, slurm]
}

fn starts(plan: &Plan) -> Vec<(&str, &str)> {
    plan.starts.iter().map(|(j, p)| (j.as_str(), p.as_str())).collect()
}

#[test]
fn binpack_fills_the_fullest_pool_that_fits() {
    let snap = Snapshot {
        pools: mixed(),
        holding: vec![holding("x", "oci", res(6, 4, 0))],
        queued: vec![job("a", "t", res(2, 2, 0))],
        ..Default::default()
    };
    // oci has 2 CPUs left (fullest after placing), local 4, slurm 64.
    assert_eq!(starts(&schedule(&snap, Strategy::Binpack, 0)), [("a", "oci")]);
}

#[test]
fn spread_picks_the_emptiest_pool() {
    let snap = Snapshot { pools: mixed(), queued: vec![job("a", "t", res(2, 2, 0))], ..Default::default() };
    assert_eq!(starts(&schedule(&snap, Strategy::Spread, 0)), [("a", "slurm")]);
}

#[test]
fn cheapest_picks_the_lowest_cost_that_can_run_it() {
    let mut image = job("img", "t", res(2, 2, 0));
    image.image = true;
    let snap = Snapshot { pools: mixed(), queued: vec![job("host", "t", res(2, 2, 0)), image], ..Default::default() };
    // The host process goes to the free local pool; the image cannot, so to oci (0.5/h, not slurm's 3/h).
    let plan = schedule(&snap, Strategy::Cheapest, 0);
    assert_eq!(starts(&plan), [("img", "oci"), ("host", "local")]);
}

#[test]
fn gpu_type_and_labels_restrict_the_pools() {
    let mut gpu = job("gpu", "t", res(1, 1, 2));
    gpu.gpu_type = Some("h100".into());
    let mut wrong = job("wrong", "t", res(1, 1, 1));
    wrong.gpu_type = Some("a100".into());
    let mut labelled = job("lab", "t", res(1, 1, 0));
    labelled.placement.insert("site".into(), "hpc".into());
    let snap = Snapshot { pools: mixed(), queued: vec![gpu, wrong, labelled], ..Default::default() };
    let plan = schedule(&snap, Strategy::Cheapest, 0);
    assert_eq!(starts(&plan), [("lab", "slurm"), ("gpu", "slurm")]);
    let (id, wait) = &plan.waiting[0];
    assert_eq!(id, "wrong");
    assert!(matches!(wait, Wait::NoPool { why } if why.contains("slurm has no a100 GPUs")), "{wait}");
}

#[test]
fn a_job_bigger_than_every_pool_says_so() {
    let snap = Snapshot { pools: mixed(), queued: vec![job("huge", "t", res(128, 1, 0))], ..Default::default() };
    let plan = schedule(&snap, Strategy::Binpack, 0);
    assert!(plan.starts.is_empty());
    assert!(matches!(&plan.waiting[0].1, Wait::NoPool { why } if why.contains("slurm is smaller than the job")));
}

#[test]
fn unhealthy_pools_get_nothing() {
    let mut pools = mixed();
    for p in &mut pools {
        p.healthy = p.name != "local";
    }
    let snap = Snapshot { pools, queued: vec![job("a", "t", res(1, 1, 0))], ..Default::default() };
    // Binpack would choose local (the smallest); it is down, so oci.
    assert_eq!(starts(&schedule(&snap, Strategy::Binpack, 0)), [("a", "oci")]);

    let mut only_local = mixed();
    only_local[0].healthy = false;
    only_local.truncate(1);
    let snap = Snapshot { pools: only_local, queued: vec![job("a", "t", res(1, 1, 0))], ..Default::default() };
    let plan = schedule(&snap, Strategy::Binpack, 0);
    assert_eq!(plan.waiting, [("a".to_string(), Wait::Unhealthy { pools: vec!["local".into()] })]);
}

#[test]
fn full_pools_make_jobs_wait_and_smaller_ones_backfill() {
    let snap = Snapshot {
        pools: vec![pool("p", res(4, 8, 0), 0.0)],
        holding: vec![holding("x", "p", res(3, 1, 0))],
        queued: vec![job("big", "t", res(2, 1, 0)), job("small", "t", res(1, 1, 0))],
        ..Default::default()
    };
    let plan = schedule(&snap, Strategy::Binpack, 0);
    assert_eq!(starts(&plan), [("small", "p")]);
    assert_eq!(plan.waiting, [("big".to_string(), Wait::Busy)]);
}

#[test]
fn quotas_hold_a_tenant_back_but_not_others() {
    let limits = TenantLimits { name: "t".into(), max_running: Some(1), weight: 1, ..Default::default() };
    let snap = Snapshot {
        pools: vec![pool("p", res(16, 64, 0), 0.0)],
        tenants: vec![limits],
        holding: vec![holding("t", "p", res(1, 1, 0))],
        queued: vec![job("t1", "t", res(1, 1, 0)), job("u1", "u", res(1, 1, 0))],
    };
    let plan = schedule(&snap, Strategy::Binpack, 0);
    assert_eq!(starts(&plan), [("u1", "p")]);
    assert_eq!(
        plan.waiting,
        [("t1".to_string(), Wait::Quota { resource: "running jobs", used: 1, needs: 1, limit: 1 })]
    );
}

#[test]
fn cpu_quota_counts_what_this_round_started() {
    let limits = TenantLimits { name: "t".into(), max_millicpus: Some(3000), weight: 1, ..Default::default() };
    let snap = Snapshot {
        pools: vec![pool("p", res(16, 64, 0), 0.0)],
        tenants: vec![limits],
        queued: vec![job("a", "t", res(2, 1, 0)), job("b", "t", res(2, 1, 0))],
        ..Default::default()
    };
    let plan = schedule(&snap, Strategy::Binpack, 0);
    assert_eq!(starts(&plan), [("a", "p")]);
    assert!(matches!(plan.waiting[0].1, Wait::Quota { resource: "millicpus", used: 2000, needs: 2000, limit: 3000 }));
}

#[test]
fn higher_priority_goes_first() {
    let mut urgent = job("z-urgent", "t", res(4, 1, 0));
    urgent.priority = 10;
    let snap = Snapshot {
        pools: vec![pool("p", res(4, 8, 0), 0.0)],
        queued: vec![job("a-early", "t", res(4, 1, 0)), urgent],
        ..Default::default()
    };
    let plan = schedule(&snap, Strategy::Binpack, 0);
    assert_eq!(starts(&plan), [("z-urgent", "p")]);
}

#[test]
fn waiting_raises_priority_with_the_time_passed_in() {
    let mut old = job("old", "t", res(4, 1, 0));
    old.submitted_at = 0;
    let mut new = job("new", "t", res(4, 1, 0));
    new.priority = 2;
    new.submitted_at = 3 * AGING_MS;
    let snap = Snapshot { pools: vec![pool("p", res(4, 8, 0), 0.0)], queued: vec![old, new], ..Default::default() };
    assert_eq!(starts(&schedule(&snap, Strategy::Binpack, 3 * AGING_MS)), [("old", "p")]);
    assert_eq!(starts(&schedule(&snap, Strategy::Binpack, AGING_MS)), [("new", "p")]);
}

#[test]
fn fair_share_alternates_between_tenants() {
    // Tenant "a" submitted first and more, but each round's next job comes
    // from the tenant holding the smaller share.
    let queued = vec![
        job("a1", "a", res(1, 1, 0)),
        job("a2", "a", res(1, 1, 0)),
        job("a3", "a", res(1, 1, 0)),
        job("b1", "b", res(1, 1, 0)),
        job("b2", "b", res(1, 1, 0)),
    ];
    let snap = Snapshot { pools: vec![pool("p", res(4, 64, 0), 0.0)], queued, ..Default::default() };
    let plan = schedule(&snap, Strategy::Binpack, 0);
    assert_eq!(starts(&plan), [("a1", "p"), ("b1", "p"), ("a2", "p"), ("b2", "p")]);
    assert_eq!(plan.waiting, [("a3".to_string(), Wait::Busy)]);
}

#[test]
fn fair_share_weights_favour_the_heavier_tenant() {
    let tenants = vec![
        TenantLimits { name: "a".into(), weight: 3, ..Default::default() },
        TenantLimits { name: "b".into(), weight: 1, ..Default::default() },
    ];
    let queued =
        (1..=4).map(|i| job(&format!("a{i}"), "a", res(1, 1, 0))).chain([job("b1", "b", res(1, 1, 0))]).collect();
    let snap = Snapshot {
        pools: vec![pool("p", res(4, 64, 0), 0.0)],
        tenants,
        holding: vec![holding("b", "p", res(1, 1, 0))],
        queued,
    };
    // b already holds 1 of 4 CPUs; a, weighted 3, gets three before b's next.
    let plan = schedule(&snap, Strategy::Binpack, 0);
    assert_eq!(starts(&plan), [("a1", "p"), ("a2", "p"), ("a3", "p")]);
}
