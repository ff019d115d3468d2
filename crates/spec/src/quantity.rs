//! Byte quantities written like Kubernetes quantities: `4Gi`, `512M`, `1.5Gi`,
//! `1048576`.
//!
//! Suffixes: binary `Ki Mi Gi Ti Pi Ei` (powers of 1024) and decimal
//! `k`/`K M G T P E` (powers of 1000). A decimal fraction is allowed when the
//! result is a whole number of bytes (`1.5Gi` yes, `0.1Ki` no). All arithmetic
//! is checked: anything beyond `u64` is an error, never a wrap or a panic.
//! Displayed in the shortest exact form (`4294967296` → `4Gi`), so
//! `parse(display(q)) == q`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte quantity written like Kubernetes quantities: `4Gi`, `512M`, `1024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(pub u64);

impl Quantity {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

/// A value (quantity, duration) that does not parse; says what was expected
/// and, where we can guess, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got}{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct ParseValueError {
    expected: &'static str,
    got: String,
    hint: Option<String>,
}

impl ParseValueError {
    pub(crate) fn new(expected: &'static str, got: impl fmt::Display, hint: Option<String>) -> Self {
        ParseValueError { expected, got: got.to_string(), hint }
    }
}

const EXPECTED: &str = "a quantity like 4Gi or 512M";

/// Regex the JSON Schema uses for the string form.
pub(crate) const PATTERN: &str = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E)?$";

const BINARY: [(&str, u64); 6] =
    [("Ei", 1 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)];
