//! The Slurm runtime over ssh, for real: the sshd on 127.0.0.1:2222 that
//! scripts/services/50-slurm.sh starts acts as the login node of the local
//! cluster. Key auth (user ferrykey, generated key) runs a part of the conformance
//! suite, including bindings staged with rsync and copied back; password auth
//! (user ferrypw, password only in a file) goes through the askpass helper.
//!
//! Set FERRY_SKIP_SLURM_TESTS=1 to skip on a machine without the services.

use std::path::PathBuf;

use ferry_conformance::{describe, Ferry, Target};

const KEY: &str = "/var/lib/ferry-test/ssh/id_ed25519";
const PW_FILE: &str = "/var/lib/ferry-test/ssh/ferrypw.password";

fn skipping(test: &str) -> bool {
    if std::env::var("FERRY_SKIP_SLURM_TESTS").as_deref() == Ok("1") {
        println!("{test}: skipped (FERRY_SKIP_SLURM_TESTS=1)");
        ferry_core::skip_log::append(&format!("slurm_ssh::{test}: skipped (FERRY_SKIP_SLURM_TESTS=1)"));
        return true;
    }
    for p in [KEY, PW_FILE] {
        assert!(
            PathBuf::from(p).exists(),
            "{p} is missing: run scripts/services/50-slurm.sh (or set FERRY_SKIP_SLURM_TESTS=1)"
        );
    }
    false
}

/// An ssh_config naming the test key; host keys of the throwaway sshd are not pinned.
fn ssh_config() -> PathBuf {
    let path = std::env::temp_dir().join(format!("ferry-slurm-test-ssh_config-{}", std::process::id()));
    let text = format!(
        "Host 127.0.0.1\n  IdentityFile {KEY}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
    );
    // Written once per process, atomically: ssh of a parallel test may be reading it.
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        let tmp = path.with_extension(format!("tmp{:?}", std::thread::current().id()).replace(['(', ')'], ""));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// Removes a test's job root on the "cluster" (same machine) when dropped.
struct RemoteRoot(Option<PathBuf>);

impl Drop for RemoteRoot {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

fn target(user: &str, extra: &[&str]) -> Target {
    target_with_root(user, extra).0
}

fn target_with_root(user: &str, extra: &[&str]) -> (Target, RemoteRoot) {
    let mut context_args: Vec<String> =
        ["--runtime", "slurm", "--ssh", &format!("{user}@127.0.0.1:2222")].iter().map(|s| s.to_string()).collect();
    let mut root_dir = None;
    if user == "ferrykey" {
        // Each test its own job root on the "cluster", as each has its own
        // data dir: re-discovery must not see the other tests' jobs.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("ferry-slurm-ssh-test-{}-{n}", std::process::id()));
        context_args.extend(["--workdir-root".to_string(), root.display().to_string()]);
        root_dir = Some(root);
    }
    context_args.extend(extra.iter().map(|s| s.to_string()));
    let target = Target {
        bin: env!("CARGO_BIN_EXE_ferry").into(),
        context_args,
        image: None,
        unsupported: vec!["oom", "stats"],
        // `ferry ps` opens the shared ssh connection (ControlPersist), as a
        // user's first command would; timing assertions then measure Ferry,
        // not the ssh handshake on a loaded machine.
        setup: vec![vec!["ps".into()]],
        env: vec![("FERRY_SSH_CONFIG".into(), ssh_config().display().to_string())],
    };
    (target, RemoteRoot(root_dir))
}

macro_rules! over_key_ssh {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                if skipping(stringify!($case)) {
                    return;
                }
                let (target, _root) = target_with_root("ferrykey", &[]);
                ferry_conformance::$case(&target);
            }
        )*
    };
}

