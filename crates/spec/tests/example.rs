//! A file using every field parses to exactly what it says, and a parsed
//! workload survives YAML and JSON round trips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_spec::*;

/// Every field of spec v1, in the order DESIGN.md lists them.
const FULL: &str = r#"# every field of spec v1
name: mnist-train
kind: service
image: localhost:5000/mnist:1
command: ["python", "train.py", "--epochs", "2"]
workdir: ./src
env: {LR: "0.01", EPOCHS: 2, RATIO: 0.010, DEBUG: true}
resources: {cpus: 2.5, memory: 4Gi, gpus: 1, gpu_type: h100, pids: 512}
nodes: 2
tasks_per_node: 4
mpi: pmix
ports: [{name: jupyter, port: 8888}, {name: ssh, port: 22}]
inputs:
  data_dir: {path: workspace/data}
outputs:
  model_dir: {path: workspace/model}
pass_io_as: args
retries: 2
timeout: 2h30m
build:
  base: python:3.11-slim
  setup: ["pip install -r requirements.txt", "echo done"]
runtime:
  kubernetes:
    namespace: ml
    runtime_class: ferry
    volumes:
      data_dir: {pvc: mlcube-input, sub_path: mnist}
      model_dir: {pvc: mlcube-output}
    image_pull_secrets: [regcred]
    node_selector: {"kubernetes.io/arch": amd64}
  slurm: {partition: debug, account: proj1, extra: ["--qos=high"]}
"#;

fn expected() -> Workload {
    let s = |v: &str| v.to_string();
    Workload {
        name: s("mnist-train"),
        kind: Kind::Service,
        image: Some(s("localhost:5000/mnist:1")),
        command: Some(vec![s("python"), s("train.py"), s("--epochs"), s("2")]),
        run: None,
        workdir: Some(PathBuf::from("./src")),
        env: BTreeMap::from([
            (s("LR"), s("0.01")),
            (s("EPOCHS"), s("2")),
            // Scalars keep the text as written, not a re-formatted number.
            (s("RATIO"), s("0.010")),
            (s("DEBUG"), s("true")),
        ]),
        resources: Resources {
            cpus: Some(2.5),
            memory: Some(Quantity(4 << 30)),
            gpus: Some(1),
            gpu_type: Some(s("h100")),
            pids: Some(512),
        },
        nodes: 2,
        tasks_per_node: 4,
        mpi: Some(s("pmix")),
        ports: vec![Port { name: s("jupyter"), port: 8888 }, Port { name: s("ssh"), port: 22 }],
        inputs: BTreeMap::from([(s("data_dir"), Binding { path: PathBuf::from("workspace/data") })]),
        outputs: BTreeMap::from([(s("model_dir"), Binding { path: PathBuf::from("workspace/model") })]),
        pass_io_as: PassIoAs::Args,
        retries: 2,
        timeout: Some(Duration(std::time::Duration::from_secs(9000))),
        build: Some(Build {
            base: s("python:3.11-slim"),
            setup: vec![s("pip install -r requirements.txt"), s("echo done")],
        }),
        runtime: RuntimeOptions {
            kubernetes: Some(KubernetesOptions {
                namespace: Some(s("ml")),
                runtime_class: Some(s("ferry")),
                volumes: BTreeMap::from([
                    (s("data_dir"), KubernetesVolume { pvc: s("mlcube-input"), sub_path: Some(s("mnist")) }),
                    (s("model_dir"), KubernetesVolume { pvc: s("mlcube-output"), sub_path: None }),
                ]),
                image_pull_secrets: vec![s("regcred")],
                node_selector: BTreeMap::from([(s("kubernetes.io/arch"), s("amd64"))]),
            }),
            slurm: Some(SlurmOptions {
                partition: Some(s("debug")),
                account: Some(s("proj1")),
                extra: vec![s("--qos=high")],
            }),
        },
    }
}

fn parse(src: &str) -> Workload {
    match parse_str(src, Path::new("ferry.yaml")) {
        Ok(w) => w,
        Err(e) => panic!("{e}\n--- source ---\n{src}"),
    }
}

#[test]
fn full_example_parses_to_expected_values() {
    assert_eq!(parse(FULL), expected());
}

#[test]
fn minimal_file_gets_defaults() {
    let w = parse("name: hello\nrun: echo hi\n");
    assert_eq!(w.kind, Kind::Job);
    assert_eq!(w.nodes, 1);
    assert_eq!(w.tasks_per_node, 1);
    assert_eq!(w.pass_io_as, PassIoAs::Env);
    assert_eq!(w.retries, 0);
    assert_eq!(w.run.as_deref(), Some("echo hi"));
    assert!(w.command.is_none() && w.image.is_none() && w.timeout.is_none() && w.build.is_none());
    assert!(w.resources.is_empty() && w.runtime.is_empty());
}

#[test]
fn quantities_and_durations_accept_yaml_integers() {
    let w = parse("name: a\nrun: x\nresources: {memory: 1048576}\ntimeout: 90\n");
    assert_eq!(w.resources.memory.map(Quantity::bytes), Some(1 << 20));
    assert_eq!(w.timeout.map(Duration::as_std), Some(std::time::Duration::from_secs(90)));
}

