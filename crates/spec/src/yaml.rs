//! YAML text → a tree of nodes that remember where they were written.
//!
//! We build our own small tree from `saphyr-parser` events instead of letting
//! a serde-YAML crate deserialize directly, because every later step needs the
//! position of any field: type errors, unknown keys, and validation that runs
//! after deserialization (`gpu_type` without `gpus`, a path escaping the
//! directory). The tree is also where YAML-level mistakes are caught: duplicate
//! keys, several documents, non-scalar keys, unsupported tags, runaway nesting
//! or alias expansion ("billion laughs").

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span};

use crate::field_path::{FieldPath, Seg};

/// Nesting deeper than this is certainly not a workload file.
const MAX_DEPTH: usize = 64;
/// Upper bound on nodes, counting every alias expansion.
const MAX_NODES: usize = 100_000;

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };

    fn from_marker(m: &Marker) -> Pos {
        // saphyr-parser lines are 1-based, columns 0-based.
        Pos { line: m.line().max(1), column: m.col() + 1 }
    }
}

/// One YAML node and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A scalar's text; `plain` scalars may be numbers, booleans or null,
/// quoted (or `!!str`-tagged) ones are always strings.
#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    pub text: String,
    pub plain: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: Node,
    pub value: Node,
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i128),
    /// An integer too large even for i128.
    HugeInt,
    Float(f64),
    Str,
}

impl Scalar {
    pub fn resolve(&self) -> Resolved {
        if !self.plain {
            return Resolved::Str;
        }
        resolve_plain(&self.text)
    }

    pub fn is_null(&self) -> bool {
        self.resolve() == Resolved::Null
    }
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s) if s.is_null())
    }

    /// The node at `path` below this one, with the key node of the last
    /// segment when it is a mapping key.
    pub fn find(&self, path: &FieldPath) -> Option<(Option<&Node>, &Node)> {
        let mut key = None;
        let mut node = self;
        for seg in &path.0 {
            match (seg, &node.value) {
                (Seg::Key(k), Value::Map(entries)) => {
                    let e = entries.iter().find(|e| e.key.scalar_text() == Some(k.as_str()))?;
                    key = Some(&e.key);
                    node = &e.value;
                }
                (Seg::Index(i), Value::Seq(items)) => {
                    key = None;
                    node = items.get(*i)?;
                }
                _ => return None,
            }
        }
        Some((key, node))
    }

    /// Remove the mapping entry at `path` (whose last segment is a key);
    /// whether there was one.
    pub fn remove_entry(&mut self, path: &FieldPath) -> bool {
        let Some((Seg::Key(last), parents)) = path.0.split_last() else { return false };
        let mut node = self;
        for seg in parents {
            let child = match (seg, &mut node.value) {
                (Seg::Key(k), Value::Map(entries)) => {
                    entries.iter_mut().find(|e| e.key.scalar_text() == Some(k.as_str())).map(|e| &mut e.value)
                }
                (Seg::Index(i), Value::Seq(items)) => items.get_mut(*i),
                _ => None,
            };
            let Some(child) = child else { return false };
            node = child;
        }
        let Value::Map(entries) = &mut node.value else { return false };
        let before = entries.len();
        entries.retain(|e| e.key.scalar_text() != Some(last.as_str()));
        entries.len() < before
    }

    pub fn scalar_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// Plain-words description of this node for "got ..." in messages.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
            Value::Scalar(s) => match s.resolve() {
                Resolved::Null => "an empty value".into(),
                Resolved::Str => quote_for_message(&s.text),
                _ => truncate(&s.text),
            },
        }
    }
}

/// `"text"` with escapes, cut short if long, for error messages.
pub(crate) fn quote_for_message(text: &str) -> String {
    format!("{:?}", truncate(text))
}

fn truncate(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// A problem found while reading YAML, before any field meaning applies.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub path: FieldPath,
    pub message: String,
}

