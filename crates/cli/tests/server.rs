//! `ferry server` as a process, running real workloads on local pools, on
//! SQLite and PostgreSQL: placement per strategy, logs, clean shutdown on
//! SIGTERM, and recovery after kill -9 with jobs queued and running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Three pools on the local runtime, different in size and price.
const POOLS: &str = r#"
[[pool]]
name = "small"
context = "default"
cpus = 2
memory = "4Gi"
cost_per_hour = 1.0

[[pool]]
name = "big"
context = "default"
cpus = 8
memory = "16Gi"
cost_per_hour = 2.0

[[pool]]
name = "cheap"
context = "default"
cpus = 4
memory = "8Gi"
cost_per_hour = 0.1
"#;

/// One pool with room for one job at a time (each job holds 1 CPU).
const ONE_SLOT: &str = "[[pool]]\nname = \"one\"\ncontext = \"default\"\ncpus = 1\nmemory = \"1Gi\"\n";

struct ServerProcess {
    child: Child,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ServerProcess {
    /// Start `ferry server` with its data under `home` and wait until it answers.
    async fn start(home: &Path, database: &str, pools: &str, strategy: &str) -> ServerProcess {
        let pools_file = home.join("pools.toml");
        std::fs::write(&pools_file, pools).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let token_file = home.join("admin-token");
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["server", "--listen", &format!("127.0.0.1:{port}"), "--database", database, "--strategy", strategy])
            .arg("--pools")
            .arg(&pools_file)
            .arg("--admin-token-file")
            .arg(&token_file)
            .args(["--tick-ms", "50"])
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .stdout(Stdio::null())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(home.join("server.log")).unwrap())
            .spawn()
            .expect("start ferry server");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let what = format!("the server to answer /healthz (its log: {})", home.join("server.log").display());
        poll(&what, || async {
            http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success())
        })
        .await;
        let token = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
        ServerProcess { child, base, token, http }
    }

    async fn submit(&self, yaml: &str) -> String {
        let resp = self
            .http
            .post(format!("{}/v1/jobs", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "workload": yaml }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
    }

    async fn get(&self, path: &str) -> Value {
        serde_json::from_str(&self.get_text(path).await).unwrap()
    }

    async fn get_text(&self, path: &str) -> String {
        let resp = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.text().await.unwrap()
    }

    /// Block until the job ends; returns it.
    async fn wait(&self, id: &str) -> Value {
        loop {
            let job = self.get(&format!("/v1/jobs/{id}/wait?timeout=60")).await;
            if ["succeeded", "failed", "cancelled"].contains(&job["state"].as_str().unwrap()) {
                return job;
            }
        }
    }

    async fn wait_running(&self, id: &str) {
        poll("the job to run", || async { self.get(&format!("/v1/jobs/{id}")).await["state"] == "running" }).await;
    }

    fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
        self.child.wait().unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Retry `check` until it holds (a readiness poll; fails after a minute).
async fn poll<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(60), "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Run `ferry ARGS` as a client with its own config and data under `home`,
/// in `context`: its exit code, stdout and stderr.
fn ferry_client(home: &Path, context: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("FERRY_CONTEXT", context)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn runtime_home(dir: &Path, name: &str) -> PathBuf {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    home
}

#[tokio::test]
async fn each_strategy_places_on_its_pool_and_the_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (n, db) in ferry_server::testing::databases("each_strategy_places", dir.path()).await.into_iter().enumerate() {
        let home = runtime_home(dir.path(), &format!("home{n}"));
        for (strategy, pool) in [("binpack", "small"), ("spread", "big"), ("cheapest", "cheap")] {
            let mut server = ServerProcess::start(&home, &db, POOLS, strategy).await;
            let id = server.submit("name: placed\ncommand: [sh, -c, 'echo on-$0', pool]\n").await;
            let job = server.wait(&id).await;
            assert_eq!(
                (job["state"].as_str(), job["pool"].as_str()),
                (Some("succeeded"), Some(pool)),
                "{strategy}: {job}"
            );
            let logs = server.get_text(&format!("/v1/jobs/{id}/logs")).await;
            let line: Value = serde_json::from_str(&logs).unwrap();
            assert_eq!((line["stream"].as_str(), line["text"].as_str()), (Some("stdout"), Some("on-pool")), "{logs}");
            assert_eq!(logs.lines().count(), 1, "{logs}");
            let metrics = server.get_text("/metrics").await;
            assert!(metrics.contains(&format!("ferry_jobs{{state=\"succeeded\",pool=\"{pool}\"}} 1")));
            // SIGTERM: a clean stop, exit code 0.
            let status = server.signal("-TERM");
            assert!(status.success(), "{strategy}: the server exited with {status} on SIGTERM");
        }
    }
}

#[tokio::test]
async fn kill_9_loses_nothing_and_runs_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    for (n, db) in ferry_server::testing::databases("kill_9_loses_nothing", dir.path()).await.into_iter().enumerate() {
        let home = runtime_home(dir.path(), &format!("home{n}"));
        let ran = home.join("ran");
        let go = home.join("go");
        let job = |name: &str| {
            format!(
                "name: {name}\nrun: |\n  echo {name} >> '{}'\n  while [ ! -f '{}' ]; do sleep 0.05; done\n  echo {name}-done\n",
                ran.display(),
                go.display()
            )
        };
        let mut server = ServerProcess::start(&home, &db, ONE_SLOT, "binpack").await;
        let running = server.submit(&job("first")).await;
        server.wait_running(&running).await;
        let queued = server.submit(&job("second")).await;
        let queue = server.get("/v1/queue").await;
        assert_eq!(queue[0]["id"], queued.as_str(), "the second job waits for the only slot: {queue}");

        let status = server.signal("-KILL");
        assert!(!status.success());
        // The running job ends while no server is watching.
        std::fs::write(&go, "").unwrap();

        let server = ServerProcess::start(&home, &db, ONE_SLOT, "binpack").await;
        let first = server.wait(&running).await;
        assert_eq!((first["state"].as_str(), first["exit_code"].as_i64()), (Some("succeeded"), Some(0)), "{first}");
        let second = server.wait(&queued).await;
        assert_eq!(second["state"], "succeeded", "{second}");
        let jobs = server.get("/v1/jobs").await;
        assert_eq!(jobs.as_array().unwrap().len(), 2, "nothing lost, nothing added: {jobs}");
        let runs = std::fs::read_to_string(&ran).unwrap();
        assert_eq!(runs, "first\nsecond\n", "each job ran exactly once");
        let logs = server.get_text(&format!("/v1/jobs/{running}/logs")).await;
        assert!(logs.contains("first-done"), "{logs}");
    }
}

