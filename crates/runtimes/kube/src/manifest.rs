//! Workload → Kubernetes objects, as typed `k8s-openapi` structs.
//!
//! `kind: job` becomes one `batch/v1 Job`; `kind: service` a `apps/v1
//! Deployment` (one replica) plus a ClusterIP `Service` when it has ports.
//! The same functions feed `ferry render` and `start`, so what a user reviews
//! is what gets submitted.
//!
//! Container semantics (shared with `docker run IMAGE COMMAND…`):
//! - `command: [..]` becomes the container's `args`: the image's ENTRYPOINT is
//!   kept and its CMD replaced (MLCube images rely on their ENTRYPOINT).
//! - `run: script` becomes `command: [/bin/sh, -c, script, <name>]`.
//! - Binding arguments (`pass_io_as: args`) are appended to `args`.

use std::collections::BTreeMap;

use ferry_core::bindings::{container_path, env_var};
use ferry_core::WorkloadId;
use ferry_spec::{Kind, PassIoAs, Workload};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, LocalObjectReference, PersistentVolumeClaimVolumeSource, PodSpec,
    PodTemplateSpec, ResourceRequirements, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use crate::KubeError;

/// `app.kubernetes.io/managed-by: ferry` marks every object Ferry creates.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "ferry";
/// The workload id, on every object and pod: `list()` and the watches select by it.
pub const LABEL_WORKLOAD: &str = "io.ferry/workload";
/// The instance name (`ferry run --name`), for re-adoption.
pub const ANNOTATION_NAME: &str = "io.ferry/name";
/// The Workload as JSON, for re-adoption when Ferry's store is lost.
pub const ANNOTATION_SPEC: &str = "io.ferry/spec";
/// Set by `ferry stop`: the workload was cancelled on request.
pub const ANNOTATION_STOPPED: &str = "io.ferry/stopped";
/// The one container Ferry puts in a pod.
pub const CONTAINER: &str = "main";
/// Default node label that selects a GPU model (NVIDIA GPU feature discovery).
pub const DEFAULT_GPU_LABEL: &str = "nvidia.com/gpu.product";
/// Extended resource name for GPUs (NVIDIA device plugin).
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Everything besides the workload that decides the manifests.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Namespace when the workload names none.
    pub namespace: String,
    /// Node label that `resources.gpu_type` selects on.
    pub gpu_label: String,
}

/// Environment variable naming another node label for `gpu_type` (e.g.
/// `cloud.google.com/gke-accelerator`); default [`DEFAULT_GPU_LABEL`].
pub const GPU_LABEL_ENV: &str = "FERRY_KUBE_GPU_LABEL";

impl Default for RenderOptions {
    fn default() -> Self {
        let gpu_label = std::env::var(GPU_LABEL_ENV).ok().filter(|l| !l.is_empty());
        RenderOptions { namespace: "default".into(), gpu_label: gpu_label.unwrap_or_else(|| DEFAULT_GPU_LABEL.into()) }
    }
}

/// The objects one workload becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifests {
    Job(Box<Job>),
    Service { deployment: Box<Deployment>, service: Option<Box<Service>> },
}

impl Manifests {
    /// The namespace the objects live in.
    pub fn namespace(&self) -> &str {
        let meta = match self {
            Manifests::Job(j) => &j.metadata,
            Manifests::Service { deployment, .. } => &deployment.metadata,
        };
        meta.namespace.as_deref().unwrap_or("default")
    }

    /// The manifests as a multi-document YAML stream (`---` separated), each
    /// with `apiVersion` and `kind`, ready for `kubectl apply -f -`.
    pub fn to_yaml(&self) -> Result<String, KubeError> {
        let mut docs = Vec::new();
        match self {
            Manifests::Job(j) => docs.push(yaml_doc(j.as_ref())?),
            Manifests::Service { deployment, service } => {
                docs.push(yaml_doc(deployment.as_ref())?);
                if let Some(s) = service {
                    docs.push(yaml_doc(s.as_ref())?);
                }
            }
        }
        Ok(docs.join("---\n"))
    }
}

