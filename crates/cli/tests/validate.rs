//! `ferry validate` reports every problem of a file in one pass, in the
//! order of the file, so that one round of fixes is enough.

use std::process::Command;

/// Five mistakes of five kinds: a YAML-typed one, an unknown field, one inside
/// a list, a rule checked after parsing, and `ports` on a job.
const FIVE_MISTAKES: &str = "\
name: train
command: [python, train.py]
nodes: two
resources: {memroy: 4Gi}
env: {9LIVES: x}
ports:
  - {name: web, port: 8080}
volumes: [data]
";

#[test]
fn validate_reports_every_problem_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ferry.yaml");
    std::fs::write(&file, FIVE_MISTAKES).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry")).arg("validate").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&*file.to_string_lossy(), "ferry.yaml");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            r#"ferry.yaml:3:8: nodes: expected a whole number (0 or more), got "two""#,
            r#"ferry.yaml:4:13: resources.memroy: unknown field "memroy", did you mean "memory"?"#,
            r#"ferry.yaml:5:7: env.9LIVES: "9LIVES" is not a valid environment variable name: use letters, digits and '_', not starting with a digit"#,
            "ferry.yaml:6:1: ports: ports are published only for `kind: service`: a job runs to completion and nobody connects to it (set `kind: service`, or remove `ports`)",
            r#"ferry.yaml:8:1: volumes: unknown field "volumes"; valid fields are: name, kind, image, command, run, workdir, env, resources, nodes, tasks_per_node, mpi, ports, inputs, outputs, pass_io_as, retries, timeout, build, runtime"#,
            "ferry.yaml: 5 problems",
        ],
        "{stderr}"
    );
}

#[test]
fn a_valid_file_is_ok_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ferry.yaml");
    std::fs::write(&file, "name: web\nkind: service\ncommand: [httpd]\nports: [{name: web, port: 8080}]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry")).arg("validate").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