#[tokio::test]
async fn logs_follow_to_the_end_and_cancel_stops_a_running_job() {
    let dir = tempfile::tempdir().unwrap();
    for (n, db) in ferry_server::testing::databases("logs_follow_and_cancel", dir.path()).await.into_iter().enumerate()
    {
        let home = runtime_home(dir.path(), &format!("home{n}"));
        let go = home.join("go");
        let server = ServerProcess::start(&home, &db, POOLS, "binpack").await;
        let followed = server
            .submit(&format!(
                "name: followed\nrun: |\n  echo started\n  while [ ! -f '{}' ]; do sleep 0.05; done\n  echo finished\n",
                go.display()
            ))
            .await;
        server.wait_running(&followed).await;
        let url = format!("{}/v1/jobs/{followed}/logs?follow=true", server.base);
        let stream = server.http.get(url).bearer_auth(&server.token).send().await.unwrap();
        assert_eq!(stream.status().as_u16(), 200);
        std::fs::write(&go, "").unwrap();
        // The body ends when the job does.
        let text = stream.text().await.unwrap();
        assert!(text.contains("\"started\"") && text.contains("\"finished\""), "{text}");
        assert_eq!(server.wait(&followed).await["state"], "succeeded");

        let endless = server.submit("name: endless\nrun: |\n  while true; do sleep 0.05; done\n").await;
        server.wait_running(&endless).await;
        let resp = server
            .http
            .post(format!("{}/v1/jobs/{endless}/cancel", server.base))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let job = server.wait(&endless).await;
        assert_eq!((job["state"].as_str(), job["reason"].as_str()), (Some("cancelled"), Some("cancelled")), "{job}");
    }
}

