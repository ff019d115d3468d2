//! Contexts: named runtime configurations, stored as TOML under
//! `$XDG_CONFIG_HOME/ferry/`. (Being written; see store.rs for the pattern.)

use serde::{Deserialize, Serialize};

use crate::RuntimeKind;

/// Name of the built-in context: local runtime, no daemon.
pub const DEFAULT_CONTEXT: &str = "default";

/// One named runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub name: String,
    pub runtime: RuntimeKind,
    #[serde(default)]
    pub settings: ContextSettings,
}

/// Runtime-specific settings; each runtime reads the ones it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSettings {
    /// Docker: `unix:///var/run/docker.sock` or `tcp://host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_host: Option<String>,
    /// Kubernetes: kubeconfig path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Slurm: `user@login-host[:port]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir_root: Option<String>,
    /// OCI: the runtime binary (`runc`, `crun`, a path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_runtime: Option<String>,
}

impl Context {
    pub fn builtin_default() -> Context {
        Context { name: DEFAULT_CONTEXT.into(), runtime: RuntimeKind::Local, settings: Default::default() }
    }
}
