//! The runtime over real HTTP against the stateful API emulator
//! (`testing/kube_emulator.py`). The test plays the Job controller and the
//! kubelet: it creates pods and patches Job and Pod status, and writes the
//! container's log. No real API server or kubelet is involved (none can run
//! here); see the README for the paths that never met one.

use std::path::Path;
use std::time::Duration;

use ferry_core::{engine, Launch, LogOptions, Runtime, RuntimeError, Status, WorkloadId};
use ferry_kube::testing::{self, main_container, Emulator};
use ferry_kube::KubeRuntime;
use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "team";

async fn setup(test: &str) -> Option<(Emulator, KubeRuntime)> {
    let python = testing::python_or_skip(test)?;
    let emu = Emulator::start(&python).await;
    let rt = KubeRuntime::with_client(emu.client.clone(), NS);
    Some((emu, rt))
}

fn launch(yaml: &str) -> Launch {
    let w = ferry_spec::parse_str(yaml, Path::new("test.yaml")).unwrap();
    Launch { id: WorkloadId::random(), name: w.name.clone(), context: "k8s".into(), workload: w, spec_dir: ".".into() }
}

async fn get_json(emu: &Emulator, path: &str) -> serde_json::Value {
    let req = http::Request::get(path).body(Vec::new()).unwrap();
    serde_json::from_str(&emu.client.request_text(req).await.unwrap()).unwrap()
}

/// Collect a log stream into text lines, with a generous bound.
async fn collect(stream: ferry_core::LogStream) -> Vec<String> {
    let lines = tokio::time::timeout(Duration::from_secs(60), stream.collect::<Vec<_>>()).await.expect("logs ended");
    lines.into_iter().map(|l| String::from_utf8(l.unwrap().text).unwrap()).collect()
}

const JOB: &str = "name: train\nimage: busybox\ncommand: [sh, -c, 'echo hi']\nretries: 1\n";

#[tokio::test]
async fn job_runs_retries_and_succeeds_with_logs_followed_across_pods() {
    let Some((emu, rt)) = setup("emulator::job_runs_retries_and_succeeds").await else { return };
    let l = launch(JOB);
    let h = rt.start(&l).await.unwrap();
    let (ns, job_name) = h.native_id.split_once('/').unwrap();
    assert_eq!(ns, NS);
    assert!(job_name.starts_with("train-"), "{job_name}");
    assert_eq!(rt.status(&h).await.unwrap(), Status::Pending);

    let job = get_json(&emu, &format!("/apis/batch/v1/namespaces/{NS}/jobs/{job_name}")).await;
    assert_eq!(job["metadata"]["labels"]["io.ferry/workload"], l.id.to_string());
    assert_eq!(job["spec"]["backoffLimit"], 1);

    // Follow the logs from before the first pod exists.
    let follower = tokio::spawn(collect(rt.logs(&h, LogOptions { follow: true, tail: None }).await.unwrap()));

    // Attempt 1 runs, prints, fails.
    emu.create_pod(&job, "train-a").await;
    emu.set_pod_status(
        NS,
        "train-a",
        json!({"phase": "Running", "containerStatuses": main_container(json!({"running": {}}))}),
    )
    .await;
    assert_eq!(rt.status(&h).await.unwrap(), Status::Running);
    emu.append_log(NS, "train-a", "attempt 1 line 1\nattempt 1 line 2\n").await;
    emu.set_pod_status(
        NS,
        "train-a",
        json!({"phase": "Failed", "containerStatuses": main_container(json!({"terminated": {"exitCode": 3, "reason": "Error"}}))}),
    )
    .await;
    emu.close_log(NS, "train-a").await;
    // Between attempts (retries: 1) the Job waits for its retry.
    assert_eq!(rt.status(&h).await.unwrap(), Status::Pending);

    // Attempt 2 (the retry) runs and succeeds.
    tokio::time::sleep(Duration::from_millis(1100)).await; // a later creationTimestamp (1 s resolution)
    emu.create_pod(&job, "train-b").await;
    emu.set_pod_status(
        NS,
        "train-b",
        json!({"phase": "Running", "containerStatuses": main_container(json!({"running": {}}))}),
    )
    .await;
    emu.append_log(NS, "train-b", "attempt 2 done\n").await;
    emu.set_pod_status(
        NS,
        "train-b",
        json!({"phase": "Succeeded", "containerStatuses": main_container(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))}),
    )
    .await;
    emu.close_log(NS, "train-b").await;
    emu.set_job_status(NS, job_name, json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}))
        .await;

    let lines = follower.await.unwrap();
    assert_eq!(lines, ["attempt 1 line 1", "attempt 1 line 2", "attempt 2 done"]);
    assert_eq!(rt.wait(&h).await.unwrap(), Status::Succeeded);
    assert_eq!(rt.status(&h).await.unwrap(), Status::Succeeded);

    // Reading again without follow: every attempt in order; --tail: the newest only.
    let all = collect(rt.logs(&h, LogOptions { follow: false, tail: None }).await.unwrap()).await;
    assert_eq!(all.len(), 3);
    let tail = collect(rt.logs(&h, LogOptions { follow: false, tail: Some(1) }).await.unwrap()).await;
    assert_eq!(tail, ["attempt 2 done"]);

    // The status came from watches, not polling: the follower used watch requests.
    let requests = emu.requests().await;
    assert!(requests.iter().any(|r| r["query"]["watch"] == "true" && r["path"].as_str().unwrap().ends_with("/pods")));

    // rm: foreground deletion takes the pods with the Job.
    rt.destroy(&h).await.unwrap();
    let delete = requests_matching(&emu, "DELETE", &format!("/jobs/{job_name}")).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&delete).unwrap()["propagationPolicy"], "Foreground");
    let pods = get_json(&emu, &format!("/api/v1/namespaces/{NS}/pods")).await;
    assert_eq!(pods["items"].as_array().unwrap().len(), 0, "{pods}");
    assert!(matches!(rt.status(&h).await, Err(RuntimeError::NotFound { .. })));
}

