//! What a workload sees the same way in every container runtime (OCI,
//! Docker): rules kept here so that no runtime picks its own.

/// The hostname inside the container: the workload's name, without the
/// characters a hostname cannot hold (`_`, `.`), at most 63 of them; `ferry`
/// when nothing is left.
pub fn hostname(workload_name: &str) -> String {
    let h: String = workload_name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(63).collect();
    if h.is_empty() {
        "ferry".into()
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_is_the_name_as_a_hostname_can_hold_it() {
        assert_eq!(hostname("web-1"), "web-1");
        assert_eq!(hostname("train_v2.final"), "trainv2final");
        assert_eq!(hostname("_."), "ferry");
        assert_eq!(hostname(&"a".repeat(70)).len(), 63);
    }
}
