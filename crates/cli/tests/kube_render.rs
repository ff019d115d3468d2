//! `ferry render --runtime kubernetes`: output validated against the official
//! Kubernetes schemas, the seed 004 MLCube example compared with a reviewed
//! golden file and, semantically, with the Job the seed itself shows.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_kube::testing;
use serde_json::Value;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/kube")
}

/// Run ferry with a private config/data dir; (exit code, stdout, stderr).
fn ferry(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .current_dir(cwd)
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env_remove("FERRY_CONTEXT")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn docs(yaml: &str) -> Vec<Value> {
    yaml.split("---\n").filter(|d| !d.trim().is_empty()).map(|d| serde_norway::from_str(d).unwrap()).collect()
}

/// Replace the random workload id with a fixed one (render draws a fresh id).
fn normalize_id(yaml: &str) -> String {
    let id = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("io.ferry/workload: "))
        .expect("an io.ferry/workload label")
        .to_string();
    assert_eq!(id.len(), 32);
    // Service and Deployment names carry the id's first 8 digits.
    yaml.replace(&id, "0123456789abcdef0123456789abcdef").replace(&id[..8], "01234567")
}

/// Where an argument's path lands: (claim, path inside the claim), through
/// the container's volume mounts (mountPath + subPath) and the pod's volumes.
fn claim_path(job: &Value, path: &str) -> (String, String) {
    let pod = &job["spec"]["template"]["spec"];
    let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    let m = mounts
        .iter()
        .filter(|m| {
            let mp = m["mountPath"].as_str().unwrap();
            path == mp || path.starts_with(&format!("{mp}/"))
        })
        .max_by_key(|m| m["mountPath"].as_str().unwrap().len())
        .unwrap_or_else(|| panic!("{path} is on no volume mount"));
    let rest = path[m["mountPath"].as_str().unwrap().len()..].trim_start_matches('/');
    let sub = m["subPath"].as_str().unwrap_or("");
    let inside = [sub, rest].iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join("/");
    let volume = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == m["name"]).unwrap();
    (volume["persistentVolumeClaim"]["claimName"].as_str().unwrap().to_string(), inside)
}

