//! The server's settings: where it listens, its database, and its pools
//! (Ferry contexts with a declared capacity, labels and a cost per hour).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ferry_spec::Quantity;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::sched::{Resources, Strategy};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the pools file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("pools file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

/// Everything `ferry server` runs with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database: String,
    /// Ferry's workload store for what the server starts.
    pub workload_store: PathBuf,
    pub pools: Vec<PoolConfig>,
    pub strategy: Strategy,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// On first start (no users yet) an admin token is written here.
    pub bootstrap_token_file: Option<PathBuf>,
    /// How long the scheduler loop waits when nothing wakes it.
    pub tick: std::time::Duration,
}

/// One pool, as the pools file declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    /// The Ferry context it runs on (default: the pool's name).
    #[serde(default)]
    pub context: Option<String>,
    pub cpus: f64,
    /// Bytes, or a quantity like "16Gi".
    #[schema(value_type = String)]
    pub memory: Quantity,
    #[serde(default)]
    pub gpus: u64,
    #[serde(default)]
    pub gpu_type: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub cost_per_hour: f64,
}

impl PoolConfig {
    pub fn context_name(&self) -> &str {
        self.context.as_deref().unwrap_or(&self.name)
    }

    pub fn capacity(&self) -> Resources {
        Resources { millicpus: millicpus(self.cpus), memory: self.memory.bytes(), gpus: self.gpus }
    }

    /// One pool on the built-in `default` context, sized to this machine:
    /// what a server started without a pools file runs on.
    pub fn this_machine() -> PoolConfig {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        PoolConfig {
            name: "default".into(),
            context: None,
            cpus,
            memory: Quantity(physical_memory()),
            gpus: 0,
            gpu_type: None,
            labels: BTreeMap::new(),
            cost_per_hour: 0.0,
        }
    }
}

/// CPUs as thousandths.
pub fn millicpus(cpus: f64) -> u64 {
    (cpus * 1000.0).round().max(0.0) as u64
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolsFile {
    pool: Vec<PoolConfig>,
}

/// Read a TOML pools file: `[[pool]]` tables of [`PoolConfig`].
pub fn load_pools(path: &Path) -> Result<Vec<PoolConfig>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    let file: PoolsFile =
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
    let mut seen = std::collections::BTreeSet::new();
    for p in &file.pool {
        if !seen.insert(p.name.as_str()) {
            return Err(ConfigError::Parse {
                path: path.into(),
                message: format!("pool {:?} is declared twice", p.name),
            });
        }
        if !(p.cpus.is_finite() && p.cpus >= 0.0 && p.cost_per_hour.is_finite()) {
            return Err(ConfigError::Parse {
                path: path.into(),
                message: format!("pool {:?}: cpus and cost_per_hour must be finite, cpus at least 0", p.name),
            });
        }
    }
    Ok(file.pool)
}

/// Total memory from /proc/meminfo (bytes); 1 GiB when it cannot be read.
fn physical_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(1 << 30, |kb| kb * 1024)
}