#[test]
fn multiline_scripts_and_anchors() {
    let w = parse("name: a\nrun: |\n  set -e\n  echo \"$LR\"\nbuild: {base: &b python:3.11}\nimage: *b\n");
    assert_eq!(w.run.as_deref(), Some("set -e\necho \"$LR\"\n"));
    assert_eq!(w.image.as_deref(), Some("python:3.11"));
    // An alias to a mapping where a string is wanted: a type error at the alias.
    let src = "name: a\nrun: x\nenv: &e {LR: '1'}\nbuild: {base: x, setup: [*e]}\n";
    let err = parse_str(src, Path::new("f.yaml")).unwrap_err();
    assert_eq!(err.to_string(), "f.yaml:4:26: build.setup[0]: expected a string, got a mapping");
}

#[test]
fn byte_order_mark_and_crlf_are_fine() {
    let w = parse("\u{feff}name: a\r\ncommand: [x]\r\n");
    assert_eq!(w.name, "a");
}

#[test]
fn to_yaml_round_trips_and_keeps_field_order() {
    let w = parse(FULL);
    let yaml = to_yaml(&w);
    assert_eq!(parse(&yaml), w, "rendered:\n{yaml}");
    assert!(yaml.starts_with("name: mnist-train\nkind: service\n"), "rendered:\n{yaml}");
    assert!(yaml.contains("memory: 4Gi"), "rendered:\n{yaml}");
    assert!(yaml.contains("timeout: 2h30m"), "rendered:\n{yaml}");
    // Defaults are left out.
    let min = parse("name: a\nrun: |\n  echo one\n  echo two\n");
    assert_eq!(to_yaml(&min), "name: a\nkind: job\nrun: |\n  echo one\n  echo two\npass_io_as: env\n");
}

#[test]
fn json_round_trip() {
    let w = parse(FULL);
    let json = serde_json::to_string(&w).unwrap();
    let back: Workload = serde_json::from_str(&json).unwrap();
    assert_eq!(back, w);
    // JSON is YAML: the JSON text is also a valid workload file.
    assert_eq!(parse(&json), w);
}

#[test]
fn load_reads_files_and_reports_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ferry.yaml");
    std::fs::write(&file, FULL).unwrap();
    assert_eq!(load(&file).unwrap(), expected());

    let missing = dir.path().join("nope.yaml");
    let e = load(&missing).unwrap_err();
    assert_eq!((e.line, e.column), (0, 0));
    assert!(e.to_string().starts_with(&format!("{}: cannot read file: ", missing.display())), "{e}");

    std::fs::write(&file, b"name: a\nrun: \"caf\xe9\"\n").unwrap();
    let e = load(&file).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:2:10: the file is not valid UTF-8 (byte 0xe9); save it as UTF-8", file.display())
    );
}

#[test]
fn awkward_strings_survive_to_yaml() {
    let awkward = [
        "",
        " ",
        "a ",
        " a",
        "\t",
        "\ta",
        "a\t",
        "\n",
        "\n\n",
        "a\n",
        "a\n\n",
        "\na",
        "a\n b",
        "a\n ",
        " \n",
        "a\r\nb",
        "\r",
        "- a",
        "-",
        "? a",
        "?",
        ": a",
        "a: b",
        "a:b",
        "a #b",
        "#a",
        "%a",
        "@a",
        "`a",
        "*a",
        "&a",
        "!a",
        "|",
        ">",
        "'",
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        "a,b",
        "---",
        "...",
        "--- a",
        "a\n---\nb",
        "a\n...\n",
        "~",
        "null",
        "Null",
        "NULL",
        "true",
        "False",
        "yes",
        "no",
        "y",
        "on",
        "0",
        "-1",
        "+1",
        "0o17",
        "0x1F",
        "1e3",
        "1E3",
        ".5",
        "5.",
        ".inf",
        "-.inf",
        ".nan",
        "1_000",
        "=",
        "<<",
        "\u{80}",
        "\u{85}",
        "a\u{85}b",
        "\u{2028}",
        "\u{feff}",
        "a\u{feff}",
        "\u{7f}",
        "\u{1b}[0m",
        "é",
        "日本",
        "😀",
        "\\",
        "\\n",
        "a\\",
        "'a'",
        "\"a\"",
        "a'b",
        "a\"b",
    ];
    for s in awkward {
        let mut w = parse("name: a\ncommand: [x]\n");
        w.command = Some(vec!["prog".into(), s.into()]);
        w.env.insert("V".into(), s.into());
        w.build = Some(Build { base: "b".into(), setup: vec![format!("x{s}")] });
        w.runtime.kubernetes = Some(KubernetesOptions {
            node_selector: BTreeMap::from([(s.to_string(), s.to_string())]),
            ..KubernetesOptions::default()
        });
        let yaml = to_yaml(&w);
        match parse_str(&yaml, Path::new("render.yaml")) {
            Ok(back) => assert_eq!(back, w, "string {s:?}, rendered:\n{yaml}"),
            Err(e) => panic!("string {s:?}: {e}\nrendered:\n{yaml}"),
        }
        // And as a run script, where multi-line strings become literal blocks.
        let mut w = parse("name: a\nrun: x\n");
        w.run = Some(format!("x{s}"));
        let yaml = to_yaml(&w);
        assert_eq!(parse_str(&yaml, Path::new("render.yaml")).as_ref().ok(), Some(&w), "run {s:?}, rendered:\n{yaml}");
    }
}
