//! The JSON Schema of the workload file, for editors and `ferry schema`.
//!
//! Generated from the model by schemars (structs that deny unknown fields get
//! `additionalProperties: false`); what derive attributes cannot say is added
//! here: exactly one of `command` / `run`, and that env values and command
//! arguments may be written as bare numbers or booleans (`EPOCHS: 2`), which
//! the parser reads as their text.

use serde_json::{json, Value};

use crate::model::Workload;

/// The JSON Schema (draft 2020-12) of the workload file.
pub fn json_schema() -> Value {
    let mut schema = schemars::schema_for!(Workload).to_value();
    let scalar = json!({"type": ["string", "number", "boolean"]});
    if let Some(env) = schema.pointer_mut("/properties/env/additionalProperties") {
        *env = scalar.clone();
    }
    if let Some(items) = schema.pointer_mut("/properties/command/items") {
        *items = scalar;
    }
    if let Some(root) = schema.as_object_mut() {
        root.insert("title".into(), json!("Ferry workload file (spec v1)"));
        root.insert(
            "oneOf".into(),
            json!([
                {"required": ["command"], "not": {"required": ["run"]}},
                {"required": ["run"], "not": {"required": ["command"]}}
            ]),
        );
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_shape() {
        let s = json_schema();
        assert_eq!(s["required"], json!(["name"]));
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["type"], json!("object"));
        let props = s["properties"].as_object().expect("properties");
        for field in [
            "name",
            "kind",
            "image",
            "command",
            "run",
            "workdir",
            "env",
            "resources",
            "nodes",
            "tasks_per_node",
            "mpi",
            "ports",
            "inputs",
            "outputs",
            "pass_io_as",
            "retries",
            "timeout",
            "build",
            "runtime",
        ] {
            assert!(props.contains_key(field), "missing property {field}");
        }
        assert_eq!(props.len(), 19, "a model field without a schema property, or the reverse");
        assert_eq!(s["properties"]["name"]["pattern"], json!(r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$"));
        assert_eq!(s["properties"]["nodes"]["minimum"], json!(1));
    }

    #[test]
    fn every_struct_denies_unknown_fields() {
        let s = json_schema();
        let defs = s["$defs"].as_object().expect("$defs");
        for name in [
            "Resources",
            "Port",
            "Binding",
            "Build",
            "RuntimeOptions",
            "KubernetesOptions",
            "KubernetesVolume",
            "SlurmOptions",
        ] {
            assert_eq!(defs[name]["additionalProperties"], json!(false), "{name}");
        }
    }

    #[test]
    fn quantity_and_duration_are_strings_or_integers() {
        let s = json_schema();
        for (name, pattern) in [("Quantity", crate::quantity::PATTERN), ("Duration", crate::duration::PATTERN)] {
            let def = &s["$defs"][name];
            assert_eq!(def["type"], json!(["string", "integer"]), "{name}");
            assert_eq!(def["pattern"], json!(pattern), "{name}");
            assert!(def["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}");
        }
    }
}
