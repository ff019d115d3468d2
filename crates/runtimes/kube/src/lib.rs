//! `ferry-kube`: the Kubernetes runtime.
//!
//! A `kind: job` workload becomes a `batch/v1 Job`, a `kind: service` a
//! Deployment (one replica) plus a ClusterIP Service for its ports (see
//! [`manifest`]). Every object and pod carries the labels
//! `app.kubernetes.io/managed-by: ferry` and `io.ferry/workload: <id>`, and
//! the annotations `io.ferry/name` and `io.ferry/spec` (the Workload as JSON),
//! so [`Runtime::list`] can find and re-adopt workloads without Ferry's store.
//!
//! Status mapping (native state → Ferry status), see [`status`]:
//!
//! | Kubernetes state                                                   | Ferry status |
//! |--------------------------------------------------------------------|--------------|
//! | Job/Deployment annotated `io.ferry/stopped` (set by `ferry stop`)  | Cancelled |
//! | Job condition `Complete=True`                                      | Succeeded |
//! | Job condition `Failed=True` (`BackoffLimitExceeded`, `DeadlineExceeded`, …) | Failed{exit code of the newest terminated pod, "<reason>: <message>; last attempt: <container end>"} |
//! | newest pod: container waiting `ImagePullBackOff`, `InvalidImageName`, `ErrImageNeverPull`, `CreateContainerError` | Failed{None, "<reason>: <message>"} |
//! | newest pod: phase `Pending` (incl. `PodScheduled=False/Unschedulable`, `ErrImagePull`, `ContainerCreating`) | Pending (the reason is in `pending_reason`, logged at info) |
//! | newest pod: phase `Running`                                        | Running |
//! | newest pod: phase `Failed`, no Job verdict yet, attempts left (failed pods ≤ `backoffLimit`) | Pending (a retry is coming) |
//! | newest pod: phase `Failed`, no Job verdict yet, no attempts left (`OOMKilled`, `Error`, `DeadlineExceeded`) | Failed{exitCode, "<reason> (exit N)"} |
//! | newest pod: phase `Succeeded`                                      | Succeeded (Job), Running (Deployment: the kubelet restarts it) |
//! | service pod: container waiting `CrashLoopBackOff`                  | Failed{last exit code, "CrashLoopBackOff: …"} |
//! | no pod yet                                                         | Pending |
//! | object gone                                                        | `NotFound` (the engine records Failed "no longer knows") |
//!
//! `stop` suspends a Job (`spec.suspend: true`) or scales a Deployment to 0,
//! annotates it `io.ferry/stopped` and deletes its pods with the given grace
//! period: the object stays, so the Cancelled state survives and `ferry ps`
//! can show it. `destroy` deletes the objects with foreground propagation.
//! Kubernetes has no pause or checkpoint primitive (seed 000), so those are
//! refused through [`Capabilities`].

pub mod connect;
pub mod logs;
pub mod manifest;
pub mod portforward;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use ferry_core::{
    engine, Capabilities, ErrorKind, Handle, Launch, LogOptions, LogStream, Operation, Result, Runtime, RuntimeError,
    RuntimeKind, Stats, Status, WorkloadId,
};
use futures::stream::BoxStream;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::{Api, Client, Resource};
use tokio::sync::OnceCell;

pub use connect::KubeSettings;
pub use manifest::{render, Manifests, RenderOptions};

/// Errors of the Kubernetes runtime.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("invalid workload for kubernetes: {0}")]
    Invalid(String),
    #[error("{0}")]
    Render(String),
    #[error("kubernetes configuration: {0}")]
    Config(String),
    #[error("kubernetes API: {}", describe(.0))]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Backend(String),
}

impl From<KubeError> for RuntimeError {
    fn from(e: KubeError) -> Self {
        match e {
            KubeError::Invalid(m) => RuntimeError::InvalidWorkload(m),
            KubeError::Render(_) => RuntimeError::backend(ErrorKind::Invalid, e.to_string()),
            KubeError::Config(_) => RuntimeError::backend(ErrorKind::Invalid, e.to_string()),
            KubeError::Api(ref api) => RuntimeError::backend(api_kind(api), e.to_string()),
            KubeError::Backend(_) => RuntimeError::internal(e.to_string()),
        }
    }
}

