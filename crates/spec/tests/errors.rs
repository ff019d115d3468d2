//! One test per class of mistake, each asserting the exact message a user
//! sees: `file:line:column: field.path: what was expected`.

use std::path::Path;

/// The error message for `src`, which must fail.
fn err(src: &str) -> String {
    match ferry_spec::parse_str(src, Path::new("ferry.yaml")) {
        Ok(w) => panic!("expected an error, parsed {w:?}\n--- source ---\n{src}"),
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1, "unlocated error: {e}");
            e.to_string()
        }
    }
}

/// A valid head to put a mistake after.
const HEAD: &str = "name: x\ncommand: [a]\n";

fn with_head(tail: &str) -> String {
    format!("{HEAD}{tail}")
}

#[test]
fn invalid_yaml_syntax() {
    assert_eq!(
        err("name: x\ncommand: [a]\n  bad: indent\n"),
        "ferry.yaml:3:3: invalid YAML: while parsing a block mapping, did not find expected key"
    );
    assert_eq!(
        err("name: x\ncommand: [a, b\n"),
        "ferry.yaml:3:1: command[2]: invalid YAML: while parsing a flow sequence, expected ',' or ']'"
    );
}

#[test]
fn unknown_field_at_top_level_suggests_closest() {
    assert_eq!(
        err(&with_head("resource:\n  memory: 4Gi\n")),
        r#"ferry.yaml:3:1: resource: unknown field "resource", did you mean "resources"?"#
    );
    assert_eq!(err(&with_head("cmd: [a]\n")), r#"ferry.yaml:3:1: cmd: unknown field "cmd", did you mean "command"?"#);
    assert!(err(&with_head("zzzzzz: 1\n")).starts_with(
        r#"ferry.yaml:3:1: zzzzzz: unknown field "zzzzzz"; valid fields are: name, kind, image, command, run,"#
    ));
}

#[test]
fn unknown_field_at_every_nesting_level() {
    let cases = [
        (
            "resources: {memroy: 1Gi}\n",
            r#"ferry.yaml:3:13: resources.memroy: unknown field "memroy", did you mean "memory"?"#,
        ),
        (
            "ports:\n  - {name: a, prot: 80}\n",
            r#"ferry.yaml:4:15: ports[0].prot: unknown field "prot", did you mean "port"?"#,
        ),
        (
            "inputs:\n  data_dir: {pth: x}\n",
            r#"ferry.yaml:4:14: inputs.data_dir.pth: unknown field "pth", did you mean "path"?"#,
        ),
        (
            "outputs:\n  out: {path: x, mode: rw}\n",
            r#"ferry.yaml:4:18: outputs.out.mode: unknown field "mode"; valid fields are: path"#,
        ),
        (
            "build: {base: x, setpu: []}\n",
            r#"ferry.yaml:3:18: build.setpu: unknown field "setpu", did you mean "setup"?"#,
        ),
        (
            "runtime: {kubernete: {}}\n",
            r#"ferry.yaml:3:11: runtime.kubernete: unknown field "kubernete", did you mean "kubernetes"?"#,
        ),
        (
            "runtime:\n  kubernetes: {namepsace: ml}\n",
            r#"ferry.yaml:4:16: runtime.kubernetes.namepsace: unknown field "namepsace", did you mean "namespace"?"#,
        ),
        (
            "runtime:\n  slurm: {partiton: debug}\n",
            r#"ferry.yaml:4:11: runtime.slurm.partiton: unknown field "partiton", did you mean "partition"?"#,
        ),
        (
            "inputs: {d: {path: x}}\nruntime:\n  kubernetes:\n    volumes: {d: {claim: x}}\n",
            r#"ferry.yaml:6:19: runtime.kubernetes.volumes.d.claim: unknown field "claim", did you mean "pvc"?"#,
        ),
    ];
    for (tail, want) in cases {
        assert_eq!(err(&with_head(tail)), want, "for {tail:?}");
    }
}

#[test]
fn type_errors_speak_plain_words() {
    assert_eq!(
        err(&with_head("nodes: two\n")),
        r#"ferry.yaml:3:8: nodes: expected a whole number (0 or more), got "two""#
    );
    assert_eq!(err(&with_head("nodes: -1\n")), "ferry.yaml:3:8: nodes: expected a whole number (0 or more), got -1");
    assert_eq!(
        err(&with_head("retries: 1.5\n")),
        "ferry.yaml:3:10: retries: expected a whole number (0 or more), got 1.5"
    );
    assert_eq!(
        err(&with_head("retries: '2'\n")),
        r#"ferry.yaml:3:10: retries: expected a whole number (0 or more), got the string "2" (remove the quotes)"#
    );
    assert_eq!(
        err(&with_head("ports: [{name: a, port: 70000}]\n")),
        "ferry.yaml:3:25: ports[0].port: expected a whole number up to 65535, got 70000"
    );
    assert_eq!(
        err(&with_head("resources: {cpus: many}\n")),
        r#"ferry.yaml:3:19: resources.cpus: expected a number, got "many""#
    );
    assert_eq!(err(&with_head("env: {A: [1]}\n")), "ferry.yaml:3:10: env.A: expected a string, got a list");
    assert_eq!(
        err(&with_head("env: [A=1]\n")),
        r#"ferry.yaml:3:6: env: expected a mapping (key: value lines), got a list; write it as a mapping like {NAME: "value"}"#
    );
    assert_eq!(err(&with_head("ports: {}\n")), "ferry.yaml:3:8: ports: expected a list, got a mapping");
    assert_eq!(err("name:\nrun: x\n"), "ferry.yaml:1:5: name: expected a string, got an empty value");
}

#[test]
fn command_as_a_string_gets_a_hint() {
    assert_eq!(
        err("name: x\ncommand: python train.py\n"),
        r#"ferry.yaml:2:10: command: expected a list, got "python train.py"; write it as a list like ["python", "train.py"], or use `run:` for a shell command line"#
    );
}

#[test]
fn binding_as_a_string_gets_a_hint() {
    assert_eq!(
        err(&with_head("inputs:\n  data_dir: workspace/data\n")),
        r#"ferry.yaml:4:13: inputs.data_dir: expected a mapping (key: value lines), got "workspace/data"; write a binding as {path: some/dir}"#
    );
}

#[test]
fn unknown_enum_values() {
    assert_eq!(err(&with_head("kind: batch\n")), r#"ferry.yaml:3:7: kind: expected "job" or "service", got "batch""#);
    assert_eq!(
        err(&with_head("kind: jbo\n")),
        r#"ferry.yaml:3:7: kind: expected "job" or "service", got "jbo"; did you mean "job"?"#
    );
    assert_eq!(
        err(&with_head("pass_io_as: [args]\n")),
        r#"ferry.yaml:3:13: pass_io_as: expected "args" or "env", got a list"#
    );
}

#[test]
fn bad_quantities() {
    assert_eq!(
        err(&with_head("resources:\n  memory: lots\n")),
        r#"ferry.yaml:4:11: resources.memory: expected a quantity like 4Gi or 512M, got "lots""#
    );
    assert_eq!(
        err(&with_head("resources: {memory: 512m}\n")),
        r#"ferry.yaml:3:21: resources.memory: expected a quantity like 4Gi or 512M, got "512m" (a lowercase "m" means thousandths; did you mean "512M" or "512Mi"?)"#
    );
    assert_eq!(
        err(&with_head("resources: {memory: -1}\n")),
        "ferry.yaml:3:21: resources.memory: expected a quantity like 4Gi or 512M, got -1 (must not be negative)"
    );
    assert_eq!(
        err(&with_head("resources: {memory: 20Ei}\n")),
        r#"ferry.yaml:3:21: resources.memory: expected a quantity like 4Gi or 512M, got "20Ei" (larger than the maximum, 18446744073709551615)"#
    );
    assert_eq!(
        err(&with_head("resources: {memory: 0}\n")),
        "ferry.yaml:3:21: resources.memory: must be more than 0 bytes (leave `memory` out for no limit)"
    );
}

#[test]
fn bad_durations() {
    assert_eq!(
        err(&with_head("timeout: soon\n")),
        r#"ferry.yaml:3:10: timeout: expected a duration like 2h30m, got "soon""#
    );
    assert_eq!(
        err(&with_head("timeout: 0\n")),
        "ferry.yaml:3:10: timeout: expected a duration like 2h30m, got 0 (must be longer than zero)"
    );
    assert_eq!(
        err(&with_head("timeout: 2 hours\n")),
        r#"ferry.yaml:3:10: timeout: expected a duration like 2h30m, got "2 hours" (unknown unit "hours", did you mean "h"? units are d h m s ms us ns)"#
    );
    assert_eq!(
        err(&with_head("timeout: '90'\n")),
        r#"ferry.yaml:3:10: timeout: expected a duration like 2h30m, got "90" (add a unit, e.g. 90s)"#
    );
}

#[test]
fn duplicate_keys() {
    assert_eq!(err(&with_head("name: y\n")), r#"ferry.yaml:3:1: name: duplicate key "name", first written at line 1"#);
    assert_eq!(
        err(&with_head("env:\n  FOO: 1\n  FOO: 2\n")),
        r#"ferry.yaml:5:3: env.FOO: duplicate key "FOO", first written at line 4"#
    );
    // Quoting does not make a key different.
    assert_eq!(
        err(&with_head("inputs:\n  d: {path: a, \"path\": b}\n")),
        r#"ferry.yaml:4:16: inputs.d.path: duplicate key "path", first written at line 4"#
    );
}

#[test]
fn missing_required_fields() {
    assert_eq!(err("run: x\n"), r#"ferry.yaml:1:1: missing required field "name""#);
    assert_eq!(
        err(&with_head("inputs:\n  data_dir: {}\n")),
        r#"ferry.yaml:4:13: inputs.data_dir: missing required field "path""#
    );
    assert_eq!(err(&with_head("build: {setup: [a]}\n")), r#"ferry.yaml:3:8: build: missing required field "base""#);
}

#[test]
fn document_shape_errors() {
    let empty = "ferry.yaml:1:1: the file is empty: a workload needs at least `name` and `command` or `run`";
    assert_eq!(err(""), empty);
    assert_eq!(err("# just a comment\n\n"), empty);
    assert_eq!(err("---\n"), empty);
    assert_eq!(
        err("- a\n- b\n"),
        "ferry.yaml:1:1: expected a mapping of workload fields (name: ..., command: ...), got a list"
    );
    assert_eq!(
        err("hello\n"),
        r#"ferry.yaml:1:1: expected a mapping of workload fields (name: ..., command: ...), got "hello""#
    );
    assert_eq!(
        err("name: x\nrun: a\n---\nname: y\n"),
        "ferry.yaml:3:1: found a second YAML document (after `---`); a workload file holds exactly one"
    );
    assert_eq!(err(&with_head("!custom key: 1\n")), "ferry.yaml:3:1: YAML tags like `!custom` are not supported");
    assert_eq!(
        err(&with_head("? [a]\n: 1\n")),
        "ferry.yaml:3:3: mapping keys must be plain names, not lists or mappings"
    );
    let e = ferry_spec::parse_bytes(b"name: x\nrun: \"\xff\"\n", Path::new("ferry.yaml")).unwrap_err();
    assert_eq!(e.to_string(), "ferry.yaml:2:7: the file is not valid UTF-8 (byte 0xff); save it as UTF-8");
}

#[test]
fn invalid_names() {
    assert_eq!(
        err("name: My Job\nrun: x\n"),
        r#"ferry.yaml:1:7: name: "My Job" is not a valid name: use 1 to 63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit (try "my-job")"#
    );
    assert_eq!(
        err("name: ''\nrun: x\n"),
        "ferry.yaml:1:7: name: must not be empty: use 1 to 63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    );
    assert!(err(&format!("name: {}\nrun: x\n", "a".repeat(64))).contains("is not a valid name"));
}

#[test]
fn command_and_run() {
    assert_eq!(
        err(&with_head("run: echo\n")),
        "ferry.yaml:3:6: run: `command` and `run` cannot both be given: use `command` for a program and its arguments, or `run` for a shell script"
    );
    assert_eq!(
        err("name: x\n"),
        "ferry.yaml:1:1: missing `command` or `run`: give `command` (a program and its arguments) or `run` (a shell script)"
    );
    assert_eq!(
        err("name: x\ncommand: []\n"),
        r#"ferry.yaml:2:10: command: must not be empty: give the program and its arguments, e.g. ["python", "train.py"]"#
    );
    assert_eq!(err("name: x\ncommand: ['', a]\n"), "ferry.yaml:2:11: command[0]: the program name must not be empty");
    assert_eq!(err("name: x\nrun: '  '\n"), "ferry.yaml:2:6: run: the script must not be empty");
}

#[test]
fn env_names() {
    assert_eq!(
        err(&with_head("env:\n  1FOO: x\n")),
        r#"ferry.yaml:4:3: env.1FOO: "1FOO" is not a valid environment variable name: use letters, digits and '_', not starting with a digit"#
    );
    assert_eq!(
        err(&with_head("env: {FERRY_IO_DATA: x}\n")),
        "ferry.yaml:3:7: env.FERRY_IO_DATA: names starting with FERRY_IO_ are reserved: Ferry sets them for inputs and outputs"
    );
}

#[test]
fn binding_names_and_paths() {
    assert_eq!(
        err(&with_head("inputs:\n  data-dir: {path: x}\n")),
        r#"ferry.yaml:4:3: inputs.data-dir: "data-dir" is not a valid binding name: use letters, digits and '_', not starting with a digit (it becomes FERRY_IO_<NAME> and --<name>=)"#
    );
    assert_eq!(
        err(&with_head("inputs: {d: {path: a}}\noutputs: {d: {path: b}}\n")),
        r#"ferry.yaml:4:11: outputs.d: "d" is both an input and an output; give them different names"#
    );
    assert_eq!(
        err(&with_head("inputs: {data: {path: a}}\noutputs: {DATA: {path: b}}\n")),
        r#"ferry.yaml:4:11: outputs.DATA: "DATA" and inputs.data would both be passed as FERRY_IO_DATA"#
    );
    assert_eq!(
        err(&with_head("inputs:\n  data_dir:\n    path: ../x\n")),
        r#"ferry.yaml:5:11: inputs.data_dir.path: "../x" climbs out of the workload file's directory; paths must stay inside it"#
    );
    assert_eq!(
        err(&with_head("outputs:\n  model: {path: /tmp/model}\n")),
        r#"ferry.yaml:4:17: outputs.model.path: "/tmp/model" is absolute; write it relative to the workload file's directory"#
    );
    assert_eq!(
        err(&with_head("workdir: a/../../b\n")),
        r#"ferry.yaml:3:10: workdir: "a/../../b" climbs out of the workload file's directory; paths must stay inside it"#
    );
    assert_eq!(
        err(&with_head("workdir: ~/code\n")),
        r#"ferry.yaml:3:10: workdir: "~/code": `~` is not expanded; write the path relative to the workload file's directory"#
    );
}

#[test]
fn resources_rules() {
    assert_eq!(
        err(&with_head("resources: {cpus: 0}\n")),
        "ferry.yaml:3:19: resources.cpus: must be a number greater than 0, got 0"
    );
    assert_eq!(
        err(&with_head("resources: {cpus: .inf}\n")),
        "ferry.yaml:3:19: resources.cpus: must be a number greater than 0, got inf"
    );
    assert_eq!(
        err(&with_head("resources: {gpu_type: h100}\n")),
        r#"ferry.yaml:3:23: resources.gpu_type: gpu_type "h100" needs `gpus` set to 1 or more"#
    );
    assert_eq!(
        err(&with_head("resources: {gpus: 0, gpu_type: h100}\n")),
        r#"ferry.yaml:3:32: resources.gpu_type: gpu_type "h100" needs `gpus` set to 1 or more"#
    );
    assert_eq!(
        err(&with_head("resources: {pids: 0}\n")),
        "ferry.yaml:3:19: resources.pids: must be from 1 to 4194304, got 0"
    );
}

#[test]
fn node_counts() {
    assert_eq!(err(&with_head("nodes: 0\n")), "ferry.yaml:3:8: nodes: must be at least 1, got 0");
    assert_eq!(err(&with_head("tasks_per_node: 0\n")), "ferry.yaml:3:17: tasks_per_node: must be at least 1, got 0");
}

#[test]
fn ports_rules() {
    assert_eq!(
        err(&with_head("kind: service\nports: [{name: web, port: 0}]\n")),
        "ferry.yaml:4:27: ports[0].port: must be from 1 to 65535, got 0"
    );
    assert_eq!(
        err(&with_head("kind: service\nports:\n  - {name: web, port: 80}\n  - {name: web, port: 81}\n")),
        r#"ferry.yaml:6:12: ports[1].name: port name "web" is already used by ports[0]"#
    );
    assert_eq!(
        err(&with_head("kind: service\nports:\n  - {name: web, port: 80}\n  - {name: api, port: 80}\n")),
        "ferry.yaml:6:23: ports[1].port: port 80 is already used by ports[0]"
    );
    assert_eq!(
        err(&with_head("kind: service\nports: [{name: Web_UI, port: 80}]\n")),
        r#"ferry.yaml:4:16: ports[0].name: "Web_UI" is not a valid port name: use 1 to 15 lowercase letters, digits and '-', with at least one letter"#
    );
}

#[test]
fn kubernetes_volumes_must_name_bindings() {
    assert_eq!(
        err(&with_head("inputs: {data_dir: {path: d}}\nruntime:\n  kubernetes:\n    volumes: {data: {pvc: x}}\n")),
        r#"ferry.yaml:6:15: runtime.kubernetes.volumes.data: "data" is not an input or output, did you mean "data_dir"?"#
    );
    assert_eq!(
        err(&with_head("runtime: {kubernetes: {volumes: {data: {pvc: x}}}}\n")),
        r#"ferry.yaml:3:34: runtime.kubernetes.volumes.data: "data" is not an input or output; this workload has no inputs or outputs"#
    );
    assert_eq!(
        err(&with_head("runtime: {kubernetes: {namespace: ML}}\n")),
        r#"ferry.yaml:3:35: runtime.kubernetes.namespace: "ML" is not a valid namespace: use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit"#
    );
}

#[test]
fn build_and_slurm_rules() {
    assert_eq!(
        err(&with_head("build: {base: ''}\n")),
        "ferry.yaml:3:15: build.base: must not be empty: name the base image, e.g. python:3.11-slim"
    );
    assert_eq!(
        err(&with_head("runtime: {slurm: {extra: [\"--qos=high\\n#SBATCH --x\"]}}\n")),
        "ferry.yaml:3:27: runtime.slurm.extra[0]: must not contain line breaks or control characters"
    );
}

#[test]
fn first_problem_in_document_order_wins() {
    // `nodes` (line 3) is reported before `name` (line 4) although rules check `name` first.
    assert_eq!(err("command: [a]\nrun: b\nnodes: 0\nname: Bad\n").lines().count(), 1);
    assert_eq!(err("command: [a]\nnodes: 0\nname: Bad\n"), "ferry.yaml:2:8: nodes: must be at least 1, got 0");
}

#[test]
fn ports_only_on_services() {
    assert_eq!(
        err(&with_head("ports: [{name: web, port: 80}]\n")),
        "ferry.yaml:3:1: ports: ports are published only for `kind: service`: a job runs to completion and nobody connects to it (set `kind: service`, or remove `ports`)"
    );
}

/// `check_str` reports every problem in file order: type errors, unknown
/// fields and rules alike, without the noise a cut field would cause.
#[test]
fn every_problem_in_one_pass() {
    let src =
        "name: Bad Name\ncommand: [a]\nresources: {memroy: 1Gi, cpus: lots}\ninputs:\n  data: {pth: x}\nnodes: 0\n";
    let all: Vec<String> =
        ferry_spec::check_str(src, Path::new("ferry.yaml")).unwrap_err().iter().map(ToString::to_string).collect();
    assert_eq!(
        all,
        [
            r#"ferry.yaml:1:7: name: "Bad Name" is not a valid name: use 1 to 63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit (try "bad-name")"#,
            r#"ferry.yaml:3:13: resources.memroy: unknown field "memroy", did you mean "memory"?"#,
            r#"ferry.yaml:3:32: resources.cpus: expected a number, got "lots""#,
            r#"ferry.yaml:5:10: inputs.data.pth: unknown field "pth", did you mean "path"?"#,
            "ferry.yaml:6:8: nodes: must be at least 1, got 0",
        ]
    );
    // One problem is the same one `parse_str` reports.
    let one = ferry_spec::parse_str("name: x\ncommand: 1\n", Path::new("ferry.yaml")).unwrap_err();
    assert_eq!(ferry_spec::check_str("name: x\ncommand: 1\n", Path::new("ferry.yaml")).unwrap_err(), [one]);
}
