//! The `ferry` binary on a Kubernetes context, over real HTTP against the
//! stateful API emulator (`crates/runtimes/kube/testing/kube_emulator.py`).
//! The test plays the Job controller and the kubelet (creates pods, patches
//! Job and Pod status, writes container logs). No real cluster is involved:
//! none can run here (see the README's Kubernetes section).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ferry_kube::testing::{self, main_container, Emulator};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const NS: &str = "team";

struct Env {
    home: tempfile::TempDir,
    emu: Emulator,
}

impl Env {
    async fn new(test: &str) -> Option<Env> {
        let python = testing::python_or_skip(test)?;
        let emu = Emulator::start(&python).await;
        let home = tempfile::tempdir().unwrap();
        let kubeconfig = home.path().join("kubeconfig");
        emu.write_kubeconfig(&kubeconfig, "from-kubeconfig");
        let env = Env { home, emu };
        let (code, _, err) = env
            .ferry(&[
                "context",
                "create",
                "k8s",
                "--runtime",
                "kubernetes",
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "--namespace",
                NS,
                "--use",
            ])
            .await;
        assert_eq!(code, 0, "{err}");
        Some(env)
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
        c.args(args)
            .current_dir(self.dir())
            .env("XDG_CONFIG_HOME", self.dir().join("config"))
            .env("XDG_DATA_HOME", self.dir().join("data"))
            .env_remove("FERRY_CONTEXT")
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        c
    }

    async fn ferry(&self, args: &[&str]) -> (i32, String, String) {
        let out = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("ferry {args:?} did not finish"))
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    async fn ps(&self) -> Vec<Value> {
        let (code, out, err) = self.ferry(&["ps", "-a", "-o", "json"]).await;
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }

    async fn job(&self) -> Value {
        self.emu.only(&format!("/apis/batch/v1/namespaces/{NS}/jobs")).await
    }
}