/// Parse one YAML document. `Ok(None)`: the stream holds no document at all
/// (empty file, only comments).
pub(crate) fn parse(src: &str) -> Result<Option<Node>, SyntaxError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(src);
    let mut documents = 0usize;
    while let Some(ev) = parser.next_event() {
        let (event, span) = ev.map_err(|e| SyntaxError {
            pos: Pos::from_marker(e.marker()),
            path: b.path(),
            message: syntax_message(e.info()),
        })?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        pos: Pos::from_marker(&span.start),
                        path: FieldPath::root(),
                        message: "found a second YAML document (after `---`); a workload file holds exactly one".into(),
                    });
                }
            }
            Event::Alias(id) => {
                let node = b.anchors.get(&id).cloned().ok_or_else(|| b.error(&span, "alias to an unknown anchor"))?;
                b.count(size(&node), &span)?;
                let node = Node { pos: Pos::from_marker(&span.start), value: node.value };
                b.push_node(node, 0)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let mut plain = style == ScalarStyle::Plain;
                if let Some(tag) = tag {
                    match (tag.is_yaml_core_schema(), tag.suffix.as_str()) {
                        (true, "str") => plain = false,
                        (true, "null" | "bool" | "int" | "float") => {}
                        _ => return Err(b.error(&span, &format!("YAML tags like `{tag}` are not supported"))),
                    }
                }
                b.count(1, &span)?;
                let node = Node {
                    pos: Pos::from_marker(&span.start),
                    value: Value::Scalar(Scalar { text: text.into_owned(), plain }),
                };
                b.push_node(node, anchor)?;
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                let is_seq = matches!(event, Event::SequenceStart(..));
                if let Some(tag) = tag {
                    let ok = tag.is_yaml_core_schema() && tag.suffix == if is_seq { "seq" } else { "map" };
                    if !ok {
                        return Err(b.error(&span, &format!("YAML tags like `{tag}` are not supported")));
                    }
                }
                if b.stack.len() >= MAX_DEPTH {
                    return Err(b.error(&span, &format!("nesting deeper than {MAX_DEPTH} levels")));
                }
                b.count(1, &span)?;
                let pos = Pos::from_marker(&span.start);
                b.stack.push(if is_seq {
                    Frame::Seq { pos, anchor, items: Vec::new() }
                } else {
                    Frame::Map { pos, anchor, entries: Vec::new(), key: None, seen: HashMap::new() }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = b.stack.pop() else {
                    return Err(b.error(&span, "unbalanced end of a collection"));
                };
                let (node, anchor) = match frame {
                    Frame::Seq { pos, anchor, items } => (Node { pos, value: Value::Seq(items) }, anchor),
                    Frame::Map { pos, anchor, entries, .. } => (Node { pos, value: Value::Map(entries) }, anchor),
                };
                b.push_node(node, anchor)?;
            }
        }
    }
    Ok(b.root)
}

/// saphyr's messages are terse; add the likely fix for the common ones.
fn syntax_message(info: &str) -> String {
    let hint = if info.contains("tab") {
        " (indent with spaces; YAML does not allow tabs for indentation)"
    } else if info.contains("mapping values are not allowed") {
        " (a value containing `: ` must be quoted, or the indentation is off)"
    } else {
        ""
    };
    format!("invalid YAML: {info}{hint}")
}

fn size(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar(_) => 0,
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|e| size(&e.key) + size(&e.value)).sum(),
    }
}

/// A collection being filled.
enum Frame {
    Seq { pos: Pos, anchor: usize, items: Vec<Node> },
    Map { pos: Pos, anchor: usize, entries: Vec<Entry>, key: Option<Node>, seen: HashMap<String, Pos> },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
}

impl Builder {
    /// The path of the node currently being read (for errors).
    fn path(&self) -> FieldPath {
        let mut segs = Vec::new();
        for frame in &self.stack {
            match frame {
                Frame::Seq { items, .. } => segs.push(Seg::Index(items.len())),
                Frame::Map { key: Some(k), .. } => segs.push(Seg::Key(k.scalar_text().unwrap_or_default().to_owned())),
                Frame::Map { key: None, .. } => break,
            }
        }
        FieldPath(segs)
    }

    fn error(&self, span: &Span, message: &str) -> SyntaxError {
        SyntaxError { pos: Pos::from_marker(&span.start), path: self.path(), message: message.to_owned() }
    }

