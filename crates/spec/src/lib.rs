//! `ferry-spec`: the workload file.
//!
//! [`load`] reads a `ferry.yaml`, [`parse_str`] / [`parse_bytes`] parse text
//! already in memory, [`to_yaml`] writes a workload back, [`json_schema`]
//! describes the file for editors. Every error is one [`SpecError`] naming the
//! file, the line and column, and the field path:
//!
//! ```text
//! ferry.yaml:7:11: resources.memory: expected a quantity like 4Gi or 512M, got "lots"
//! ```
//!
//! The pipeline: `yaml` turns text into a tree of located nodes (syntax,
//! duplicate keys, one document), `de` deserializes the model from it (types,
//! unknown fields with "did you mean"), `validate` checks the rules types
//! cannot express, and each problem is pointed back at its node.

mod de;
mod duration;
mod emit;
mod error;
mod field_path;
pub mod mlcube;
mod model;
mod quantity;
mod schema;
mod suggest;
mod validate;
mod yaml;

use std::path::Path;

pub use duration::Duration;
pub use emit::to_yaml;
pub use error::SpecError;
pub use model::*;
pub use quantity::{ParseValueError, Quantity};
pub use schema::json_schema;

use field_path::FieldPath;
use yaml::{Pos, Value};

/// Read and validate a workload file.
pub fn load(path: &Path) -> Result<Workload, SpecError> {
    let bytes = std::fs::read(path).map_err(|e| SpecError::io(path, format!("cannot read file: {e}")))?;
    parse_bytes(&bytes, path)
}

/// Parse and validate workload bytes; non-UTF-8 input is an error located at
/// the first bad byte. `file` is only used in error messages.
pub fn parse_bytes(bytes: &[u8], file: &Path) -> Result<Workload, SpecError> {
    match std::str::from_utf8(bytes) {
        Ok(src) => parse_str(src, file),
        Err(e) => {
            let good = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
            let line = good.matches('\n').count() + 1;
            let column = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let byte = bytes.get(e.valid_up_to()).copied().unwrap_or_default();
            Err(SpecError::at(
                file,
                Pos { line, column },
                &FieldPath::root(),
                format!("the file is not valid UTF-8 (byte 0x{byte:02x}); save it as UTF-8"),
            ))
        }
    }
}

/// Parse and validate workload text; `file` is only used in error messages.
pub fn parse_str(src: &str, file: &Path) -> Result<Workload, SpecError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let empty = || {
        SpecError::at(
            file,
            Pos::START,
            &FieldPath::root(),
            "the file is empty: a workload needs at least `name` and `command` or `run`",
        )
    };
    let root = yaml::parse(src).map_err(|e| SpecError::at(file, e.pos, &e.path, e.message))?.ok_or_else(empty)?;
    match &root.value {
        Value::Map(_) => {}
        _ if root.is_null() => return Err(empty()),
        _ => {
            return Err(SpecError::at(
                file,
                root.pos,
                &FieldPath::root(),
                format!("expected a mapping of workload fields (name: ..., command: ...), got {}", root.describe()),
            ))
        }
    }
    let workload: Workload = de::from_node(&root).map_err(|e| {
        let path = e.path.unwrap_or_default();
        let message = with_hint(&path, e.message);
        SpecError::at(file, e.pos.unwrap_or(root.pos), &path, message)
    })?;
    // Report the first problem in document order, so fixes go top to bottom.
    let first = validate::check(&workload)
        .into_iter()
        .map(|issue| {
            let pos = locate(&root, &issue.path, issue.on_key);
            (pos, issue)
        })
        .min_by_key(|(pos, _)| *pos);
    match first {
        Some((pos, issue)) => Err(SpecError::at(file, pos, &issue.path, issue.message)),
        None => Ok(workload),
    }
}

/// Where the field at `path` is written: its key or its value, or the
/// nearest written ancestor when the field itself is absent (a default).
fn locate(root: &yaml::Node, path: &FieldPath, on_key: bool) -> Pos {
    let mut segs = path.0.clone();
    loop {
        if let Some((key, value)) = root.find(&FieldPath(segs.clone())) {
            return match key {
                Some(k) if on_key || segs.len() < path.0.len() => k.pos,
                _ => value.pos,
            };
        }
        if segs.pop().is_none() {
            return root.pos;
        }
    }
}

/// Field-specific advice for the mistakes people make most.
fn with_hint(path: &FieldPath, message: String) -> String {
    use field_path::Seg;
    let keys: Vec<&str> = path.0.iter().map(|s| if let Seg::Key(k) = s { k.as_str() } else { "[]" }).collect();
    let hint =
        match (keys.as_slice(), message.starts_with("expected a list"), message.starts_with("expected a mapping")) {
            (["command"], true, _) => {
                "write it as a list like [\"python\", \"train.py\"], or use `run:` for a shell command line"
            }
            (["inputs" | "outputs", _], _, true) => "write a binding as {path: some/dir}",
            (["env"], _, true) => "write it as a mapping like {NAME: \"value\"}",
            _ => return message,
        };
    format!("{message}; {hint}")
}
