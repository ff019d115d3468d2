//! Dotted field paths such as `inputs.data_dir.path` or `ports[1].port`.
//!
//! Errors name the field a user has to fix. Map keys are segments just like
//! struct fields (`env.FOO`), list items are `[index]` (0-based). A key that
//! would read ambiguously (a dot, a space, empty) is quoted.

use std::fmt;

/// One step into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A mapping key (struct field or map entry).
    Key(String),
    /// A list item.
    Index(usize),
}

/// A path from the document root; empty is the root itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(key.to_owned()));
        FieldPath(v)
    }

    /// This path extended by a list index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        FieldPath(v)
    }

    /// Build a path from keys only, e.g. `FieldPath::of(&["resources", "memory"])`.
    pub fn of(keys: &[&str]) -> Self {
        FieldPath(keys.iter().map(|k| Seg::Key((*k).to_owned())).collect())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if needs_quotes(k) {
                        write!(f, "{k:?}")?;
                    } else {
                        f.write_str(k)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn needs_quotes(key: &str) -> bool {
    key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_keys_indices_and_odd_keys() {
        let p = FieldPath::of(&["ports"]).index(1).key("port");
        assert_eq!(p.to_string(), "ports[1].port");
        let p = FieldPath::of(&["runtime", "kubernetes", "node_selector", "kubernetes.io/arch"]);
        assert_eq!(p.to_string(), r#"runtime.kubernetes.node_selector."kubernetes.io/arch""#);
        assert_eq!(FieldPath::root().to_string(), "");
        assert_eq!(FieldPath::root().index(0).to_string(), "[0]");
    }
}