/// One plain line for a client error: the API server's own words for a refusal
/// (`jobs.batch is forbidden: User "…" cannot create …`), else the chain of causes
/// (`client error (Connect): tcp connect error: Connection refused (os error 111)`),
/// without kube's Debug dump of the status or repeated causes.
fn describe(e: &kube::Error) -> String {
    if let kube::Error::Api(status) = e {
        let words = if status.message.is_empty() { &status.reason } else { &status.message };
        return format!("{words} (HTTP {})", status.code);
    }
    let mut parts: Vec<String> = Vec::new();
    let mut cause: Option<&dyn std::error::Error> = match e {
        kube::Error::Service(inner) => {
            parts.push("cannot reach the API server".into());
            Some(inner.as_ref())
        }
        kube::Error::HyperError(inner) => {
            parts.push("cannot reach the API server".into());
            Some(inner)
        }
        other => Some(other),
    };
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ").replace('\n', " ")
}

/// The kind of an API server error: from its status when it answered,
/// else (no connection, TLS, a timeout) `Unavailable`.
fn api_kind(e: &kube::Error) -> ErrorKind {
    match e {
        kube::Error::Api(s) => match s.code {
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            400 | 422 => ErrorKind::Invalid,
            401 | 403 | 429 | 503 => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        },
        kube::Error::SerdeError(_) => ErrorKind::Internal,
        _ => ErrorKind::Unavailable,
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Which kind of top-level object a workload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Job,
    Deployment,
}

impl ObjectKind {
    fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Job => "job",
            ObjectKind::Deployment => "deployment",
        }
    }
}

/// Where a started workload lives, read from its [`Handle`].
#[derive(Debug, Clone)]
pub struct Target {
    pub id: WorkloadId,
    pub namespace: String,
    pub kind: ObjectKind,
    /// The Job or Deployment name.
    pub name: String,
    /// The Service name, for services with ports.
    pub service: Option<String>,
}

impl Target {
    pub fn selector(&self) -> String {
        manifest::selector(&self.id)
    }

    fn from_handle(h: &Handle) -> Result<Target> {
        let kind = match h.details.get("kind").map(String::as_str) {
            Some("deployment") => ObjectKind::Deployment,
            Some("job") | None => ObjectKind::Job,
            Some(other) => {
                return Err(RuntimeError::internal(format!("unknown kubernetes object kind {other:?} in handle")))
            }
        };
        // native_id is `<namespace>/<name>`, so `ferry ps -o wide` shows the namespace.
        let (namespace, name) = match h.native_id.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.to_string()),
            None => (h.details.get("namespace").cloned().unwrap_or_else(|| "default".into()), h.native_id.clone()),
        };
        Ok(Target { id: h.workload.clone(), namespace, kind, name, service: h.details.get("service").cloned() })
    }

    fn handle(&self) -> Handle {
        let mut details = BTreeMap::new();
        details.insert("namespace".to_string(), self.namespace.clone());
        details.insert("kind".to_string(), self.kind.as_str().to_string());
        if let Some(s) = &self.service {
            details.insert("service".to_string(), s.clone());
        }
        Handle {
            runtime: RuntimeKind::Kubernetes,
            workload: self.id.clone(),
            native_id: format!("{}/{}", self.namespace, self.name),
            details,
        }
    }

    fn not_found(&self) -> RuntimeError {
        RuntimeError::NotFound {
            runtime: RuntimeKind::Kubernetes,
            native_id: format!("{}/{} in namespace {}", self.kind.as_str(), self.name, self.namespace),
        }
    }
}

/// One Kubernetes context: a lazily connected client plus render options.
pub struct KubeRuntime {
    settings: KubeSettings,
    render: RenderOptions,
    connection: OnceCell<(Client, String)>,
}

impl KubeRuntime {
    pub fn new(settings: KubeSettings) -> Self {
        KubeRuntime { settings, render: RenderOptions::default(), connection: OnceCell::new() }
    }

