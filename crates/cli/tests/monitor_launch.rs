//! How `ferry run` starts a workload's monitor (see `ferry_local::launcher`).
//!
//! By default it forks the monitor as its first act and hands it the
//! workload once that is ready. Otherwise (`FERRY_NO_PREFORK`, or launches
//! without a pre-forked monitor) it execs one: the small `ferry-monitor`, or,
//! where only `ferry` was built (`cargo run` builds just that binary), its
//! hidden `__monitor` subcommand. Both paths must run workloads the same.

use std::path::{Path, PathBuf};

use ferry_conformance::{Ferry, Target};

/// `ferry`, hard-linked (or copied) alone into a directory of its own, with
/// monitors exec'd.
fn lone_ferry() -> Target {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lone-ferry");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("ferry");
    if !bin.exists() {
        let tmp = dir.join(format!("ferry.{}", std::process::id()));
        if std::fs::hard_link(env!("CARGO_BIN_EXE_ferry"), &tmp).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_ferry"), &tmp).unwrap();
        }
        std::fs::rename(&tmp, &bin).unwrap();
    }
    assert!(!dir.join("ferry-monitor").exists());
    let mut target = Target::local(bin.to_str().unwrap());
    target.env.push(("FERRY_NO_PREFORK".into(), "1".into()));
    target
}

/// The command line and name of the monitor of workload `id`, read while it runs.
fn monitor_process(f: &Ferry, id: &str) -> (String, String) {
    let dir = f.data_dir().join("ferry/local").join(id);
    let recorded = std::fs::read_to_string(dir.join("monitor.pid")).unwrap();
    let proc = Path::new("/proc").join(recorded.split_whitespace().next().unwrap());
    let cmdline = std::fs::read(proc.join("cmdline"))
        .unwrap_or_else(|e| panic!("monitor {recorded:?} of a running workload is gone: {e}"));
    let comm = std::fs::read_to_string(proc.join("comm")).unwrap_or_default();
    (String::from_utf8_lossy(&cmdline).replace('\0', " "), comm.trim().to_string())
}

#[test]
fn run_hands_the_workload_to_a_preforked_monitor() {
    let f = Ferry::new(&Target::local(env!("CARGO_BIN_EXE_ferry")));
    let id = f.start(&f.workload("slow-exit"), &[]);
    // The monitor is a copy of the `ferry run` process, not an exec'd
    // monitor, named so that `ps -e` tells it from the CLI.
    let (cmdline, comm) = monitor_process(&f, &id);
    assert!(cmdline.contains(" run -d ") && !cmdline.contains("ferry-monitor"), "{cmdline}");
    assert_eq!(comm, "ferry-monitor");
    // It outlived that CLI and records the end.
    assert_eq!(f.ok(&["wait", &id]).trim(), "3");
    assert_eq!(f.state(&id), "failed");
}

#[test]
fn without_prefork_the_monitor_is_execd() {
    let t = lone_ferry();
    let f = Ferry::new(&t);
    let id = f.start(&f.workload("slow-exit"), &[]);
    let (cmdline, _) = monitor_process(&f, &id);
    assert!(cmdline.contains(" __monitor "), "{cmdline}");
    assert_eq!(f.ok(&["wait", &id]).trim(), "3");
}

#[test]
fn exit_codes_and_output() {
    ferry_conformance::exit_one(&lone_ferry());
    ferry_conformance::env_and_args(&lone_ferry());
}

#[test]
fn exit_recorded_after_cli_left() {
    ferry_conformance::exit_recorded_after_cli_left(&lone_ferry());
}

#[test]
fn stop_graceful() {
    ferry_conformance::stop_graceful(&lone_ferry());
}
