//! "Did you mean ...?" for misspelt keys and values.

/// Names people bring from other tools, mapped to ours. Only used when the
/// target is actually valid at that spot.
const ALIASES: &[(&str, &str)] = &[
    ("cmd", "command"),
    ("args", "command"),
    ("entrypoint", "command"),
    ("script", "run"),
    ("shell", "run"),
    ("environment", "env"),
    ("envs", "env"),
    ("working_dir", "workdir"),
    ("workingdir", "workdir"),
    ("cwd", "workdir"),
    ("dir", "workdir"),
    ("mem", "memory"),
    ("ram", "memory"),
    ("cpu", "cpus"),
    ("gpu", "gpus"),
    ("replicas", "nodes"),
    ("retry", "retries"),
    ("input", "inputs"),
    ("output", "outputs"),
    ("pvc_name", "pvc"),
    ("claim", "pvc"),
];

/// The candidate closest to `input`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = input.to_ascii_lowercase();
    if let Some(c) = candidates.iter().find(|c| c.eq_ignore_ascii_case(input)) {
        return Some(c);
    }
    if let Some((_, target)) = ALIASES.iter().find(|(alias, _)| *alias == lower) {
        if let Some(c) = candidates.iter().find(|c| *c == target) {
            return Some(c);
        }
    }
    // `gpu-type` for `gpu_type`.
    let normalized = lower.replace('-', "_");
    if let Some(c) = candidates.iter().find(|c| **c == normalized) {
        return Some(c);
    }
    // `data` for `data_dir`: a unique candidate extending what was typed.
    if lower.len() >= 3 {
        let mut extending = candidates.iter().filter(|c| c.to_ascii_lowercase().starts_with(&lower));
        if let (Some(c), None) = (extending.next(), extending.next()) {
            return Some(c);
        }
    }
    let max = (input.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    const FIELDS: &[&str] = &["name", "resources", "command", "run", "env", "workdir", "gpus", "gpu_type"];

    #[test]
    fn typos_aliases_and_case() {
        assert_eq!(closest("resource", FIELDS), Some("resources"));
        assert_eq!(closest("comand", FIELDS), Some("command"));
        assert_eq!(closest("cmd", FIELDS), Some("command"));
        assert_eq!(closest("environment", FIELDS), Some("env"));
        assert_eq!(closest("Name", FIELDS), Some("name"));
        assert_eq!(closest("gpu-type", FIELDS), Some("gpu_type"));
        assert_eq!(closest("wrokdir", FIELDS), Some("workdir"));
        assert_eq!(closest("data", &["data_dir", "model_dir"]), Some("data_dir"));
        // Ambiguous prefixes suggest nothing.
        assert_eq!(closest("gpu_t", &["gpu_type", "gpu_total"]), None);
    }

    #[test]
    fn nothing_close_means_no_suggestion() {
        assert_eq!(closest("zzzzzz", FIELDS), None);
        assert_eq!(closest("x", &[]), None);
        // An alias whose target is not valid here is not suggested.
        assert_eq!(closest("cwd", &["name"]), None);
    }
}