fn yaml_doc<T: Serialize>(obj: &T) -> Result<String, KubeError> {
    serde_norway::to_string(obj).map_err(|e| KubeError::Render(format!("cannot write YAML: {e}")))
}

/// The Kubernetes form of `name`: a DNS-1035 label prefix (lowercase letters,
/// digits, `-`; starts with a letter) of at most `max` characters.
pub fn dns_label(name: &str, max: usize) -> String {
    let mut s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s.insert_str(0, "w-");
    }
    s.truncate(max);
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() {
        "w".into()
    } else {
        s
    }
}

/// Seconds between SIGTERM and SIGKILL when a timeout ends a pod: Ferry's grace
/// period on every runtime (Kubernetes' default is 30).
const TERMINATION_GRACE_SECS: i64 = 10;

/// The objects for one workload instance.
pub fn render(id: &WorkloadId, instance: &str, w: &Workload, opts: &RenderOptions) -> Result<Manifests, KubeError> {
    let image = w.image.clone().ok_or_else(|| {
        KubeError::Invalid("image: the kubernetes runtime runs container images; add `image:` to the workload".into())
    })?;
    if w.nodes > 1 || w.tasks_per_node > 1 {
        return Err(KubeError::Invalid(
            "nodes/tasks_per_node: multi-node workloads are not supported by the kubernetes runtime".into(),
        ));
    }
    let k8s = w.runtime.kubernetes.clone().unwrap_or_default();
    let namespace = k8s.namespace.clone().unwrap_or_else(|| opts.namespace.clone());
    let labels = labels(id);
    let mut annotations = BTreeMap::new();
    annotations.insert(ANNOTATION_NAME.to_string(), instance.to_string());
    let spec_json =
        serde_json::to_string(w).map_err(|e| KubeError::Render(format!("cannot encode the workload: {e}")))?;
    annotations.insert(ANNOTATION_SPEC.to_string(), spec_json);

    let mounts = io_mounts(w)?;
    let container = container(id, instance, w, image, &mounts)?;
    let mut node_selector = k8s.node_selector.clone();
    if let Some(gpu_type) = &w.resources.gpu_type {
        node_selector.entry(opts.gpu_label.clone()).or_insert_with(|| gpu_type.clone());
    }
    let pod = PodSpec {
        containers: vec![container],
        volumes: non_empty(volumes(&mounts)),
        runtime_class_name: k8s.runtime_class.clone(),
        image_pull_secrets: non_empty(
            k8s.image_pull_secrets.iter().map(|s| LocalObjectReference { name: s.clone() }).collect(),
        ),
        node_selector: (!node_selector.is_empty()).then_some(node_selector),
        restart_policy: Some(if w.kind == Kind::Job { "Never" } else { "Always" }.into()),
        // SIGTERM, then SIGKILL after Ferry's grace period (as the local and OCI runtimes do)
        // when the timeout ends a pod or the pod is deleted without its own grace period.
        termination_grace_period_seconds: Some(TERMINATION_GRACE_SECS),
        // The workload is never PID 1, as on every runtime (docker's --init, ferry-init):
        // the sandbox's pause process is, so signals and zombies behave as the program expects.
        share_process_namespace: Some(true),
        // Per attempt, as `timeout` means everywhere in Ferry.
        active_deadline_seconds: if w.kind == Kind::Job { w.timeout.map(|t| deadline_secs(t.as_std())) } else { None },
        ..Default::default()
    };
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(labels.clone()), ..Default::default() }),
        spec: Some(pod),
    };
    let base = dns_label(instance, 52);
    let meta = |generate: bool| ObjectMeta {
        namespace: Some(namespace.clone()),
        generate_name: generate.then(|| format!("{base}-")),
        name: (!generate).then(|| service_name(instance, id)),
        labels: Some(labels.clone()),
        annotations: Some(annotations.clone()),
        ..Default::default()
    };
    match w.kind {
        Kind::Job => Ok(Manifests::Job(Box::new(Job {
            metadata: meta(true),
            spec: Some(JobSpec {
                backoff_limit: Some(w.retries as i32),
                // The whole Job, all attempts included, may run for at most
                // (retries + 1) × timeout; each attempt is bounded by the pod's deadline.
                active_deadline_seconds: w
                    .timeout
                    .map(|t| deadline_secs(t.as_std()).saturating_mul(i64::from(w.retries) + 1)),
                template,
                ..Default::default()
            }),
            status: None,
        }))),
        Kind::Service => {
            let deployment = Deployment {
                metadata: meta(false),
                spec: Some(DeploymentSpec {
                    replicas: Some(1),
                    selector: LabelSelector {
                        match_labels: Some([(LABEL_WORKLOAD.to_string(), id.to_string())].into()),
                        ..Default::default()
                    },
                    template,
                    ..Default::default()
                }),
                status: None,
            };
            let service = (!w.ports.is_empty()).then(|| {
                Box::new(Service {
                    metadata: meta(false),
                    spec: Some(ServiceSpec {
                        type_: Some("ClusterIP".into()),
                        selector: Some([(LABEL_WORKLOAD.to_string(), id.to_string())].into()),
                        ports: Some(
                            w.ports
                                .iter()
                                .map(|p| ServicePort {
                                    name: Some(p.name.clone()),
                                    port: i32::from(p.port),
                                    target_port: Some(IntOrString::String(p.name.clone())),
                                    protocol: Some("TCP".into()),
                                    ..Default::default()
                                })
                                .collect(),
                        ),
                        ..Default::default()
                    }),
                    status: None,
                })
            });
            Ok(Manifests::Service { deployment: Box::new(deployment), service })
        }
    }
}

