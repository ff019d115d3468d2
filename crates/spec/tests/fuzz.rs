//! Property tests: no input makes the parser panic, every error is located,
//! and any valid workload survives `to_yaml` and JSON round trips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_spec::*;
use proptest::prelude::*;

const VALID: &str = r#"name: mnist-train
kind: service
image: localhost:5000/mnist:1
command: ["python", "train.py", "--epochs", "2"]
workdir: .
env: {LR: "0.01"}
resources: {cpus: 2, memory: 4Gi, gpus: 1, gpu_type: h100}
nodes: 1
tasks_per_node: 1
mpi: pmix
ports: [{name: jupyter, port: 8888}]
inputs:
  data_dir: {path: workspace/data}
outputs:
  model_dir: {path: workspace/model}
pass_io_as: args
retries: 2
timeout: 2h
build:
  base: python:3.11-slim
  setup: ["pip install -r requirements.txt"]
runtime:
  kubernetes: {namespace: ml, runtime_class: ferry, volumes: {data_dir: {pvc: mlcube-input}}}
  slurm: {partition: debug, account: proj1, extra: ["--qos=high"]}
"#;

/// `cases` by default; `PROPTEST_CASES=n` for a longer hunt. No regression
/// files: a failure prints its minimal input.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Parse and check the error contract: never a panic (proptest reports one
/// as a failure), always a position inside the text, always a message.
fn check(src: &str) {
    match parse_str(src, Path::new("f.yaml")) {
        Ok(w) => {
            // Whatever parsed must render and parse back to the same thing.
            let again = parse_str(&to_yaml(&w), Path::new("render.yaml"));
            assert_eq!(again.as_ref().ok(), Some(&w), "render of a parsed file failed: {again:?}\n{}", to_yaml(&w));
        }
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1, "unlocated: {e:?}");
            let lines = src.split('\n').count();
            assert!(e.line <= lines + 1, "line {} past the end ({lines} lines): {e}", e.line);
            assert!(!e.message.is_empty());
            assert!(e.to_string().starts_with("f.yaml:"));
        }
    }
}

/// Pieces of YAML syntax and of our vocabulary, to splice into documents.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "  ",
    "\n",
    "\t",
    "#",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    "\"",
    "|",
    ">",
    "&a ",
    "*a",
    "!!str ",
    "!x ",
    "---\n",
    "...\n",
    "? ",
    "~",
    "0",
    "-1",
    "1.5",
    "Gi",
    "m",
    "h",
    "name",
    "resources",
    "ports",
    "inputs",
    "env",
    "\\",
    "\u{feff}",
    "é",
    "\r\n",
    "%YAML 1.2\n",
    "<<: ",
    "null",
    "true",
    "0x",
    "..",
    "/",
];

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, &'static str),
    Delete(usize, usize),
    DuplicateLine(usize),
    DropLine(usize),
    Indent(usize, bool),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), prop::sample::select(TOKENS)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::DropLine),
        (any::<usize>(), any::<bool>()).prop_map(|(i, more)| Mutation::Indent(i, more)),
    ]
}

fn apply(src: &str, m: &Mutation) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut lines: Vec<String> = src.split('\n').map(str::to_owned).collect();
    match *m {
        Mutation::Insert(i, t) => {
            let i = i % (chars.len() + 1);
            chars[..i].iter().collect::<String>() + t + &chars[i..].iter().collect::<String>()
        }
        Mutation::Delete(i, n) => {
            let i = i % (chars.len() + 1);
            let end = (i + n).min(chars.len());
            chars[..i].iter().chain(&chars[end..]).collect()
        }
        Mutation::DuplicateLine(i) => {
            let i = i % lines.len();
            let l = lines[i].clone();
            lines.insert(i, l);
            lines.join("\n")
        }
        Mutation::DropLine(i) => {
            let i = i % lines.len();
            lines.remove(i);
            lines.join("\n")
        }
        Mutation::Indent(i, more) => {
            let i = i % lines.len();
            if more {
                lines[i].insert_str(0, "  ");
            } else {
                lines[i] = lines[i].trim_start().to_owned();
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_text_never_panics(src in any::<String>()) {
        check(&src);
    }

    #[test]
    fn yaml_like_text_never_panics(src in "[a-z_:\\- \n\t\\[\\]{},#&*!|>'\"?~.0-9]{0,200}") {
        check(&src);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        match parse_bytes(&bytes, Path::new("f.yaml")) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.line >= 1 && e.column >= 1, "unlocated: {e:?}"),
        }
    }

    #[test]
    fn mutated_documents_never_panic(muts in prop::collection::vec(mutation(), 1..6)) {
        let src = muts.iter().fold(VALID.to_owned(), |s, m| apply(&s, m));
        check(&src);
    }
}

// ---- round trips of generated valid workloads ----

/// Text without NUL (the only character the rules reject in free text).
fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.replace('\0', ""))
}

fn nonblank_text() -> impl Strategy<Value = String> {
    text().prop_map(|s| if s.trim().is_empty() { format!("x{s}") } else { s })
}

/// A DNS-label-like word: also a valid port name unless it has "--".
fn word() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,9}[a-z0-9])?"
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-zA-Z0-9_]{0,8}"
}