async fn requests_matching(emu: &Emulator, method: &str, suffix: &str) -> String {
    emu.requests()
        .await
        .into_iter()
        .find(|r| r["method"] == method && r["path"].as_str().unwrap().ends_with(suffix))
        .map(|r| r["body"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {method} …{suffix} request"))
}

#[tokio::test]
async fn failures_carry_the_kubernetes_reason_and_exit_code() {
    let Some((emu, rt)) = setup("emulator::failures_carry_the_kubernetes_reason").await else { return };
    let h = rt.start(&launch(JOB)).await.unwrap();
    let job_name = h.native_id.split_once('/').unwrap().1.to_string();
    let job = get_json(&emu, &format!("/apis/batch/v1/namespaces/{NS}/jobs/{job_name}")).await;
    emu.create_pod(&job, "oom").await;
    let waiter = {
        let rt = KubeRuntime::with_client(emu.client.clone(), NS);
        let h = h.clone();
        tokio::spawn(async move { rt.wait(&h).await })
    };
    emu.set_pod_status(
        NS,
        "oom",
        json!({"phase": "Failed", "containerStatuses": main_container(json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}))}),
    )
    .await;
    emu.set_job_status(
        NS,
        &job_name,
        json!({"failed": 2, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit"}]}),
    )
    .await;
    let status = tokio::time::timeout(Duration::from_secs(60), waiter).await.unwrap().unwrap().unwrap();
    match status {
        Status::Failed { exit_code: Some(137), reason } => {
            assert!(reason.contains("BackoffLimitExceeded") && reason.contains("OOMKilled"), "{reason}")
        }
        s => panic!("{s:?}"),
    }

    // An image that cannot be pulled ends the workload with the kubelet's words.
    let h = rt.start(&launch("name: pull\nimage: nope/nope\ncommand: [x]\n")).await.unwrap();
    let job_name = h.native_id.split_once('/').unwrap().1.to_string();
    let job = get_json(&emu, &format!("/apis/batch/v1/namespaces/{NS}/jobs/{job_name}")).await;
    emu.create_pod(&job, "pull-a").await;
    emu.set_pod_status(
        NS,
        "pull-a",
        json!({"phase": "Pending", "containerStatuses": main_container(json!({"waiting": {"reason": "ImagePullBackOff",
            "message": "Back-off pulling image \"nope/nope\""}}))}),
    )
    .await;
    assert_eq!(
        rt.status(&h).await.unwrap(),
        Status::Failed { exit_code: None, reason: "ImagePullBackOff: Back-off pulling image \"nope/nope\"".into() }
    );
}

#[tokio::test]
async fn stop_cancels_and_list_finds_workloads_for_adoption() {
    let Some((emu, rt)) = setup("emulator::stop_cancels_and_list_finds_workloads").await else { return };
    let l = launch(JOB);
    let h = rt.start(&l).await.unwrap();
    let job_name = h.native_id.split_once('/').unwrap().1.to_string();
    let job = get_json(&emu, &format!("/apis/batch/v1/namespaces/{NS}/jobs/{job_name}")).await;
    emu.create_pod(&job, "train-x").await;
    emu.set_pod_status(
        NS,
        "train-x",
        json!({"phase": "Running", "containerStatuses": main_container(json!({"running": {}}))}),
    )
    .await;

    let listed = rt.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    let (lh, ls) = &listed[0];
    assert_eq!(lh.workload, l.id);
    assert_eq!(ls, &Status::Running);
    assert_eq!(lh.details[engine::DETAIL_NAME], "train");
    let spec: ferry_spec::Workload = serde_json::from_str(&lh.details[engine::DETAIL_SPEC]).unwrap();
    assert_eq!(spec, l.workload);

    rt.stop(&h, Duration::from_secs(7)).await.unwrap();
    assert_eq!(rt.status(&h).await.unwrap(), Status::Cancelled);
    let job = get_json(&emu, &format!("/apis/batch/v1/namespaces/{NS}/jobs/{job_name}")).await;
    assert_eq!(job["spec"]["suspend"], true);
    let pods = get_json(&emu, &format!("/api/v1/namespaces/{NS}/pods")).await;
    assert_eq!(pods["items"].as_array().unwrap().len(), 0, "stop deletes the pods");
    let grace = requests_matching(&emu, "DELETE", "/pods").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&grace).unwrap()["gracePeriodSeconds"], 7);

    // Kubernetes has no pause or checkpoint.
    let err = rt.pause(&h).await.unwrap_err().to_string();
    assert_eq!(err, "pause is not supported by the kubernetes runtime");
    assert!(!rt.capabilities().pause && !rt.capabilities().checkpoint);
}

