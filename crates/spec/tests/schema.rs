//! The JSON Schema agrees with the parser: documents the parser accepts pass
//! it, typical mistakes fail it. Checked with a small validator for the
//! keywords our schema uses (no heavy `jsonschema` dependency; `pattern` is
//! not evaluated here, it is asserted in the unit tests).

use serde_json::{json, Value};

/// Errors of `doc` against `schema` (root `root` for `$ref`s).
fn validate(root: &Value, schema: &Value, doc: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        if schema == &json!(false) {
            errors.push(format!("{at}: not allowed"));
        }
        return;
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target = root.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}"));
        validate(root, target, doc, at, errors);
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => doc.is_object(),
            "array" => doc.is_array(),
            "string" => doc.is_string(),
            "integer" => doc.is_u64() || doc.is_i64(),
            "number" => doc.is_number(),
            "boolean" => doc.is_boolean(),
            "null" => doc.is_null(),
            other => panic!("unknown type {other}"),
        });
        if !ok {
            errors.push(format!("{at}: expected {types:?}, got {doc}"));
            return;
        }
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        if !values.contains(doc) {
            errors.push(format!("{at}: {doc} not in {values:?}"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != doc {
            errors.push(format!("{at}: {doc} is not {c}"));
        }
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), doc.as_f64()) {
        if n < min {
            errors.push(format!("{at}: {n} < {min}"));
        }
    }
    if let (Some(max), Some(n)) = (s.get("maximum").and_then(Value::as_f64), doc.as_f64()) {
        if n > max {
            errors.push(format!("{at}: {n} > {max}"));
        }
    }
    let passes = |sub: &Value| {
        let mut e = Vec::new();
        validate(root, sub, doc, at, &mut e);
        e.is_empty()
    };
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(passes) {
            errors.push(format!("{at}: matches none of anyOf"));
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let n = one.iter().filter(|sub| passes(sub)).count();
        if n != 1 {
            errors.push(format!("{at}: matches {n} of oneOf"));
        }
    }
    if let Some(not) = s.get("not") {
        if passes(not) {
            errors.push(format!("{at}: matches `not`"));
        }
    }
    if let Some(obj) = doc.as_object() {
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errors.push(format!("{at}: missing {r}"));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, v) in obj {
            let here = format!("{at}.{k}");
            match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                (Some(sub), _) => validate(root, sub, v, &here, errors),
                (None, Some(extra)) => validate(root, extra, v, &here, errors),
                (None, None) => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), doc.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            validate(root, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

fn errors(doc: Value) -> Vec<String> {
    let schema = ferry_spec::json_schema();
    let mut errors = Vec::new();
    validate(&schema, &schema, &doc, "$", &mut errors);
    errors
}

fn full() -> Value {
    json!({
        "name": "mnist-train",
        "kind": "service",
        "image": "localhost:5000/mnist:1",
        "command": ["python", "train.py", "--epochs", 2],
        "workdir": ".",
        "env": {"LR": "0.01", "EPOCHS": 2, "DEBUG": true},
        "resources": {"cpus": 2, "memory": "4Gi", "gpus": 1, "gpu_type": "h100", "pids": 100},
        "nodes": 1,
        "tasks_per_node": 1,
        "mpi": "pmix",
        "ports": [{"name": "jupyter", "port": 8888}],
        "inputs": {"data_dir": {"path": "workspace/data"}},
        "outputs": {"model_dir": {"path": "workspace/model"}},
        "pass_io_as": "args",
        "retries": 2,
        "timeout": "2h",
        "build": {"base": "python:3.11-slim", "setup": ["pip install -r requirements.txt"]},
        "runtime": {
            "kubernetes": {"namespace": "ml", "runtime_class": "ferry", "volumes": {"data_dir": {"pvc": "mlcube-input"}}},
            "slurm": {"partition": "debug", "account": "proj1", "extra": ["--qos=high"]}
        }
    })
}

#[test]
fn schema_accepts_what_the_parser_accepts() {
    let doc = full();
    assert_eq!(errors(doc.clone()), Vec::<String>::new());
    // The parser agrees (JSON is YAML).
    ferry_spec::parse_str(&doc.to_string(), std::path::Path::new("f.json")).expect("parser accepts it too");
    // Integers for quantity and duration.
    assert_eq!(
        errors(json!({"name": "a", "run": "x", "resources": {"memory": 1048576}, "timeout": 90})),
        Vec::<String>::new()
    );
    // The normalized form the crate writes.
    let w = ferry_spec::parse_str(&doc.to_string(), std::path::Path::new("f.json")).unwrap();
    assert_eq!(errors(serde_json::to_value(&w).unwrap()), Vec::<String>::new());
}

#[test]
fn schema_rejects_typical_mistakes() {
    let mut unknown = full();
    unknown["resource"] = json!({});
    assert_eq!(errors(unknown), vec!["$.resource: not allowed"]);

    let mut nested = full();
    nested["runtime"]["slurm"]["partiton"] = json!("x");
    // `slurm` is optional (`anyOf: [SlurmOptions, null]`), so the miss shows there.
    assert_eq!(errors(nested), vec!["$.runtime.slurm: matches none of anyOf"]);

    assert!(errors(json!({"run": "x"})).contains(&"$: missing name".to_string()));
    assert_eq!(errors(json!({"name": "a", "command": ["x"], "run": "y"})), vec!["$: matches 0 of oneOf"]);
    assert_eq!(errors(json!({"name": "a"})), vec!["$: matches 0 of oneOf"]);
    assert!(!errors(json!({"name": "a", "run": "x", "kind": "batch"})).is_empty());
    assert!(!errors(json!({"name": "a", "run": "x", "ports": [{"name": "a", "port": 0}]})).is_empty());
    assert!(!errors(json!({"name": "a", "run": "x", "nodes": 0})).is_empty());
    assert!(!errors(json!({"name": "a", "run": "x", "resources": {"memory": -1}})).is_empty());
    assert!(!errors(json!({"name": "a", "run": "x", "timeout": 0})).is_empty());
}
