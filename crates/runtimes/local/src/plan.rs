//! Turning a [`Launch`] into the exact process the monitor starts.
//!
//! Everything is resolved up front (bindings checked, paths absolute, argv
//! final) so that a bad workload fails in `ferry run`, before anything starts,
//! and the monitor only executes.

use std::path::PathBuf;
use std::time::Duration;

use ferry_core::{bindings, Launch, RuntimeError};
use serde::{Deserialize, Serialize};

use crate::cgroup::Limits;

/// What the monitor runs, persisted as `plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessPlan {
    pub workload_id: String,
    pub name: String,
    pub context: String,
    /// argv[0] is the program, resolved through `PATH` by the monitor.
    pub argv: Vec<String>,
    /// Added to (and overriding) the environment the monitor inherited.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub limits: Limits,
    pub timeout: Option<Duration>,
    pub retries: u32,
    /// How long a stop or timeout waits after SIGTERM before SIGKILL.
    pub kill_grace: Duration,
}

/// Grace period between SIGTERM and SIGKILL when a timeout fires.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

impl ProcessPlan {
    pub fn from_launch(l: &Launch) -> Result<ProcessPlan, RuntimeError> {
        let w = &l.workload;
        if w.image.is_some() {
            return Err(RuntimeError::InvalidWorkload(format!(
                "image: the local runtime runs host processes and cannot run image {:?}; \
                 use a context with the oci or docker runtime, or remove `image`",
                w.image.as_deref().unwrap_or_default()
            )));
        }
        let mut argv = match (&w.command, &w.run) {
            (Some(cmd), _) if !cmd.is_empty() => cmd.clone(),
            (_, Some(script)) => vec!["/bin/sh".into(), "-c".into(), script.clone(), w.name.clone()],
            _ => return Err(RuntimeError::InvalidWorkload("one of `command` or `run` is required".into())),
        };
        let cwd = match &w.workdir {
            Some(d) => l.spec_dir.join(d),
            None => l.spec_dir.clone(),
        };
        let cwd = cwd.canonicalize().map_err(RuntimeError::io(format!("workdir: cannot open {}", cwd.display())))?;
        let resolved = bindings::resolve(&l.spec_dir, w)?;
        let (io_env, io_args) = bindings::io_env_and_args(w, &resolved, |b| b.host_path.display().to_string());
        // With `run:`, argv is `sh -c script name`, so these become "$1" "$2" … of the script.
        argv.extend(io_args);
        let mut env: Vec<(String, String)> = w.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        env.extend(io_env);
        env.push(("FERRY_WORKLOAD_ID".into(), l.id.to_string()));
        env.push(("FERRY_WORKLOAD_NAME".into(), l.name.clone()));
        let limits = Limits {
            memory_bytes: w.resources.memory.map(|q| q.bytes()),
            cpu_millis: w.resources.cpus.map(|c| (c * 1000.0).round().max(1.0) as u64),
            pids: w.resources.pids,
        };
        Ok(ProcessPlan {
            workload_id: l.id.to_string(),
            name: l.name.clone(),
            context: l.context.clone(),
            argv,
            env,
            cwd,
            limits,
            timeout: w.timeout.map(|d| d.as_std()),
            retries: w.retries,
            kill_grace: DEFAULT_GRACE,
        })
    }
}
