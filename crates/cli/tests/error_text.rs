//! How errors and log lines read when stderr is not a terminal (a file, a
//! pipe, CI): each cause said once, and no colour codes.

use ferry_conformance::{describe, Ferry, Target};

/// A Slurm context on a machine without `sbatch`: the error names the
/// program and the system's reason, once.
#[test]
fn a_missing_program_is_said_once() {
    let mut target = Target::local(env!("CARGO_BIN_EXE_ferry"));
    target.env.push(("PATH".into(), "/nonexistent".into()));
    let f = Ferry::new(&target);
    f.ok(&["context", "create", "hpc", "--runtime", "slurm"]);
    let out = f.run(&["--context", "hpc", "run", "-d", f.workload("exit-zero").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot run sbatch: No such file or directory (os error 2)"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

/// A Docker Engine that does not answer: its address and the system's
/// reason, not the HTTP client's "client error (Connect)".
#[test]
fn an_unreachable_docker_engine_is_named() {
    let f = Ferry::new(&Target::local(env!("CARGO_BIN_EXE_ferry")));
    // Port 1 on the loopback: refused at once, no daemon needed.
    f.ok(&["context", "create", "dock", "--runtime", "docker", "--docker-host", "tcp://127.0.0.1:1"]);
    let file = f.work_dir().join("web.yaml");
    std::fs::write(&file, "name: web\nimage: busybox\ncommand: [\"true\"]\n").unwrap();
    let out = f.run(&["--context", "dock", "run", "-d", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tcp://127.0.0.1:1") && err.contains("cannot connect: "), "{err}");
    assert!(!err.contains("hyper"), "{err}");
}

/// A warning written to a pipe carries no ANSI colour codes.
#[test]
fn log_lines_to_a_pipe_have_no_colour_codes() {
    let f = Ferry::new(&Target::local(env!("CARGO_BIN_EXE_ferry")));
    f.ok(&["context", "create", "second", "--runtime", "local"]);
    let id = f.start(&f.workload("ticker"), &["--context", "second"]);
    // The context's file is lost: `ps` warns that it cannot refresh the workload.
    std::fs::remove_file(f.config_dir().join("ferry/contexts/second.toml")).unwrap();
    let out = f.run(&["ps"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WARN") && err.contains("cannot refresh ticker"), "{}", describe(&out));
    assert!(!err.contains('\u{1b}'), "colour codes in a pipe: {err:?}");
    f.ok(&["context", "create", "second", "--runtime", "local"]);
    f.ok(&["rm", "--force", &id]);
}
