//! Rules that types alone cannot express, checked after deserialization.
//!
//! Each rule reports an [`Issue`] naming the field (and whether the key or
//! the value is at fault); the caller turns the path back into a line and
//! column through the YAML tree. Rules look only at the [`Workload`], so they
//! hold for any source of one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use crate::field_path::FieldPath;
use crate::model::{Binding, Kind, Workload};
use crate::suggest;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub path: FieldPath,
    /// The key itself is wrong (e.g. an invalid env var name), not its value.
    pub on_key: bool,
    pub message: String,
}

#[derive(Default)]
struct Issues(Vec<Issue>);

impl Issues {
    fn value(&mut self, path: FieldPath, message: impl Into<String>) {
        self.0.push(Issue { path, on_key: false, message: message.into() });
    }

    fn key(&mut self, path: FieldPath, message: impl Into<String>) {
        self.0.push(Issue { path, on_key: true, message: message.into() });
    }
}

/// Every broken rule in `w`, in field order.
pub(crate) fn check(w: &Workload) -> Vec<Issue> {
    let mut out = Issues::default();
    let p = FieldPath::of;
    check_name(&w.name, &mut out);
    check_program(w, &mut out);
    if let Some(image) = &w.image {
        if image.trim().is_empty() {
            out.value(p(&["image"]), "must not be empty (leave `image` out to run as a host process)");
        } else if image.chars().any(char::is_whitespace) {
            out.value(p(&["image"]), format!("image references cannot contain spaces, got {image:?}"));
        }
    }
    if let Some(dir) = &w.workdir {
        if let Err(m) = relative_inside(dir) {
            out.value(p(&["workdir"]), m);
        }
    }
    for (k, v) in &w.env {
        if !is_identifier(k) {
            out.key(p(&["env", k]), format!("{k:?} is not a valid environment variable name: use letters, digits and '_', not starting with a digit"));
        } else if k.to_ascii_uppercase().starts_with("FERRY_IO_") {
            out.key(
                p(&["env", k]),
                "names starting with FERRY_IO_ are reserved: Ferry sets them for inputs and outputs",
            );
        }
        if v.contains('\0') {
            out.value(p(&["env", k]), "must not contain a NUL character");
        }
    }
    check_resources(w, &mut out);
    for (field, n) in [("nodes", w.nodes), ("tasks_per_node", w.tasks_per_node)] {
        if n < 1 {
            out.value(p(&[field]), format!("must be at least 1, got {n}"));
        }
    }
    if w.mpi.as_deref().is_some_and(|m| m.trim().is_empty()) {
        out.value(p(&["mpi"]), "must not be empty (leave `mpi` out for no MPI)");
    }
    check_ports(w, &mut out);
    check_bindings(w, &mut out);
    if let Some(b) = &w.build {
        if b.base.trim().is_empty() {
            out.value(p(&["build", "base"]), "must not be empty: name the base image, e.g. python:3.11-slim");
        }
        for (i, step) in b.setup.iter().enumerate() {
            if step.trim().is_empty() {
                out.value(p(&["build", "setup"]).index(i), "a setup step must not be empty");
            }
        }
    }
    check_kubernetes(w, &mut out);
    check_slurm(w, &mut out);
    out.0
}

const NAME_RULE: &str =
    "use 1 to 63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit";

/// `^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$`: safe as a container, job,
/// Kubernetes object and file name alike.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&b.len())
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter().all(|c| edge(c) || matches!(c, b'_' | b'.' | b'-'))
}

fn check_name(name: &str, out: &mut Issues) {
    if is_valid_name(name) {
        return;
    }
    let mut msg = if name.is_empty() {
        format!("must not be empty: {NAME_RULE}")
    } else {
        format!("{name:?} is not a valid name: {NAME_RULE}")
    };
    let slug = slugify(name);
    if is_valid_name(&slug) && slug != name {
        msg.push_str(&format!(" (try {slug:?})"));
    }
    out.value(FieldPath::of(&["name"]), msg);
}

/// A valid name close to `name`, to suggest.
fn slugify(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.') {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s: String = s.trim_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(63).collect();
    s.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned()
}

