//! The conformance suite on the OCI runtime, once with crun and once with
//! runc, on a busybox image that scripts/services/30-oci.sh pushed to the
//! local registry and every isolated Ferry installation pulls back through
//! `ferry image pull`.
//!
//! Needs runc, crun and the registry (FERRY_REGISTRY, default 127.0.0.1:5000):
//! without them the cases fail loudly.

fn image() -> String {
    std::env::var("FERRY_OCI_TEST_IMAGE").unwrap_or_else(|_| {
        let registry = std::env::var("FERRY_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into());
        format!("{registry}/ferry-test/busybox:1")
    })
}

fn target(oci_runtime: &str) -> ferry_conformance::Target {
    let image = image();
    ferry_conformance::Target {
        bin: env!("CARGO_BIN_EXE_ferry").into(),
        context_args: vec!["--runtime".into(), "oci".into(), "--oci-runtime".into(), oci_runtime.into()],
        image: Some(image.clone()),
        unsupported: Vec::new(),
        setup: vec![vec!["image".into(), "pull".into(), image]],
        env: Vec::new(),
    }
}

mod crun {
    ferry_conformance::suite!(super::target("crun"));
}

mod runc {
    ferry_conformance::suite!(super::target("runc"));
}