/// `ferry` itself against a server context: the commands behave as they do locally.
#[tokio::test]
async fn the_cli_runs_through_a_server_context() {
    let dir = tempfile::tempdir().unwrap();
    // The client does not depend on the server's database: SQLite only.
    let db = ferry_server::testing::databases("the_cli_runs_through_a_server_context", dir.path()).await.remove(0);
    let home = runtime_home(dir.path(), "server");
    let server = ServerProcess::start(&home, &db, POOLS, "cheapest").await;
    let client = runtime_home(dir.path(), "client");
    let ferry = |args: &[&str]| ferry_client(&client, "team", args);
    let token_file = home.join("admin-token").display().to_string();
    let (code, _, err) = ferry(&["context", "create", "team", "--server", &server.base, "--token-file", &token_file]);
    assert_eq!(code, 0, "{err}");
    let file = client.join("hi.yaml");
    std::fs::write(&file, "name: hi\ncommand: [sh, -c, 'echo hello; echo oops >&2; exit 3']\n").unwrap();
    let file = file.display().to_string();

    // Attached: the output, and the workload's exit code.
    let (code, out, err) = ferry(&["run", &file]);
    assert_eq!((code, out.as_str()), (3, "hello\n"), "{err}");
    assert!(err.contains("oops"), "{err}");

    // Detached, then wait, logs, inspect, ps, rm.
    let (code, id, err) = ferry(&["run", "-d", &file]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim();
    assert_eq!(ferry(&["wait", id]).1, "3\n");
    assert_eq!(ferry(&["logs", id]).1, "hello\n");
    let (_, inspect, _) = ferry(&["inspect", id]);
    let inspect: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect[0]["runtime"], "server");
    let job_id = inspect[0]["handle"]["native_id"].as_str().unwrap();
    let job = server.get(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!((job["pool"].as_str(), job["exit_code"].as_i64()), (Some("cheap"), Some(3)), "the server ran it: {job}");
    let (_, ps, _) = ferry(&["ps", "-a", "--output", "json"]);
    assert_eq!(serde_json::from_str::<Value>(&ps).unwrap().as_array().unwrap().len(), 2, "{ps}");
    assert_eq!(ferry(&["rm", id]).0, 0);

    // stop cancels the job on the server.
    let endless = client.join("endless.yaml");
    std::fs::write(&endless, "name: endless\nrun: |\n  while true; do sleep 0.05; done\n").unwrap();
    let (_, id, _) = ferry(&["run", "-d", &endless.display().to_string()]);
    let (code, _, err) = ferry(&["stop", id.trim()]);
    assert_eq!(code, 0, "{err}");
    let (_, ps, _) = ferry(&["ps", "-a", "--output", "json"]);
    let ps: Value = serde_json::from_str(&ps).unwrap();
    let stopped = ps.as_array().unwrap().iter().find(|w| w["id"] == id.trim()).unwrap();
    assert_eq!(stopped["status"]["state"], "cancelled", "{stopped}");
}

/// `ferry admin` manages tenants, users, tokens and quotas; `ferry queue`
/// says why a job waits; a tenant's token sees only its tenant.
#[tokio::test]
async fn ferry_admin_and_queue_manage_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = ferry_server::testing::databases("ferry_admin_and_queue", dir.path()).await.remove(0);
    let home = runtime_home(dir.path(), "server");
    let server = ServerProcess::start(&home, &db, POOLS, "binpack").await;
    let client = runtime_home(dir.path(), "client");
    let admin = |args: &[&str]| ferry_client(&client, "ops", args);
    let mo = |args: &[&str]| ferry_client(&client, "red", args);
    let token_file = home.join("admin-token").display().to_string();
    assert_eq!(admin(&["context", "create", "ops", "--server", &server.base, "--token-file", &token_file]).0, 0);

    assert_eq!(admin(&["admin", "tenant", "create", "red"]).1, "red\n");
    assert_eq!(admin(&["admin", "user", "create", "mo", "--tenant", "red", "--role", "member"]).0, 0);
    let (code, token, err) = admin(&["admin", "token", "create", "mo"]);
    assert_eq!(code, 0, "{err}");
    let mo_token = client.join("mo-token");
    std::fs::write(&mo_token, token.trim()).unwrap();
    let mo_token = mo_token.display().to_string();
    assert_eq!(admin(&["context", "create", "red", "--server", &server.base, "--token-file", &mo_token]).0, 0);
    let (code, quota, err) = admin(&["admin", "quota", "red", "--running", "1", "--memory", "1Gi"]);
    assert_eq!(code, 0, "{err}");
    let quota: Value = serde_json::from_str(&quota).unwrap();
    assert_eq!((quota["running"].as_u64(), quota["memory"].as_u64()), (Some(1), Some(1 << 30)));
    let tenants: Value = serde_json::from_str(&admin(&["admin", "tenant", "ls", "--output", "json"]).1).unwrap();
    assert_eq!(tenants.as_array().unwrap().len(), 2, "ops and red: {tenants}");

    // The quota lets one of mo's jobs run; the other waits and says why.
    let endless = client.join("endless.yaml");
    std::fs::write(&endless, "name: endless\nrun: |\n  while true; do sleep 0.05; done\n").unwrap();
    let endless = endless.display().to_string();
    let (_, first, _) = mo(&["run", "-d", "--name", "first", &endless]);
    let (_, second, _) = mo(&["run", "-d", "--name", "second", &endless]);
    let waits = || {
        let queue: Value = serde_json::from_str(&mo(&["queue", "--output", "json"]).1).unwrap();
        queue[0]["reason"].as_str().unwrap_or_default().to_string()
    };
    poll("the quota to hold the second job", || async { waits().starts_with("tenant quota") }).await;
    assert_eq!(waits(), "tenant quota: running jobs in use 1 + this job's 1 > limit 1");
    let (_, table, _) = mo(&["queue"]);
    assert!(table.starts_with("JOB") && table.contains("tenant quota"), "{table}");

    // The admin's tenant sees none of red's queue; mo may not administer.
    assert_eq!(admin(&["queue", "--output", "json"]).1.trim(), "[]");
    let (code, _, err) = mo(&["admin", "tenant", "ls"]);
    assert!(code != 0 && err.contains("admin role"), "{code} {err}");

    for id in [first.trim(), second.trim()] {
        assert_eq!(mo(&["stop", id]).0, 0);
    }
    // A revoked token is refused.
    let tokens: Value = serde_json::from_str(&admin(&["admin", "token", "ls", "--output", "json"]).1).unwrap();
    let id = tokens.as_array().unwrap().iter().find(|t| t["user"] == "mo").unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(admin(&["admin", "token", "revoke", &id]).0, 0);
    let (code, _, err) = mo(&["queue"]);
    assert!(code != 0 && err.contains("unknown or revoked token"), "{code} {err}");
}