fn check_program(w: &Workload, out: &mut Issues) {
    let p = FieldPath::of;
    match (&w.command, &w.run) {
        (Some(_), Some(_)) => out.value(
            p(&["run"]),
            "`command` and `run` cannot both be given: use `command` for a program and its arguments, or `run` for a shell script",
        ),
        (None, None) => out.value(
            FieldPath::root(),
            "missing `command` or `run`: give `command` (a program and its arguments) or `run` (a shell script)",
        ),
        _ => {}
    }
    if let Some(cmd) = &w.command {
        match cmd.first() {
            None => out.value(
                p(&["command"]),
                "must not be empty: give the program and its arguments, e.g. [\"python\", \"train.py\"]",
            ),
            Some(prog) if prog.trim().is_empty() => {
                out.value(p(&["command"]).index(0), "the program name must not be empty")
            }
            _ => {}
        }
        for (i, arg) in cmd.iter().enumerate() {
            if arg.contains('\0') {
                out.value(p(&["command"]).index(i), "must not contain a NUL character");
            }
        }
    }
    if let Some(run) = &w.run {
        if run.trim().is_empty() {
            out.value(p(&["run"]), "the script must not be empty");
        } else if run.contains('\0') {
            out.value(p(&["run"]), "must not contain a NUL character");
        }
    }
}

/// Linux's PID_MAX_LIMIT: a larger pids limit means nothing.
const PIDS_MAX: u64 = 4_194_304;

fn check_resources(w: &Workload, out: &mut Issues) {
    let r = &w.resources;
    let p = |f: &str| FieldPath::of(&["resources", f]);
    if let Some(c) = r.cpus {
        if !(c.is_finite() && c > 0.0) {
            out.value(p("cpus"), format!("must be a number greater than 0, got {c}"));
        }
    }
    if r.memory.is_some_and(|m| m.bytes() == 0) {
        out.value(p("memory"), "must be more than 0 bytes (leave `memory` out for no limit)");
    }
    if let Some(t) = &r.gpu_type {
        if t.trim().is_empty() {
            out.value(p("gpu_type"), "must not be empty (leave `gpu_type` out to accept any GPU)");
        } else if r.gpus.unwrap_or(0) < 1 {
            out.value(p("gpu_type"), format!("gpu_type {t:?} needs `gpus` set to 1 or more"));
        }
    }
    if let Some(n) = r.pids {
        if !(1..=PIDS_MAX).contains(&n) {
            out.value(p("pids"), format!("must be from 1 to {PIDS_MAX}, got {n}"));
        }
    }
}

/// Kubernetes' IANA_SVC_NAME, so the same name works on every runtime.
fn is_port_name(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=15).contains(&b.len())
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-')
        && b.iter().any(u8::is_ascii_lowercase)
        && !s.contains("--")
}

fn check_ports(w: &Workload, out: &mut Issues) {
    if w.kind == Kind::Job && !w.ports.is_empty() {
        out.key(
            FieldPath::of(&["ports"]),
            "ports are published only for `kind: service`: a job runs to completion and nobody connects to it (set `kind: service`, or remove `ports`)",
        );
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut numbers: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, port) in w.ports.iter().enumerate() {
        let at = |f: &str| FieldPath::of(&["ports"]).index(i).key(f);
        if !is_port_name(&port.name) {
            out.value(at("name"), format!("{:?} is not a valid port name: use 1 to 15 lowercase letters, digits and '-', with at least one letter", port.name));
        }
        if port.port == 0 {
            out.value(at("port"), "must be from 1 to 65535, got 0");
        }
        if let Some(first) = names.insert(&port.name, i) {
            out.value(at("name"), format!("port name {:?} is already used by ports[{first}]", port.name));
        }
        if let Some(first) = numbers.insert(port.port, i) {
            out.value(at("port"), format!("port {} is already used by ports[{first}]", port.port));
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_bindings(w: &Workload, out: &mut Issues) {
    // Bindings become FERRY_IO_<NAME uppercased>: names equal up to case collide.
    let mut seen: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    let all = [("inputs", &w.inputs), ("outputs", &w.outputs)];
    for (section, map) in all {
        for (name, Binding { path }) in map {
            let key = FieldPath::of(&[section, name]);
            if !is_identifier(name) {
                out.key(key.clone(), format!("{name:?} is not a valid binding name: use letters, digits and '_', not starting with a digit (it becomes FERRY_IO_<NAME> and --<name>=)"));
            }
            match seen.get(&name.to_ascii_uppercase()) {
                Some((_, other)) if *other == name.as_str() => {
                    out.key(key.clone(), format!("{name:?} is both an input and an output; give them different names"));
                }
                Some((other_section, other)) => out.key(
                    key.clone(),
                    format!(
                        "{name:?} and {other_section}.{other} would both be passed as FERRY_IO_{}",
                        name.to_ascii_uppercase()
                    ),
                ),
                None => {
                    seen.insert(name.to_ascii_uppercase(), (section, name));
                }
            }
            if let Err(m) = relative_inside(path) {
                out.value(key.key("path"), m);
            }
        }
    }
}

/// A path relative to the workload file's directory that does not climb out
/// of it lexically (symlinks are the runtime's to check, at run time).
pub(crate) fn relative_inside(path: &Path) -> Result<(), String> {
    let shown = path.to_string_lossy();
    if shown.is_empty() {
        return Err("must not be empty (use \".\" for the workload file's directory)".into());
    }
    if shown.contains('\0') {
        return Err("must not contain a NUL character".into());
    }
    if path.is_absolute() || shown.starts_with('/') {
        return Err(format!("{shown:?} is absolute; write it relative to the workload file's directory"));
    }
    if shown.starts_with('~') {
        return Err(format!(
            "{shown:?}: `~` is not expanded; write the path relative to the workload file's directory"
        ));
    }
    let mut depth: usize = 0;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    format!("{shown:?} climbs out of the workload file's directory; paths must stay inside it")
                })?;
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("{shown:?} is absolute; write it relative to the workload file's directory"));
            }
        }
    }
    Ok(())
}