    /// A runtime over an existing client (tests, embedding).
    pub fn with_client(client: Client, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        let settings = KubeSettings { namespace: Some(namespace.clone()), ..Default::default() };
        KubeRuntime {
            settings,
            render: RenderOptions::default(),
            connection: OnceCell::new_with(Some((client, namespace))),
        }
    }

    /// Use another node label for `resources.gpu_type`.
    pub fn with_gpu_label(mut self, label: impl Into<String>) -> Self {
        self.render.gpu_label = label.into();
        self
    }

    async fn connection(&self) -> Result<&(Client, String), KubeError> {
        self.connection.get_or_try_init(|| self.settings.connect()).await
    }

    pub async fn client(&self) -> Result<Client, KubeError> {
        Ok(self.connection().await?.0.clone())
    }

    /// The namespace of this context (workloads may name their own).
    pub async fn namespace(&self) -> Result<String, KubeError> {
        Ok(self.connection().await?.1.clone())
    }

    /// Render options with this context's namespace.
    pub async fn render_options(&self) -> Result<RenderOptions, KubeError> {
        Ok(RenderOptions { namespace: self.namespace().await?, ..self.render.clone() })
    }

    /// The current status and the resourceVersion of the Job/Deployment
    /// (to watch from).
    pub async fn observe(&self, t: &Target) -> Result<(Status, String), KubeError> {
        let client = self.client().await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &t.namespace);
        let pod_list = pods.list(&ListParams::default().labels(&t.selector())).await?.items;
        let (status, rv) = match t.kind {
            ObjectKind::Job => {
                let job = Api::<Job>::namespaced(client, &t.namespace).get(&t.name).await?;
                (status::job_status(&job, &pod_list), job.metadata.resource_version.unwrap_or_default())
            }
            ObjectKind::Deployment => {
                let d = Api::<Deployment>::namespaced(client, &t.namespace).get(&t.name).await?;
                (status::deployment_status(&d, &pod_list), d.metadata.resource_version.unwrap_or_default())
            }
        };
        if status == Status::Pending {
            let mut pods = pod_list;
            status::newest_first(&mut pods);
            if let Some(reason) = pods.first().and_then(status::pending_reason) {
                tracing::info!("{} {} is pending: {reason}", t.kind.as_str(), t.name);
            }
        }
        Ok((status, rv))
    }

    /// Events on the workload's Job/Deployment from `rv` on.
    pub(crate) async fn watch_object(
        &self,
        t: &Target,
        rv: &str,
    ) -> Result<BoxStream<'static, std::result::Result<(), kube::Error>>, KubeError> {
        let client = self.client().await?;
        let wp = WatchParams::default().fields(&format!("metadata.name={}", t.name)).timeout(60);
        Ok(match t.kind {
            ObjectKind::Job => {
                Api::<Job>::namespaced(client, &t.namespace).watch(&wp, rv).await?.map(|e| e.map(|_| ())).boxed()
            }
            ObjectKind::Deployment => {
                Api::<Deployment>::namespaced(client, &t.namespace).watch(&wp, rv).await?.map(|e| e.map(|_| ())).boxed()
            }
        })
    }

    /// Wait (by watch) until the workload reaches a terminal status.
    pub async fn wait(&self, h: &Handle) -> Result<Status> {
        let t = Target::from_handle(h)?;
        let pods_api: Api<Pod> = Api::namespaced(self.client().await?, &t.namespace);
        loop {
            let pods_rv = pods_api
                .list(&ListParams::default().labels(&t.selector()))
                .await
                .map_err(KubeError::from)?
                .metadata
                .resource_version
                .unwrap_or_default();
            let (status, rv) = self.observe(&t).await.map_err(|e| self.map_missing(&t, e))?;
            if status.is_terminal() {
                return Ok(status);
            }
            logs::wait_for_change(self, &t, &pods_rv, &rv).await?;
        }
    }

    fn map_missing(&self, t: &Target, e: KubeError) -> RuntimeError {
        match &e {
            KubeError::Api(k) if is_not_found(k) => t.not_found(),
            _ => e.into(),
        }
    }

    async fn create(&self, launch: &Launch) -> Result<Target, KubeError> {
        let opts = self.render_options().await?;
        let manifests = render(&launch.id, &launch.name, &launch.workload, &opts)?;
        let namespace = manifests.namespace().to_string();
        let client = self.client().await?;
        let pp = PostParams { field_manager: Some("ferry".into()), ..Default::default() };
        match manifests {
            Manifests::Job(job) => {
                let created = Api::<Job>::namespaced(client, &namespace).create(&pp, &job).await?;
                let name =
                    created.metadata.name.ok_or_else(|| KubeError::Backend("the API server named no Job".into()))?;
                Ok(Target { id: launch.id.clone(), namespace, kind: ObjectKind::Job, name, service: None })
            }
            Manifests::Service { deployment, service } => {
                let deployments = Api::<Deployment>::namespaced(client.clone(), &namespace);
                let created = deployments.create(&pp, &deployment).await?;
                let name = created.metadata.name.clone().unwrap_or_default();
                let mut service_name = None;
                if let Some(mut svc) = service {
                    // Owned by the Deployment: deleting it (foreground) collects the Service too.
                    svc.metadata.owner_references = Some(vec![owner(&created)]);
                    match Api::<Service>::namespaced(client, &namespace).create(&pp, &svc).await {
                        Ok(s) => service_name = s.metadata.name,
                        Err(e) => {
                            // Leave nothing half-made behind.
                            let _ = deployments.delete(&name, &DeleteParams::foreground()).await;
                            return Err(e.into());
                        }
                    }
                }
                Ok(Target {
                    id: launch.id.clone(),
                    namespace,
                    kind: ObjectKind::Deployment,
                    name,
                    service: service_name,
                })
            }
        }
    }

    /// The newest running pod of a workload (port-forward re-resolves it per connection).
    pub async fn running_pod(&self, h: &Handle) -> Result<String> {
        let t = Target::from_handle(h)?;
        let pods: Api<Pod> = Api::namespaced(self.client().await?, &t.namespace);
        let mut list = pods.list(&ListParams::default().labels(&t.selector())).await.map_err(KubeError::from)?.items;
        status::newest_first(&mut list);
        list.into_iter()
            .find(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            })
            .and_then(|p| p.metadata.name)
            .ok_or_else(|| RuntimeError::NotPossible {
                operation: "port-forward",
                why: format!("{} {} has no running pod", t.kind.as_str(), t.name),
            })
    }

    pub(crate) fn target(h: &Handle) -> Result<Target> {
        Target::from_handle(h)
    }
}