fn rel_path() -> impl Strategy<Value = PathBuf> {
    prop::collection::vec("[a-zA-Z0-9 ._-]{1,6}|\\.|\\.\\.", 1..4).prop_filter_map("stays inside", |parts| {
        let mut depth = 0i32;
        for p in &parts {
            depth += if p == ".." {
                -1
            } else if p == "." || p.trim().is_empty() {
                0
            } else {
                1
            };
            if depth < 0 {
                return None;
            }
        }
        Some(PathBuf::from(parts.join("/")))
    })
}

prop_compose! {
    fn resources()(
        cpus in prop::option::of(0.001f64..512.0),
        memory in prop::option::of(1u64..),
        gpus in prop::option::of(1u32..16),
        gpu_type in prop::option::of(word()),
        pids in prop::option::of(1u64..=4_194_304),
    ) -> Resources {
        let gpu_type = if gpus.is_some() { gpu_type } else { None };
        Resources { cpus, memory: memory.map(Quantity), gpus, gpu_type, pids }
    }
}

prop_compose! {
    fn workload()(
        name in "[a-z0-9]([a-z0-9_.-]{0,20}[a-z0-9])?",
        service in any::<bool>(),
        image in prop::option::of("[a-z0-9./:@-]{1,30}"),
        program in prop::bool::ANY.prop_flat_map(|use_run| if use_run {
            nonblank_text().prop_map(|r| (None, Some(r))).boxed()
        } else {
            (nonblank_text(), prop::collection::vec(text(), 0..4))
                .prop_map(|(p, mut rest)| { rest.insert(0, p); (Some(rest), None) }).boxed()
        }),
        workdir in prop::option::of(rel_path()),
        env in prop::collection::btree_map(ident(), text(), 0..4),
        resources in resources(),
        nodes in 1u32..64,
        tasks_per_node in 1u32..64,
        mpi in prop::option::of(word()),
        ports in prop::collection::btree_map(word().prop_filter("a port name", |w| !w.contains("--")), 1u16.., 0..3),
        inputs in prop::collection::btree_map("in_[a-z0-9_]{0,6}", rel_path(), 0..3),
        outputs in prop::collection::btree_map("out_[a-z0-9_]{0,6}", rel_path(), 0..3),
        args in any::<bool>(),
        retries in any::<u32>(),
        timeout in prop::option::of((0u64.., 0u32..1_000_000_000).prop_filter("positive", |(s, n)| *s > 0 || *n > 0)),
        build in prop::option::of((nonblank_text(), prop::collection::vec(nonblank_text(), 0..3))),
        slurm in prop::option::of((prop::option::of(word()), prop::collection::vec("--[a-z]{1,8}=[a-z0-9 ]{0,8}", 0..3))),
        namespace in prop::option::of(word()),
        node_selector in prop::collection::btree_map(text(), text(), 0..3),
    ) -> Workload {
        let (command, run) = program;
        // Unique port numbers and names.
        let mut seen = std::collections::BTreeSet::new();
        let ports = ports.into_iter().filter(|(_, p)| seen.insert(*p)).map(|(name, port)| Port { name, port });
        // Ports only on services.
        let ports = if service { ports.collect() } else { Vec::new() };
        let bind = |m: BTreeMap<String, PathBuf>| m.into_iter().map(|(k, path)| (k, Binding { path })).collect::<BTreeMap<_, _>>();
        let inputs = bind(inputs);
        let volumes = inputs.keys().map(|k| (k.clone(), KubernetesVolume { pvc: format!("pvc-{}", k.len()), sub_path: None })).collect();
        Workload {
            name,
            kind: if service { Kind::Service } else { Kind::Job },
            image,
            command,
            run,
            workdir,
            env,
            resources,
            nodes,
            tasks_per_node,
            mpi,
            ports,
            inputs,
            outputs: bind(outputs),
            pass_io_as: if args { PassIoAs::Args } else { PassIoAs::Env },
            retries,
            timeout: timeout.map(|(s, n)| Duration(std::time::Duration::new(s, n))),
            build: build.map(|(base, setup)| Build { base, setup }),
            runtime: RuntimeOptions {
                kubernetes: Some(KubernetesOptions {
                    namespace,
                    runtime_class: None,
                    volumes,
                    image_pull_secrets: vec![],
                    node_selector,
                }),
                slurm: slurm.map(|(partition, extra)| SlurmOptions { partition, account: None, extra }),
            },
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn yaml_round_trip(w in workload()) {
        let yaml = to_yaml(&w);
        match parse_str(&yaml, Path::new("render.yaml")) {
            Ok(back) => prop_assert_eq!(back, w, "rendered:\n{}", yaml),
            Err(e) => prop_assert!(false, "{}\nrendered:\n{}", e, yaml),
        }
    }

    #[test]
    fn json_round_trip(w in workload()) {
        let json = serde_json::to_string(&w).unwrap();
        let back: Workload = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &w);
        // JSON text is YAML too.
        let back = parse_str(&json, Path::new("f.json"));
        prop_assert_eq!(back.as_ref().ok(), Some(&w), "{:?}", back.as_ref().err());
    }

    #[test]
    fn quantity_display_round_trips(n in any::<u64>()) {
        let q = Quantity(n);
        prop_assert_eq!(q.to_string().parse::<Quantity>(), Ok(q));
    }

    #[test]
    fn duration_display_round_trips(s in any::<u64>(), n in 0u32..1_000_000_000) {
        prop_assume!(s > 0 || n > 0);
        let d = Duration(std::time::Duration::new(s, n));
        prop_assert_eq!(d.to_string().parse::<Duration>(), Ok(d));
    }
}
