//! Test support (feature `testing`): the test cluster and schema validation.
//!
//! [`Cluster`] is the real single-node cluster that `scripts/testbed/kube-cluster.sh`
//! starts (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet on
//! containerd), found through the variables `scripts/services/60-kube.sh` exports.
//! [`validate`] checks rendered manifests against the official JSON schemas
//! (kubernetes-validate, in a venv exported as `FERRY_KUBE_PYTHON`).
//! When either is missing the tests fail loudly, unless `FERRY_SKIP_KUBE_TESTS=1`
//! says to skip them knowingly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace as NamespaceObject, Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;

const SKIP: &str = "FERRY_SKIP_KUBE_TESTS";

/// Record a knowing skip, or return false.
fn skipping(test: &str, what: &str) -> bool {
    if std::env::var(SKIP).is_ok_and(|v| v == "1") {
        eprintln!("{test}: skipped ({SKIP}=1)");
        ferry_core::skip_log::append(&format!("{test}: skipped ({SKIP}=1: no {what})"));
        return true;
    }
    false
}

/// The Kubernetes version manifests are validated against (the k8s-openapi feature).
pub const SCHEMA_VERSION: &str = "1.34.0";

/// Where the schema validator script lives.
pub fn testing_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testing")
}

/// The venv's python with kubernetes-validate, or `None` when the
/// test should be skipped (`FERRY_SKIP_KUBE_TESTS=1`, recorded in `$FERRY_SKIP_LOG`).
/// Panics with instructions when the tools are missing and no skip was asked for.
pub fn python_or_skip(test: &str) -> Option<PathBuf> {
    if skipping(test, "Kubernetes schema validator") {
        return None;
    }
    let python = std::env::var_os("FERRY_KUBE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ferry-test/kube-venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import kubernetes_validate, yaml"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{test}: the Kubernetes test tools are missing ({} cannot import kubernetes_validate, yaml). \
         Run scripts/services/60-kube.sh (or scripts/test), or set FERRY_SKIP_KUBE_TESTS=1 to skip knowingly.",
        python.display()
    );
    Some(python)
}

/// Validate multi-document YAML files against the official schemas (strict:
/// unknown fields are errors). Returns the validator's report, or panics with it.
pub fn validate(python: &Path, files: &[&Path]) -> String {
    let out = Command::new(python)
        .arg(testing_dir().join("validate_manifests.py"))
        .arg(SCHEMA_VERSION)
        .args(files)
        .output()
        .expect("run validate_manifests.py");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "manifests do not validate against the Kubernetes {SCHEMA_VERSION} schemas:\n{report}"
    );
    report
}

/// The test cluster (see the module docs), reached as its administrator.
pub struct Cluster {
    /// A client with cluster-admin rights, for what a test sets up around Ferry.
    pub admin: Client,
    pub admin_kubeconfig: PathBuf,
    /// The test user: a client certificate, `edit` rights in the namespaces a test grants it.
    pub user_kubeconfig: PathBuf,
    /// A ServiceAccount's bearer token with the same rights as the test user.
    pub token_kubeconfig: PathBuf,
    /// A namespace where the test user may do nothing.
    pub forbidden_namespace: String,
    /// The busybox image, in the test registry the node pulls from.
    pub image: String,
    /// kubectl of the cluster's version, for the benchmarks and set-up.
    pub kubectl: PathBuf,
    /// Where hostPath volumes for claims are made.
    pub volumes: PathBuf,
}

fn env_path(name: &str) -> PathBuf {
    std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "{name} is not set: the Kubernetes test cluster is not running. Run scripts/services/60-kube.sh \
             (or scripts/test), or set {SKIP}=1 to skip the Kubernetes tests knowingly."
        )
    })
}

impl Cluster {
    /// The running test cluster, or `None` when the test should be skipped
    /// (`FERRY_SKIP_KUBE_TESTS=1`, recorded in `$FERRY_SKIP_LOG`). Panics with
    /// instructions when no cluster is set up or its node is not reachable.
    pub async fn or_skip(test: &str) -> Option<Cluster> {
        if skipping(test, "Kubernetes test cluster") {
            return None;
        }
        let admin_kubeconfig = env_path("FERRY_KUBE_ADMIN_KUBECONFIG");
        let admin = client_for(&admin_kubeconfig).await;
        let nodes = Api::<Node>::all(admin.clone()).list(&ListParams::default()).await.unwrap_or_else(|e| {
            panic!("{test}: the test cluster does not answer ({e}); run scripts/services/60-kube.sh")
        });
        assert!(!nodes.items.is_empty(), "{test}: the test cluster has no node; see the kubelet's log");
        Some(Cluster {
            admin,
            admin_kubeconfig,
            user_kubeconfig: env_path("FERRY_KUBE_USER_KUBECONFIG"),
            token_kubeconfig: env_path("FERRY_KUBE_TOKEN_KUBECONFIG"),
            forbidden_namespace: std::env::var("FERRY_KUBE_FORBIDDEN_NAMESPACE").unwrap_or("ferry-forbidden".into()),
            image: std::env::var("FERRY_KUBE_IMAGE").unwrap_or_else(|_| panic!("FERRY_KUBE_IMAGE is not set")),
            kubectl: env_path("FERRY_KUBECTL"),
            volumes: env_path("FERRY_KUBE_VOLUMES"),
        })
    }