fn owner(d: &Deployment) -> OwnerReference {
    OwnerReference {
        api_version: Deployment::api_version(&()).into_owned(),
        kind: Deployment::kind(&()).into_owned(),
        name: d.metadata.name.clone().unwrap_or_default(),
        uid: d.metadata.uid.clone().unwrap_or_default(),
        controller: Some(false),
        block_owner_deletion: Some(true),
    }
}

/// How long `stop` waits, beyond the grace period, for the kubelet to kill the
/// containers and the pods to go.
const STOP_SETTLE: Duration = Duration::from_secs(30);

/// Kubernetes has no such primitive (seed 000: no pause/unpause; no
/// checkpoint API; metrics need metrics-server, which Ferry does not assume).
fn unsupported(op: Operation) -> RuntimeError {
    RuntimeError::Unsupported { runtime: RuntimeKind::Kubernetes, operation: op.as_str() }
}

/// A workload found by label, with what re-adoption needs; none for an object
/// being deleted (after `rm`, foreground deletion keeps it until its pods are gone).
fn listed(kind: ObjectKind, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Target> {
    if meta.deletion_timestamp.is_some() {
        return None;
    }
    let id: WorkloadId = meta.labels.as_ref()?.get(manifest::LABEL_WORKLOAD)?.parse().ok()?;
    Some(Target {
        id,
        namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
        kind,
        name: meta.name.clone()?,
        service: None,
    })
}

fn with_adoption_details(mut h: Handle, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Handle {
    if let Some(a) = &meta.annotations {
        if let Some(spec) = a.get(manifest::ANNOTATION_SPEC) {
            h.details.insert(engine::DETAIL_SPEC.into(), spec.clone());
        }
        if let Some(name) = a.get(manifest::ANNOTATION_NAME) {
            h.details.insert(engine::DETAIL_NAME.into(), name.clone());
        }
    }
    h
}

#[async_trait]
impl Runtime for KubeRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Kubernetes
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            pause: false,
            checkpoint: false,
            ports: true,
            gpus: true,
            multi_node: false,
            stats: false,
            host_process: false,
            images: true,
        }
    }

    /// A workload that cannot become objects (a binding without a claim, no image)
    /// is refused here, before the engine records anything; no cluster is asked.
    async fn prepare(&self, launch: &Launch) -> Result<()> {
        render(&launch.id, &launch.name, &launch.workload, &self.render)?;
        Ok(())
    }

    async fn start(&self, launch: &Launch) -> Result<Handle> {
        let t = self.create(launch).await?;
        Ok(t.handle())
    }

    async fn status(&self, h: &Handle) -> Result<Status> {
        let t = Target::from_handle(h)?;
        self.observe(&t).await.map(|(s, _)| s).map_err(|e| self.map_missing(&t, e))
    }

    async fn list(&self) -> Result<Vec<(Handle, Status)>> {
        let client = self.client().await?;
        let ns = self.namespace().await?;
        let lp = ListParams::default().labels(&format!("{}={}", manifest::LABEL_MANAGED_BY, manifest::MANAGED_BY));
        let pods = Api::<Pod>::namespaced(client.clone(), &ns).list(&lp).await.map_err(KubeError::from)?.items;
        let pods_of = |id: &WorkloadId| -> Vec<Pod> {
            pods.iter()
                .filter(|p| {
                    p.metadata.labels.as_ref().and_then(|l| l.get(manifest::LABEL_WORKLOAD)) == Some(&id.to_string())
                })
                .cloned()
                .collect()
        };
        let mut out = Vec::new();
        for job in Api::<Job>::namespaced(client.clone(), &ns).list(&lp).await.map_err(KubeError::from)?.items {
            if let Some(t) = listed(ObjectKind::Job, &job.metadata) {
                let s = status::job_status(&job, &pods_of(&t.id));
                out.push((with_adoption_details(t.handle(), &job.metadata), s));
            }
        }
        let services = Api::<Service>::namespaced(client.clone(), &ns).list(&lp).await.map_err(KubeError::from)?.items;
        for d in Api::<Deployment>::namespaced(client, &ns).list(&lp).await.map_err(KubeError::from)?.items {
            if let Some(mut t) = listed(ObjectKind::Deployment, &d.metadata) {
                t.service = services
                    .iter()
                    .find(|s| {
                        s.metadata.labels.as_ref().and_then(|l| l.get(manifest::LABEL_WORKLOAD))
                            == Some(&t.id.to_string())
                    })
                    .and_then(|s| s.metadata.name.clone());
                let s = status::deployment_status(&d, &pods_of(&t.id));
                out.push((with_adoption_details(t.handle(), &d.metadata), s));
            }
        }
        Ok(out)
    }

    async fn logs(&self, h: &Handle, opts: LogOptions) -> Result<LogStream> {
        let t = Target::from_handle(h)?;
        // Fail early (not inside the stream) when the workload is gone.
        self.observe(&t).await.map_err(|e| self.map_missing(&t, e))?;
        let (tx, rx) = futures::channel::mpsc::channel(256);
        let rt = KubeRuntime {
            settings: self.settings.clone(),
            render: self.render.clone(),
            connection: OnceCell::new_with(Some(self.connection().await?.clone())),
        };
        tokio::spawn(async move {
            let mut err_tx = tx.clone();
            let result = if opts.follow {
                logs::follow(&rt, &t, opts.tail, tx).await
            } else {
                logs::read(&rt, &t, opts.tail, tx).await
            };
            if let Err(e) = result {
                use futures::SinkExt;
                let _ = err_tx.send(Err(e.into())).await;
            }
        });
        Ok(rx.boxed())
    }

    async fn stats(&self, _h: &Handle) -> Result<Stats> {
        Err(unsupported(Operation::Stats))
    }

    async fn stop(&self, h: &Handle, grace: Duration) -> Result<()> {
        let t = Target::from_handle(h)?;
        let (status, _) = self.observe(&t).await.map_err(|e| self.map_missing(&t, e))?;
        if status.is_terminal() {
            return Ok(());
        }
        let client = self.client().await.map_err(RuntimeError::from)?;
        let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let annotations = serde_json::json!({ manifest::ANNOTATION_STOPPED: stamp });
        let patch = match t.kind {
            ObjectKind::Job => serde_json::json!({"metadata": {"annotations": annotations}, "spec": {"suspend": true}}),
            ObjectKind::Deployment => {
                serde_json::json!({"metadata": {"annotations": annotations}, "spec": {"replicas": 0}})
            }
        };
        let pp = PatchParams { field_manager: Some("ferry".into()), ..Default::default() };
        let res = match t.kind {
            ObjectKind::Job => Api::<Job>::namespaced(client.clone(), &t.namespace)
                .patch(&t.name, &pp, &Patch::Merge(&patch))
                .await
                .map(|_| ()),
            ObjectKind::Deployment => Api::<Deployment>::namespaced(client.clone(), &t.namespace)
                .patch(&t.name, &pp, &Patch::Merge(&patch))
                .await
                .map(|_| ()),
        };
        res.map_err(|e| self.map_missing(&t, e.into()))?;
        // The controllers would delete the pods too; doing it here honours the grace period.
        let dp = DeleteParams { grace_period_seconds: Some(grace.as_secs() as u32), ..DeleteParams::background() };
        let pods: Api<Pod> = Api::namespaced(client, &t.namespace);
        let selector = ListParams::default().labels(&t.selector());
        pods.delete_collection(&dp, &selector).await.map_err(KubeError::from)?;
        // Return once the workload has stopped, as on every runtime: the kubelet sends
        // SIGTERM, then SIGKILL after the grace period, then the pods go.
        let deadline = tokio::time::Instant::now() + grace + STOP_SETTLE;
        while tokio::time::Instant::now() < deadline {
            if pods.list(&selector).await.map_err(KubeError::from)?.items.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::warn!("the pods of {} {} are still there after the grace period", t.kind.as_str(), t.name);
        Ok(())
    }

    async fn destroy(&self, h: &Handle) -> Result<()> {
        let t = Target::from_handle(h)?;
        let client = self.client().await?;
        let dp = DeleteParams::foreground();
        let res = match t.kind {
            ObjectKind::Job => {
                Api::<Job>::namespaced(client.clone(), &t.namespace).delete(&t.name, &dp).await.map(|_| ())
            }
            ObjectKind::Deployment => {
                if let Some(svc) = &t.service {
                    match Api::<Service>::namespaced(client.clone(), &t.namespace).delete(svc, &dp).await {
                        Ok(_) => {}
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(KubeError::from(e).into()),
                    }
                }
                Api::<Deployment>::namespaced(client.clone(), &t.namespace).delete(&t.name, &dp).await.map(|_| ())
            }
        };
        res.map_err(|e| self.map_missing(&t, e.into()))
    }

    async fn pause(&self, _h: &Handle) -> Result<()> {
        Err(unsupported(Operation::Pause))
    }

    async fn resume(&self, _h: &Handle) -> Result<()> {
        Err(unsupported(Operation::Resume))
    }

    async fn checkpoint(&self, _h: &Handle, _to: &Path) -> Result<()> {
        Err(unsupported(Operation::Checkpoint))
    }

    async fn restore(&self, _from: &Path) -> Result<Handle> {
        Err(unsupported(Operation::Restore))
    }

    /// True when some node offers `nvidia.com/gpu`.
    async fn gpu_enabled(&self) -> Result<bool> {
        let nodes =
            Api::<Node>::all(self.client().await?).list(&ListParams::default()).await.map_err(KubeError::from)?;
        Ok(nodes.items.iter().any(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.allocatable.as_ref())
                .and_then(|a| a.get(manifest::GPU_RESOURCE))
                .is_some_and(|q| q.0 != "0")
        }))
    }
}
