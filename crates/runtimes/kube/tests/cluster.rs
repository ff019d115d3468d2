//! The Kubernetes runtime against the real test cluster (scripts/testbed/kube-cluster.sh):
//! a real API server, Job and Deployment controllers, scheduler and kubelet on containerd.
//! Each test works in a namespace of its own, as the test user, unless it says otherwise.

use std::path::Path;
use std::time::Duration;

use ferry_core::{engine, Launch, LogOptions, Runtime, Status, WorkloadId};
use ferry_kube::testing::{Cluster, TestNamespace};
use ferry_kube::{KubeRuntime, KubeSettings};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use kube::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Long enough for a pod to be scheduled, pulled and run on a busy 2-core machine.
const LONG: Duration = Duration::from_secs(120);

async fn setup(test: &str) -> Option<(Cluster, TestNamespace, KubeRuntime)> {
    let cluster = Cluster::or_skip(test).await?;
    let ns = cluster.namespace(test).await;
    let rt = runtime_as(&cluster.user_kubeconfig, &ns.name);
    Some((cluster, ns, rt))
}

fn runtime_as(kubeconfig: &Path, namespace: &str) -> KubeRuntime {
    KubeRuntime::new(KubeSettings {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        kube_context: None,
        namespace: Some(namespace.to_string()),
    })
}

fn launch(yaml: &str) -> Launch {
    let w = ferry_spec::parse_str(yaml, Path::new("test.yaml")).unwrap();
    Launch { id: WorkloadId::random(), name: w.name.clone(), context: "k8s".into(), workload: w, spec_dir: ".".into() }
}

async fn wait(rt: &KubeRuntime, h: &ferry_core::Handle) -> Status {
    tokio::time::timeout(LONG, rt.wait(h)).await.expect("the workload ended in time").unwrap()
}