    fn count(&mut self, n: usize, span: &Span) -> Result<(), SyntaxError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(
                self.error(span, &format!("document too large (more than {MAX_NODES} values, counting aliases)"))
            );
        }
        Ok(())
    }

    /// Attach a finished node to its parent (or make it the root).
    fn push_node(&mut self, node: Node, anchor: usize) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let path = self.path();
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, seen, .. }) => match key.take() {
                Some(k) => entries.push(Entry { key: k, value: node }),
                None => {
                    let Value::Scalar(s) = &node.value else {
                        return Err(SyntaxError {
                            pos: node.pos,
                            path,
                            message: "mapping keys must be plain names, not lists or mappings".into(),
                        });
                    };
                    if let Some(first) = seen.get(&s.text) {
                        return Err(SyntaxError {
                            pos: node.pos,
                            path: path.key(&s.text),
                            message: format!(
                                "duplicate key {}, first written at line {}",
                                quote_for_message(&s.text),
                                first.line
                            ),
                        });
                    }
                    seen.insert(s.text.clone(), node.pos);
                    *key = Some(node);
                }
            },
        }
        Ok(())
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(t: &str) -> Resolved {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = t.strip_prefix("0x") {
        return radix_int(hex, 16);
    }
    if let Some(oct) = t.strip_prefix("0o") {
        return radix_int(oct, 8);
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match t.parse::<i128>() {
            Ok(n) => Resolved::Int(n),
            Err(_) => Resolved::HugeInt,
        };
    }
    if is_core_float(digits) {
        if let Ok(f) = t.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    Resolved::Str
}

fn radix_int(digits: &str, radix: u32) -> Resolved {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Resolved::Str;
    }
    match i128::from_str_radix(digits, radix) {
        Ok(n) => Resolved::Int(n),
        Err(_) => Resolved::HugeInt,
    }
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?` (sign already stripped).
fn is_core_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac {
        None => !int.is_empty() && all_digits(int),
        Some(f) => all_digits(int) && all_digits(f) && !(int.is_empty() && f.is_empty()),
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && all_digits(e)
        }
    };
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(src: &str) -> Node {
        parse(src).expect("parses").expect("has a document")
    }

    #[test]
    fn positions_are_one_based_and_point_at_values() {
        let n = root("name: x\nresources:\n  memory: lots\n");
        let (key, value) = n.find(&FieldPath::of(&["resources", "memory"])).expect("found");
        assert_eq!(key.map(|k| k.pos), Some(Pos { line: 3, column: 3 }));
        assert_eq!(value.pos, Pos { line: 3, column: 11 });
    }

    #[test]
    fn duplicate_keys_are_errors_at_every_level() {
        let e = parse("env:\n  A: 1\n  A: 2\n").unwrap_err();
        assert_eq!((e.pos.line, e.pos.column), (3, 3));
        assert_eq!(e.path.to_string(), "env.A");
        assert_eq!(e.message, r#"duplicate key "A", first written at line 2"#);
    }

    #[test]
    fn empty_and_comment_only_streams_have_no_document() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("# nothing\n\n").unwrap().is_none());
    }

    #[test]
    fn aliases_expand_and_are_bounded() {
        let n = root("a: &x [1, 2]\nb: *x\n");
        let (_, b) = n.find(&FieldPath::of(&["b"])).unwrap();
        assert!(matches!(&b.value, Value::Seq(items) if items.len() == 2));
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&bomb).unwrap_err();
        assert!(e.message.contains("document too large"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let src = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = parse(&src).unwrap_err();
        assert!(e.message.contains("nesting deeper"), "{}", e.message);
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain("True"), Resolved::Bool(true));
        assert_eq!(resolve_plain("yes"), Resolved::Str);
        assert_eq!(resolve_plain("-12"), Resolved::Int(-12));
        assert_eq!(resolve_plain("0x1F"), Resolved::Int(31));
        assert_eq!(resolve_plain("0o17"), Resolved::Int(15));
        assert_eq!(resolve_plain("1.5"), Resolved::Float(1.5));
        assert_eq!(resolve_plain("1e3"), Resolved::Float(1000.0));
        assert_eq!(resolve_plain(".5"), Resolved::Float(0.5));
        assert_eq!(resolve_plain("4Gi"), Resolved::Str);
        assert_eq!(resolve_plain("1.2.3"), Resolved::Str);
        assert_eq!(resolve_plain("99999999999999999999999999999999999999999"), Resolved::HugeInt);
    }
}
