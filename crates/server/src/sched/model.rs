//! What the scheduler decides from: a snapshot of pools, tenants, queued and
//! running jobs. Plain data, built by the driver from the database and the
//! pools' health; nothing here does I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An amount of the resources a pool offers and a job holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Resources {
    /// CPUs in thousandths (1500 = 1.5 CPUs).
    pub millicpus: u64,
    /// Bytes.
    pub memory: u64,
    pub gpus: u64,
}

impl Resources {
    pub fn fits_in(&self, room: &Resources) -> bool {
        self.millicpus <= room.millicpus && self.memory <= room.memory && self.gpus <= room.gpus
    }

    pub fn plus(&self, o: &Resources) -> Resources {
        Resources {
            millicpus: self.millicpus.saturating_add(o.millicpus),
            memory: self.memory.saturating_add(o.memory),
            gpus: self.gpus.saturating_add(o.gpus),
        }
    }

    pub fn minus(&self, o: &Resources) -> Resources {
        Resources {
            millicpus: self.millicpus.saturating_sub(o.millicpus),
            memory: self.memory.saturating_sub(o.memory),
            gpus: self.gpus.saturating_sub(o.gpus),
        }
    }
}

/// What a pool (one Ferry context) offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub capacity: Resources,
    /// The type of its GPUs, matched against a job's `gpu_type`.
    pub gpu_type: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub cost_per_hour: f64,
    /// Its runtime runs host processes (workloads without `image:`).
    pub host_processes: bool,
    /// Its runtime runs images.
    pub images: bool,
    /// Its last health check passed.
    pub healthy: bool,
}

/// A queued job, as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedJob {
    pub id: String,
    pub tenant: String,
    pub priority: i64,
    /// Milliseconds since the epoch; with `id`, the queue's order.
    pub submitted_at: i64,
    pub needs: Resources,
    pub gpu_type: Option<String>,
    pub image: bool,
    /// Labels the pool must carry.
    pub placement: BTreeMap<String, String>,
}

/// A job that holds resources on a pool (starting or running).
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    pub tenant: String,
    pub pool: String,
    pub holds: Resources,
}

/// A tenant's limits (absent = unlimited) and fair-share weight.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantLimits {
    pub name: String,
    pub max_millicpus: Option<u64>,
    pub max_memory: Option<u64>,
    pub max_gpus: Option<u64>,
    pub max_running: Option<u64>,
    pub weight: u64,
}

/// Everything one scheduling round decides from.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub pools: Vec<Pool>,
    pub tenants: Vec<TenantLimits>,
    pub queued: Vec<QueuedJob>,
    pub holding: Vec<Holding>,
}

/// How to choose among the pools a job fits on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The fullest pool that fits: keeps whole pools free for big jobs.
    #[default]
    Binpack,
    /// The emptiest pool: spreads load.
    Spread,
    /// The lowest cost per hour, then binpack.
    Cheapest,
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "binpack" => Ok(Strategy::Binpack),
            "spread" => Ok(Strategy::Spread),
            "cheapest" => Ok(Strategy::Cheapest),
            other => Err(format!("unknown strategy {other:?}: expected binpack, spread or cheapest")),
        }
    }
}

/// Why a queued job was not started this round.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// Starting it would take its tenant over a quota.
    Quota { resource: &'static str, used: u64, needs: u64, limit: u64 },
    /// No pool could ever run it (too big, wrong GPU type, labels, image or not).
    NoPool { why: String },
    /// Pools could run it but none is healthy now.
    Unhealthy { pools: Vec<String> },
    /// Pools could run it, but not with what they have free now.
    Busy,
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wait::Quota { resource, used, needs, limit } => {
                write!(f, "tenant quota: {resource} in use {used} + this job's {needs} > limit {limit}")
            }
            Wait::NoPool { why } => write!(f, "no pool can run it: {why}"),
            Wait::Unhealthy { pools } => write!(f, "pools that could run it are unhealthy: {}", pools.join(", ")),
            Wait::Busy => write!(f, "waiting for free capacity"),
        }
    }
}

/// One round's decisions: jobs to start (in order) and why the others wait.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub starts: Vec<(String, String)>,
    pub waiting: Vec<(String, Wait)>,
}