async fn wait_for_status(rt: &KubeRuntime, h: &ferry_core::Handle, want: &Status) {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let now = rt.status(h).await.unwrap();
        if &now == want {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {now:?}, waiting for {want:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Collect a log stream into text lines.
async fn collect(stream: ferry_core::LogStream) -> Vec<String> {
    let lines = tokio::time::timeout(LONG, stream.collect::<Vec<_>>()).await.expect("logs ended");
    lines.into_iter().map(|l| String::from_utf8(l.unwrap().text).unwrap()).collect()
}

#[tokio::test]
async fn job_retries_then_fails_with_its_exit_code_and_every_attempts_logs() {
    let Some((cluster, ns, rt)) = setup("cluster::job_retries_then_fails").await else { return };
    let l = launch(&format!(
        "name: flaky\nimage: {}\ncommand: [sh, -c, 'echo attempt on $(hostname); exit 3']\nretries: 1\n",
        cluster.image
    ));
    let h = rt.start(&l).await.unwrap();
    assert!(h.native_id.starts_with(&format!("{}/flaky-", ns.name)), "{}", h.native_id);
    let follower = tokio::spawn(collect(rt.logs(&h, LogOptions { follow: true, tail: None }).await.unwrap()));

    match wait(&rt, &h).await {
        // The reason is the Job controller's verdict (BackoffLimitExceeded) or, when the
        // last pod's end is seen first, that pod's: either way it carries the code.
        Status::Failed { exit_code: Some(3), reason } => assert!(reason.contains('3'), "{reason}"),
        other => panic!("expected Failed with exit 3, got {other:?}"),
    }
    // Two attempts (retries: 1), two pods, each one's output once, in order.
    let lines = follower.await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("attempt on flaky-")), "{lines:?}");
    assert_ne!(lines[0], lines[1], "two different pods: {lines:?}");

    // list() finds it by label, with what adoption needs.
    let listed = rt.list().await.unwrap();
    let (lh, _) = listed.iter().find(|(lh, _)| lh.workload == l.id).expect("listed");
    assert_eq!(lh.details[engine::DETAIL_NAME], "flaky");
    let spec: ferry_spec::Workload = serde_json::from_str(&lh.details[engine::DETAIL_SPEC]).unwrap();
    assert_eq!(spec, l.workload);

    // rm: foreground deletion leaves nothing of it.
    rt.destroy(&h).await.unwrap();
    assert_eq!(ns.leftovers(LONG).await, "", "objects left after destroy");
}

#[tokio::test]
async fn a_job_succeeds_and_stop_cancels_a_running_one() {
    let Some((cluster, ns, rt)) = setup("cluster::job_succeeds_and_stop_cancels").await else { return };
    let ok = rt.start(&launch(&format!("name: hello\nimage: {}\ncommand: [echo, hello world]\n", cluster.image))).await;
    let ok = ok.unwrap();
    assert_eq!(wait(&rt, &ok).await, Status::Succeeded);
    let lines = collect(rt.logs(&ok, LogOptions { follow: false, tail: None }).await.unwrap()).await;
    assert_eq!(lines, ["hello world"]);

    let l = launch(&format!("name: sleeper\nimage: {}\ncommand: [sleep, '300']\n", cluster.image));
    let h = rt.start(&l).await.unwrap();
    wait_for_status(&rt, &h, &Status::Running).await;
    rt.stop(&h, Duration::from_secs(1)).await.unwrap();
    assert_eq!(rt.status(&h).await.unwrap(), Status::Cancelled);
    // The Job stays (suspended) so the state survives; its pods go.
    let pods = Api::<Pod>::namespaced(cluster.admin.clone(), &ns.name);
    let selector = ListParams::default().labels(&format!("io.ferry/workload={}", l.id));
    let deadline = tokio::time::Instant::now() + LONG;
    while !pods.list(&selector).await.unwrap().items.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the stopped Job's pods are still there");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(rt.status(&h).await.unwrap(), Status::Cancelled);

    // Kubernetes has no pause or checkpoint: refused by name.
    let err = rt.pause(&h).await.unwrap_err().to_string();
    assert_eq!(err, "pause is not supported by the kubernetes runtime");
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_fails_with_the_kubelets_reason() {
    let Some((cluster, _ns, rt)) = setup("cluster::image_pull_failure").await else { return };
    let registry = cluster.image.split('/').next().unwrap().to_string();
    let image = format!("{registry}/ferry-test/absent:1");
    let h = rt.start(&launch(&format!("name: nopull\nimage: {image}\ncommand: [x]\n"))).await.unwrap();
    match wait(&rt, &h).await {
        Status::Failed { exit_code: None, reason } => {
            assert!(reason.contains("ErrImagePull") || reason.contains("ImagePullBackOff"), "{reason}");
            assert!(reason.contains("absent"), "the reason names the image: {reason}");
        }
        other => panic!("expected a pull failure, got {other:?}"),
    }
}

/// GET / through a local forwarded port; the answer names the pod.
async fn http_get(port: u16) -> std::io::Result<String> {
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    c.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").await?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_string(&mut out)).await??;
    Ok(out.rsplit("\r\n\r\n").next().unwrap_or_default().trim().to_string())
}

#[tokio::test]
async fn a_service_is_reached_through_port_forward_and_its_logs_follow_a_new_pod() {
    let Some((cluster, ns, rt)) = setup("cluster::service_port_forward_logs").await else { return };
    let yaml = format!(
        "name: web\nkind: service\nimage: {}\nports: [{{name: http, port: 8080}}]\nrun: |\n  \
         mkdir -p /tmp/www && hostname > /tmp/www/index.html\n  echo \"serving on $(hostname)\"\n  \
         exec httpd -f -p 8080 -h /tmp/www\n",
        cluster.image
    );
    let h = rt.start(&launch(&yaml)).await.unwrap();
    wait_for_status(&rt, &h, &Status::Running).await;
    let follower = tokio::spawn(collect(rt.logs(&h, LogOptions { follow: true, tail: None }).await.unwrap()));

    let fwd = rt.bind_forward(0, 8080).await.unwrap();
    let port = fwd.local_addr().unwrap().port();
    let serving = {
        let rt = runtime_as(&cluster.user_kubeconfig, &ns.name);
        let h = h.clone();
        tokio::spawn(async move { fwd.serve(&rt, &h, |e| eprintln!("forward error: {e}")).await })
    };
    let first = http_get(port).await.unwrap();
    assert!(first.starts_with("web-"), "the pod's hostname: {first:?}");

    // The pod goes; the Deployment makes another; the same forward reaches it.
    let pods = Api::<Pod>::namespaced(cluster.admin.clone(), &ns.name);
    pods.delete(&first, &DeleteParams::default()).await.unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    let second = loop {
        if let Ok(answer) = http_get(port).await {
            if answer.starts_with("web-") && answer != first {
                break answer;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no new pod answered");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    serving.abort();

    // stop scales to zero and reads Cancelled; the follower ends with both pods' lines.
    rt.stop(&h, Duration::from_secs(1)).await.unwrap();
    assert_eq!(rt.status(&h).await.unwrap(), Status::Cancelled);
    let lines = follower.await.unwrap();
    assert_eq!(lines, [format!("serving on {first}"), format!("serving on {second}")]);

    rt.destroy(&h).await.unwrap();
    assert_eq!(ns.leftovers(LONG).await, "", "objects left after destroy");
}

#[tokio::test]
async fn client_certificates_and_bearer_tokens_work_and_rbac_refusals_are_clear() {
    let Some(cluster) = Cluster::or_skip("cluster::access").await else { return };
    let ns = cluster.namespace("cluster-access").await;
    let job = format!("name: who\nimage: {}\ncommand: [echo, ok]\n", cluster.image);
    for kubeconfig in [&cluster.user_kubeconfig, &cluster.token_kubeconfig] {
        let rt = runtime_as(kubeconfig, &ns.name);
        let h = rt.start(&launch(&job)).await.unwrap_or_else(|e| panic!("{}: {e}", kubeconfig.display()));
        assert_eq!(wait(&rt, &h).await, Status::Succeeded, "{}", kubeconfig.display());
    }

    // A namespace the test user has no rights in: one clear line that says who, what and where.
    let rt = runtime_as(&cluster.user_kubeconfig, &cluster.forbidden_namespace);
    let err = rt.start(&launch(&job)).await.unwrap_err().to_string();
    assert!(!err.contains('\n') && !err.contains('\u{1b}'), "one plain line: {err:?}");
    for part in ["forbidden", "ferry-test-user", "jobs", &cluster.forbidden_namespace] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}
