//! A serde `Deserializer` over the located YAML tree.
//!
//! Owning the deserializer lets every error carry the position and field path
//! of the node it is about (the innermost node that failed), and lets type
//! errors speak plain words (`expected a whole number, got "two"`) instead of
//! serde's `invalid type: string "two", expected u32`.
//!
//! Scalar typing follows the YAML 1.2 core schema, with one convenience: any
//! non-null scalar is accepted where a string is expected, with its text as
//! written (`env: {LR: 0.010}` gives `"0.010"`). A null value where a list,
//! mapping or struct is expected reads as empty (`env:` with nothing after it).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::field_path::FieldPath;
use crate::suggest;
use crate::yaml::{quote_for_message, Node, Pos, Resolved, Value};

/// A deserialization error; position and path are filled by the innermost
/// node that sees the error on its way up.
#[derive(Debug)]
pub(crate) struct DeError {
    pub message: String,
    pub pos: Option<Pos>,
    pub path: Option<FieldPath>,
    /// The required field that is missing, when that is the error.
    pub missing: Option<&'static str>,
}

impl DeError {
    fn new(message: String) -> Self {
        DeError { message, pos: None, path: None, missing: None }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(format!("expected {}, got {}", plain_expected(exp), plain_unexpected(&unexp)))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(format!("expected {}, got {}", plain_expected(exp), plain_unexpected(&unexp)))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut msg = format!("unknown field {field:?}");
        match suggest::closest(field, expected) {
            Some(s) => msg.push_str(&format!(", did you mean {s:?}?")),
            None if expected.is_empty() => msg.push_str("; no fields are allowed here"),
            None => msg.push_str(&format!("; valid fields are: {}", expected.join(", "))),
        }
        if field == "<<" {
            msg.push_str(" (YAML merge keys are not supported)");
        }
        DeError::new(msg)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let list = expected.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(" or ");
        let mut msg = format!("expected {list}, got {}", quote_for_message(variant));
        if let Some(s) = suggest::closest(variant, expected) {
            msg.push_str(&format!("; did you mean {s:?}?"));
        }
        DeError::new(msg)
    }

    fn missing_field(field: &'static str) -> Self {
        DeError { missing: Some(field), ..DeError::new(format!("missing required field {field:?}")) }
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::new(format!("field {field:?} is given twice"))
    }
}

/// serde's "expected" texts, in words for people who write YAML, not Rust.
fn plain_expected(exp: &dyn de::Expected) -> String {
    let e = exp.to_string();
    match e.as_str() {
        "a string" | "string" | "a borrowed string" => "a string".into(),
        "path string" => "a path".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        _ if e.starts_with("struct ") => "a mapping of fields".into(),
        _ if e.starts_with("enum ") => "one of the listed values".into(),
        _ => e,
    }
}

fn plain_unexpected(u: &de::Unexpected<'_>) -> String {
    use de::Unexpected as U;
    match u {
        U::Str(s) => quote_for_message(s),
        U::Unsigned(n) => n.to_string(),
        U::Signed(n) => n.to_string(),
        U::Float(f) => f.to_string(),
        U::Bool(b) => b.to_string(),
        U::Unit | U::Option => "an empty value".into(),
        U::Seq => "a list".into(),
        U::Map => "a mapping".into(),
        other => other.to_string(),
    }
}

/// Deserialize `T` from a node; errors carry position and path.
pub(crate) fn from_node<'de, T: serde::Deserialize<'de>>(node: &Node) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, path: FieldPath::root() })
}

struct NodeDe<'a> {
    node: &'a Node,
    path: FieldPath,
}

impl NodeDe<'_> {
    /// Give an error from below the position and path of this node unless a
    /// deeper node already did.
    fn locate(&self, mut e: DeError) -> DeError {
        if e.pos.is_none() {
            e.pos = Some(self.node.pos);
        }
        if e.path.is_none() {
            e.path = Some(self.path.clone());
        }
        e
    }

    fn fail<T>(&self, message: String) -> Result<T, DeError> {
        Err(self.locate(DeError::new(message)))
    }

    fn got(&self) -> String {
        self.node.describe()
    }

    fn resolved(&self) -> Option<Resolved> {
        match &self.node.value {
            Value::Scalar(s) => Some(s.resolve()),
            _ => None,
        }
    }

    /// An integer in `min..=max`, with a message in words otherwise.
    fn integer(&self, min: i128, max: i128) -> Result<i128, DeError> {
        let what = if min == 0 { "a whole number (0 or more)" } else { "a whole number" };
        match self.resolved() {
            Some(Resolved::Int(n)) if (min..=max).contains(&n) => Ok(n),
            Some(Resolved::Int(n)) if n < min => self.fail(format!("expected {what}, got {}", self.got())),
            Some(Resolved::Int(_) | Resolved::HugeInt) => {
                self.fail(format!("expected a whole number up to {max}, got {}", self.got()))
            }
            Some(Resolved::Str) if self.quoted_number() => {
                self.fail(format!("expected {what}, got the string {} (remove the quotes)", self.got()))
            }
            _ => self.fail(format!("expected {what}, got {}", self.got())),
        }
    }

    fn float(&self) -> Result<f64, DeError> {
        match self.resolved() {
            Some(Resolved::Int(n)) => Ok(n as f64),
            Some(Resolved::Float(f)) => Ok(f),
            Some(Resolved::Str) if self.quoted_number() => {
                self.fail(format!("expected a number, got the string {} (remove the quotes)", self.got()))
            }
            _ => self.fail(format!("expected a number, got {}", self.got())),
        }
    }

    fn quoted_number(&self) -> bool {
        match &self.node.value {
            Value::Scalar(s) => !s.plain && s.text.trim().parse::<f64>().is_ok(),
            _ => false,
        }
    }
}

