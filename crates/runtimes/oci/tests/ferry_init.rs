//! `ferry-init`, the pid 1 of every OCI container, run directly on the host:
//! exit codes, the PATH lookup, errors, signal forwarding, and (as pid 1 of a
//! new pid namespace, which needs root and `unshare`) reaping orphans.
//! The conformance suite covers it again inside real containers. The aarch64
//! build is compiled with `aarch64-linux-gnu-gcc` and run under `qemu-aarch64`
//! (both installed by scripts/test).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Held while a test writes an executable and while one starts a process:
/// a process forked while another thread still has a file open for writing
/// holds it open until its exec, and exec'ing that file then fails with
/// ETXTBSY ("text file busy").
static FILES_AND_FORKS: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    FILES_AND_FORKS.lock().unwrap_or_else(|p| p.into_inner())
}

fn output(c: &mut Command) -> Output {
    let child = spawn(c.stdout(Stdio::piped()).stderr(Stdio::piped()));
    child.wait_with_output().unwrap()
}

fn spawn(c: &mut Command) -> Child {
    let _held = lock();
    c.spawn().unwrap()
}

struct Init {
    dir: tempfile::TempDir,
}

impl Init {
    fn new() -> Init {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock();
        std::fs::write(dir.path().join("ferry-init"), ferry_oci::FERRY_INIT).unwrap();
        std::fs::set_permissions(dir.path().join("ferry-init"), std::fs::Permissions::from_mode(0o755)).unwrap();
        Init { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("ferry-init")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.path());
        c.args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        output(&mut self.command(args))
    }

    /// A file named `name` in a directory of its own, with `body` and `mode`.
    fn file_in_own_dir(&self, dir: &str, name: &str, body: &str, mode: u32) -> PathBuf {
        let d = self.dir.path().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let _held = lock();
        std::fs::write(d.join(name), body).unwrap();
        std::fs::set_permissions(d.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
        d
    }
}

/// Run as pid 1's program, it leaves an orphan and counts the zombies: the
/// subshell exits at once, so its `sleep` is re-parented to pid 1 and exits
/// 0.1 s later; after 0.6 s none may be left.
const ORPHAN_SCRIPT: &str = r#"(sleep 0.1 &); sleep 0.6; grep -l '^State:[[:space:]]*Z' /proc/[0-9]*/status | wc -l"#;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn exit_codes_and_signals_pass_through() {
    let init = Init::new();
    assert_eq!(init.run(&["/bin/sh", "-c", "exit 3"]).status.code(), Some(3));
    assert_eq!(init.run(&["sh", "-c", "exit 0"]).status.code(), Some(0));
    let killed = init.run(&["sh", "-c", "kill -9 $$"]);
    assert_eq!(killed.status.code(), Some(137), "{}", stderr(&killed));
    // tini's calling convention.
    assert_eq!(init.run(&["--", "sh", "-c", "exit 4"]).status.code(), Some(4));
}

