//! OCI runtime behaviour beyond the conformance suite: which runtime binary
//! is chosen and why (with a real `nvidia-container-runtime` wrapper that
//! execs runc), the image store round trip through the real local registry,
//! `ferry doctor`, and checkpoint/restore (run where `criu check` passes,
//! recorded as skipped elsewhere). They need runc, crun and the registry and
//! fail loudly without them, unless FERRY_SKIP_OCI_TESTS=1.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ferry_conformance::describe;
use serde_json::Value;
use tempfile::TempDir;

fn registry() -> String {
    std::env::var("FERRY_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into())
}

fn test_image() -> String {
    std::env::var("FERRY_OCI_TEST_IMAGE").unwrap_or_else(|_| format!("{}/ferry-test/busybox:1", registry()))
}

/// One isolated Ferry installation with an oci context.
struct Install {
    config: TempDir,
    data: TempDir,
    work: TempDir,
    path: String,
    env: Vec<(String, String)>,
}

impl Install {
    fn new(context_args: &[&str]) -> Install {
        let i = Install {
            config: TempDir::new().unwrap(),
            data: TempDir::new().unwrap(),
            work: TempDir::new().unwrap(),
            path: std::env::var("PATH").unwrap_or_default(),
            env: Vec::new(),
        };
        let mut args = vec!["context", "create", "t", "--use", "--runtime", "oci"];
        args.extend_from_slice(context_args);
        i.ok(&args);
        i
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
        c.args(args)
            .current_dir(self.work.path())
            .env("XDG_CONFIG_HOME", self.config.path())
            .env("XDG_DATA_HOME", self.data.path())
            .env("PATH", &self.path)
            .env_remove("FERRY_CONTEXT")
            .env_remove("FERRY_OCI_RUNTIME")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ferry")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "ferry {args:?} failed: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn workload(&self, name: &str, body: &str) -> PathBuf {
        let p = self.work.path().join(format!("{name}.yaml"));
        std::fs::write(&p, format!("image: {}\nname: {name}\n{body}", test_image())).unwrap();
        p
    }

    fn inspect(&self, q: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["inspect", q])).unwrap();
        v[0].clone()
    }
}

/// FERRY_SKIP_OCI_TESTS=1: record the test as skipped instead of failing
/// for lack of runc/crun/the registry.
fn skip_requested(test: &str) -> bool {
    let skip_it = std::env::var("FERRY_SKIP_OCI_TESTS").is_ok_and(|v| v == "1");
    if skip_it {
        skip(test, "FERRY_SKIP_OCI_TESTS=1");
    }
    skip_it
}

fn skip(test: &str, why: &str) {
    println!("{test}: skipped ({why})");
    ferry_core::skip_log::append(&format!("{test}: skipped ({why})"));
}

/// An installation with an oci context made with `context_args` and the
/// test image pulled; `None` when the test is skipped on request.
fn install_with_image(test: &str, context_args: &[&str]) -> Option<Install> {
    if skip_requested(test) {
        return None;
    }
    let f = Install::new(context_args);
    f.ok(&["image", "pull", &test_image()]);
    Some(f)
}

