//! Where only `ferry` was built (`cargo run` builds just that binary),
//! monitors run as its hidden `__monitor` subcommand instead of the small
//! `ferry-monitor`: a `ferry` with no `ferry-monitor` beside it must run
//! workloads just the same.

use std::path::PathBuf;

use ferry_conformance::Target;

/// `ferry`, hard-linked (or copied) alone into a directory of its own.
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
    Target::local(bin.to_str().unwrap())
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
