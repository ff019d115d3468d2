//! The one error type callers see.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::field_path::FieldPath;
use crate::yaml::Pos;

/// A problem with a workload file.
///
/// Displayed as `{file}:{line}:{column}: {path}: {message}`, the form editors
/// and terminals turn into links. `line`/`column` are 1-based; they are 0 only
/// when the file could not be read at all. The `path: ` part is left out when
/// the problem is about the document as a whole (`path` empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted field path, e.g. `resources.memory`, `ports[0].port`, `env.FOO`;
    /// empty for the document root.
    pub path: String,
    pub message: String,
}

impl SpecError {
    pub(crate) fn at(file: &Path, pos: Pos, path: &FieldPath, message: impl Into<String>) -> Self {
        SpecError {
            file: file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// An error with no position: the file could not be read.
    pub(crate) fn io(file: &Path, message: impl Into<String>) -> Self {
        SpecError { file: file.to_path_buf(), line: 0, column: 0, path: String::new(), message: message.into() }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}
