//! Running `ferry` in isolation and reading its answers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// A runtime under test: how to make its context and what it cannot do.
#[derive(Debug, Clone)]
pub struct Target {
    /// The `ferry` binary.
    pub bin: PathBuf,
    /// Arguments of `ferry context create conformance …` (empty: use `default`).
    pub context_args: Vec<String>,
    /// Image to add to every workload (container runtimes); `None` for host processes.
    pub image: Option<String>,
    /// Operations this runtime does not support by design, e.g. `["pause"]`.
    /// Consulted: "pause" and "stats" (the case then expects the clear "not
    /// supported" error), "oom" (the case is not applicable: no memory
    /// enforcement, e.g. Slurm without cgroup task/proctrack plugins),
    /// "host-paths" (inputs and outputs cannot be host directories, e.g. on a
    /// cluster: the case expects the clear refusal), "stderr" (one log holds
    /// both streams, as a kubelet's: stderr's lines arrive on stdout).
    pub unsupported: Vec<&'static str>,
    /// `ferry` invocations run in every fresh installation after the context
    /// is created (e.g. `["image", "pull", "localhost:5000/busybox:1"]`).
    pub setup: Vec<Vec<String>>,
    /// Extra environment for every `ferry` invocation (e.g. `DOCKER_HOST`).
    pub env: Vec<(String, String)>,
}

impl Target {
    /// The local runtime on the built-in default context.
    pub fn local(bin: &str) -> Target {
        Target {
            bin: bin.into(),
            context_args: Vec::new(),
            image: None,
            unsupported: Vec::new(),
            setup: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn supports(&self, op: &str) -> bool {
        !self.unsupported.contains(&op)
    }
}

/// One isolated Ferry installation: its own config, data and work directories.
pub struct Ferry {
    pub target: Target,
    config: TempDir,
    data: TempDir,
    work: TempDir,
}

/// Workload files of the suite, embedded so the suite works from any directory.
fn workload_source(name: &str) -> &'static str {
    macro_rules! files {
        ($($f:literal),*) => {
            match name {
                $($f => include_str!(concat!("../workloads/", $f, ".yaml")),)*
                other => panic!("no conformance workload {other:?}"),
            }
        };
    }
    files!(
        "exit-zero",
        "exit-one",
        "exit-137",
        "env-args",
        "io-bindings",
        "oom",
        "timeout",
        "logs-10k",
        "ticker",
        "stubborn",
        "slow-exit",
        "retries",
        "busy",
        "bad-field"
    )
}

impl Ferry {
    pub fn new(target: &Target) -> Ferry {
        let f = Ferry {
            target: target.clone(),
            config: TempDir::new().expect("temp dir"),
            data: TempDir::new().expect("temp dir"),
            work: TempDir::new().expect("temp dir"),
        };
        if !target.context_args.is_empty() {
            let mut args = vec!["context", "create", "conformance", "--use"];
            args.extend(target.context_args.iter().map(String::as_str));
            f.ok(&args);
        }
        for cmd in &target.setup {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            f.ok(&args);
        }
        f
    }

    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// `$XDG_CONFIG_HOME` of this installation (contexts live in `ferry/contexts/`).
    pub fn config_dir(&self) -> &Path {
        self.config.path()
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Delete the state store, as a lost disk or a new machine would.
    pub fn lose_store(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(self.data_dir().join(format!("ferry/state.db{suffix}")));
        }
    }

    /// Copy suite workload `name` into the work dir (adding the target's
    /// image) and return its path.
    pub fn workload(&self, name: &str) -> PathBuf {
        let mut src = String::new();
        if let Some(image) = &self.target.image {
            src.push_str(&format!("image: {image}\n"));
        }
        src.push_str(workload_source(name));
        let path = self.work.path().join(format!("{name}.yaml"));
        std::fs::write(&path, src).expect("write workload");
        path
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.target.bin);
        c.args(args)
            .current_dir(self.work.path())
            .env("XDG_CONFIG_HOME", self.config.path())
            .env("XDG_DATA_HOME", self.data.path())
            .env_remove("FERRY_CONTEXT")
            .envs(self.target.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    /// Run ferry to completion (bounded by two minutes), reading its output
    /// as it comes so a large output cannot block it on a full pipe.
    pub fn run(&self, args: &[&str]) -> Output {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.target.bin.display()));
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(out) => out.expect("collect ferry output"),
            Err(_) => {
                // SAFETY: plain kill(2) on the child we spawned.
                unsafe { libc_kill(pid as i32) };
                panic!("ferry {args:?} did not finish in 2 minutes");
            }
        }
    }

    /// Run ferry and require exit code 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "ferry {args:?} failed: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ferry run -d FILE`; returns the workload id.
    pub fn start(&self, file: &Path, extra: &[&str]) -> String {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(extra);
        let file = file.to_str().expect("utf-8 path");
        args.push(file);
        let id = self.ok(&args).trim().to_string();
        assert_eq!(id.len(), 32, "run -d should print the id, got {id:?}");
        id
    }

    /// `ferry inspect` as JSON.
    pub fn inspect(&self, query: &str) -> Value {
        let out = self.ok(&["inspect", query]);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect is not JSON ({e}): {out}"));
        v[0].clone()
    }

    pub fn state(&self, query: &str) -> String {
        self.inspect(query)["status"]["state"].as_str().unwrap_or_default().to_string()
    }

    /// Poll until the workload's state is `want` (or any terminal state if
    /// `want` is "ended"); panics after `timeout` naming what it saw.
    pub fn wait_state(&self, query: &str, want: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.inspect(query);
            let state = v["status"]["state"].as_str().unwrap_or_default();
            let ended = matches!(state, "succeeded" | "failed" | "cancelled");
            if state == want || (want == "ended" && ended) {
                return v;
            }
            if ended || Instant::now() > deadline {
                panic!("workload {query}: waited for {want}, got {}", v["status"]);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Poll `logs` until `pred` holds on its stdout.
    pub fn wait_logs(&self, query: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.ok(&["logs", query]);
            if pred(&out) {
                return out;
            }
            assert!(Instant::now() < deadline, "logs of {query} never matched; last output:\n{out}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A case leaves nothing in the runtime behind (containers, jobs, pods): whatever
/// this installation still knows is removed with `rm --force`, pass or fail. The
/// runtime's own re-discovery (`ps -a` after a lost store) finds what the store forgot.
impl Drop for Ferry {
    fn drop(&mut self) {
        let Ok(out) = self.command(&["ps", "-a", "-q"]).output() else { return };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
        if ids.is_empty() {
            return;
        }
        let mut args = vec!["rm", "--force"];
        args.extend(ids.iter().map(String::as_str));
        let _ = self.command(&args).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// SIGKILL without pulling in a libc crate for one call.
unsafe fn libc_kill(pid: i32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    kill(pid, 9);
}

/// Record a case that cannot hold for a target by design, so the run's
/// closing count of skipped tests includes it (see scripts/test).
pub fn not_applicable(case: &str, why: &str) {
    let line = format!("conformance::{case}: not applicable ({why})");
    eprintln!("{line}");
    if let Ok(path) = std::env::var("FERRY_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }
}
