//! Scalar types with a human syntax: memory quantities (`4Gi`, `512M`) and
//! durations (`2h30m`, `90s`).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte quantity written like Kubernetes quantities: `4Gi`, `512M`, `1024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(with = "String")]
pub struct Quantity(pub u64);

impl Quantity {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

/// A wall-clock duration written like `2h30m`, `45s`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(with = "String")]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn as_std(self) -> std::time::Duration {
        self.0
    }
}

// Parsing is filled in by the spec parser; these keep the crate compiling.
impl std::str::FromStr for Quantity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse::<u64>().map(Quantity).map_err(|_| format!("expected a quantity like 4Gi, got {s:?}"))
    }
}
impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.trim_end_matches('s')
            .parse::<u64>()
            .map(|n| Duration(std::time::Duration::from_secs(n)))
            .map_err(|_| format!("expected a duration like 2h30m, got {s:?}"))
    }
}
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs())
    }
}
macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(Quantity);
serde_via_str!(Duration);