macro_rules! deserialize_int {
    ($method:ident, $visit:ident, $t:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let n = self.integer(<$t>::MIN as i128, <$t>::MAX as i128)?;
            // In range by construction; the conversion cannot fail.
            let n = <$t>::try_from(n).map_err(|_| self.locate(DeError::new("integer out of range".into())))?;
            let r = visitor.$visit(n);
            r.map_err(|e| self.locate(e))
        }
    };
}

impl<'de> Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Seq(_) => return self.deserialize_seq(visitor),
            Value::Map(_) => return self.deserialize_map(visitor),
            Value::Scalar(s) => match s.resolve() {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(n) => match (u64::try_from(n), i64::try_from(n)) {
                    (Ok(u), _) => visitor.visit_u64(u),
                    (_, Ok(i)) => visitor.visit_i64(i),
                    _ => visitor.visit_i128(n),
                },
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::HugeInt | Resolved::Str => visitor.visit_str(&s.text),
            },
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.resolved() {
            Some(Resolved::Bool(b)) => {
                let r = visitor.visit_bool(b);
                r.map_err(|e| self.locate(e))
            }
            _ => self.fail(format!("expected true or false, got {}", self.got())),
        }
    }

    deserialize_int!(deserialize_i8, visit_i8, i8);
    deserialize_int!(deserialize_i16, visit_i16, i16);
    deserialize_int!(deserialize_i32, visit_i32, i32);
    deserialize_int!(deserialize_i64, visit_i64, i64);
    deserialize_int!(deserialize_u8, visit_u8, u8);
    deserialize_int!(deserialize_u16, visit_u16, u16);
    deserialize_int!(deserialize_u32, visit_u32, u32);
    deserialize_int!(deserialize_u64, visit_u64, u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let f = self.float()?;
        let r = visitor.visit_f32(f as f32);
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let f = self.float()?;
        let r = visitor.visit_f64(f);
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar(s) if !s.is_null() => {
                let r = visitor.visit_str(&s.text);
                r.map_err(|e| self.locate(e))
            }
            _ => self.fail(format!("expected a string, got {}", self.got())),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(NodeDe { node: self.node, path: self.path.clone() })
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            let r = visitor.visit_unit();
            r.map_err(|e| self.locate(e))
        } else {
            self.fail(format!("expected an empty value, got {}", self.got()))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        let path = self.path.clone();
        let r = visitor.visit_newtype_struct(NodeDe { node: self.node, path });
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let items: &[Node] = match &self.node.value {
            Value::Seq(items) => items,
            _ if self.node.is_null() => &[],
            _ => return self.fail(format!("expected a list, got {}", self.got())),
        };
        let r = visitor.visit_seq(Seq { items: items.iter().enumerate(), path: &self.path });
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let entries: &[crate::yaml::Entry] = match &self.node.value {
            Value::Map(entries) => entries,
            _ if self.node.is_null() => &[],
            _ => return self.fail(format!("expected a mapping (key: value lines), got {}", self.got())),
        };
        let r = visitor.visit_map(Map { entries: entries.iter(), value: None, path: &self.path });
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar(s) if !s.is_null() => {
                let r = visitor.visit_enum(s.text.as_str().into_deserializer());
                r.map_err(|e: DeError| self.locate(e))
            }
            _ => {
                let list = variants.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(" or ");
                self.fail(format!("expected {list}, got {}", self.got()))
            }
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = visitor.visit_unit();
        r.map_err(|e| self.locate(e))
    }
}

struct Seq<'a, I> {
    items: I,
    path: &'a FieldPath,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Node)>> SeqAccess<'de> for Seq<'a, I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => {
                let de = NodeDe { node, path: self.path.index(i) };
                let ctx = NodeDe { node, path: de.path.clone() };
                seed.deserialize(de).map(Some).map_err(|e| ctx.locate(e))
            }
        }
    }
}

struct Map<'a, I> {
    entries: I,
    value: Option<(&'a Node, FieldPath)>,
    path: &'a FieldPath,
}

impl<'de, 'a, I: Iterator<Item = &'a crate::yaml::Entry>> MapAccess<'de> for Map<'a, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        let key_text = entry.key.scalar_text().unwrap_or_default();
        let path = self.path.key(key_text);
        self.value = Some((&entry.value, path.clone()));
        let ctx = NodeDe { node: &entry.key, path: path.clone() };
        seed.deserialize(NodeDe { node: &entry.key, path }).map(Some).map_err(|e| ctx.locate(e))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((node, path)) = self.value.take() else {
            return Err(DeError::new("internal error: value requested before key".into()));
        };
        let ctx = NodeDe { node, path: path.clone() };
        seed.deserialize(NodeDe { node, path }).map_err(|e| ctx.locate(e))
    }
}