#[test]
fn arguments_environment_and_output_arrive_unchanged() {
    let init = Init::new();
    let out = output(
        init.command(&["sh", "-c", "printf '%s|' \"$@\"; printf '%s' \"$FERRY_TEST_VALUE\"", "sh", "a b", "", "c'd"])
            .env("FERRY_TEST_VALUE", "x=y z"),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a b||c'd|x=y z");
}

#[test]
fn the_program_is_looked_up_in_path() {
    let init = Init::new();
    let found = init.file_in_own_dir("bin", "ferry-test-prog", "#!/bin/sh\nexit 7\n", 0o755);
    let path = format!("/nonexistent:{}:/usr/bin:/bin", found.display());
    let out = output(init.command(&["ferry-test-prog"]).env("PATH", &path));
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    // A directory where the name is not executable does not stop the search.
    let denied = init.file_in_own_dir("denied", "ferry-test-prog", "#!/bin/sh\nexit 1\n", 0o644);
    let path = format!("{}:{}", denied.display(), found.display());
    let out = output(init.command(&["ferry-test-prog"]).env("PATH", &path));
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
}

#[test]
fn a_program_that_cannot_start_is_127_or_126_with_a_message() {
    let init = Init::new();
    let out = output(init.command(&["ferry-no-such-program"]).env("PATH", "/usr/bin:/bin"));
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(stderr(&out), "ferry-init: cannot run ferry-no-such-program: not found\n");

    let out = init.run(&["/nonexistent/prog"]);
    assert_eq!(out.status.code(), Some(127));

    // Found in PATH but not executable: 126, as a shell says.
    let dir = init.file_in_own_dir("noexec", "ferry-test-data", "data\n", 0o644);
    let out = output(init.command(&["ferry-test-data"]).env("PATH", &dir));
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert_eq!(stderr(&out), "ferry-init: cannot run ferry-test-data: not executable\n");
    // Executable bits on something that is no program.
    let dir = init.file_in_own_dir("noformat", "garbage", "\x01\x02\x03 not an executable\n", 0o755);
    let out = init.run(&[dir.join("garbage").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));

    let out = init.run(&[]);
    assert_eq!(out.status.code(), Some(127));
    assert!(stderr(&out).contains("usage: ferry-init"), "{}", stderr(&out));
}

#[test]
fn signals_to_init_are_forwarded_to_the_program() {
    let init = Init::new();
    let mut child = spawn(
        init.command(&["sh", "-c", "trap 'echo got TERM; exit 5' TERM; echo ready; while :; do sleep 0.05; done"])
            .stdout(Stdio::piped())
            .process_group(0),
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("SIGTERM to ferry-init did not reach the program within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got TERM\n");
    assert_eq!(status.code(), Some(5));
}

/// As pid 1 of a pid namespace (as in a container), ferry-init inherits
/// every orphan and must reap it, or zombies pile up.
#[test]
fn as_pid_1_it_reaps_orphans() {
    let init = Init::new();
    let out = output(Command::new("unshare").args(["--fork", "--pid", "--mount-proc"]).arg(init.path()).args([
        "sh",
        "-c",
        ORPHAN_SCRIPT,
    ]));
    assert!(out.status.success(), "unshare --pid needs root: {}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "zombies left behind");
}

#[test]
fn it_needs_no_c_library() {
    let init = Init::new();
    // No PT_INTERP, no dynamic section: it starts in an image without libc.
    let out = output(Command::new("readelf").args(["-lW"]).arg(init.path()));
    assert!(out.status.success(), "{}", stderr(&out));
    let headers = String::from_utf8_lossy(&out.stdout);
    assert!(!headers.contains("INTERP") && !headers.contains("DYNAMIC"), "ferry-init is not static:\n{headers}");
    let size = std::fs::metadata(init.path()).unwrap().len();
    assert!(size < 64 * 1024, "ferry-init is {size} bytes: is a C library linked in?");
}

/// The aarch64 build, compiled from the same source with the flags build.rs
/// uses and run under qemu-user: exit codes, signals, the PATH lookup,
/// errors and orphans. (qemu-user runs a vfork as a fork, which is why the
/// child, not shared memory, reports a failed exec.)
#[test]
fn the_aarch64_build_behaves_the_same_under_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("ferry-init-aarch64");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/init/ferry-init.c");
    let built = {
        let _held = lock();
        let flags = include_str!("../init/cflags").split_whitespace();
        Command::new("aarch64-linux-gnu-gcc").args(flags).arg("-o").arg(&bin).arg(src).output()
    };
    let built = built.expect("aarch64-linux-gnu-gcc (Debian package gcc-aarch64-linux-gnu; scripts/test installs it)");
    assert!(built.status.success(), "{}", stderr(&built));
    let qemu = |args: &[&str]| {
        let mut c = Command::new("qemu-aarch64");
        c.arg(&bin).args(args);
        c
    };
    let status = |args: &[&str]| output(&mut qemu(args)).status.code();
    assert_eq!(status(&["sh", "-c", "exit 3"]), Some(3), "qemu-aarch64 (Debian package qemu-user) runs it");
    assert_eq!(status(&["sh", "-c", "kill -9 $$"]), Some(137));
    assert_eq!(status(&["--", "sh", "-c", "exit 4"]), Some(4));
    assert_eq!(status(&[]), Some(127));
    let out = output(qemu(&["ferry-no-such-program"]).env("PATH", "/usr/bin:/bin"));
    assert_eq!(
        (out.status.code(), stderr(&out).as_str()),
        (Some(127), "ferry-init: cannot run ferry-no-such-program: not found\n")
    );
    assert_eq!(status(&["/etc/passwd"]), Some(126));
    let out = output(&mut qemu(&[
        "sh",
        "-c",
        "trap 'echo got TERM; exit 5' TERM; kill -TERM $PPID; while :; do sleep 0.05; done",
    ]));
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).as_ref()), (Some(5), "got TERM\n"));
    let out =
        output(Command::new("unshare").args(["--fork", "--pid", "--mount-proc", "qemu-aarch64"]).arg(&bin).args([
            "sh",
            "-c",
            ORPHAN_SCRIPT,
        ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "zombies left behind: {}", stderr(&out));
}