fn running() -> Value {
    json!({"phase": "Running", "containerStatuses": main_container(json!({"running": {}}))})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cli_job_run_ps_logs_rm_and_readoption() {
    let Some(env) = Env::new("kube_lifecycle::job_run_ps_logs_rm").await else { return };
    env.file("job.yaml", "name: hello\nimage: busybox\ncommand: [echo, hello]\n");
    let (code, id, err) = env.ferry(&["run", "-d", "job.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();

    // The context's namespace wins over the kubeconfig's.
    let job = env.job().await;
    let job_name = job["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(job["metadata"]["labels"]["io.ferry/workload"], id);

    // ps shows the runtime and, in the native id, the namespace.
    let (_, wide, _) = env.ferry(&["ps", "-o", "wide"]).await;
    assert!(wide.contains("kubernetes") && wide.contains(&format!("{NS}/{job_name}")), "{wide}");
    assert_eq!(env.ps().await[0]["status"]["state"], "pending");

    env.emu.create_pod(&job, "hello-pod").await;
    env.emu.set_pod_status(NS, "hello-pod", running()).await;
    env.emu.append_log(NS, "hello-pod", "hello\n").await;
    assert_eq!(env.ps().await[0]["status"]["state"], "running");
    let (code, out, err) = env.ferry(&["logs", "hello"]).await;
    assert_eq!((code, out.as_str()), (0, "hello\n"), "{err}");

    env.emu
        .set_pod_status(
            NS,
            "hello-pod",
            json!({"phase": "Succeeded", "containerStatuses": main_container(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))}),
        )
        .await;
    env.emu.close_log(NS, "hello-pod").await;
    env.emu.set_job_status(NS, &job_name, json!({"conditions": [{"type": "Complete", "status": "True"}]})).await;
    assert_eq!(env.ps().await[0]["status"]["state"], "succeeded");

    // Kubernetes has no pause.
    let (code, _, err) = env.ferry(&["pause", "hello"]).await;
    assert_eq!(code, 125);
    assert!(err.contains("pause is not supported by the kubernetes runtime"), "{err}");

    // The store is lost: ps finds the workload again by its labels.
    std::fs::remove_dir_all(env.dir().join("data")).unwrap();
    let listed = env.ps().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["name"], "hello");
    assert_eq!(listed[0]["status"]["state"], "succeeded");

    let (code, _, err) = env.ferry(&["rm", "hello"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.emu.get(&format!("/apis/batch/v1/namespaces/{NS}/jobs")).await["items"], json!([]));
    assert_eq!(env.emu.get(&format!("/api/v1/namespaces/{NS}/pods")).await["items"], json!([]), "foreground deletion");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cli_attached_run_follows_retries_and_exits_with_the_code() {
    let Some(env) = Env::new("kube_lifecycle::attached_run").await else { return };
    env.file("job.yaml", "name: flaky\nimage: busybox\ncommand: [sh, -c, 'exit 3']\nretries: 1\n");
    let run = env.command(&["run", "job.yaml"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();

    // Wait for the Job to appear (ferry created it).
    let job = loop {
        let list = env.emu.get(&format!("/apis/batch/v1/namespaces/{NS}/jobs")).await;
        if let Some(j) = list["items"].as_array().and_then(|i| i.first()) {
            break j.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let job_name = job["metadata"]["name"].as_str().unwrap().to_string();
    let failed = |code: i32| json!({"phase": "Failed", "containerStatuses": main_container(json!({"terminated": {"exitCode": code, "reason": "Error"}}))});
    for (pod, line) in [("flaky-1", "try 1\n"), ("flaky-2", "try 2\n")] {
        if pod == "flaky-2" {
            tokio::time::sleep(Duration::from_millis(1100)).await; // a later creationTimestamp
        }
        env.emu.create_pod(&job, pod).await;
        env.emu.set_pod_status(NS, pod, running()).await;
        env.emu.append_log(NS, pod, line).await;
        env.emu.set_pod_status(NS, pod, failed(3)).await;
        if pod == "flaky-2" {
            // The Job's verdict before the output ends: without it the last
            // failed pod alone decides ("exited with code 3"), depending on
            // whether the CLI looks before or after the Job controller.
            env.emu
                .set_job_status(
                    NS,
                    &job_name,
                    json!({"failed": 2, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit"}]}),
                )
                .await;
        }
        env.emu.close_log(NS, pod).await;
    }
    let out = tokio::time::timeout(Duration::from_secs(60), run.wait_with_output()).await.expect("run ended").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "try 1\ntry 2\n", "{stderr}");
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("BackoffLimitExceeded"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cli_stop_cancels_and_mlcube_runs_on_the_cluster() {
    let Some(env) = Env::new("kube_lifecycle::stop_and_mlcube").await else { return };
    let cube = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/kube/seed-004/mnist");
    let (code, _, err) = env
        .ferry(&["run", "-d", "--mlcube", cube.to_str().unwrap(), "--task", "kubernetes", "--platform", "kubernetes"])
        .await;
    assert_eq!(code, 0, "{err}");
    let job = env.job().await;
    assert_eq!(job["metadata"]["generateName"], "mlcube-mnist-");
    assert_eq!(job["metadata"]["namespace"], NS);
    assert_eq!(job["spec"]["template"]["spec"]["containers"][0]["args"][0], "--data_dir=/ferry/io/data_dir");

    env.emu.create_pod(&job, "cube-1").await;
    env.emu.set_pod_status(NS, "cube-1", running()).await;
    let (code, out, err) = env.ferry(&["stop", "-t", "3", "mlcube-mnist"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cancelled"), "{out}");
    assert_eq!(env.job().await["spec"]["suspend"], true);
    assert_eq!(env.ps().await[0]["status"]["state"], "cancelled");

    // The platform must fit the context.
    let (code, _, err) = env
        .ferry(&["run", "-d", "--mlcube", cube.to_str().unwrap(), "--task", "kubernetes", "--platform", "local"])
        .await;
    assert_eq!(code, 125);
    assert!(err.contains("--platform local"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cli_port_forward_reaches_the_service_pod() {
    let Some(env) = Env::new("kube_lifecycle::port_forward").await else { return };
    env.file(
        "svc.yaml",
        "name: web\nkind: service\nimage: nginx\ncommand: [nginx]\nports: [{name: http, port: 8080}]\n",
    );
    let (code, _, err) = env.ferry(&["run", "-d", "svc.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    let d = env.emu.only(&format!("/apis/apps/v1/namespaces/{NS}/deployments")).await;
    env.emu.only(&format!("/api/v1/namespaces/{NS}/services")).await;

    // The "pod": a TCP server that echoes with a prefix.
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_addr = backend.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut c, _) = backend.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                let n = c.read(&mut buf).await.unwrap_or(0);
                let _ = c.write_all(&[b"pod says ".as_slice(), &buf[..n]].concat()).await;
            });
        }
    });
    env.emu.create_pod(&d, "web-1").await;
    env.emu.set_pod_status(NS, "web-1", running()).await;
    env.emu.set_pod_port(NS, "web-1", 8080, backend_addr).await;

    let mut pf =
        env.command(&["port-forward", "web", "0:http"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(pf.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    // "Forwarding from 127.0.0.1:PORT -> web:8080"
    assert!(first.ends_with("-> web:8080"), "{first}");
    let local = first.split_whitespace().nth(2).unwrap().to_string();
    let mut c = tokio::net::TcpStream::connect(&local).await.unwrap();
    c.write_all(b"hi").await.unwrap();
    let mut got = String::new();
    tokio::time::timeout(Duration::from_secs(30), c.read_to_string(&mut got)).await.unwrap().unwrap();
    assert_eq!(got, "pod says hi");
    pf.kill().await.unwrap();

    let (code, _, err) = env.ferry(&["rm", "-f", "web"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.emu.get(&format!("/api/v1/namespaces/{NS}/services")).await["items"], json!([]));
}