// The cases that exercise every remote path: submission, staging in and
// back, status, logs (history and follow), stop, pause, re-discovery.
over_key_ssh!(
    exit_zero,
    exit_one,
    exit_137,
    env_and_args,
    io_bindings,
    retries,
    logs_10k_lines,
    logs_follow,
    stop_kills_after_grace,
    exit_recorded_after_cli_left,
    rediscovered_after_store_loss,
    rm_forgets,
    refusals_leave_nothing
);

/// An ordinary cluster user may not suspend a running job: `ferry pause`
/// says so clearly. A pending job is held instead, and released by resume.
#[test]
fn pause_without_operator_rights() {
    if skipping("pause_without_operator_rights") {
        return;
    }
    let (target, _root) = target_with_root("ferrykey", &[]);
    let f = Ferry::new(&target);
    let id = f.start(&f.workload("ticker"), &[]);
    f.wait_logs(&id, std::time::Duration::from_secs(60), |o| o.contains("tick 2"));
    let out = f.run(&["pause", &id]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not permit") && err.contains("permission denied"), "{err}");
    assert_eq!(f.state(&id), "running");
    f.ok(&["stop", "-t", "2", &id]);

    let file = f.work_dir().join("later.yaml");
    std::fs::write(&file, "name: later\ncommand: [\"true\"]\nruntime: {slurm: {extra: [\"--begin=now+3600\"]}}\n")
        .unwrap();
    let id = f.start(&file, &[]);
    assert_eq!(f.state(&id), "pending");
    f.ok(&["pause", &id]);
    assert_eq!(f.state(&id), "paused");
    f.ok(&["resume", &id]);
    assert_eq!(f.state(&id), "pending");
    f.ok(&["stop", &id]);
    assert_eq!(f.state(&id), "cancelled");
}

/// One connection is reused: the control socket lives in Ferry's data dir.
#[test]
fn ssh_connection_is_shared() {
    if skipping("ssh_connection_is_shared") {
        return;
    }
    let (target, _root) = target_with_root("ferrykey", &[]);
    let f = Ferry::new(&target);
    f.ok(&["run", f.workload("exit-zero").to_str().unwrap()]);
    let control = f.data_dir().join("ferry/slurm/ssh");
    let sockets: Vec<_> = std::fs::read_dir(&control)
        .unwrap_or_else(|e| panic!("{}: {e}", control.display()))
        .flatten()
        .filter(|e| {
            e.file_type()
                .map(|t| {
                    use std::os::unix::fs::FileTypeExt;
                    t.is_socket()
                })
                .unwrap_or(false)
        })
        .collect();
    assert_eq!(sockets.len(), 1, "expected one ssh control socket in {}", control.display());
}

/// Password-only login: the askpass helper reads the file; the password is
/// never stored by Ferry nor shown.
#[test]
fn password_auth_through_askpass() {
    if skipping("password_auth_through_askpass") {
        return;
    }
    let f = Ferry::new(&target("ferrypw", &["--password-file", PW_FILE]));
    let out = f.run(&["run", f.workload("exit-zero").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from ferry\n");
    let password = std::fs::read_to_string(PW_FILE).unwrap();
    let password = password.trim();
    let shown = f.ok(&["context", "show", "-o", "json"]) + &f.ok(&["inspect", "exit-zero"]);
    assert!(!shown.contains(password), "the password leaked into ferry's output");
    for dir in [f.data_dir()] {
        for entry in walk(dir) {
            let bytes = std::fs::read(&entry).unwrap_or_default();
            assert!(
                !bytes.windows(password.len()).any(|w| w == password.as_bytes()),
                "password stored in {}",
                entry.display()
            );
        }
    }
    // A wrong password fails with ssh's own message, not a hang.
    let wrong = std::env::temp_dir().join("ferry-slurm-test-wrong-password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let mut wrong_target = target("ferrypw", &["--password-file", wrong.to_str().unwrap()]);
    wrong_target.setup.clear();
    let g = Ferry::new(&wrong_target);
    let out = g.run(&["run", g.workload("exit-zero").to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ssh"), "{}", describe(&out));
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => out.extend(walk(&p)),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
    out
}