    /// A namespace of the test's own, where the test user and the token may work
    /// (the built-in `edit` role); deleted when dropped.
    pub async fn namespace(&self, test: &str) -> TestNamespace {
        let mut name: String = test
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        name.truncate(50);
        let name = format!("{}-{:06x}", name.trim_end_matches('-'), rand_suffix());
        let pp = PostParams::default();
        let ns: NamespaceObject = serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
        Api::<NamespaceObject>::all(self.admin.clone()).create(&pp, &ns).await.expect("create the test namespace");
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": "ferry-test-users"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "ferry-test-user"},
                {"kind": "ServiceAccount", "name": "ferry-test-token", "namespace": "ferry-test"}
            ]
        }))
        .expect("role binding");
        Api::<RoleBinding>::namespaced(self.admin.clone(), &name).create(&pp, &binding).await.expect("bind the role");
        TestNamespace { name, kubectl: self.kubectl.clone(), admin_kubeconfig: self.admin_kubeconfig.clone() }
    }

    /// A client from one of the cluster's kubeconfig files.
    pub async fn client(&self, kubeconfig: &Path) -> Client {
        client_for(kubeconfig).await
    }

    /// A PersistentVolume on a host directory, bound in advance to the claim
    /// `claim` in `namespace` (which the test, or Ferry, creates). Returns the
    /// directory, where the pod's writes appear.
    pub async fn volume_for_claim(&self, namespace: &str, claim: &str) -> PathBuf {
        let pv_name = format!("{namespace}-{claim}");
        let dir = self.volumes.join(&pv_name);
        std::fs::create_dir_all(&dir).expect("volume directory");
        let pv: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": pv_name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": dir.to_str().expect("utf-8 path"), "type": "Directory"},
                "claimRef": {"namespace": namespace, "name": claim}
            }
        }))
        .expect("persistent volume");
        Api::<PersistentVolume>::all(self.admin.clone())
            .create(&PostParams::default(), &pv)
            .await
            .expect("create the persistent volume");
        dir
    }

    /// Create the claim `claim` in `namespace` for a volume made by [`Cluster::volume_for_claim`].
    pub async fn claim(&self, namespace: &str, claim: &str) {
        let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "volumeName": format!("{namespace}-{claim}"),
                "resources": {"requests": {"storage": "1Gi"}}
            }
        }))
        .expect("claim");
        Api::<PersistentVolumeClaim>::namespaced(self.admin.clone(), namespace)
            .create(&PostParams::default(), &pvc)
            .await
            .expect("create the claim");
    }
}

/// A client from a kubeconfig file, as a user of Ferry would have.
async fn client_for(kubeconfig: &Path) -> Client {
    crate::connect::ensure_crypto_provider();
    let kc = Kubeconfig::read_from(kubeconfig).unwrap_or_else(|e| panic!("read {}: {e}", kubeconfig.display()));
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", kubeconfig.display()));
    Client::try_from(config).expect("client")
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (h.finish() & 0xff_ffff) as u32
}

/// A test's namespace; dropping it deletes the namespace and everything in it
/// (without waiting: the next test does not need it gone).
pub struct TestNamespace {
    pub name: String,
    kubectl: PathBuf,
    admin_kubeconfig: PathBuf,
}

impl TestNamespace {
    /// Wait until nothing of Ferry's is left in the namespace (after `rm`):
    /// returns what is still there after `timeout`, empty when all is gone.
    pub async fn leftovers(&self, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let out = Command::new(&self.kubectl)
                .args(["--kubeconfig", self.admin_kubeconfig.to_str().unwrap_or_default()])
                .args(["-n", &self.name, "get", "jobs,deployments,replicasets,services,pods", "-o", "name"])
                .stderr(Stdio::inherit())
                .output()
                .expect("run kubectl");
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if text.is_empty() || std::time::Instant::now() > deadline {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = Command::new(&self.kubectl)
            .args(["--kubeconfig", self.admin_kubeconfig.to_str().unwrap_or_default()])
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
