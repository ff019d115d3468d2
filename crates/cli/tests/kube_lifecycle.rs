//! The `ferry` binary on a Kubernetes context, against the real test cluster
//! (scripts/testbed/kube-cluster.sh). Each test has a namespace of its own and
//! works as the test user, with a kubeconfig as a user of Ferry would have.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ferry_kube::testing::{Cluster, TestNamespace};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// Long enough for pods to be scheduled, pulled and run on a busy 2-core machine.
const LONG: Duration = Duration::from_secs(180);

struct Env {
    home: tempfile::TempDir,
    cluster: Cluster,
    ns: TestNamespace,
}

impl Env {
    async fn new(test: &str) -> Option<Env> {
        let cluster = Cluster::or_skip(test).await?;
        let ns = cluster.namespace(test).await;
        let env = Env { home: tempfile::tempdir().unwrap(), cluster, ns };
        let kubeconfig = env.cluster.user_kubeconfig.to_str().unwrap().to_string();
        let ns = env.ns.name.clone();
        env.ok(&[
            "context",
            "create",
            "here",
            "--runtime",
            "kubernetes",
            "--kubeconfig",
            &kubeconfig,
            "--namespace",
            &ns,
        ])
        .await;
        env.ok(&["context", "use", "here"]).await;
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
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    async fn ferry(&self, args: &[&str]) -> (i32, String, String) {
        let out = tokio::time::timeout(LONG, self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("ferry {args:?} did not finish"))
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.ferry(args).await;
        assert_eq!(code, 0, "ferry {args:?}: {err}");
        out
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    async fn ps(&self) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["ps", "-a", "-o", "json"]).await).unwrap()
    }

    async fn state(&self, name: &str) -> String {
        let v: Value = serde_json::from_str(&self.ok(&["inspect", name]).await).unwrap();
        v[0]["status"]["state"].as_str().unwrap_or_default().to_string()
    }

    async fn wait_state(&self, name: &str, want: &str) {
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let now = self.state(name).await;
            if now == want {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{name} is still {now}, not {want}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cli_job_run_wait_logs_readoption_and_rm() {
    let Some(env) = Env::new("kube-cli-job").await else { return };
    let ns = env.ns.name.clone();
    env.file("job.yaml", &format!("name: hello\nimage: {}\ncommand: [echo, hello]\n", env.cluster.image));
    let id = env.ok(&["run", "-d", "job.yaml"]).await.trim().to_string();

    // ps shows the runtime and, in the native id, the context's namespace.
    let wide = env.ok(&["ps", "-a", "-o", "wide"]).await;
    assert!(wide.contains("kubernetes") && wide.contains(&format!("{ns}/hello-")), "{wide}");

    let (code, out, err) = env.ferry(&["wait", "hello"]).await;
    assert_eq!((code, out.trim()), (0, "0"), "{err}");
    assert_eq!(env.ok(&["logs", "hello"]).await, "hello\n");
    assert_eq!(env.ps().await[0]["status"]["state"], "succeeded");

    // Kubernetes has no pause.
    let (code, _, err) = env.ferry(&["pause", "hello"]).await;
    assert_eq!(code, 125);
    assert!(err.contains("pause is not supported by the kubernetes runtime"), "{err}");

    // The store is lost: ps finds the workload again by its labels.
    std::fs::remove_dir_all(env.dir().join("data")).unwrap();
    let listed = env.ps().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["name"], "hello");
    assert_eq!(listed[0]["status"]["state"], "succeeded");

    env.ok(&["rm", "hello"]).await;
    assert!(env.ps().await.is_empty());
    assert_eq!(env.ns.leftovers(LONG).await, "", "foreground deletion leaves nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cli_attached_run_shows_every_attempt_and_exits_with_the_code() {
    let Some(env) = Env::new("kube-cli-attached").await else { return };
    env.file(
        "job.yaml",
        &format!("name: flaky\nimage: {}\ncommand: [sh, -c, 'echo try; exit 3']\nretries: 1\n", env.cluster.image),
    );
    let (code, out, err) = env.ferry(&["run", "job.yaml"]).await;
    assert_eq!(out, "try\ntry\n", "{err}");
    assert_eq!(code, 3, "{err}");
}

/// Seed 004's task + platform files, with the platform's image replaced by the test bed's
/// MLCube task image, in a directory of the test's own.
fn seed_004_cube(env: &Env) -> PathBuf {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/kube/seed-004/mnist");
    let cube = env.dir().join("mnist");
    let task = std::fs::read_to_string(seed.join("run/kubernetes.yaml")).unwrap();
    env.file("mnist/run/kubernetes.yaml", &task);
    let platform = std::fs::read_to_string(seed.join("platforms/docker.yaml")).unwrap();
    let image =
        std::env::var("FERRY_KUBE_MLCUBE_IMAGE").expect("FERRY_KUBE_MLCUBE_IMAGE (scripts/services/60-kube.sh)");
    env.file("mnist/platforms/docker.yaml", &platform.replace("mlcommons/mlcube:mnist", &image));
    cube
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cli_mlcube_seed_004_job_writes_to_its_claims_and_a_failing_task_is_retried() {
    let Some(env) = Env::new("kube-cli-mlcube").await else { return };
    let ns = env.ns.name.clone();
    let input = env.cluster.volume_for_claim(&ns, "mlcube-input").await;
    let output = env.cluster.volume_for_claim(&ns, "mlcube-output").await;
    env.cluster.claim(&ns, "mlcube-input").await;
    env.cluster.claim(&ns, "mlcube-output").await;
    std::fs::create_dir_all(input.join("workspace/data")).unwrap();
    std::fs::create_dir_all(output.join("workspace/model")).unwrap();
    std::fs::write(input.join("workspace/data/input.txt"), "a\nb\nc\n").unwrap();
    let cube = seed_004_cube(&env);
    let run = ["run", "--mlcube", cube.to_str().unwrap(), "--task", "kubernetes", "--platform", "kubernetes"];

    let (code, out, err) = env.ferry(&run).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("task: data_dir=/ferry/io/data_dir model_dir=/ferry/io/model_dir"), "{out}");
    let lines = std::fs::read_to_string(output.join("workspace/model/lines.txt")).unwrap();
    assert_eq!(lines.trim(), "3", "the task's output in the output claim");

    // A failing task: retried up to the runner's backoffLimit (4), then failed with its code.
    std::fs::write(input.join("workspace/data/fail"), "4\n").unwrap();
    env.ok(&["rm", "mlcube-mnist"]).await;
    let (code, out, err) = env.ferry(&run).await;
    assert_eq!(code, 4, "{out}{err}");
    assert_eq!(out.matches("task: data_dir=").count(), 5, "one try and four retries: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cli_mlcube_yaml_without_a_claim_says_what_to_add_to_mlcube_yaml() {
    let Some(env) = Env::new("kube-cli-mlcube-claim").await else { return };
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/kube/seed-004/mnist-v2/mlcube.yaml");
    let text = std::fs::read_to_string(seed).unwrap();
    let without_claim: String =
        text.lines().filter(|l| !l.starts_with("kubernetes:") && !l.contains("pvc:")).collect::<Vec<_>>().join("\n");
    env.file("cube/mlcube.yaml", &without_claim);
    let (code, _, err) = env.ferry(&["run", "--mlcube", "cube", "--task", "train", "--platform", "kubernetes"]).await;
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("mlcube.yaml"), "names the file the user wrote: {err}");
    assert!(err.contains("kubernetes:") && err.contains("pvc:"), "says what to add: {err}");
    assert!(!err.contains("runtime.kubernetes.volumes"), "not a workload-file field: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cli_service_port_forward_logs_follow_stop_rm_and_readoption() {
    let Some(env) = Env::new("kube-cli-service").await else { return };
    env.file(
        "web.yaml",
        &format!(
            "name: web\nkind: service\nimage: {}\nports: [{{name: http, port: 8080}}]\nrun: |\n  \
             mkdir -p /tmp/www && hostname > /tmp/www/index.html\n  echo \"serving on $(hostname)\"\n  \
             exec httpd -f -p 8080 -h /tmp/www\n",
            env.cluster.image
        ),
    );
    env.ok(&["run", "-d", "web.yaml"]).await;
    env.wait_state("web", "running").await;

    let mut logs = env.command(&["logs", "-f", "web"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut log_lines = BufReader::new(logs.stdout.take().unwrap()).lines();
    let mut pf = env.command(&["port-forward", "web", "0:http"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut pf_lines = BufReader::new(pf.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(LONG, pf_lines.next_line()).await.unwrap().unwrap().unwrap();
    // "Forwarding from 127.0.0.1:PORT -> web:8080"
    assert!(first.ends_with("-> web:8080"), "{first}");
    let local = first.split_whitespace().nth(2).unwrap().to_string();
    let get = |local: String| async move {
        let mut c = tokio::net::TcpStream::connect(&local).await?;
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
        let mut got = String::new();
        tokio::time::timeout(Duration::from_secs(10), c.read_to_string(&mut got)).await??;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
            got.rsplit("\r\n\r\n").next().unwrap_or("").trim().to_string(),
        )
    };
    let pod1 = get(local.clone()).await.unwrap();
    assert!(pod1.starts_with("web-"), "{pod1:?}");
    let line = tokio::time::timeout(LONG, log_lines.next_line()).await.unwrap().unwrap().unwrap();
    assert_eq!(line, format!("serving on {pod1}"));

    // The pod is deleted: the Deployment replaces it, logs -f and the forward follow.
    let kubectl = |args: &[&str]| {
        let mut c = std::process::Command::new(&env.cluster.kubectl);
        c.arg("--kubeconfig").arg(&env.cluster.admin_kubeconfig).args(["-n", &env.ns.name]).args(args);
        c
    };
    assert!(kubectl(&["delete", "pod", &pod1, "--wait=false"]).status().unwrap().success());
    let line = tokio::time::timeout(LONG, log_lines.next_line()).await.unwrap().unwrap().unwrap();
    let pod2 = line.strip_prefix("serving on ").unwrap_or_else(|| panic!("{line}")).to_string();
    assert_ne!(pod2, pod1);
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        if let Ok(answer) = get(local.clone()).await {
            if answer == pod2 {
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the forward never reached {pod2}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(env.ps().await[0]["status"]["state"], "running");

    // The store is lost: ps adopts the service again, with its true status.
    std::fs::remove_dir_all(env.dir().join("data")).unwrap();
    let listed = env.ps().await;
    assert_eq!((listed.len(), listed[0]["name"].as_str()), (1, Some("web")), "{listed:?}");
    assert_eq!(listed[0]["status"]["state"], "running");

    env.ok(&["stop", "-t", "1", "web"]).await;
    assert_eq!(env.state("web").await, "cancelled");
    let ended = tokio::time::timeout(LONG, logs.wait()).await.expect("logs -f ends with the workload").unwrap();
    assert!(ended.success());
    pf.kill().await.unwrap();
    env.ok(&["rm", "web"]).await;
    assert_eq!(env.ns.leftovers(LONG).await, "", "rm leaves nothing (foreground deletion)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cli_forbidden_namespace_is_one_clear_error() {
    let Some(env) = Env::new("kube-cli-forbidden").await else { return };
    let forbidden = env.cluster.forbidden_namespace.clone();
    env.ok(&[
        "context",
        "create",
        "nope",
        "--runtime",
        "kubernetes",
        "--kubeconfig",
        env.cluster.user_kubeconfig.to_str().unwrap(),
        "--namespace",
        &forbidden,
        "--use",
    ])
    .await;
    env.file("job.yaml", &format!("name: hello\nimage: {}\ncommand: [echo, hi]\n", env.cluster.image));
    let (code, _, err) = env.ferry(&["run", "job.yaml"]).await;
    assert_eq!(code, 125, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!err.contains('\u{1b}'), "no colour codes on a pipe: {err:?}");
    for part in ["forbidden", "ferry-test-user", &forbidden] {
        assert!(err.contains(part), "{part:?} missing: {err}");
    }
}
