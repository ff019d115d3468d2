//! Input/output bindings, resolved the same way for every runtime.
//!
//! Each binding is visible inside the workload at one path, passed as
//! `FERRY_IO_<NAME>` and, with `pass_io_as: args`, as `--<name>=<path>`.
//! Inputs must exist; outputs are created. Nothing may escape the directory
//! of the workload file, not even through a symlink.

use std::path::{Component, Path, PathBuf};

use ferry_spec::{PassIoAs, Workload};

use crate::RuntimeError;

/// Where containers see binding `name`.
pub fn container_path(name: &str) -> String {
    format!("/ferry/io/{name}")
}

/// The environment variable carrying binding `name`'s path.
pub fn env_var(name: &str) -> String {
    format!("FERRY_IO_{}", name.to_ascii_uppercase())
}

/// One binding resolved to an absolute host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedBinding {
    pub name: String,
    pub host_path: PathBuf,
    pub writable: bool,
}

/// Resolve every input and output of `w` against `spec_dir`, creating outputs.
pub fn resolve(spec_dir: &Path, w: &Workload) -> Result<Vec<ResolvedBinding>, RuntimeError> {
    let root = spec_dir
        .canonicalize()
        .map_err(RuntimeError::io(format!("cannot open workload directory {}", spec_dir.display())))?;
    let mut out = Vec::new();
    for (name, b) in &w.inputs {
        let path = confined(&root, &b.path, &format!("inputs.{name}.path"))?;
        let real = path.canonicalize().map_err(|_| {
            RuntimeError::InvalidWorkload(format!(
                "inputs.{name}.path: {} does not exist (inputs must exist before the workload starts)",
                path.display()
            ))
        })?;
        check_inside(&root, &real, &format!("inputs.{name}.path"))?;
        out.push(ResolvedBinding { name: name.clone(), host_path: real, writable: false });
    }
    for (name, b) in &w.outputs {
        let path = confined(&root, &b.path, &format!("outputs.{name}.path"))?;
        std::fs::create_dir_all(&path)
            .map_err(RuntimeError::io(format!("outputs.{name}.path: cannot create {}", path.display())))?;
        let real = path
            .canonicalize()
            .map_err(RuntimeError::io(format!("outputs.{name}.path: cannot open {}", path.display())))?;
        check_inside(&root, &real, &format!("outputs.{name}.path"))?;
        out.push(ResolvedBinding { name: name.clone(), host_path: real, writable: true });
    }
    Ok(out)
}

/// Environment variables and extra arguments for bindings, given the path each
/// one has where the workload runs (`inside(binding)`).
pub fn io_env_and_args(
    w: &Workload,
    bindings: &[ResolvedBinding],
    inside: impl Fn(&ResolvedBinding) -> String,
) -> (Vec<(String, String)>, Vec<String>) {
    let mut env = Vec::new();
    let mut args = Vec::new();
    for b in bindings {
        let p = inside(b);
        env.push((env_var(&b.name), p.clone()));
        if w.pass_io_as == PassIoAs::Args {
            args.push(format!("--{}={}", b.name, p));
        }
    }
    (env, args)
}

/// `root/rel`, refusing absolute paths and `..` that climbs above `root`.
fn confined(root: &Path, rel: &Path, field: &str) -> Result<PathBuf, RuntimeError> {
    let mut depth = 0usize;
    for c in rel.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => depth -= 1,
            _ => {
                return Err(RuntimeError::InvalidWorkload(format!(
                    "{field}: {} escapes the workload directory {} (use a relative path inside it)",
                    rel.display(),
                    root.display()
                )))
            }
        }
    }
    Ok(root.join(rel))
}

fn check_inside(root: &Path, real: &Path, field: &str) -> Result<(), RuntimeError> {
    if real.starts_with(root) {
        Ok(())
    } else {
        Err(RuntimeError::InvalidWorkload(format!(
            "{field}: resolves to {} through a symlink, outside the workload directory {}",
            real.display(),
            root.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_spec::Binding;

    fn workload() -> Workload {
        serde_json::from_value(serde_json::json!({"name": "t", "command": ["true"]})).unwrap()
    }

    #[test]
    fn inputs_must_exist_outputs_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = workload();
        w.outputs.insert("model".into(), Binding { path: "out/model".into() });
        let got = resolve(dir.path(), &w).unwrap();
        assert!(dir.path().join("out/model").is_dir());
        assert!(got[0].writable);

        w.inputs.insert("data".into(), Binding { path: "missing".into() });
        let err = resolve(dir.path(), &w).unwrap_err().to_string();
        assert!(err.contains("inputs.data.path") && err.contains("does not exist"), "{err}");
    }

    #[test]
    fn escaping_the_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let mut w = workload();
        w.inputs.insert("d".into(), Binding { path: "sub/../../etc".into() });
        let err = resolve(&dir.path().join("sub"), &w).unwrap_err().to_string();
        assert!(err.contains("escapes"), "{err}");

        let mut w = workload();
        w.inputs.insert("d".into(), Binding { path: "link".into() });
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        let err = resolve(dir.path(), &w).unwrap_err().to_string();
        assert!(err.contains("through a symlink"), "{err}");

        let mut w = workload();
        w.outputs.insert("o".into(), Binding { path: "/tmp/x".into() });
        assert!(resolve(dir.path(), &w).is_err());
    }

    #[test]
    fn args_follow_pass_io_as() {
        let mut w = workload();
        let b = vec![ResolvedBinding { name: "data_dir".into(), host_path: "/h/d".into(), writable: false }];
        let (env, args) = io_env_and_args(&w, &b, |b| container_path(&b.name));
        assert_eq!(env, vec![("FERRY_IO_DATA_DIR".into(), "/ferry/io/data_dir".into())]);
        assert!(args.is_empty());
        w.pass_io_as = PassIoAs::Args;
        let (_, args) = io_env_and_args(&w, &b, |b| b.host_path.display().to_string());
        assert_eq!(args, vec!["--data_dir=/h/d".to_string()]);
    }
}