/// RFC 1123 label: what a Kubernetes namespace must be.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&b.len())
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// RFC 1123 subdomain: what a RuntimeClass name must be.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn check_kubernetes(w: &Workload, out: &mut Issues) {
    let Some(k) = &w.runtime.kubernetes else {
        return;
    };
    let p = |f: &str| FieldPath::of(&["runtime", "kubernetes", f]);
    if let Some(ns) = &k.namespace {
        if !is_dns_label(ns) {
            out.value(p("namespace"), format!("{ns:?} is not a valid namespace: use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit"));
        }
    }
    if let Some(rc) = &k.runtime_class {
        if !is_dns_subdomain(rc) {
            out.value(
                p("runtime_class"),
                format!("{rc:?} is not a valid RuntimeClass name: use lowercase letters, digits, '-' and '.'"),
            );
        }
    }
    let bindings: BTreeSet<&str> = w.inputs.keys().chain(w.outputs.keys()).map(String::as_str).collect();
    let candidates: Vec<&str> = bindings.iter().copied().collect();
    for (name, vol) in &k.volumes {
        let at = p("volumes").key(name);
        if !bindings.contains(name.as_str()) {
            let mut msg = format!("{name:?} is not an input or output");
            match suggest::closest(name, &candidates) {
                Some(s) => msg.push_str(&format!(", did you mean {s:?}?")),
                None if candidates.is_empty() => msg.push_str("; this workload has no inputs or outputs"),
                None => msg.push_str(&format!("; inputs and outputs are: {}", candidates.join(", "))),
            }
            out.key(at.clone(), msg);
        }
        if vol.pvc.trim().is_empty() {
            out.value(at.key("pvc"), "must not be empty: name the PersistentVolumeClaim");
        }
        if let Some(sub) = &vol.sub_path {
            if let Err(m) = relative_inside(Path::new(sub)) {
                out.value(at.key("sub_path"), m.replace("the workload file's directory", "the volume"));
            }
        }
    }
    for (i, s) in k.image_pull_secrets.iter().enumerate() {
        if s.trim().is_empty() {
            out.value(p("image_pull_secrets").index(i), "must not be empty");
        }
    }
}

fn check_slurm(w: &Workload, out: &mut Issues) {
    let Some(s) = &w.runtime.slurm else { return };
    let p = |f: &str| FieldPath::of(&["runtime", "slurm", f]);
    for (field, value) in [("partition", &s.partition), ("account", &s.account)] {
        if let Some(v) = value {
            if v.trim().is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                out.value(p(field), format!("must be a single word, got {v:?}"));
            }
        }
    }
    for (i, e) in s.extra.iter().enumerate() {
        // Each entry becomes one `#SBATCH` line; a line break would start another.
        if e.trim().is_empty() {
            out.value(p("extra").index(i), "must not be empty");
        } else if e.chars().any(char::is_control) {
            out.value(p("extra").index(i), "must not contain line breaks or control characters");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "mnist-train", "x.y_z-1", "0", &"a".repeat(63)] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "my job", &"a".repeat(64), "a/b", "é"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert_eq!(slugify("My Job!"), "my-job");
        assert_eq!(slugify("__x__"), "x");
    }

    #[test]
    fn relative_paths() {
        for ok in [".", "data", "a/../b", "./a/./b", "a/b/../../c"] {
            assert_eq!(relative_inside(Path::new(ok)), Ok(()), "{ok}");
        }
        for bad in ["", "/data", "..", "../x", "a/../../x", "~/data", "./.."] {
            assert!(relative_inside(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn identifiers_and_port_names() {
        assert!(is_identifier("_A1"));
        assert!(!is_identifier("1A"));
        assert!(!is_identifier("A-B"));
        assert!(!is_identifier(""));
        assert!(is_port_name("jupyter"));
        assert!(is_port_name("ssh-2"));
        assert!(!is_port_name("8888"));
        assert!(!is_port_name("a--b"));
        assert!(!is_port_name("Jupyter"));
        assert!(!is_port_name("a-very-long-port-name"));
    }
}
