//! Wall-clock durations written like `2h30m`, `90s`, `1d`, `1h 30m`, `500ms`,
//! `1.5h`.
//!
//! A duration is one or more `<number><unit>` parts (spaces allowed), largest unit first, each
//! unit at most once, optionally separated by spaces. Units: `d` (24 h, no
//! calendar), `h`, `m`, `s`, `ms`, `us`, `ns`. A part may have a decimal
//! fraction (`1.5h` = 90 minutes) as long as the total is a whole number of
//! nanoseconds. A bare YAML integer means seconds (`timeout: 90`); a string
//! needs a unit. Zero, negatives and values past `std::time::Duration::MAX`
//! are errors. Display is the exact canonical form (`5400s` → `1h30m`), so
//! `parse(display(d)) == d`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::quantity::ParseValueError;

/// A wall-clock duration written like `2h30m`, `45s`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn as_std(self) -> std::time::Duration {
        self.0
    }
}

const EXPECTED: &str = "a duration like 2h30m";

/// Regex the JSON Schema uses for the string form.
pub(crate) const PATTERN: &str = r"^ *([0-9]+(\.[0-9]+)? *(d|h|m|s|ms|us|ns) *)+$";

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Units, largest first, with their length in nanoseconds.
const UNITS: [(&str, u128); 7] = [
    ("d", 86_400 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

impl FromStr for Duration {
    type Err = ParseValueError;

    fn from_str(input: &str) -> Result<Self, ParseValueError> {
        let err = |hint: Option<String>| ParseValueError::new(EXPECTED, format!("{input:?}"), hint);
        let mut rest = input.trim();
        if rest.is_empty() {
            return Err(err(None));
        }
        if rest.starts_with('-') {
            return Err(err(Some("must be positive".into())));
        }
        if rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(Some(format!("add a unit, e.g. {rest}s"))));
        }
        let mut total: u128 = 0;
        let mut last_unit: Option<usize> = None;
        while !rest.is_empty() {
            let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
            let (number, after) = rest.split_at(number_end);
            let after = after.trim_start();
            let unit_end = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_end);
            if number.is_empty() {
                return Err(err(None));
            }
            let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(err(Some(unit_hint(unit))));
            };
            if last_unit.is_some_and(|last| idx <= last) {
                return Err(err(Some("units must go from largest to smallest, each at most once".into())));
            }
            last_unit = Some(idx);
            let part = scaled(number, UNITS[idx].1).ok_or_else(|| err(None))?;
            total =
                total.checked_add(part.map_err(|h| err(Some(h.into())))?).ok_or_else(|| err(Some(TOO_LONG.into())))?;
            rest = after.trim_start();
        }
        if total == 0 {
            return Err(err(Some("must be longer than zero".into())));
        }
        from_nanos(total).ok_or_else(|| err(Some(TOO_LONG.into())))
    }
}

const TOO_LONG: &str = "too long";

/// `number` (digits, optional `.digits`) times `unit` nanoseconds.
/// `None`: not a number; `Some(Err)`: a number with a problem.
fn scaled(number: &str, unit: u128) -> Option<Result<u128, &'static str>> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() || (number.contains('.') && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let mut mantissa: u128 = 0;
    for d in int.bytes().chain(frac.bytes()) {
        match mantissa.checked_mul(10).and_then(|m| m.checked_add(u128::from(d - b'0'))) {
            Some(m) => mantissa = m,
            None => return Some(Err(TOO_LONG)),
        }
    }
    let Some(scale) = u32::try_from(frac.len()).ok().and_then(|n| 10u128.checked_pow(n)) else {
        return Some(Err("too many digits"));
    };
    let Some(total) = mantissa.checked_mul(unit) else {
        return Some(Err(TOO_LONG));
    };
    if total % scale != 0 {
        return Some(Err("finer than a nanosecond"));
    }
    Some(Ok(total / scale))
}

fn from_nanos(total: u128) -> Option<Duration> {
    let secs = u64::try_from(total / NANOS_PER_SEC).ok()?;
    let nanos = u32::try_from(total % NANOS_PER_SEC).ok()?;
    Some(Duration(std::time::Duration::new(secs, nanos)))
}

