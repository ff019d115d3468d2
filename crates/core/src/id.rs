//! Workload ids: 32 lowercase hex digits, abbreviable like git hashes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A workload's identity, unique across contexts and runtimes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkloadId(String);

/// Characters shown by `ferry ps` (like docker's 12).
pub const SHORT_LEN: usize = 12;

impl WorkloadId {
    pub fn random() -> Self {
        WorkloadId(format!("{:032x}", rand::random::<u128>()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn short(&self) -> &str {
        &self.0[..SHORT_LEN]
    }
}

impl fmt::Display for WorkloadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for WorkloadId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(WorkloadId(s.to_owned()))
        } else {
            Err(format!("not a workload id (32 lowercase hex digits): {s:?}"))
        }
    }
}

impl TryFrom<String> for WorkloadId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<WorkloadId> for String {
    fn from(id: WorkloadId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_parse_back_and_differ() {
        let a = WorkloadId::random();
        let b = WorkloadId::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<WorkloadId>().unwrap(), a);
        assert_eq!(a.short().len(), SHORT_LEN);
        assert!("xyz".parse::<WorkloadId>().is_err());
        assert!("ABCDEF0123456789ABCDEF0123456789".parse::<WorkloadId>().is_err());
    }
}
