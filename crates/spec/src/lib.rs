//! `ferry-spec`: the workload file.
//!
//! [`load`] reads a `ferry.yaml`, [`parse_str`] / [`parse_bytes`] parse text
//! already in memory, [`to_yaml`] writes a workload back, [`json_schema`]
//! describes the file for editors; [`check_file`] / [`check_str`] report every
//! problem of a file at once (for `ferry validate`). Every problem is one
//! [`SpecError`] naming the file, the line and column, and the field path:
//!
//! ```text
//! ferry.yaml:7:11: resources.memory: expected a quantity like 4Gi or 512M, got "lots"
//! ```
//!
//! The pipeline: `yaml` turns text into a tree of located nodes (syntax,
//! duplicate keys, one document), `de` deserializes the model from it (types,
//! unknown fields with "did you mean"), `validate` checks the rules types
//! cannot express, and `problems` gathers what both find, each pointed back
//! at its node.

mod de;
mod duration;
mod emit;
mod error;
mod field_path;
pub mod mlcube;
mod model;
mod problems;
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

/// Read and validate a workload file; the error is its first problem.
pub fn load(path: &Path) -> Result<Workload, SpecError> {
    check_file(path).map_err(first)
}

/// Parse and validate workload bytes; non-UTF-8 input is an error located at
/// the first bad byte. `file` is only used in error messages.
pub fn parse_bytes(bytes: &[u8], file: &Path) -> Result<Workload, SpecError> {
    check_bytes(bytes, file).map_err(first)
}

/// Parse and validate workload text; `file` is only used in error messages.
pub fn parse_str(src: &str, file: &Path) -> Result<Workload, SpecError> {
    check_str(src, file).map_err(first)
}

/// Read and validate a workload file, reporting every problem in document
/// order (never an empty list), so that one round of fixes is enough.
pub fn check_file(path: &Path) -> Result<Workload, Vec<SpecError>> {
    let bytes = std::fs::read(path).map_err(|e| vec![SpecError::io(path, format!("cannot read file: {e}"))])?;
    check_bytes(&bytes, path)
}

/// [`check_file`] for bytes already in memory.
pub fn check_bytes(bytes: &[u8], file: &Path) -> Result<Workload, Vec<SpecError>> {
    match std::str::from_utf8(bytes) {
        Ok(src) => check_str(src, file),
        Err(e) => {
            let good = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
            let line = good.matches('\n').count() + 1;
            let column = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let byte = bytes.get(e.valid_up_to()).copied().unwrap_or_default();
            Err(vec![SpecError::at(
                file,
                Pos { line, column },
                &FieldPath::root(),
                format!("the file is not valid UTF-8 (byte 0x{byte:02x}); save it as UTF-8"),
            )])
        }
    }
}

/// [`check_file`] for text already in memory. A YAML syntax error stops
/// there (nothing after it can be read); every other problem is reported.
pub fn check_str(src: &str, file: &Path) -> Result<Workload, Vec<SpecError>> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let empty = || {
        vec![SpecError::at(
            file,
            Pos::START,
            &FieldPath::root(),
            "the file is empty: a workload needs at least `name` and `command` or `run`",
        )]
    };
    let root = yaml::parse(src).map_err(|e| vec![SpecError::at(file, e.pos, &e.path, e.message)])?.ok_or_else(empty)?;
    match &root.value {
        Value::Map(_) => problems::check(&root, file),
        _ if root.is_null() => Err(empty()),
        _ => Err(vec![SpecError::at(
            file,
            root.pos,
            &FieldPath::root(),
            format!("expected a mapping of workload fields (name: ..., command: ...), got {}", root.describe()),
        )]),
    }
}

/// The first of a file's problems (the `check_*` functions never fail with none).
fn first(mut problems: Vec<SpecError>) -> SpecError {
    problems.swap_remove(0)
}
