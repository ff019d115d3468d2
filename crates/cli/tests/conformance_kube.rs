//! The conformance suite on the kubernetes runtime, against the real test cluster
//! (scripts/testbed/kube-cluster.sh), as the test user, each case in a namespace of
//! its own (deleted after the case).
//!
//! Not applicable by design, listed in `unsupported`:
//! * "pause": Kubernetes has no pause primitive (the case checks the clear refusal).
//! * "stats": live usage would need the metrics API, which the runtime does not read
//!   (the case checks the clear refusal).
//! * "host-paths": inputs and outputs are host directories in the suite; on a cluster
//!   they live in PersistentVolumeClaims (`runtime.kubernetes.volumes`), which the
//!   MLCube test of kube_lifecycle.rs covers. The cases check the clear refusal (the
//!   retries case too: its attempt counter is such a directory; kube_lifecycle.rs
//!   covers retries).
//! * "stderr": the kubelet keeps one log per container, so stderr's lines come back
//!   on stdout (the API has no way to tell them apart).
//!
//! Set FERRY_SKIP_KUBE_TESTS=1 to skip on a machine without the cluster.

use ferry_kube::testing::{Cluster, TestNamespace};

fn setup(case: &str) -> Option<(ferry_conformance::Target, TestNamespace)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (cluster, ns) = rt.block_on(async {
        let cluster = Cluster::or_skip(&format!("conformance_kube::{case}")).await?;
        let ns = cluster.namespace(&format!("conf-{case}")).await;
        Some((cluster, ns))
    })?;
    let target = ferry_conformance::Target {
        bin: env!("CARGO_BIN_EXE_ferry").into(),
        context_args: vec![
            "--runtime".into(),
            "kubernetes".into(),
            "--kubeconfig".into(),
            cluster.user_kubeconfig.to_string_lossy().into_owned(),
            "--namespace".into(),
            ns.name.clone(),
        ],
        image: Some(cluster.image.clone()),
        unsupported: vec!["pause", "stats", "host-paths", "stderr"],
        setup: Vec::new(),
        env: Vec::new(),
    };
    Some((target, ns))
}

ferry_conformance::suite!(setup = setup);