/// The crash window between claiming a job and recording its start: a job
/// left `starting` whose workload reached the runtime is adopted, not run
/// again; one whose workload never did is queued again and runs once.
#[tokio::test]
async fn a_job_left_starting_is_resolved_by_what_its_runtime_knows() {
    use ferry_server::db::{Db, NewJob};
    let dir = tempfile::tempdir().unwrap();
    for (n, db) in ferry_server::testing::databases("a_job_left_starting", dir.path()).await.into_iter().enumerate() {
        let home = runtime_home(dir.path(), &format!("home{n}"));
        let mut server = ServerProcess::start(&home, &db, POOLS, "binpack").await;
        assert!(server.signal("-TERM").success());

        // As a server that died mid-start leaves them: both claimed for "small".
        let ran = home.join("ran");
        let yaml = |name: &str| format!("name: {name}\nrun: |\n  echo {name} >> '{}'\n", ran.display());
        let store = Db::open(&db).await.unwrap();
        let mut claimed = Vec::new();
        for name in ["reached", "lost"] {
            let workload = ferry_spec::parse_str(&yaml(name), Path::new("job.yaml")).unwrap();
            let needs = ferry_server::sched::Resources { millicpus: 1000, memory: 0, gpus: 0 };
            let new = NewJob {
                tenant: "ops".into(),
                submitted_by: "admin".into(),
                workload,
                placement: Default::default(),
                priority: 0,
                needs,
            };
            let job = store.insert_job(new).await.unwrap();
            assert!(store.claim(&job.id, "small").await.unwrap());
            claimed.push(job);
        }
        // The first reached its runtime under the job's workload name.
        let file = home.join("reached.yaml");
        std::fs::write(&file, yaml("reached")).unwrap();
        let name = claimed[0].workload_name();
        let (code, _, err) =
            ferry_client(&home, "default", &["run", "-d", "--name", &name, &file.display().to_string()]);
        assert_eq!(code, 0, "{err}");

        let server = ServerProcess::start(&home, &db, POOLS, "binpack").await;
        for job in &claimed {
            let ended = server.wait(&job.id).await;
            assert_eq!(ended["state"], "succeeded", "{ended}");
        }
        let mut runs: Vec<String> = std::fs::read_to_string(&ran).unwrap().lines().map(String::from).collect();
        runs.sort();
        assert_eq!(runs, ["lost", "reached"], "each ran exactly once");
    }
}
