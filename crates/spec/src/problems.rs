//! Every problem of a workload file in one pass.
//!
//! Deserialization stops at its first error, so after each one the field that
//! holds it is cut out of a copy of the tree and deserialization runs again:
//! a mistake in `resources` does not hide one in `ports`. The cut is the
//! mapping entry that holds the error; an error inside a list cuts the whole
//! list field (removing one item would renumber the items after it). What is
//! left is then validated; a rule about a top-level field that lost a cut part
//! is not reported, since it would judge a default the user never wrote.

use std::path::Path;

use crate::de;
use crate::error::SpecError;
use crate::field_path::{FieldPath, Seg};
use crate::model::Workload;
use crate::validate;
use crate::yaml::{self, Pos};

/// The workload in `root`, or every problem with it in document order.
pub(crate) fn check(root: &yaml::Node, file: &Path) -> Result<Workload, Vec<SpecError>> {
    let mut tree = root.clone();
    let mut cuts: Vec<FieldPath> = Vec::new();
    let mut problems = Vec::new();
    let workload = loop {
        let e = match de::from_node::<Workload>(&tree) {
            Ok(w) => break Some(w),
            Err(e) => e,
        };
        let path = e.path.clone().unwrap_or_default();
        // A required field missing from a mapping that lost a field to a cut
        // is that field (cut for its own error, or misspelt): not a second mistake.
        let consequence =
            e.missing.is_some() && cuts.iter().any(|c| c.0.split_last().is_some_and(|(_, up)| up == path.0));
        if !consequence {
            let message = with_hint(&path, e.message);
            problems.push(SpecError::at(file, e.pos.unwrap_or(root.pos), &path, message));
        }
        let cut = holding_entry(&path);
        if cut.0.is_empty() || !tree.remove_entry(&cut) {
            break None;
        }
        cuts.push(cut);
    };
    if let Some(w) = &workload {
        let touched = |p: &FieldPath| cuts.iter().any(|c| p.0.is_empty() || c.0.first() == p.0.first());
        for issue in validate::check(w).into_iter().filter(|i| !touched(&i.path)) {
            let pos = locate(root, &issue.path, issue.on_key);
            problems.push(SpecError::at(file, pos, &issue.path, issue.message));
        }
    }
    // Fixes go top to bottom.
    problems.sort_by_key(|p| (p.line, p.column));
    match workload {
        Some(w) if problems.is_empty() => Ok(w),
        _ => Err(problems),
    }
}

/// The mapping entry to cut for an error at `path`: the path up to its first
/// list index (empty when the error is about the whole document).
fn holding_entry(path: &FieldPath) -> FieldPath {
    FieldPath(path.0.iter().take_while(|s| matches!(s, Seg::Key(_))).cloned().collect())
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