/// Deployments and Services get a fixed name (the Service must be
/// addressable): the instance name plus the id's first 8 digits.
pub fn service_name(instance: &str, id: &WorkloadId) -> String {
    format!("{}-{}", dns_label(instance, 54), &id.as_str()[..8])
}

/// Labels on every object and pod of a workload.
pub fn labels(id: &WorkloadId) -> BTreeMap<String, String> {
    [(LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()), (LABEL_WORKLOAD.to_string(), id.to_string())].into()
}

/// Label selector for a workload's objects and pods.
pub fn selector(id: &WorkloadId) -> String {
    format!("{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_WORKLOAD}={id}")
}

fn deadline_secs(d: std::time::Duration) -> i64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// One binding mounted from a PersistentVolumeClaim.
#[derive(Debug, Clone)]
struct IoMount {
    binding: String,
    claim: String,
    sub_path: Option<String>,
    read_only: bool,
}

/// Every input and output needs `runtime.kubernetes.volumes.<name>.pvc`:
/// host paths mean nothing on a cluster node.
fn io_mounts(w: &Workload) -> Result<Vec<IoMount>, KubeError> {
    let volumes = w.runtime.kubernetes.as_ref().map(|k| k.volumes.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for (section, bindings, read_only) in [("inputs", &w.inputs, true), ("outputs", &w.outputs, false)] {
        for name in bindings.keys() {
            let v = volumes.get(name).ok_or_else(|| {
                KubeError::Invalid(format!(
                    "{section}.{name}: the kubernetes runtime needs a volume for it; add \
                     runtime.kubernetes.volumes.{name}.pvc (the PersistentVolumeClaim that holds it)"
                ))
            })?;
            out.push(IoMount { binding: name.clone(), claim: v.pvc.clone(), sub_path: v.sub_path.clone(), read_only });
        }
    }
    for name in volumes.keys() {
        if !w.inputs.contains_key(name) && !w.outputs.contains_key(name) {
            return Err(KubeError::Invalid(format!(
                "runtime.kubernetes.volumes.{name}: no input or output is called {name:?}"
            )));
        }
    }
    Ok(out)
}

/// Pod volume name for a claim: the claim's name as a DNS label.
fn volume_name(claim: &str) -> String {
    dns_label(claim, 63)
}

/// One pod volume per distinct claim (several bindings may share one).
fn volumes(mounts: &[IoMount]) -> Vec<Volume> {
    let mut claims: BTreeMap<String, bool> = BTreeMap::new();
    for m in mounts {
        // The volume is read-only only if every binding on it is an input.
        let ro = claims.entry(m.claim.clone()).or_insert(true);
        *ro &= m.read_only;
    }
    claims
        .into_iter()
        .map(|(claim, read_only)| Volume {
            name: volume_name(&claim),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim,
                read_only: read_only.then_some(true),
            }),
            ..Default::default()
        })
        .collect()
}

