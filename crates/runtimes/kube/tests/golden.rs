//! Rendered manifests: compared with reviewed golden files in
//! `tests/golden/kube/` and validated against the official Kubernetes JSON
//! schemas (kubernetes-validate, strict). Regenerate after a reviewed change
//! with `FERRY_UPDATE_GOLDEN=1 cargo test -p ferry-kube --test golden`.

use std::path::{Path, PathBuf};

use ferry_core::WorkloadId;
use ferry_kube::{render, testing, RenderOptions};

const ID: &str = "0123456789abcdef0123456789abcdef";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/golden/kube")
}

fn rendered(case: &str) -> String {
    let file = golden_dir().join("workloads").join(format!("{case}.yaml"));
    let w = ferry_spec::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let id: WorkloadId = ID.parse().unwrap();
    render(&id, &w.name, &w, &RenderOptions::default()).unwrap().to_yaml().unwrap()
}

/// Compare with the golden file and validate it against the schemas.
fn check(case: &str) -> serde_json::Value {
    let got = rendered(case);
    let golden = golden_dir().join(format!("{case}.k8s.yaml"));
    if std::env::var("FERRY_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (create it with FERRY_UPDATE_GOLDEN=1)", golden.display()));
    assert_eq!(got, want, "{case}: rendering differs from {}", golden.display());
    if let Some(python) = testing::python_or_skip(&format!("golden::{case}")) {
        let report = testing::validate(&python, &[&golden]);
        assert!(report.contains("VALID"), "{report}");
    }
    serde_json::to_value(docs(&got)).unwrap()
}

fn docs(yaml: &str) -> Vec<serde_json::Value> {
    yaml.split("---\n").map(|d| serde_norway::from_str(d).unwrap()).collect()
}

#[test]
fn basic_job() {
    let docs = check("job-basic");
    let job = &docs[0];
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["metadata"]["generateName"], "hello-");
    assert_eq!(job["metadata"]["namespace"], "default");
    assert_eq!(job["metadata"]["labels"]["app.kubernetes.io/managed-by"], "ferry");
    assert_eq!(job["metadata"]["labels"]["io.ferry/workload"], ID);
    assert_eq!(job["spec"]["backoffLimit"], 0);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(job["spec"]["template"]["metadata"]["labels"]["io.ferry/workload"], ID);
    // `command` keeps the image's ENTRYPOINT, as `docker run IMAGE COMMAND…`.
    assert_eq!(pod["containers"][0]["args"], serde_json::json!(["echo", "hello from ferry"]));
    assert!(pod["containers"][0].get("command").is_none());
    // The spec annotation re-creates the workload (re-adoption after the store is lost).
    let spec: ferry_spec::Workload =
        serde_json::from_str(job["metadata"]["annotations"]["io.ferry/spec"].as_str().unwrap()).unwrap();
    assert_eq!(spec.name, "hello");
}

#[test]
fn gpu_and_pvc_job() {
    let docs = check("job-gpu-pvc");
    let job = &docs[0];
    assert_eq!(job["metadata"]["namespace"], "ml");
    assert_eq!(job["spec"]["backoffLimit"], 2);
    // One attempt is bounded by the pod's deadline, all of them by the Job's.
    assert_eq!(job["spec"]["template"]["spec"]["activeDeadlineSeconds"], 7200);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 3 * 7200);
    let pod = &job["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
    assert_eq!(c["resources"]["requests"]["nvidia.com/gpu"], "1");
    assert_eq!(c["resources"]["limits"]["memory"], "4294967296");
    assert_eq!(pod["nodeSelector"]["nvidia.com/gpu.product"], "h100");
    assert_eq!(pod["runtimeClassName"], "ferry");
    assert_eq!(pod["imagePullSecrets"][0]["name"], "regcred");
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(&args[4..], ["--data_dir=/ferry/io/data_dir", "--model_dir=/ferry/io/model_dir"]);
    let mounts = c["volumeMounts"].as_array().unwrap();
    assert_eq!(mounts[0]["mountPath"], "/ferry/io/data_dir");
    assert_eq!(mounts[0]["subPath"], "workspace/data");
    assert_eq!(mounts[0]["readOnly"], true, "inputs are read-only");
    assert!(mounts[1].get("readOnly").is_none(), "outputs are writable");
    assert_eq!(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], "mlcube-input");
}

#[test]
fn shell_script_job_sharing_one_claim() {
    let docs = check("job-run-script");
    let job = &docs[0];
    // `preprocess_v2.1` is not a DNS label; the object name prefix is.
    assert_eq!(job["metadata"]["generateName"], "preprocess-v2-1-");
    let pod = &job["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["command"][0], "/bin/sh");
    assert_eq!(c["command"][1], "-c");
    assert_eq!(c["args"], serde_json::json!(["--raw=/ferry/io/raw", "--clean=/ferry/io/clean"]));
    assert_eq!(c["resources"]["limits"]["cpu"], "500m");
    // Two bindings on one claim: one volume, writable because one binding is an output.
    let volumes = pod["volumes"].as_array().unwrap();
    assert_eq!(volumes.len(), 1);
    assert!(volumes[0]["persistentVolumeClaim"].get("readOnly").is_none());
    assert_eq!(pod["activeDeadlineSeconds"], 90);
}

#[test]
fn service_with_ports() {
    let docs = check("service-ports");
    assert_eq!(docs.as_array().unwrap().len(), 2);
    let (d, s) = (&docs[0], &docs[1]);
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["metadata"]["name"], "notebook-01234567");
    assert_eq!(d["spec"]["selector"]["matchLabels"]["io.ferry/workload"], ID);
    assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    assert_eq!(d["spec"]["template"]["spec"]["nodeSelector"]["pool"], "gpu");
    assert_eq!(s["kind"], "Service");
    assert_eq!(s["metadata"]["name"], "notebook-01234567");
    assert_eq!(s["spec"]["type"], "ClusterIP");
    assert_eq!(s["spec"]["selector"]["io.ferry/workload"], ID);
    assert_eq!(s["spec"]["ports"][0]["targetPort"], "jupyter");
    assert_eq!(s["spec"]["ports"][1]["port"], 2222);
}

#[test]
fn bindings_without_a_claim_are_refused_with_the_field() {
    let w = ferry_spec::parse_str(
        "name: x\nimage: busybox\ncommand: [true]\ninputs:\n  data: {path: d}\n",
        Path::new("x.yaml"),
    )
    .unwrap();
    let err = render(&ID.parse().unwrap(), "x", &w, &RenderOptions::default()).unwrap_err().to_string();
    assert!(err.contains("inputs.data") && err.contains("runtime.kubernetes.volumes.data.pvc"), "{err}");

    let w = ferry_spec::parse_str("name: x\ncommand: [true]\n", Path::new("x.yaml")).unwrap();
    let err = render(&ID.parse().unwrap(), "x", &w, &RenderOptions::default()).unwrap_err().to_string();
    assert!(err.contains("image"), "{err}");
}

#[test]
fn a_broken_manifest_fails_validation() {
    // The validator must be able to fail: break a golden file on purpose.
    let Some(python) = testing::python_or_skip("golden::a_broken_manifest_fails_validation") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, rendered("job-basic").replace("restartPolicy", "restartPolicyy")).unwrap();
    let result = std::panic::catch_unwind(|| testing::validate(&python, &[&bad]));
    let msg = *result.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("restartPolicyy"), "{msg}");
}
