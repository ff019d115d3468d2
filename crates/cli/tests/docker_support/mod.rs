//! Shared by the docker test files: where the daemon is, the test image
//! (imported from Debian's busybox-static when missing), and the explicit skip.

#![allow(dead_code)]

use std::path::Path;

use futures::StreamExt;

pub const DEFAULT_TEST_IMAGE: &str = "ferry-test/busybox:1";

/// `DOCKER_HOST` or the local socket.
pub fn host() -> String {
    ferry_docker::host_for(None)
}

pub fn test_image() -> String {
    std::env::var("FERRY_DOCKER_TEST_IMAGE").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_TEST_IMAGE.into())
}

pub fn registry() -> String {
    std::env::var("FERRY_REGISTRY").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "127.0.0.1:5000".into())
}

/// Returns false (after logging the skip) when FERRY_SKIP_DOCKER_TESTS is set;
/// otherwise requires a reachable dockerd and the test image, failing loudly.
pub fn require_docker(test: &str) -> bool {
    if std::env::var("FERRY_SKIP_DOCKER_TESTS").is_ok_and(|v| !v.is_empty()) {
        println!("{test}: skipped (FERRY_SKIP_DOCKER_TESTS is set)");
        ferry_core::skip_log::append(&format!("{test}: skipped (FERRY_SKIP_DOCKER_TESTS is set)"));
        return false;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let docker = ferry_docker::connect(&host()).unwrap_or_else(|e| {
            panic!("{e}\nstart dockerd with scripts/services/40-docker.sh, or set FERRY_SKIP_DOCKER_TESTS=1 to skip")
        });
        docker.ping().await.unwrap_or_else(|e| {
            panic!("dockerd at {} does not answer: {e}\nstart it with scripts/services/40-docker.sh, or set FERRY_SKIP_DOCKER_TESTS=1", host())
        });
        ensure_test_image(&docker).await;
        prune_old_test_containers(&docker).await;
    });
    true
}

/// Test contexts: the conformance harness's and this crate's docker tests'.
pub const TEST_CONTEXTS: &[&str] = &["conformance", "ferry-docker-test"];

/// Remove stopped containers of earlier test runs (their temporary Ferry
/// installations are gone); only test contexts, only older than 15 minutes.
async fn prune_old_test_containers(docker: &bollard::Docker) {
    for ctx in TEST_CONTEXTS {
        let filters: std::collections::HashMap<String, Vec<String>> = [
            ("label".to_owned(), vec![format!("io.ferry.context={ctx}")]),
            ("until".to_owned(), vec!["15m".to_owned()]),
        ]
        .into();
        let opts = bollard::query_parameters::PruneContainersOptions { filters: Some(filters) };
        let _ = docker.prune_containers(Some(opts)).await;
    }
}

/// Import the busybox test image (like `docker import`) unless present.
async fn ensure_test_image(docker: &bollard::Docker) {
    let image = test_image();
    if docker.inspect_image(&image).await.is_ok() {
        return;
    }
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "the test image {image} is missing and /bin/busybox (Debian's busybox-static) is not installed"
    );
    let bin = std::fs::read(busybox).unwrap();
    let applets = std::process::Command::new(busybox).arg("--list").output().expect("busybox --list");
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8], mode: u32, kind: tar::EntryType, link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        tar.append_data(&mut h, path, data).unwrap();
    };
    for dir in ["bin", "etc", "proc", "sys", "dev", "root", "var/www"] {
        add(dir, &[], 0o755, tar::EntryType::Directory, None);
    }
    add("tmp", &[], 0o1777, tar::EntryType::Directory, None);
    add("bin/busybox", &bin, 0o755, tar::EntryType::Regular, None);
    for applet in String::from_utf8_lossy(&applets.stdout).lines().filter(|a| *a != "busybox") {
        add(&format!("bin/{applet}"), &[], 0o777, tar::EntryType::Symlink, Some("busybox"));
    }
    add(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        0o644,
        tar::EntryType::Regular,
        None,
    );
    add("etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644, tar::EntryType::Regular, None);
    let bytes = tar.into_inner().unwrap();
    let (repo, tag) = image.rsplit_once(':').unwrap_or((&image, "latest"));
    let opts = bollard::query_parameters::CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(tag.into()),
        changes: vec!["ENV PATH=/bin".into(), "CMD [\"/bin/sh\"]".into()],
        ..Default::default()
    };
    let mut s = docker.create_image(Some(opts), Some(bollard::body_full(bytes.into())), None);
    while let Some(item) = s.next().await {
        item.unwrap_or_else(|e| panic!("importing {image}: {e}"));
    }
}
