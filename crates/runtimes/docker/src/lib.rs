//! `ferry-docker`: workloads as Docker Engine containers (through `bollard`,
//! Engine API pinned to 1.41 = Docker 20.10 and newer), plus the image
//! builder behind `ferry build`, `ferry push` and `ferry up` ([`build`]).
//!
//! Each workload is one container named `ferry-<name>-<id8>` and labelled
//! `io.ferry.workload`, `io.ferry.context`, `io.ferry.name`,
//! `io.ferry.owner` (this installation), `io.ferry.spec-digest` and
//! `io.ferry.spec` (the workload as JSON), so [`DockerRuntime::list`] finds
//! and re-adopts them with an empty store.
//! Docker records the exit, so no Ferry process has to outlive the CLI,
//! except a small supervisor for `timeout:` ([`timeout`]). `retries:` is
//! Docker's `on-failure` restart policy.
//!
//! Status mapping (container state from `GET /containers/{id}/json` → Ferry status):
//!
//! | Docker state                                   | Ferry status |
//! |------------------------------------------------|--------------|
//! | `created`                                      | Pending |
//! | `running`, `restarting` (between retries)      | Running |
//! | `paused` (or running with `Paused: true`)      | Paused |
//! | `exited`, after `ferry stop` (marker file)     | Cancelled |
//! | `exited`, stopped by the timeout supervisor    | Failed{code, "timed out after …"} |
//! | `exited`, `OOMKilled: true` (or, local Engine: exit 137 and the kernel log has the container's OOM kill) | Failed{code, "out of memory (memory limit N bytes)"} |
//! | `exited`, `Error` set (e.g. executable not found) | Failed{code or 125, the Engine's error} |
//! | `exited`, code 0                               | Succeeded |
//! | `exited`, code 129…192                         | Failed{code, "killed by signal SIG…"} |
//! | `exited`, other code N                         | Failed{N, "exited with code N"} |
//! | `dead`, `removing`                             | as `exited` |
//! | container gone                                 | `NotFound` (the engine records Failed) |

pub mod build;
pub mod client;
pub mod container;
mod logs;
mod oom;
mod state;
pub mod stats;
pub mod status;
pub mod timeout;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions, StopContainerOptions,
};
use bollard::Docker;
use ferry_core::{
    bindings, engine, Capabilities, Handle, Launch, LogOptions, LogStream, Result, Runtime, RuntimeError, RuntimeKind,
    Stats, Status, WorkloadId,
};
use futures::StreamExt;

use crate::client::{engine_error, short};
use crate::container::{
    ImageFacts, IMAGE_LABEL_INIT, LABEL_CONTEXT, LABEL_NAME, LABEL_OWNER, LABEL_SPEC, LABEL_WORKLOAD,
};
use crate::state::WorkloadState;

pub use build::{BuildOptions, BuildOutcome, BuildPlan};
pub use client::{connect, host_for, API_VERSION, DEFAULT_HOST};

/// Handle detail keys (shown by `ferry inspect`).
pub const DETAIL_CONTAINER: &str = "container";
pub const DETAIL_IMAGE: &str = "image";
/// `name=127.0.0.1:49153->8888/tcp`, comma-separated.
pub const DETAIL_PORTS: &str = "ports";
pub const DETAIL_HOST: &str = "docker_host";

/// One Docker Engine, as one context sees it.
pub struct DockerRuntime {
    docker: Docker,
    host: String,
    context: String,
    /// [`container::owner_id`] of this installation.
    owner: String,
    /// Ferry's own per-workload facts (stop requested, timed out).
    state_root: PathBuf,
    /// The `ferry` binary, started as `__docker-timeout` for `timeout:`.
    helper_exe: PathBuf,
}