fn container(
    id: &WorkloadId,
    instance: &str,
    w: &Workload,
    image: String,
    mounts: &[IoMount],
) -> Result<Container, KubeError> {
    let (command, mut args) = match (&w.command, &w.run) {
        (Some(cmd), _) => (None, cmd.clone()),
        (None, Some(script)) => {
            (Some(vec!["/bin/sh".to_string(), "-c".into(), script.clone(), w.name.clone()]), Vec::new())
        }
        (None, None) => {
            return Err(KubeError::Invalid("missing `command` or `run`".into()));
        }
    };
    let mut env: Vec<EnvVar> = w.env.iter().map(|(k, v)| env_var_of(k, v)).collect();
    for m in mounts {
        let path = container_path(&m.binding);
        env.push(env_var_of(&env_var(&m.binding), &path));
        if w.pass_io_as == PassIoAs::Args {
            args.push(format!("--{}={}", m.binding, path));
        }
    }
    env.push(env_var_of("FERRY_WORKLOAD_ID", id.as_str()));
    env.push(env_var_of("FERRY_WORKLOAD_NAME", instance));
    let volume_mounts = mounts
        .iter()
        .map(|m| VolumeMount {
            name: volume_name(&m.claim),
            mount_path: container_path(&m.binding),
            sub_path: m.sub_path.clone(),
            read_only: m.read_only.then_some(true),
            ..Default::default()
        })
        .collect();
    Ok(Container {
        name: CONTAINER.into(),
        image: Some(image),
        command: command.map(|words| words.iter().map(|w| literal(w)).collect()),
        args: non_empty(args.iter().map(|a| literal(a)).collect()),
        env: non_empty(env),
        resources: resources(w),
        ports: non_empty(
            w.ports
                .iter()
                .map(|p| ContainerPort {
                    name: Some(p.name.clone()),
                    container_port: i32::from(p.port),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                })
                .collect(),
        ),
        volume_mounts: non_empty(volume_mounts),
        ..Default::default()
    })
}

fn env_var_of(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.into(), value: Some(literal(value)), value_from: None }
}

/// Kubernetes expands `$(NAME)` in a container's command, args and env values, and
/// reads `$$` as `$`: every `$` is doubled, so the workload's words arrive as written
/// (`kill -9 $$` stays `kill -9 $$`), as on every other runtime.
fn literal(s: &str) -> String {
    s.replace('$', "$$")
}

/// Requests equal limits: Ferry's resources are what the workload gets,
/// no more (Guaranteed QoS when both CPU and memory are given).
fn resources(w: &Workload) -> Option<ResourceRequirements> {
    let r = &w.resources;
    let mut q: BTreeMap<String, Quantity> = BTreeMap::new();
    if let Some(cpus) = r.cpus {
        let millis = (cpus * 1000.0).round().max(1.0) as u64;
        let text = if millis.is_multiple_of(1000) { format!("{}", millis / 1000) } else { format!("{millis}m") };
        q.insert("cpu".into(), Quantity(text));
    }
    if let Some(mem) = r.memory {
        q.insert("memory".into(), Quantity(mem.bytes().to_string()));
    }
    if let Some(gpus) = r.gpus.filter(|g| *g > 0) {
        q.insert(GPU_RESOURCE.into(), Quantity(gpus.to_string()));
    }
    if q.is_empty() {
        return None;
    }
    Some(ResourceRequirements { requests: Some(q.clone()), limits: Some(q), ..Default::default() })
}