#[tokio::test]
async fn service_gets_a_deployment_and_service_and_port_forward_follows_the_pod() {
    let Some((emu, rt)) = setup("emulator::service_gets_a_deployment_and_service").await else { return };
    let yaml = "name: web\nkind: service\nimage: nginx\ncommand: [nginx]\nports: [{name: http, port: 8080}]\n";
    let h = rt.start(&launch(yaml)).await.unwrap();
    let name = h.native_id.split_once('/').unwrap().1.to_string();
    let d = get_json(&emu, &format!("/apis/apps/v1/namespaces/{NS}/deployments/{name}")).await;
    let s = get_json(&emu, &format!("/api/v1/namespaces/{NS}/services/{name}")).await;
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(s["spec"]["ports"][0]["port"], 8080);
    assert_eq!(
        s["metadata"]["ownerReferences"][0]["uid"], d["metadata"]["uid"],
        "the Service goes with the Deployment"
    );

    // Two "pods", each a TCP server that names itself.
    async fn pod_server(tag: &'static str) -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut c, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    let n = c.read(&mut buf).await.unwrap_or(0);
                    let _ = c.write_all(format!("{tag}:{}", String::from_utf8_lossy(&buf[..n])).as_bytes()).await;
                });
            }
        });
        addr
    }
    let running = json!({"phase": "Running", "containerStatuses": main_container(json!({"running": {}}))});
    emu.create_pod(&d, "web-1").await;
    emu.set_pod_status(NS, "web-1", running.clone()).await;
    emu.set_pod_port(NS, "web-1", 8080, pod_server("one").await).await;
    assert_eq!(rt.status(&h).await.unwrap(), Status::Running);

    let fwd = rt.bind_forward(0, 8080).await.unwrap();
    let local = fwd.local_addr().unwrap();
    let serving = {
        let rt = KubeRuntime::with_client(emu.client.clone(), NS);
        let h = h.clone();
        tokio::spawn(async move { fwd.serve(&rt, &h, |e| eprintln!("forward error: {e}")).await })
    };
    async fn ask(local: std::net::SocketAddr) -> String {
        let mut c = tokio::net::TcpStream::connect(local).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(30), c.read_to_string(&mut out)).await.unwrap().unwrap();
        out
    }
    assert_eq!(ask(local).await, "one:ping");

    // The pod is replaced: the next connection reaches the new one.
    emu.client
        .request_text(http::Request::delete(format!("/api/v1/namespaces/{NS}/pods/web-1")).body(Vec::new()).unwrap())
        .await
        .unwrap();
    emu.create_pod(&d, "web-2").await;
    emu.set_pod_status(NS, "web-2", running).await;
    emu.set_pod_port(NS, "web-2", 8080, pod_server("two").await).await;
    assert_eq!(ask(local).await, "two:ping");
    serving.abort();

    // stop scales to zero and reads Cancelled; rm removes both objects.
    rt.stop(&h, Duration::from_secs(1)).await.unwrap();
    assert_eq!(rt.status(&h).await.unwrap(), Status::Cancelled);
    let d = get_json(&emu, &format!("/apis/apps/v1/namespaces/{NS}/deployments/{name}")).await;
    assert_eq!(d["spec"]["replicas"], 0);
    rt.destroy(&h).await.unwrap();
    let services = get_json(&emu, &format!("/api/v1/namespaces/{NS}/services")).await;
    assert_eq!(services["items"].as_array().unwrap().len(), 0);
}