/// A directory holding an executable `nvidia-container-runtime` that records
/// its arguments in `calls.log` next to itself and execs runc.
fn nvidia_wrapper() -> TempDir {
    let d = TempDir::new().unwrap();
    let script = d.path().join("nvidia-container-runtime");
    std::fs::write(&script, "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$(dirname \"$0\")/calls.log\"\nexec runc \"$@\"\n")
        .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

#[test]
fn gpu_workloads_run_with_nvidia_container_runtime_found_on_path() {
    if skip_requested("gpu_workloads_run_with_nvidia_container_runtime_found_on_path") {
        return;
    }
    let wrapper = nvidia_wrapper();
    let mut f = Install::new(&[]);
    f.path = format!("{}:{}", wrapper.path().display(), f.path);
    f.ok(&["image", "pull", &test_image()]);
    let file =
        f.workload("gpu", "resources: {gpus: 1}\ncommand: [\"sh\", \"-c\", \"echo gpu=$NVIDIA_VISIBLE_DEVICES\"]\n");
    let out = f.run(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "gpu=all\n");
    let v = f.inspect("gpu");
    let details = &v["handle"]["details"];
    assert_eq!(details["oci_runtime"], wrapper.path().join("nvidia-container-runtime").to_str().unwrap(), "{v}");
    let reason = details["oci_runtime_reason"].as_str().unwrap();
    assert!(reason.contains("requests GPUs") && reason.contains("PATH"), "{reason}");
    let calls = std::fs::read_to_string(wrapper.path().join("calls.log")).expect("the wrapper was never called");
    assert!(calls.lines().any(|l| l.contains(" run ") && l.contains("--bundle")), "{calls}");
    // A script is run as it is (its interpreter could not open a sealed copy).
    assert!(!Path::new(details["dir"].as_str().unwrap()).join("exe").exists(), "{v}");

    // Without GPUs the wrapper is not chosen, even though it is on PATH.
    let file = f.workload("cpu", "command: [\"true\"]\n");
    f.ok(&["run", file.to_str().unwrap()]);
    let v = f.inspect("cpu");
    assert!(v["handle"]["details"]["oci_runtime"].as_str().unwrap().ends_with("/crun"), "{v}");
}

#[test]
fn gpus_without_a_gpu_runtime_are_refused_clearly() {
    if skip_requested("gpus_without_a_gpu_runtime_are_refused_clearly") {
        return;
    }
    if Path::new("/usr/bin/nvidia-container-runtime").exists()
        || Path::new("/usr/local/nvidia/toolkit/nvidia-container-runtime").exists()
    {
        skip("gpus_without_a_gpu_runtime_are_refused_clearly", "this host has a GPU runtime installed");
        return;
    }
    let f = Install::new(&[]);
    f.ok(&["image", "pull", &test_image()]);
    let file = f.workload("gpu", "resources: {gpus: 1}\ncommand: [\"true\"]\n");
    let out = f.run(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("requests GPUs") && err.contains("nvidia-container-runtime"), "{err}");
}

/// A GPU request is refused, not run on the CPU, when the runtime was named
/// (context setting or FERRY_OCI_RUNTIME) and is not a GPU runtime; naming
/// the GPU runtime itself works.
#[test]
fn gpus_with_an_explicitly_named_cpu_runtime_are_refused() {
    let Some(mut f) =
        install_with_image("gpus_with_an_explicitly_named_cpu_runtime_are_refused", &["--oci-runtime", "runc"])
    else {
        return;
    };
    let gpu_job = "resources: {gpus: 1}\ncommand: [\"sh\", \"-c\", \"echo ran on cpu\"]\n";
    let file = f.workload("gpu", gpu_job);
    for (env, named) in [(None, "context's oci_runtime"), (Some("crun"), "FERRY_OCI_RUNTIME")] {
        f.env = env.map(|v| ("FERRY_OCI_RUNTIME".to_string(), v.to_string())).into_iter().collect();
        let out = f.run(&["run", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("requests GPUs") && err.contains(named), "{err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("ran on cpu"), "{}", describe(&out));
    }
    let wrapper = nvidia_wrapper();
    let runtime = wrapper.path().join("nvidia-container-runtime");
    f.env = vec![("FERRY_OCI_RUNTIME".into(), runtime.to_string_lossy().into_owned())];
    f.ok(&["run", "--name", "named-gpu", file.to_str().unwrap()]);
    assert_eq!(f.inspect("named-gpu")["handle"]["details"]["oci_runtime"], runtime.to_str().unwrap());
}

/// A service with `ports:` in a private network would be unreachable: it is
/// refused, naming the way out, and runs in the host's network when asked.
#[test]
fn ports_are_refused_in_a_private_network_and_run_in_the_hosts() {
    let Some(mut f) = install_with_image("ports_are_refused_in_a_private_network_and_run_in_the_hosts", &[]) else {
        return;
    };
    let file = f.workload("web", "kind: service\ncommand: [\"sleep\", \"60\"]\nports: [{name: http, port: 18080}]\n");
    let out = f.run(&["run", "-d", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FERRY_OCI_NETWORK=host"), "{}", describe(&out));
    f.env.push(("FERRY_OCI_NETWORK".into(), "host".into()));
    let id = f.ok(&["run", "-d", "--name", "web-host", file.to_str().unwrap()]);
    f.ok(&["rm", "--force", id.trim()]);
}

#[test]
fn runtime_choice_default_context_setting_and_env_override() {
    if skip_requested("runtime_choice_default_context_setting_and_env_override") {
        return;
    }
    let mut f = Install::new(&[]);
    f.ok(&["image", "pull", &test_image()]);
    let file = f.workload("pick", "command: [\"true\"]\n");
    f.ok(&["run", "--name", "a", file.to_str().unwrap()]);
    let d = f.inspect("a")["handle"]["details"].clone();
    assert!(d["oci_runtime"].as_str().unwrap().ends_with("/crun"), "{d}");
    assert!(d["oci_runtime_reason"].as_str().unwrap().contains("crun is installed"), "{d}");
    // The pre-forked monitor ran crun from its sealed copy, through a link named `crun`.
    let exe = Path::new(d["dir"].as_str().unwrap()).join("exe/crun");
    let link = std::fs::read_link(&exe).expect("the monitor did not run crun from a sealed copy");
    assert!(link.starts_with("/proc/self/fd/"), "{}", link.display());

    f.env.push(("FERRY_OCI_RUNTIME".into(), "runc".into()));
    f.ok(&["run", "--name", "b", file.to_str().unwrap()]);
    let d = f.inspect("b")["handle"]["details"].clone();
    assert!(d["oci_runtime"].as_str().unwrap().ends_with("/runc"), "{d}");
    assert!(d["oci_runtime_reason"].as_str().unwrap().contains("FERRY_OCI_RUNTIME"), "{d}");

    let g = Install::new(&["--oci-runtime", "runc"]);
    g.ok(&["image", "pull", &test_image()]);
    let file = g.workload("pick", "command: [\"true\"]\n");
    g.ok(&["run", file.to_str().unwrap()]);
    let d = g.inspect("pick")["handle"]["details"].clone();
    assert!(d["oci_runtime"].as_str().unwrap().ends_with("/runc"), "{d}");
    assert!(d["oci_runtime_reason"].as_str().unwrap().contains("context"), "{d}");

    f.env[0].1 = "no-such-runtime".into();
    let out = f.run(&["run", "--name", "c", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-runtime"), "{}", describe(&out));
}

/// The container is prepared while the state store opens; a workload whose
/// name turns out to be held by a live one never starts, and what was
/// prepared for it (container directory, mounted overlay) is removed.
#[test]
fn a_refused_name_leaves_no_prepared_container_behind() {
    if skip_requested("a_refused_name_leaves_no_prepared_container_behind") {
        return;
    }
    let f = Install::new(&[]);
    f.ok(&["image", "pull", &test_image()]);
    let file = f.workload("held", "command: [\"sleep\", \"60\"]\n");
    let first = f.ok(&["run", "-d", file.to_str().unwrap()]).trim().to_string();
    let containers = f.data.path().join("ferry/oci/containers");
    let dirs = || {
        std::fs::read_dir(&containers)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(dirs(), vec![first.clone()]);

    let out = f.run(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("still live"), "{}", describe(&out));
    assert_eq!(dirs(), vec![first.clone()], "the refused workload's container was not discarded");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let overlays = mounts.lines().filter(|l| l.contains(containers.to_str().unwrap())).count();
    assert_eq!(overlays, 1, "only the live container's overlay stays mounted:\n{mounts}");
    assert_eq!(f.ok(&["ps", "-a", "-q"]).lines().count(), 1, "the refused workload is not recorded");
    f.ok(&["stop", "-t", "1", &first]);
}

/// An ended container leaves nothing in its runtime: no state under Ferry's
/// runtime root and no cgroup. For runc and crun the monitor forgets it
/// without starting the runtime again (no `delete`, which a wrapper named
/// as the runtime would log), for both the runtime's own state and the
/// cgroups its cgroupfs driver made.
#[test]
fn an_ended_container_leaves_no_runtime_state_or_cgroup() {
    if skip_requested("an_ended_container_leaves_no_runtime_state_or_cgroup") {
        return;
    }
    for runtime in ["crun", "runc"] {
        let wrapper = TempDir::new().unwrap();
        let script = wrapper.path().join(runtime);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$(dirname \"$0\")/calls.log\"\nexec /usr/bin/{runtime} \"$@\"\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = Install::new(&["--oci-runtime", script.to_str().unwrap()]);
        f.ok(&["image", "pull", &test_image()]);
        let file = f.workload("gone", "command: [\"true\"]\n");
        f.ok(&["run", file.to_str().unwrap()]);
        let id = f.ok(&["ps", "-a", "-q"]).trim().to_string();
        let container = format!("ferry-{id}");
        let state = f.data.path().join("ferry/oci/run").join(runtime).join(&container);
        let cgroups = || {
            let dirs =
                std::fs::read_dir("/sys/fs/cgroup").unwrap().map(|e| e.unwrap().path().join("ferry").join(&container));
            dirs.filter(|d| d.exists()).collect::<Vec<_>>()
        };
        // The monitor cleans up after recording the end.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while (state.exists() || !cgroups().is_empty()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!state.exists(), "{runtime}: the runtime's state of {container} is left in {}", state.display());
        assert_eq!(cgroups(), Vec::<PathBuf>::new(), "{runtime}: cgroups left");
        let calls = std::fs::read_to_string(wrapper.path().join("calls.log")).expect("the wrapper was never called");
        assert!(calls.lines().any(|l| l.contains("run --detach")), "{runtime}: {calls}");
        assert!(
            !calls.lines().any(|l| l.contains("delete")),
            "{runtime}: the ended container was deleted through the runtime: {calls}"
        );
        let list =
            Command::new(runtime).arg("--root").arg(state.parent().unwrap()).args(["list", "-q"]).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&list.stdout).contains(&container),
            "{runtime} still lists {container}: {}",
            describe(&list)
        );
    }
}

/// A container gets the runtime's standard devices and no other: the
/// device cgroup starts from "deny all", as Docker's does. Read from inside
/// the container (cgroup v1's `devices.list`; v2 keeps the rules in an eBPF
/// program, which this test cannot read, so it reports itself skipped there).
#[test]
fn containers_get_the_standard_devices_and_no_other() {
    if skip_requested("containers_get_the_standard_devices_and_no_other") {
        return;
    }
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        skip("containers_get_the_standard_devices_and_no_other", "cgroup v2: device rules are an eBPF program");
        return;
    }
    for runtime in ["crun", "runc"] {
        let f = Install::new(&["--oci-runtime", runtime]);
        f.ok(&["image", "pull", &test_image()]);
        let file = f.workload("devices", "command: [\"cat\", \"/sys/fs/cgroup/devices/devices.list\"]\n");
        let out = f.ok(&["run", file.to_str().unwrap()]);
        let rules: Vec<&str> = out.lines().collect();
        assert!(!rules.contains(&"a *:* rwm"), "{runtime}: every device is allowed: {rules:?}");
        assert!(rules.contains(&"c 1:3 rwm"), "{runtime}: /dev/null is not allowed: {rules:?}");
        // Every runtime lets a container mknod (`m`) any node; none may open a disk.
        let open_disk =
            rules.iter().any(|r| r.starts_with("b ") && r.rsplit(' ').next().is_some_and(|a| a.contains(['r', 'w'])));
        assert!(!open_disk, "{runtime}: a block device can be read or written: {rules:?}");
    }
}

/// A docker-archive (as `docker save` writes) of a one-layer busybox image.
fn docker_archive(path: &Path, repo_tag: &str) {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed (scripts/services/30-oci.sh)");
    h.set_size(busybox.len() as u64);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    layer.append_data(&mut h, "bin/busybox", &busybox[..]).unwrap();
    for applet in ["sh", "echo", "cat"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        layer.append_link(&mut h, format!("bin/{applet}"), "busybox").unwrap();
    }
    let layer = layer.into_inner().unwrap();
    let diff_id = {
        let mut child = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), &layer).unwrap();
        let o = child.wait_with_output().unwrap();
        format!("sha256:{}", String::from_utf8_lossy(&o.stdout).split(' ').next().unwrap())
    };
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh", "-c", "echo from the image config"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    })
    .to_string();
    let manifest =
        serde_json::json!([{"Config": "config.json", "RepoTags": [repo_tag], "Layers": ["layer/layer.tar"]}])
            .to_string();
    let mut ar = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, body) in
        [("manifest.json", manifest.as_bytes()), ("config.json", config.as_bytes()), ("layer/layer.tar", &layer[..])]
    {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        ar.append_data(&mut h, name, body).unwrap();
    }
    ar.finish().unwrap();
}

#[test]
fn import_push_pull_run_rm_prune_through_the_registry() {
    if skip_requested("import_push_pull_run_rm_prune_through_the_registry") {
        return;
    }
    let tag = format!("{}/ferry-test/imported:{}", registry(), std::process::id());
    let a = Install::new(&[]);
    let archive = a.work.path().join("image.tar");
    docker_archive(&archive, &tag);
    let out = a.ok(&["image", "import", archive.to_str().unwrap()]);
    assert_eq!(out.trim(), tag);
    let ls: Value = serde_json::from_str(&a.ok(&["image", "ls", "-o", "json"])).unwrap();
    assert_eq!(ls[0]["reference"], tag.as_str(), "{ls}");
    a.ok(&["image", "push", &tag]);

    // A second installation pulls it back from the registry and runs it.
    let b = Install::new(&[]);
    let out = b.ok(&["image", "pull", &tag]);
    assert!(out.starts_with(&tag), "{out}");
    let file = b.work.path().join("w.yaml");
    std::fs::write(&file, format!("image: {tag}\nname: w\nrun: echo from the imported image\n")).unwrap();
    let out = b.run(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from the imported image\n");

    // rm untags and deletes the blobs; prune clears the unpacked layers.
    b.ok(&["rm", "w"]);
    b.ok(&["image", "rm", &tag]);
    let ls: Value = serde_json::from_str(&b.ok(&["image", "ls", "-o", "json"])).unwrap();
    assert_eq!(ls.as_array().unwrap().len(), 0, "{ls}");
    b.ok(&["image", "prune"]);
    let blobs = b.data.path().join("ferry/oci/blobs/sha256");
    assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 0, "blobs left in {}", blobs.display());
    let layers = b.data.path().join("ferry/oci/layers");
    assert_eq!(std::fs::read_dir(&layers).unwrap().count(), 0, "layers left in {}", layers.display());

    // Pulling something that does not exist names the registry and the image.
    let out = b.run(&["image", "pull", &format!("{}/ferry-test/absent:1", registry())]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ferry-test/absent"), "{}", describe(&out));
}

#[test]
fn doctor_reports_runtimes_cgroups_overlay_and_criu() {
    if skip_requested("doctor_reports_runtimes_cgroups_overlay_and_criu") {
        return;
    }
    let f = Install::new(&[]);
    let out = f.run(&["doctor", "-o", "json"]);
    let checks: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    let get = |name: &str| {
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {checks}"))
    };
    for bin in ["crun", "runc"] {
        let c = get(bin);
        assert_eq!(c["ok"], true, "{c}");
        assert!(c["detail"].as_str().unwrap().contains("version"), "{c}");
    }
    assert_eq!(get("runtime choice")["ok"], true);
    assert!(get("cgroups")["detail"].as_str().unwrap().contains('v'), "{checks}");
    let overlay = get("overlayfs");
    assert!(overlay["detail"].as_str().unwrap().len() > 5, "{overlay}");
    let criu = get("criu");
    if criu["ok"] == false {
        assert!(criu["detail"].as_str().unwrap().contains("criu check"), "{criu}");
    }
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn checkpoint_and_restore_with_criu() {
    if skip_requested("checkpoint_and_restore_with_criu") {
        return;
    }
    let f = Install::new(&["--oci-runtime", "runc"]);
    f.ok(&["image", "pull", &test_image()]);
    let file = f.workload(
        "counter",
        "kind: service\nrun: |\n  i=0\n  while true; do i=$((i+1)); echo \"n $i\"; sleep 0.1; done\n",
    );
    let id = f.ok(&["run", "-d", file.to_str().unwrap()]).trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !f.ok(&["logs", &id]).contains("n 3") {
        assert!(std::time::Instant::now() < deadline, "the counter never counted");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let dir = f.work.path().join("ckpt");
    let criu_works = Command::new("criu").arg("check").output().is_ok_and(|o| o.status.success());
    let out = f.run(&["checkpoint", &id, dir.to_str().unwrap()]);
    if !criu_works {
        // The clear error is part of the contract where CRIU cannot work.
        assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("criu check") && err.contains("kernel"), "{err}");
        f.ok(&["stop", "-t", "1", &id]);
        skip("checkpoint_and_restore_with_criu", &format!("`criu check` fails on this machine: {}", err.trim()));
        return;
    }
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(f.inspect(&id)["status"]["state"], "cancelled");
    let restored = f.ok(&["restore", dir.to_str().unwrap()]).trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let logs = f.ok(&["logs", &restored]);
        if logs.lines().count() > 3 {
            let first: u32 = logs.lines().next().unwrap().trim_start_matches("n ").parse().unwrap();
            assert!(first > 3, "the restored counter started over: {logs}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the restored container printed nothing");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    f.ok(&["stop", "-t", "1", &restored]);
}
