//! `ferry-spec`: the workload file.
//!
//! [`load`] reads a `ferry.yaml`, [`parse_str`] parses text already in memory.
//! Every error is a [`SpecError`] naming the file, the line and column, and the
//! field path (`resources.memory: expected a quantity like 4Gi, got "lots"`).

mod model;
mod quantity;

use std::path::{Path, PathBuf};

pub use model::*;
pub use quantity::{Duration, Quantity};

/// A problem with a workload file.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {path}: {message}")]
pub struct SpecError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted field path, e.g. `resources.memory`; empty for the document root.
    pub path: String,
    pub message: String,
}

/// Read and validate a workload file.
pub fn load(path: &Path) -> Result<Workload, SpecError> {
    let src = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        path: String::new(),
        message: format!("cannot read file: {e}"),
    })?;
    parse_str(&src, path)
}

/// Parse and validate workload text; `file` is only used in error messages.
pub fn parse_str(_src: &str, file: &Path) -> Result<Workload, SpecError> {
    Err(SpecError {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        path: String::new(),
        message: "parser not yet written".into(),
    })
}

/// The JSON Schema of the workload file.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Workload)).expect("schema serializes")
}
