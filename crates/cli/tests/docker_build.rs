//! `ferry build`, `ferry push`, `ferry run` and `ferry up` end to end against
//! the real dockerd and the real registry (Debian's docker-registry on
//! $FERRY_REGISTRY, started by scripts/services/20-registry.sh).

mod docker_support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use ferry_conformance::describe;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// A fresh Ferry installation with a docker context in use, or None when skipped.
    fn new(test: &str) -> Option<Env> {
        if !docker_support::require_docker(test) {
            return None;
        }
        let env = Env { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(env.work()).unwrap();
        let out = env.ferry(&[
            "context",
            "create",
            "ferry-docker-test",
            "--runtime",
            "docker",
            "--docker-host",
            &docker_support::host(),
            "--use",
        ]);
        assert!(out.status.success(), "{}", describe(&out));
        Some(env)
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn ferry(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .current_dir(self.work())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env_remove("FERRY_CONTEXT")
            .stdin(Stdio::null())
            .output()
            .expect("run ferry")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.ferry(args);
        assert!(out.status.success(), "ferry {args:?}: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn write(&self, rel: &str, content: &str) {
        let p = self.work().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// GET http://addr/path with a plain TCP socket; returns the body.
fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or(text)
}

fn remove_local_image(image: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let docker = ferry_docker::connect(&docker_support::host()).unwrap();
        let opts = bollard::query_parameters::RemoveImageOptions { force: true, noprune: false, ..Default::default() };
        docker.remove_image(image, Some(opts), None).await.unwrap_or_else(|e| panic!("rmi {image}: {e}"));
        assert!(docker.inspect_image(image).await.is_err());
    });
}

/// Build (cached on the second try, rebuilt on a change), push to the real
/// registry, drop the local copy, run: the image is pulled back, the init is
/// PID 1, the setup ran with its quoting intact and the code is in /workspace.
#[test]
fn build_push_run_end_to_end() {
    let Some(env) = Env::new("build_push_run_end_to_end") else { return };
    let image = format!("{}/ferry-test/{}:1", docker_support::registry(), unique("e2e"));
    env.write("code/msg.txt", "hello from the snapshot\n");
    env.write("code/.git/HEAD", "ref: refs/heads/main\n");
    env.write(
        "ferry.yaml",
        &format!(
            r#"name: e2e
image: {image}
workdir: code
run: |
  cat /workspace/msg.txt
  cat /setup.txt
  tr '\0' ' ' < /proc/1/cmdline; echo
  ls -a /workspace
build:
  base: {base}
  setup:
    - printf '%s\n' "it's \"quoted\" \$HOME $(echo ran)" > /setup.txt
"#,
            base = docker_support::test_image()
        ),
    );
    let out = env.ferry(&["build", "ferry.yaml"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), image);
    assert!(String::from_utf8_lossy(&out.stderr).contains("built "), "{}", describe(&out));

    let again = env.ferry(&["build", "ferry.yaml"]);
    assert!(again.status.success(), "{}", describe(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("up to date"),
        "unchanged inputs must not rebuild: {}",
        describe(&again)
    );

    env.write("code/msg.txt", "hello from the changed snapshot\n");
    let changed = env.ferry(&["build", "ferry.yaml"]);
    assert!(
        String::from_utf8_lossy(&changed.stderr).contains("built "),
        "a changed file must rebuild: {}",
        describe(&changed)
    );

    env.ok(&["push", "ferry.yaml"]);
    let (registry, rest) = image.split_once('/').unwrap();
    let repo = rest.rsplit_once(':').unwrap().0;
    let tags = http_get(registry, &format!("/v2/{repo}/tags/list"));
    assert!(tags.contains("\"1\""), "registry does not list the pushed tag: {tags}");

    remove_local_image(&image);
    let out = env.ferry(&["run", "ferry.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "hello from the changed snapshot", "{text}");
    assert_eq!(lines[1], r#"it's "quoted" $HOME ran"#, "{text}");
    assert!(lines[2].starts_with("/ferry/init -- /bin/sh -c"), "the init must be PID 1: {text}");
    assert!(!text.contains(".git"), ".git must not be in the image: {text}");
    // Leave nothing behind: the container and the image.
    env.ok(&["rm", "e2e"]);
    remove_local_image(&image);
}

/// A failing setup step fails the build naming the step and showing its output.
#[test]
fn build_failure_names_the_step_and_its_output() {
    let Some(env) = Env::new("build_failure_names_the_step_and_its_output") else { return };
    env.write(
        "ferry.yaml",
        &format!(
            "name: broken\nimage: ferry-test/{}:1\ncommand: [\"true\"]\nbuild:\n  base: {}\n  setup:\n    - echo fine\n    - echo boom-output; exit 3\n",
            unique("broken"),
            docker_support::test_image()
        ),
    );
    let out = env.ferry(&["build", "ferry.yaml"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("build failed at step 6/"), "{err}");
    assert!(err.contains("echo boom-output; exit 3"), "{err}");
    assert!(err.contains("returned a non-zero code: 3"), "{err}");
    assert!(err.contains("--- output of that step\nboom-output"), "{err}");
}

/// `--dry-run` prints the Dockerfile and the snapshot, honouring the ignore files.
#[test]
fn dry_run_prints_dockerfile_and_snapshot() {
    let Some(env) = Env::new("dry_run_prints_dockerfile_and_snapshot") else { return };
    env.write("src/main.sh", "echo hi\n");
    env.write("src/.git/config", "x");
    env.write("src/data/huge.bin", "x");
    env.write("src/notes.tmp", "x");
    env.write("src/.ferryignore", "data/\n");
    env.write("src/.dockerignore", "*.tmp\n");
    env.write(
        "ferry.yaml",
        &format!(
            "name: dry\nworkdir: src\ncommand: [\"sh\", \"main.sh\"]\nbuild:\n  base: {}\n",
            docker_support::test_image()
        ),
    );
    let out = env.ok(&["build", "--dry-run", "ferry.yaml"]);
    assert!(out.contains("# image: ferry/dry:latest"), "{out}");
    assert!(out.contains("ENTRYPOINT [\"/ferry/init\",\"--\"]\nCMD [\"sh\",\"main.sh\"]\n"), "{out}");
    let files: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("# files")).skip(1).collect();
    assert!(files.contains(&"main.sh"), "{out}");
    assert!(!files.iter().any(|f| f.contains(".git/") || f.contains("huge.bin") || f.ends_with(".tmp")), "{out}");
}

/// `ferry up` builds, starts a service, prints its endpoint; it answers there,
/// `ps` shows it and `rm --force` removes it.
#[test]
fn up_prints_endpoints_of_a_running_service() {
    let Some(env) = Env::new("up_prints_endpoints_of_a_running_service") else { return };
    env.write("site/index.html", "served by ferry up\n");
    env.write(
        "ferry.yaml",
        &format!(
            "name: web\nkind: service\nimage: ferry-test/{}:1\nworkdir: site\ncommand: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/workspace\"]\nports:\n  - {{name: http, port: 8080}}\nbuild:\n  base: {}\n",
            unique("web"),
            docker_support::test_image()
        ),
    );
    let out = env.ok(&["up", "ferry.yaml"]);
    let endpoint =
        out.lines().find_map(|l| l.strip_prefix("endpoint http=")).unwrap_or_else(|| panic!("no endpoint line: {out}"));
    let addr = endpoint.split("->").next().unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "ports are published on loopback only: {endpoint}");
    let mut body = String::new();
    for _ in 0..100 {
        body = std::panic::catch_unwind(|| http_get(addr, "/index.html")).unwrap_or_default();
        if body.contains("served by ferry up") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(body.contains("served by ferry up"), "{body}");
    let ps = env.ok(&["ps"]);
    assert!(ps.contains("web") && ps.contains("docker") && ps.contains("running"), "{ps}");
    let inspect = env.ok(&["inspect", "web"]);
    assert!(inspect.contains(&format!("\"ports\": \"http={endpoint}\"")), "{inspect}");
    env.ok(&["rm", "--force", "web"]);
    assert!(env.ok(&["ps", "-a", "-q"]).is_empty());
}

/// A build without a `build:` section, or with a bad base, is one clear error.
#[test]
fn bad_build_input_is_one_clear_error() {
    let Some(env) = Env::new("bad_build_input_is_one_clear_error") else { return };
    env.write("nobuild.yaml", "name: nb\ncommand: [\"true\"]\n");
    let out = env.ferry(&["build", "nobuild.yaml"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobuild.yaml: build: missing"), "{}", describe(&out));
    env.write(
        "nobase.yaml",
        "name: nb\ncommand: [\"true\"]\nbuild:\n  base: 127.0.0.1:5000/ferry-test/does-not-exist:0\n",
    );
    let out = env.ferry(&["build", "nobase.yaml"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("build.base 127.0.0.1:5000/ferry-test/does-not-exist:0 is not in the Docker Engine"), "{err}");
}

/// `ferry up` on a context whose runtime cannot run images (the local one)
/// refuses before it builds or pushes anything, and records nothing.
#[test]
fn up_refuses_before_building_for_a_runtime_without_images() {
    let Some(env) = Env::new("up_refuses_before_building_for_a_runtime_without_images") else { return };
    let image = format!("ferry-test/{}:1", unique("refused"));
    env.write(
        "ferry.yaml",
        &format!(
            "name: refused\nimage: {image}\ncommand: [\"true\"]\nbuild:\n  base: {}\n",
            docker_support::test_image()
        ),
    );
    let out = env.ferry(&["--context", "default", "up", "--push", "ferry.yaml"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not supported by the local runtime"), "{}", describe(&out));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let built = rt.block_on(async {
        let docker = ferry_docker::connect(&docker_support::host()).unwrap();
        docker.inspect_image(&image).await.is_ok()
    });
    assert!(!built, "{image} was built before the refusal");
    assert!(env.ok(&["--context", "default", "ps", "-a", "-q"]).is_empty());
}