fn unit_hint(unit: &str) -> String {
    let lower = unit.to_ascii_lowercase();
    let guess = match lower.as_str() {
        "" => return "every number needs a unit: d h m s ms us ns".into(),
        "sec" | "secs" | "second" | "seconds" => Some("s"),
        "min" | "mins" | "minute" | "minutes" => Some("m"),
        "hr" | "hrs" | "hour" | "hours" => Some("h"),
        "day" | "days" => Some("d"),
        "msec" | "msecs" | "millisecond" | "milliseconds" => Some("ms"),
        "µs" | "usec" | "microsecond" | "microseconds" => Some("us"),
        _ => UNITS.iter().find(|(u, _)| *u == lower).map(|(u, _)| *u),
    };
    match guess {
        Some(u) => format!("unknown unit {unit:?}, did you mean {u:?}? units are d h m s ms us ns"),
        None => format!("unknown unit {unit:?}; units are d h m s ms us ns"),
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0.as_nanos();
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in UNITS {
            let n = rest / len;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                rest %= len;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    /// A string with units, or a bare positive integer of seconds.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        if v == 0 {
            return Err(E::custom(ParseValueError::new(EXPECTED, v, Some("must be longer than zero".into()))));
        }
        Ok(Duration(std::time::Duration::from_secs(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(ParseValueError::new(EXPECTED, v, Some("must be positive".into())))),
        }
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Duration, E> {
        let hint = if v < 0 { "must be positive" } else { TOO_LONG };
        Err(E::custom(ParseValueError::new(EXPECTED, v, Some(hint.into()))))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(ParseValueError::new(EXPECTED, v, Some(format!("add a unit, e.g. {v}s")))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        v.parse().map_err(E::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: parts like 2h30m, 90s, 1d, 500ms, 1.5h (units d h m s ms us ns, largest first), or an integer number of seconds.",
            "type": ["string", "integer"],
            "pattern": PATTERN,
            "minimum": 1,
            "examples": ["2h30m", "90s"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Result<f64, String> {
        s.parse::<Duration>().map(|d| d.0.as_secs_f64()).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_parts_fractions_and_spaces() {
        assert_eq!(secs("90s"), Ok(90.0));
        assert_eq!(secs("2h30m"), Ok(9000.0));
        assert_eq!(secs("1h 30m"), Ok(5400.0));
        assert_eq!(secs("1d"), Ok(86400.0));
        assert_eq!(secs("500ms"), Ok(0.5));
        assert_eq!(secs("1.5h"), Ok(5400.0));
        assert_eq!(secs("1m0.25s"), Ok(60.25));
        assert_eq!(secs("1ns"), Ok(1e-9));
        assert_eq!(secs(" 2h "), Ok(7200.0));
    }

    #[test]
    fn rejects_with_reasons() {
        let e = |s: &str| secs(s).unwrap_err();
        assert_eq!(e("soon"), r#"expected a duration like 2h30m, got "soon""#);
        assert_eq!(
            e("5 soon"),
            r#"expected a duration like 2h30m, got "5 soon" (unknown unit "soon"; units are d h m s ms us ns)"#
        );
        assert_eq!(
            e("1h30"),
            r#"expected a duration like 2h30m, got "1h30" (every number needs a unit: d h m s ms us ns)"#
        );
        assert_eq!(e("0s"), r#"expected a duration like 2h30m, got "0s" (must be longer than zero)"#);
        assert_eq!(e("90"), r#"expected a duration like 2h30m, got "90" (add a unit, e.g. 90s)"#);
        assert!(e("-5m").ends_with("(must be positive)"));
        assert!(e("30m1h").ends_with("(units must go from largest to smallest, each at most once)"));
        assert!(e("1m1m").contains("largest to smallest"));
        assert!(e("2 hours").contains(r#"did you mean "h"?"#));
        assert!(e("2H").contains(r#"did you mean "h"?"#));
        assert!(e("0.5ns").ends_with("(finer than a nanosecond)"));
        assert!(e("999999999999999999999999d").ends_with("(too long)"));
        assert!(e("213503982334602d").ends_with("(too long)"));
        for bad in ["", "h", ".5h", "1.h", "1.2.3s", "1h-30m", "1h,30m"] {
            assert!(secs(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        let d = |s: &str| s.parse::<Duration>().unwrap().to_string();
        assert_eq!(d("5400s"), "1h30m");
        assert_eq!(d("1.5h"), "1h30m");
        assert_eq!(d("36h"), "1d12h");
        assert_eq!(d("1500ms"), "1s500ms");
        assert_eq!(
            Duration(std::time::Duration::MAX).to_string().parse::<Duration>().unwrap(),
            Duration(std::time::Duration::MAX)
        );
    }
}