impl DockerRuntime {
    /// A runtime for the Engine at `host` (see [`host_for`]). Fails only on a
    /// malformed address or a missing socket; the daemon is asked lazily.
    pub fn new(host: &str, context: impl Into<String>, state_root: PathBuf, helper_exe: PathBuf) -> Result<Self> {
        Ok(DockerRuntime {
            docker: client::connect(host)?,
            host: host.to_owned(),
            context: context.into(),
            owner: container::owner_id(&state_root),
            state_root,
            helper_exe,
        })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn state(&self, h: &Handle) -> WorkloadState {
        WorkloadState::new(&self.state_root, h.workload.as_str())
    }

    async fn inspect(&self, h: &Handle) -> Result<ContainerInspectResponse> {
        self.docker.inspect_container(&h.native_id, None).await.map_err(engine_error("inspecting", &h.native_id))
    }

    fn status_of(&self, h: &Handle, info: &ContainerInspectResponse) -> Status {
        let markers = self.state(h).markers();
        let limit = info.host_config.as_ref().and_then(|hc| hc.memory);
        let mut state = info.state.clone().unwrap_or_default();
        // SIGKILLed under a memory limit without the Engine's OOM flag: the
        // flag may have been lost (see `oom`); the kernel log tells.
        let maybe_oom = state.running != Some(true)
            && state.exit_code == Some(137)
            && state.oom_killed != Some(true)
            && limit.is_some_and(|l| l > 0);
        if maybe_oom && client::is_local(&self.host) && oom::kernel_logged_oom(&h.native_id) {
            state.oom_killed = Some(true);
        }
        status::map_state(&state, &markers, limit)
    }

    /// The image's facts, pulling it first when the Engine does not have it.
    async fn prepare_image(&self, image: &str) -> Result<ImageFacts> {
        let inspected = match self.docker.inspect_image(image).await {
            Ok(i) => i,
            Err(e) if client::status_code(&e) == Some(404) => {
                pull(&self.docker, image).await?;
                self.docker
                    .inspect_image(image)
                    .await
                    .map_err(|e| client::failed(format_args!("image {image} after pulling"), &e))?
            }
            // The address too: an Engine over TCP that is down is otherwise a bare "cannot connect".
            Err(e) => return Err(client::failed(format_args!("at {}: inspecting image {image}", self.host), &e)),
        };
        let labels = inspected.config.and_then(|c| c.labels).unwrap_or_default();
        Ok(ImageFacts { has_ferry_init: labels.contains_key(IMAGE_LABEL_INIT) })
    }

    fn handle(&self, workload: WorkloadId, info: &ContainerInspectResponse) -> Handle {
        let mut details = BTreeMap::new();
        details.insert(DETAIL_HOST.to_owned(), self.host.clone());
        if let Some(name) = &info.name {
            details.insert(DETAIL_CONTAINER.to_owned(), name.trim_start_matches('/').to_owned());
        }
        if let Some(image) = info.config.as_ref().and_then(|c| c.image.clone()) {
            details.insert(DETAIL_IMAGE.to_owned(), image);
        }
        let spec: Option<ferry_spec::Workload> = info
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(LABEL_SPEC))
            .and_then(|s| serde_json::from_str(s).ok());
        let ports = published_ports(info, spec.as_ref());
        if !ports.is_empty() {
            details.insert(DETAIL_PORTS.to_owned(), ports);
        }
        Handle { runtime: RuntimeKind::Docker, workload, native_id: info.id.clone().unwrap_or_default(), details }
    }
}

/// `name=127.0.0.1:PORT->PORT/tcp, …` from the container's network settings.
fn published_ports(info: &ContainerInspectResponse, spec: Option<&ferry_spec::Workload>) -> String {
    let Some(map) = info.network_settings.as_ref().and_then(|n| n.ports.as_ref()) else { return String::new() };
    let mut out: Vec<String> = Vec::new();
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let Some(Some(bindings)) = map.get(key) else { continue };
        let port: u16 = key.split('/').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let name = spec.and_then(|w| w.ports.iter().find(|p| p.port == port)).map(|p| p.name.clone());
        for b in bindings {
            let ip = b.host_ip.clone().unwrap_or_default();
            let hp = b.host_port.clone().unwrap_or_default();
            let endpoint = format!("{ip}:{hp}->{key}");
            out.push(match &name {
                Some(n) => format!("{n}={endpoint}"),
                None => endpoint,
            });
        }
    }
    out.join(", ")
}