fn args_by_name(job: &Value) -> Vec<(String, String)> {
    job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let (k, v) = a.as_str().unwrap().split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn kube_render_seed_004_mlcube_matches_the_seed_job() {
    let Some(python) = testing::python_or_skip("kube_render::seed_004") else { return };
    // Exactly the seed's invocation: mlcube_k8s run --mlcube=… --platform=… --task=…
    let cwd = golden().join("seed-004");
    let (code, out, err) = ferry(
        &cwd,
        &[
            "render",
            "--runtime",
            "kubernetes",
            "--mlcube=mnist",
            "--platform=mnist/platforms/docker.yaml",
            "--task=mnist/run/kubernetes.yaml",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let rendered = normalize_id(&out);
    let golden_file = golden().join("seed-004-mnist.k8s.yaml");
    if std::env::var("FERRY_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&golden_file, &rendered).unwrap();
    }
    assert_eq!(rendered, std::fs::read_to_string(&golden_file).unwrap(), "differs from {}", golden_file.display());
    testing::validate(&python, &[&golden_file]);

    let ours = &docs(&rendered)[0];
    let seed = &docs(&std::fs::read_to_string(golden().join("seed-004-job.yaml")).unwrap())[0];
    testing::validate(&python, &[&golden().join("seed-004-job.yaml")]);
    for field in ["apiVersion", "kind"] {
        assert_eq!(ours[field], seed[field]);
    }
    assert_eq!(ours["metadata"]["namespace"], seed["metadata"]["namespace"]);
    assert_eq!(ours["metadata"]["generateName"], seed["metadata"]["generateName"]);
    assert_eq!(ours["spec"]["backoffLimit"], seed["spec"]["backoffLimit"]);
    let (op, sp) = (&ours["spec"]["template"]["spec"], &seed["spec"]["template"]["spec"]);
    assert_eq!(op["restartPolicy"], sp["restartPolicy"]);
    assert_eq!(op["containers"][0]["image"], sp["containers"][0]["image"]);
    assert!(op["containers"][0].get("command").is_none(), "the image's ENTRYPOINT runs, as in the seed");
    // Same arguments, in order, each reaching the same claim and path.
    let (oa, sa) = (args_by_name(ours), args_by_name(seed));
    assert_eq!(oa.iter().map(|a| &a.0).collect::<Vec<_>>(), sa.iter().map(|a| &a.0).collect::<Vec<_>>());
    for ((name, ours_path), (_, seed_path)) in oa.iter().zip(&sa) {
        assert_eq!(claim_path(ours, ours_path), claim_path(seed, seed_path), "{name}");
    }
    let claims = |j: &Value| -> Vec<String> {
        let mut c: Vec<String> = j["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["persistentVolumeClaim"]["claimName"].as_str().unwrap().to_string())
            .collect();
        c.sort();
        c
    };
    assert_eq!(claims(ours), claims(seed));
}

#[test]
fn kube_render_mlcube_yaml_task() {
    let Some(python) = testing::python_or_skip("kube_render::mlcube_yaml_task") else { return };
    let cwd = golden().join("seed-004");
    let (code, out, err) = ferry(
        &cwd,
        &[
            "render",
            "--runtime",
            "kubernetes",
            "--mlcube",
            "mnist-v2",
            "--task",
            "train",
            "--param",
            "model_dir=out/model",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("train.yaml");
    std::fs::write(&file, &out).unwrap();
    testing::validate(&python, &[&file]);
    let job = &docs(&out)[0];
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "mlcommons/mnist:0.0.1");
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args[0], "train", "the task name comes first");
    assert!(args.contains(&"--model_dir=/ferry/io/model_dir"), "{args:?}");
    assert_eq!(claim_path(job, "/ferry/io/data_dir"), ("mnist-workspace".into(), "data".into()));
    assert_eq!(claim_path(job, "/ferry/io/model_dir"), ("mnist-workspace".into(), "out/model".into()));

    // A platform that does not fit the runtime, and an unknown task, are clear errors.
    let (code, _, err) = ferry(
        &cwd,
        &["render", "--runtime", "kubernetes", "--mlcube", "mnist-v2", "--task", "train", "--platform", "slurm"],
    );
    assert_eq!(code, 125);
    assert!(err.contains("--platform slurm does not match --runtime"), "{err}");
    let (code, _, err) =
        ferry(&cwd, &["render", "--runtime", "kubernetes", "--mlcube", "mnist-v2", "--task", "evaluate"]);
    assert_eq!(code, 125);
    assert!(err.contains("mlcube.yaml:") && err.contains("no task \"evaluate\""), "{err}");
}

#[test]
fn kube_render_workload_files_validate() {
    let Some(python) = testing::python_or_skip("kube_render::workload_files_validate") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for case in ["job-basic", "job-gpu-pvc", "job-run-script", "service-ports"] {
        let input = golden().join("workloads").join(format!("{case}.yaml"));
        let (code, out, err) = ferry(dir.path(), &["render", "--runtime", "kubernetes", input.to_str().unwrap()]);
        assert_eq!(code, 0, "{case}: {err}");
        // The CLI prints what the library renders (golden files hold the library's output).
        let want = std::fs::read_to_string(golden().join(format!("{case}.k8s.yaml"))).unwrap();
        assert_eq!(normalize_id(&out), want, "{case}");
        let f = dir.path().join(format!("{case}.yaml"));
        std::fs::write(&f, out).unwrap();
        files.push(f);
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let report = testing::validate(&python, &refs);
    assert_eq!(report.matches("VALID").count(), 5, "{report}");

    // A binding without a claim: one clear error naming the field.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "name: x\nimage: busybox\ncommand: [true]\noutputs:\n  out: {path: out}\n").unwrap();
    let (code, _, err) = ferry(dir.path(), &["render", "--runtime", "kubernetes", bad.to_str().unwrap()]);
    assert_eq!(code, 125);
    assert!(err.contains("outputs.out") && err.contains("runtime.kubernetes.volumes.out.pvc"), "{err}");
}
