//! The workload model (spec v1): what one `ferry.yaml` describes.
//!
//! These types are the contract between the file and every runtime. They are
//! plain data: located parsing lives in `yaml`/`de`, cross-field rules in
//! `validate`. Every struct denies unknown fields so a typo is an error, not a
//! silently ignored setting.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::quantity::Quantity;

/// One workload: a job that runs to completion or a long-running service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Human name; also the default name of the workload instance.
    /// 1-63 of `a-z 0-9 - _ .`, starting and ending with a letter or digit.
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$"))]
    pub name: String,
    /// `job` runs to completion, `service` stays up until stopped.
    #[serde(default)]
    pub kind: Kind,
    /// Container image. Absent: the command runs as a host process (local runtime only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Program and arguments, executed without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// A shell script, executed with `/bin/sh -c`. Exclusive with `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Code directory, relative to the file. Host processes run in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
    /// Environment variables for the workload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Resource requests, enforced as limits where the runtime can.
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// Number of nodes (multi-node runtimes only).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    #[schemars(range(min = 1))]
    pub nodes: u32,
    /// Tasks per node (multi-node runtimes only).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    #[schemars(range(min = 1))]
    pub tasks_per_node: u32,
    /// MPI flavour (`srun --mpi=<mpi>` on Slurm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpi: Option<String>,
    /// Ports a service listens on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Read-only data bound into the workload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Binding>,
    /// Writable directories bound into the workload; created if missing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Binding>,
    /// How bindings reach the program besides `FERRY_IO_<NAME>`.
    #[serde(default)]
    pub pass_io_as: PassIoAs,
    /// How many times a failed job is started again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Wall-clock limit of one attempt, e.g. `2h30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// How `ferry build` makes the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// Per-runtime knobs.
    #[serde(default, skip_serializing_if = "RuntimeOptions::is_empty")]
    pub runtime: RuntimeOptions,
}

/// Whether a workload runs to completion or until stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Job,
    Service,
}

/// Resource requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPUs, fractional allowed (`0.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Memory limit, e.g. `4Gi`, `512M`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Number of GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
    /// GPU model, e.g. `h100`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_type: Option<String>,
    /// Maximum number of processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
}

impl Resources {
    /// True when nothing is requested (used to leave `resources` out when serializing).
    pub fn is_empty(&self) -> bool {
        self == &Resources::default()
    }
}

/// A named port a service listens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// 1-15 lowercase letters, digits and `-` (Kubernetes' port name rule).
    pub name: String,
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
}

/// A host path bound into the workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// Path relative to the workload file's directory; may not escape it.
    pub path: PathBuf,
}

/// How bindings are passed besides the `FERRY_IO_<NAME>` variables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PassIoAs {
    /// `--<name>=<path>` appended to the command (MLCube style).
    Args,
    /// Environment variables only.
    #[default]
    Env,
}

/// How `ferry build` makes the workload's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Base image, e.g. `python:3.11-slim`.
    pub base: String,
    /// Shell commands run in order on top of the base.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<String>,
}

/// Per-runtime knobs; each runtime reads only its own section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmOptions>,
}

impl RuntimeOptions {
    /// True when no runtime section is given.
    pub fn is_empty(&self) -> bool {
        self == &RuntimeOptions::default()
    }
}

/// Kubernetes knobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class: Option<String>,
    /// Binding name → volume backing it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, KubernetesVolume>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
}

/// A PersistentVolumeClaim backing one binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesVolume {
    pub pvc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}

/// Slurm knobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Extra `#SBATCH` options passed through verbatim (each quoted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
}

fn one() -> u32 {
    1
}
fn is_one(v: &u32) -> bool {
    *v == 1
}
fn is_zero(v: &u32) -> bool {
    *v == 0
}