/// Pull `image` through the Engine with the credentials `docker login` stored.
pub async fn pull(docker: &Docker, image: &str) -> Result<()> {
    let reference: ferry_image::Reference =
        image.parse().map_err(|e: ferry_image::ReferenceError| RuntimeError::InvalidWorkload(format!("image: {e}")))?;
    let creds = build::registry_credentials(&reference)?;
    let from = format!("{}/{}", reference.registry, reference.repository);
    let opts = CreateImageOptions {
        from_image: Some(from),
        tag: Some(reference.tag_or_digest().to_owned()),
        ..Default::default()
    };
    let mut s = docker.create_image(Some(opts), None, creds);
    while let Some(item) = s.next().await {
        item.map_err(|e| RuntimeError::NotPossible {
            operation: "pulling the image",
            why: format!("{image}: {} (images must be local or in a reachable registry)", client::message(&e)),
        })?;
    }
    Ok(())
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            pause: true,
            checkpoint: false,
            ports: true,
            gpus: true,
            multi_node: false,
            stats: true,
            host_process: false,
            images: true,
        }
    }

    async fn start(&self, launch: &Launch) -> Result<Handle> {
        let w = &launch.workload;
        self.capabilities().check_workload(RuntimeKind::Docker, w)?;
        let image = w.image.clone().ok_or_else(|| {
            RuntimeError::InvalidWorkload(
                "image: the docker runtime needs an image (add `image:` or run `ferry build`)".into(),
            )
        })?;
        if w.resources.gpus.unwrap_or(0) > 0 && !self.gpu_enabled().await? {
            return Err(RuntimeError::NotPossible {
                operation: "resources.gpus",
                why: format!(
                    "the Docker Engine at {} has no nvidia runtime; refusing to run a GPU workload on CPU",
                    self.host
                ),
            });
        }
        let resolved = bindings::resolve(&launch.spec_dir, w)?;
        let facts = self.prepare_image(&image).await?;
        let body = container::create_body(launch, &self.owner, &image, &facts, &resolved)?;
        let name = container::container_name(launch);
        let created = self
            .docker
            .create_container(Some(CreateContainerOptions { name: Some(name.clone()), platform: String::new() }), body)
            .await
            .map_err(|e| client::failed(format_args!("creating container {name}"), &e))?;
        let id = created.id;
        let state = WorkloadState::new(&self.state_root, launch.id.as_str());
        if let Some(t) = w.timeout {
            let plan = timeout::TimeoutPlan {
                host: self.host.clone(),
                container: id.clone(),
                timeout_ms: t.as_std().as_millis() as u64,
            };
            // Written before the start so the deadline is never missed.
            timeout::spawn(&self.helper_exe, &state, &plan)?;
        }
        if let Err(e) = self.docker.start_container(&id, None).await {
            let _ = self
                .docker
                .remove_container(&id, Some(RemoveContainerOptions { force: true, v: true, link: false }))
                .await;
            return Err(client::failed(format_args!("starting {name}"), &e));
        }
        let info = self.docker.inspect_container(&id, None).await.map_err(engine_error("inspecting", &id))?;
        Ok(self.handle(launch.id.clone(), &info))
    }

    /// A container created by a `ferry run` that died before starting it.
    async fn finish_start(&self, h: &Handle) -> Result<()> {
        match self.docker.start_container(&h.native_id, None).await {
            Ok(()) => Ok(()),
            Err(e) if client::status_code(&e) == Some(304) => Ok(()), // already started
            Err(e) => Err(engine_error("starting", &h.native_id)(e)),
        }
    }

    async fn status(&self, h: &Handle) -> Result<Status> {
        let info = self.inspect(h).await?;
        Ok(self.status_of(h, &info))
    }

    async fn list(&self) -> Result<Vec<(Handle, Status)>> {
        let filters: HashMap<String, Vec<String>> = [(
            "label".to_owned(),
            vec![format!("{LABEL_CONTEXT}={}", self.context), format!("{LABEL_OWNER}={}", self.owner)],
        )]
        .into();
        let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let summaries = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| client::failed(format_args!("listing containers at {}", self.host), &e))?;
        let mut out = Vec::new();
        for s in summaries {
            let labels = s.labels.clone().unwrap_or_default();
            let Some(workload) = labels.get(LABEL_WORKLOAD).and_then(|v| v.parse::<WorkloadId>().ok()) else {
                continue;
            };
            let Some(id) = s.id.clone() else { continue };
            // Live containers: the summary says enough; ended ones need the
            // exit code and OOM flag from inspect.
            let info = match self.docker.inspect_container(&id, None).await {
                Ok(i) => i,
                Err(e) if client::status_code(&e) == Some(404) => continue, // removed meanwhile
                Err(e) => return Err(engine_error("inspecting", &id)(e)),
            };
            let mut handle = self.handle(workload, &info);
            let status = self.status_of(&handle, &info);
            if let Some(name) = labels.get(LABEL_NAME) {
                handle.details.insert(engine::DETAIL_NAME.to_owned(), name.clone());
            }
            if let Some(spec) = labels.get(LABEL_SPEC) {
                handle.details.insert(engine::DETAIL_SPEC.to_owned(), spec.clone());
            }
            out.push((handle, status));
        }
        Ok(out)
    }

    async fn logs(&self, h: &Handle, opts: LogOptions) -> Result<LogStream> {
        // Fail here (not inside the stream) for a container that is gone.
        self.inspect(h).await?;
        Ok(logs::stream(self.docker.clone(), h.native_id.clone(), opts))
    }

    async fn stats(&self, h: &Handle) -> Result<Stats> {
        let info = self.inspect(h).await?;
        let st = info.state.unwrap_or_default();
        if st.running != Some(true) {
            return Err(RuntimeError::NotPossible {
                operation: "stats",
                why: format!("container {} is not running", short(&h.native_id)),
            });
        }
        if client::is_local(&self.host) {
            if let Some(s) = st.pid.filter(|p| *p > 0).and_then(stats::from_cgroup) {
                return Ok(s);
            }
        }
        stats::from_engine(&self.docker, &h.native_id).await
    }

    async fn stop(&self, h: &Handle, grace: Duration) -> Result<()> {
        let info = self.inspect(h).await?;
        if self.status_of(h, &info).is_terminal() {
            return Ok(());
        }
        // Recorded first: once the container is gone, this is what says "cancelled".
        let state = self.state(h);
        state.write(&state.stop_requested(), "")?;
        let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let opts = StopContainerOptions { t: Some(secs.min(i32::MAX as u64) as i32), signal: None };
        match self.docker.stop_container(&h.native_id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if client::status_code(&e) == Some(304) => Ok(()), // already stopped
            Err(e) => Err(engine_error("stopping", &h.native_id)(e)),
        }
    }

    async fn destroy(&self, h: &Handle) -> Result<()> {
        let info = self.inspect(h).await?;
        let status = self.status_of(h, &info);
        if status.is_live() {
            return Err(RuntimeError::NotPossible {
                operation: "removing",
                why: format!("container {} is {status}; stop it first", short(&h.native_id)),
            });
        }
        self.docker
            .remove_container(&h.native_id, Some(RemoveContainerOptions { force: false, v: true, link: false }))
            .await
            .map_err(engine_error("removing", &h.native_id))?;
        self.state(h).remove();
        Ok(())
    }

    async fn pause(&self, h: &Handle) -> Result<()> {
        self.docker.pause_container(&h.native_id).await.map_err(|e| not_possible("pause", h, e))
    }

    async fn resume(&self, h: &Handle) -> Result<()> {
        self.docker.unpause_container(&h.native_id).await.map_err(|e| not_possible("resume", h, e))
    }

    async fn checkpoint(&self, _h: &Handle, _to: &Path) -> Result<()> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Docker, operation: "checkpoint" })
    }

    async fn restore(&self, _from: &Path) -> Result<Handle> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Docker, operation: "restore" })
    }

    /// True when the Engine has the NVIDIA runtime registered (`docker info` → Runtimes).
    async fn gpu_enabled(&self) -> Result<bool> {
        let info = self.docker.info().await.map_err(|e| client::failed(format_args!("info from {}", self.host), &e))?;
        Ok(info.runtimes.unwrap_or_default().keys().any(|k| k.contains("nvidia")))
    }
}

fn not_possible(op: &'static str, h: &Handle, e: bollard::errors::Error) -> RuntimeError {
    match client::status_code(&e) {
        Some(404) => RuntimeError::NotFound { runtime: RuntimeKind::Docker, native_id: h.native_id.clone() },
        Some(409) => RuntimeError::NotPossible { operation: op, why: client::message(&e) },
        _ => client::failed(format_args!("{op} {}", short(&h.native_id)), &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{NetworkSettings, PortBinding};

    #[test]
    fn published_ports_are_named_after_the_spec() {
        let spec: ferry_spec::Workload = serde_json::from_value(serde_json::json!({
            "name": "s", "kind": "service", "command": ["x"], "ports": [{"name": "jupyter", "port": 8888}]
        }))
        .unwrap();
        let binding = PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some("49153".into()) };
        let info = ContainerInspectResponse {
            network_settings: Some(NetworkSettings {
                ports: Some([("8888/tcp".to_string(), Some(vec![binding])), ("22/tcp".to_string(), None)].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(published_ports(&info, Some(&spec)), "jupyter=127.0.0.1:49153->8888/tcp");
        assert_eq!(published_ports(&ContainerInspectResponse::default(), None), "");
    }
}
