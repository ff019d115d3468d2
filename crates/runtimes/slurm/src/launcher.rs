//! Containers inside a Slurm allocation: the command line that runs a
//! workload's `image` with its bindings mounted at `/ferry/io/<name>`.
//!
//! Chosen with `FERRY_SLURM_LAUNCHER` (read when the job is rendered):
//!
//! | launcher | command line |
//! |---|---|
//! | `podman` (default) | `$FERRY_SLURM_PODMAN $FERRY_SLURM_PODMAN_RUN -v SRC:DST[:ro] --env NAME… IMAGE CMD…` (defaults: `podman`, `run --rm --init --network=host`; `--init` so that signals reach a shell that would otherwise be PID 1) |
//! | `apptainer`, `singularity` | `apptainer exec --bind SRC:DST[:ro] docker://IMAGE CMD…` (a path or `scheme://` image is used as is) |
//! | `pyxis` (enroot) | `srun --container-image=IMAGE --container-mounts=SRC:DST[:ro],… CMD…` |
//!
//! The environment is exported by the batch script; podman gets `--env NAME`
//! (value taken from the script's environment), apptainer and pyxis pass the
//! environment through by default.

use std::path::Path;

use crate::SlurmError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    Podman { program: Vec<String>, run_args: Vec<String> },
    Apptainer { program: String },
    Pyxis,
}

/// One bind mount: a path on the cluster → a path in the container.
#[derive(Debug, Clone)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

fn words(var: &str, default: &str) -> Vec<String> {
    let v = std::env::var(var).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned());
    v.split_whitespace().map(str::to_owned).collect()
}

impl Launcher {
    /// The launcher named by `FERRY_SLURM_LAUNCHER` (default podman).
    pub fn from_env() -> Result<Launcher, SlurmError> {
        let name = std::env::var("FERRY_SLURM_LAUNCHER").unwrap_or_default();
        Launcher::named(name.trim())
    }

    pub fn named(name: &str) -> Result<Launcher, SlurmError> {
        Ok(match name {
            "" | "podman" => Launcher::Podman {
                program: words("FERRY_SLURM_PODMAN", "podman"),
                run_args: words("FERRY_SLURM_PODMAN_RUN", "run --rm --init --network=host"),
            },
            "apptainer" | "singularity" => Launcher::Apptainer { program: name.to_owned() },
            "pyxis" | "enroot" => Launcher::Pyxis,
            other => {
                return Err(SlurmError::Config(format!(
                    "FERRY_SLURM_LAUNCHER={other:?}: expected podman, apptainer, singularity, pyxis or enroot"
                )))
            }
        })
    }

    /// The argv that runs `command` in `image` with `mounts` and the
    /// environment variables `env_names` (already exported by the script).
    pub fn wrap(
        &self,
        image: &str,
        mounts: &[Mount],
        env_names: &[String],
        command: &[String],
    ) -> Result<Vec<String>, SlurmError> {
        for m in mounts {
            for p in [&m.source, &m.target] {
                if p.contains(':') || p.contains(',') {
                    return Err(SlurmError::Invalid(format!(
                        "binding path {p:?} contains ':' or ',', which container launchers cannot mount"
                    )));
                }
            }
        }
        let spec = |m: &Mount| format!("{}:{}{}", m.source, m.target, if m.read_only { ":ro" } else { "" });
        let mut argv = Vec::new();
        match self {
            Launcher::Podman { program, run_args } => {
                argv.extend(program.iter().cloned());
                argv.extend(run_args.iter().cloned());
                for m in mounts {
                    argv.extend(["-v".to_string(), spec(m)]);
                }
                for n in env_names {
                    argv.extend(["--env".to_string(), n.clone()]);
                }
                argv.push(image.to_owned());
            }
            Launcher::Apptainer { program } => {
                argv.extend([program.clone(), "exec".into()]);
                for m in mounts {
                    argv.extend(["--bind".to_string(), spec(m)]);
                }
                let is_local = image.contains("://") || Path::new(image).is_absolute() || image.ends_with(".sif");
                argv.push(if is_local { image.to_owned() } else { format!("docker://{image}") });
            }
            Launcher::Pyxis => {
                argv.extend(["srun".to_string(), format!("--container-image={image}")]);
                if !mounts.is_empty() {
                    argv.push(format!("--container-mounts={}", mounts.iter().map(spec).collect::<Vec<_>>().join(",")));
                }
            }
        }
        argv.extend(command.iter().cloned());
        Ok(argv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render() {
        let m = [Mount { source: "/wd/io/data".into(), target: "/ferry/io/data".into(), read_only: true }];
        let cmd = ["sh".to_string(), "-c".into(), "echo hi".into()];
        let p = Launcher::Podman { program: vec!["podman".into()], run_args: vec!["run".into(), "--rm".into()] };
        assert_eq!(
            p.wrap("busybox", &m, &["A".into()], &cmd).unwrap(),
            [
                "podman",
                "run",
                "--rm",
                "-v",
                "/wd/io/data:/ferry/io/data:ro",
                "--env",
                "A",
                "busybox",
                "sh",
                "-c",
                "echo hi"
            ]
        );
        let a = Launcher::named("apptainer").unwrap().wrap("busybox:1", &m, &[], &cmd).unwrap();
        assert_eq!(a[..5], ["apptainer", "exec", "--bind", "/wd/io/data:/ferry/io/data:ro", "docker://busybox:1"]);
        let y = Launcher::named("pyxis").unwrap().wrap("nvcr.io/x:1", &m, &[], &cmd).unwrap();
        assert_eq!(
            y[..3],
            ["srun", "--container-image=nvcr.io/x:1", "--container-mounts=/wd/io/data:/ferry/io/data:ro"]
        );
        assert!(Launcher::named("docker").is_err());
        let bad = [Mount { source: "/a:b".into(), target: "/x".into(), read_only: false }];
        assert!(p.wrap("i", &bad, &[], &cmd).is_err());
    }
}
