//! Test support (feature `testing`): the Python tools the Kubernetes tests
//! need, the stateful API emulator, and schema validation. No cluster can run
//! where Ferry's tests run, so these stand in for one; see the README.
//!
//! The tools come from `scripts/services/60-kube.sh` (a venv exported as
//! `FERRY_KUBE_PYTHON`). When they are missing the tests fail loudly, unless
//! `FERRY_SKIP_KUBE_TESTS=1` says to skip them knowingly.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

/// The Kubernetes version manifests are validated against (the k8s-openapi feature).
pub const SCHEMA_VERSION: &str = "1.34.0";

/// Where the emulator and the validator scripts live.
pub fn testing_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testing")
}

/// The venv's python with kubernetes-validate and aiohttp, or `None` when the
/// test should be skipped (`FERRY_SKIP_KUBE_TESTS=1`, recorded in `$FERRY_SKIP_LOG`).
/// Panics with instructions when the tools are missing and no skip was asked for.
pub fn python_or_skip(test: &str) -> Option<PathBuf> {
    if std::env::var("FERRY_SKIP_KUBE_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("{test}: skipped (FERRY_SKIP_KUBE_TESTS=1)");
        ferry_core::skip_log::append(&format!("{test}: skipped (FERRY_SKIP_KUBE_TESTS=1: no Kubernetes test tools)"));
        return None;
    }
    let python = std::env::var_os("FERRY_KUBE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ferry-test/kube-venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import kubernetes_validate, aiohttp, yaml"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{test}: the Kubernetes test tools are missing ({} cannot import kubernetes_validate, aiohttp, yaml). \
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

/// One emulator process on 127.0.0.1 (killed on drop).
pub struct Emulator {
    child: Child,
    pub port: u16,
    pub client: Client,
}

impl Emulator {
    pub async fn start(python: &Path) -> Emulator {
        let mut child = Command::new(python)
            .arg(testing_dir().join("kube_emulator.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kube_emulator.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read emulator port");
        let port: u16 = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("kube_emulator.py did not start: {line:?}"));
        crate::connect::ensure_crypto_provider();
        let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().expect("url"));
        let client = Client::try_from(config).expect("client");
        Emulator { child, port, client }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A kubeconfig file pointing at the emulator, with `namespace` as the default.
    pub fn write_kubeconfig(&self, path: &Path, namespace: &str) {
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: emu\nclusters:\n- name: emu\n  cluster:\n    server: {}\n\
             contexts:\n- name: emu\n  context:\n    cluster: emu\n    user: emu\n    namespace: {namespace}\n\
             users:\n- name: emu\n  user: {{}}\n",
            self.url()
        );
        std::fs::write(path, text).expect("write kubeconfig");
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> String {
        let req = http::Request::post(path).body(body).expect("request");
        self.client.request_text(req).await.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// Append lines to a pod's log (as the container would write them).
    pub async fn append_log(&self, ns: &str, pod: &str, text: &str) {
        self.post(&format!("/emulator/logs/{ns}/{pod}"), text.as_bytes().to_vec()).await;
    }

    /// The container ended: followers of the log reach its end.
    pub async fn close_log(&self, ns: &str, pod: &str) {
        self.post(&format!("/emulator/logs/{ns}/{pod}/close"), Vec::new()).await;
    }

    /// Where the pod's `port` is served (a TCP address on this machine).
    pub async fn set_pod_port(&self, ns: &str, pod: &str, port: u16, addr: std::net::SocketAddr) {
        let body = serde_json::json!({ port.to_string(): addr.to_string() });
        self.post(&format!("/emulator/ports/{ns}/{pod}"), body.to_string().into_bytes()).await;
    }

    /// GET an API path as JSON (panics on errors).
    pub async fn get(&self, path: &str) -> serde_json::Value {
        let req = http::Request::get(path).body(Vec::new()).expect("request");
        let text = self.client.request_text(req).await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        serde_json::from_str(&text).expect("json")
    }

    /// DELETE an API path (as a node drain or `kubectl delete` would).
    pub async fn delete(&self, path: &str) {
        let req = http::Request::delete(path).body(Vec::new()).expect("request");
        self.client.request_text(req).await.unwrap_or_else(|e| panic!("DELETE {path}: {e}"));
    }

    /// The only object in a collection (panics unless there is exactly one).
    pub async fn only(&self, collection: &str) -> serde_json::Value {
        let list = self.get(collection).await;
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{collection}: {list}");
        items[0].clone()
    }

    /// Every API request the emulator received.
    pub async fn requests(&self) -> Vec<serde_json::Value> {
        let req = http::Request::get("/emulator/requests").body(Vec::new()).expect("request");
        let text = self.client.request_text(req).await.expect("requests");
        serde_json::from_str(&text).expect("json")
    }

    /// Play the Job controller: create a pod for `owner` (a Job or Deployment
    /// as JSON) with its template's labels and an ownerReference.
    pub async fn create_pod(&self, owner: &serde_json::Value, pod_name: &str) -> Pod {
        let ns = owner["metadata"]["namespace"].as_str().expect("namespace");
        let template = &owner["spec"]["template"];
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "labels": template["metadata"]["labels"],
                "ownerReferences": [{
                    "apiVersion": owner["apiVersion"], "kind": owner["kind"],
                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                    "controller": true, "blockOwnerDeletion": true,
                }],
            },
            "spec": template["spec"],
            "status": {"phase": "Pending"},
        });
        let pod: Pod = serde_json::from_value(pod).expect("pod");
        Api::<Pod>::namespaced(self.client.clone(), ns).create(&PostParams::default(), &pod).await.expect("create pod")
    }

    /// Play the kubelet: merge-patch a pod's status.
    pub async fn set_pod_status(&self, ns: &str, pod: &str, status: serde_json::Value) {
        let patch = serde_json::json!({ "status": status });
        Api::<Pod>::namespaced(self.client.clone(), ns)
            .patch_status(pod, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch pod status");
    }

    /// Play the Job controller: merge-patch a Job's status.
    pub async fn set_job_status(&self, ns: &str, job: &str, status: serde_json::Value) {
        let patch = serde_json::json!({ "status": status });
        Api::<k8s_openapi::api::batch::v1::Job>::namespaced(self.client.clone(), ns)
            .patch_status(job, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch job status");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Container status JSON for the main container (kubelet-style).
pub fn main_container(state: serde_json::Value) -> serde_json::Value {
    serde_json::json!([{
        "name": crate::manifest::CONTAINER, "image": "img", "imageID": "", "ready": false, "restartCount": 0,
        "state": state,
    }])
}