const DECIMAL: [(&str, u64); 6] = [
    ("E", 1_000_000_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("T", 1_000_000_000_000),
    ("G", 1_000_000_000),
    ("M", 1_000_000),
    ("k", 1_000),
];

fn multiplier(suffix: &str) -> Option<u64> {
    if suffix.is_empty() {
        return Some(1);
    }
    if suffix == "K" {
        return Some(1000);
    }
    BINARY.iter().chain(DECIMAL.iter()).find(|(s, _)| *s == suffix).map(|(_, m)| *m)
}

impl FromStr for Quantity {
    type Err = ParseValueError;

    fn from_str(input: &str) -> Result<Self, ParseValueError> {
        let err = |hint: Option<String>| ParseValueError::new(EXPECTED, format!("{input:?}"), hint);
        let s = input.trim();
        if s.is_empty() {
            return Err(err(None));
        }
        if s.starts_with('-') {
            return Err(err(Some("must not be negative".into())));
        }
        let number_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        let (number, suffix) = s.split_at(number_end);
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() || (number.contains('.') && frac.is_empty()) || frac.contains('.') {
            return Err(err(None));
        }
        let Some(mult) = multiplier(suffix) else {
            return Err(err(Some(suffix_hint(int, suffix))));
        };
        let digits = int.bytes().chain(frac.bytes());
        let too_large = || err(Some(format!("larger than the maximum, {}", Quantity(u64::MAX))));
        let mut mantissa: u128 = 0;
        for d in digits {
            mantissa =
                mantissa.checked_mul(10).and_then(|m| m.checked_add(u128::from(d - b'0'))).ok_or_else(too_large)?;
        }
        let scale = u32::try_from(frac.len())
            .ok()
            .and_then(|n| 10u128.checked_pow(n))
            .ok_or_else(|| err(Some("too many digits".into())))?;
        let total = mantissa.checked_mul(u128::from(mult)).ok_or_else(too_large)?;
        if total % scale != 0 {
            return Err(err(Some("not a whole number of bytes".into())));
        }
        u64::try_from(total / scale).map(Quantity).map_err(|_| too_large())
    }
}

/// Why a suffix is wrong, with the likely intended spelling.
fn suffix_hint(number: &str, suffix: &str) -> String {
    if suffix == "m" {
        return format!("a lowercase \"m\" means thousandths; did you mean \"{number}M\" or \"{number}Mi\"?");
    }
    let upper = suffix.to_ascii_uppercase();
    let stem = ["IB", "B", "I"].iter().find_map(|t| upper.strip_suffix(t)).unwrap_or(&upper);
    if let Some(letter) = stem.chars().next().filter(|_| stem.len() == 1) {
        let dec = if letter == 'K' { 'k' } else { letter };
        if multiplier(&dec.to_string()).is_some() {
            return format!("did you mean \"{number}{dec}\" or \"{number}{letter}i\"?");
        }
    }
    "units are Ki Mi Gi Ti Pi Ei (powers of 1024) or k M G T P E (powers of 1000)".into()
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        let largest = |table: &[(&str, u64)]| {
            table.iter().find(|(_, m)| b != 0 && b.checked_rem(*m) == Some(0)).map(|(s, m)| format!("{}{s}", b / m))
        };
        let plain = b.to_string();
        // Shortest wins; on a tie binary before decimal before plain bytes.
        let best = [largest(&BINARY), largest(&DECIMAL)]
            .into_iter()
            .flatten()
            .chain(std::iter::once(plain))
            .min_by_key(String::len)
            .unwrap_or_default();
        f.write_str(&best)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// A string with a suffix, or a bare non-negative integer of bytes.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        Ok(Quantity(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        u64::try_from(v)
            .map(Quantity)
            .map_err(|_| E::custom(ParseValueError::new(EXPECTED, v, Some("must not be negative".into()))))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Quantity, E> {
        let hint = if v < 0 {
            "must not be negative".to_string()
        } else {
            format!("larger than the maximum, {}", Quantity(u64::MAX))
        };
        Err(E::custom(ParseValueError::new(EXPECTED, v, Some(hint))))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        // Whole floats (`1e9`) are exact up to 2^53.
        if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9_007_199_254_740_992.0 {
            return Ok(Quantity(v as u64));
        }
        Err(E::custom(ParseValueError::new(EXPECTED, v, Some("not a whole number of bytes".into()))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        v.parse().map_err(E::custom)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Bytes: an integer, or a number with a suffix Ki Mi Gi Ti Pi Ei (powers of 1024) or k M G T P E (powers of 1000), e.g. 4Gi, 512M, 1.5Gi.",
            "type": ["string", "integer"],
            "pattern": PATTERN,
            "minimum": 0,
            "examples": ["4Gi", "512M"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<u64, String> {
        s.parse::<Quantity>().map(Quantity::bytes).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_suffixes_and_fractions() {
        assert_eq!(q("0"), Ok(0));
        assert_eq!(q("1024"), Ok(1024));
        assert_eq!(q("4Gi"), Ok(4 << 30));
        assert_eq!(q("512M"), Ok(512_000_000));
        assert_eq!(q("2k"), Ok(2000));
        assert_eq!(q("2K"), Ok(2000));
        assert_eq!(q("1.5Gi"), Ok(3 << 29));
        assert_eq!(q("1.50Ki"), Ok(1536));
        assert_eq!(q("15Ei"), Ok(15 << 60));
        assert_eq!(q(" 7Mi "), Ok(7 << 20));
        assert_eq!(q("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(q("lots").unwrap_err(), r#"expected a quantity like 4Gi or 512M, got "lots""#);
        assert_eq!(
            q("4X").unwrap_err(),
            r#"expected a quantity like 4Gi or 512M, got "4X" (units are Ki Mi Gi Ti Pi Ei (powers of 1024) or k M G T P E (powers of 1000))"#
        );
        assert_eq!(q("").unwrap_err(), r#"expected a quantity like 4Gi or 512M, got """#);
        assert!(q("-1Gi").unwrap_err().ends_with("(must not be negative)"));
        assert!(q("0.1Ki").unwrap_err().ends_with("(not a whole number of bytes)"));
        assert!(q("1.5").unwrap_err().ends_with("(not a whole number of bytes)"));
        assert!(q("16Ei").unwrap_err().contains("larger than the maximum"));
        assert!(q("18446744073709551616").unwrap_err().contains("larger than the maximum"));
        assert!(q("99999999999999999999999999999999999999999999").unwrap_err().contains("larger than the maximum"));
        assert!(q("512m").unwrap_err().contains(r#"did you mean "512M" or "512Mi"?"#));
        assert!(q("4GB").unwrap_err().contains(r#"did you mean "4G" or "4Gi"?"#));
        assert!(q("4gib").unwrap_err().contains(r#"did you mean "4G" or "4Gi"?"#));
        for bad in ["Gi", ".5Gi", "5.Gi", "1.2.3", "4 Gi", "+4", "0x10", "1e3"] {
            assert!(q(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn displays_shortest_exact_form() {
        let d = |n: u64| Quantity(n).to_string();
        assert_eq!(d(0), "0");
        assert_eq!(d(1), "1");
        assert_eq!(d(1000), "1k");
        assert_eq!(d(1024), "1Ki");
        assert_eq!(d(4294967296), "4Gi");
        assert_eq!(d(2_048_000), "2048k");
        assert_eq!(d(1536), "1536");
        assert_eq!(d(u64::MAX), "18446744073709551615");
    }
}
