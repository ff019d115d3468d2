//! The conformance suite on the docker runtime, against a real dockerd
//! (scripts/services/40-docker.sh starts Debian's docker.io and the test
//! image is busybox-static imported as `ferry-test/busybox:1`).

mod docker_support;

fn target() -> ferry_conformance::Target {
    let test = std::thread::current().name().unwrap_or("conformance_docker").to_owned();
    if !docker_support::require_docker(&format!("conformance_docker::{test}")) {
        // Each test runs in its own process under nextest: end it as passed-by-skip.
        std::process::exit(0);
    }
    ferry_conformance::Target {
        bin: env!("CARGO_BIN_EXE_ferry").into(),
        context_args: vec!["--runtime".into(), "docker".into(), "--docker-host".into(), docker_support::host()],
        image: Some(docker_support::test_image()),
        unsupported: Vec::new(),
        setup: Vec::new(),
        env: Vec::new(),
    }
}

ferry_conformance::suite!(target());

#[test]
fn killed_run_converges() {
    ferry_conformance::killed_run_converges(&target());
}
