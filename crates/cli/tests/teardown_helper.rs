//! The CLI leaves the tear-down of its address space to a helper process
//! (`crates/cli/src/teardown.rs`): one that shares its memory, holds no file
//! of the CLI's, lets no signal run the CLI's handlers, and ends with it.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ferry_conformance::{Ferry, Target};

/// Pids of the processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid …`; comm may hold spaces, so split after it.
        let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else { continue };
        if after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// Whether processes `a` and `b` share one address space (kcmp KCMP_VM).
fn share_memory(a: u32, b: u32) -> bool {
    const KCMP_VM: libc::c_long = 1;
    // SAFETY: kcmp compares two processes' kernel objects; no pointers.
    unsafe { libc::syscall(libc::SYS_kcmp, a as libc::c_long, b as libc::c_long, KCMP_VM, 0, 0) == 0 }
}

fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap_or_default().trim().to_string()
}

#[test]
fn the_cli_hands_its_memory_to_a_helper_that_holds_nothing_else_and_ends_with_it() {
    let f = Ferry::new(&Target::local(env!("CARGO_BIN_EXE_ferry")));
    let file = f.work_dir().join("nap.yaml");
    std::fs::write(&file, "name: nap\ncommand: [\"sh\", \"-c\", \"sleep 1; echo done\"]\n").unwrap();
    let mut cli = f.command(&["run", file.to_str().unwrap()]).stdout(Stdio::piped()).spawn().unwrap();
    let cli_pid = cli.id();

    // The monitor is a child too (a fork, with memory of its own).
    let deadline = Instant::now() + Duration::from_secs(5);
    let helper = loop {
        if let Some(h) = children_of(cli_pid).into_iter().find(|&c| share_memory(cli_pid, c)) {
            break h;
        }
        assert!(Instant::now() < deadline, "no child of ferry shares its memory: {:?}", children_of(cli_pid));
        std::thread::sleep(Duration::from_millis(5));
    };
    // Settle: the helper closes its files and blocks signals as it starts.
    std::thread::sleep(Duration::from_millis(100));
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{helper}/fd")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(fds.len(), 1, "the helper holds only a pidfd of the CLI: {fds:?}");
    let target = std::fs::read_link(&fds[0]).unwrap();
    assert_eq!(target, Path::new("anon_inode:[pidfd]"));
    // Every signal but SIGKILL (9) and SIGSTOP (19), which cannot be blocked.
    let blocked = u64::from_str_radix(&status_field(helper, "SigBlk"), 16).unwrap();
    assert_eq!(blocked | (1 << 8) | (1 << 18), u64::MAX, "blocked signals {blocked:x}");
    // SAFETY: getpriority reads another process's nice value; no pointers.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, helper) };
    assert_eq!(nice, 19, "the helper's tear-down yields to everything else");

    // The workload ran as ever, and the helper ends with the CLI.
    let mut out = String::new();
    cli.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert_eq!(out.trim(), "done");
    assert!(cli.wait().unwrap().success());
    let gone_by = Instant::now() + Duration::from_secs(2);
    while Path::new(&format!("/proc/{helper}")).exists()
        && std::fs::read_to_string(format!("/proc/{helper}/stat")).is_ok_and(|s| !s.contains(") Z "))
    {
        assert!(Instant::now() < gone_by, "the helper outlived the CLI by 2 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}
