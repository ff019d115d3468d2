//! Rendering a workload as a Slurm batch script.
//!
//! Two kinds of text end up in the script and each has its own rule:
//!
//! * `#SBATCH` lines are parsed by `sbatch`, not by a shell, so they cannot
//!   be quoted. Their values come from Ferry (numbers, the job directory, a
//!   sanitised job name) or are validated: partition, account, GPU type and
//!   MPI flavour must be plain words; each `runtime.slurm.extra` entry must be
//!   one `--option[=value]` with no whitespace, quotes or newlines, and may not
//!   override the options Ferry relies on (`--job-name`, `--output`, `--error`).
//! * Everything in the script body (env values, argv, paths) is a
//!   single-quoted shell word ([`crate::quote`]), so no value can break out.
//!
//! The body runs the command under a small wrapper that implements Ferry's
//! `retries` and exact `timeout` (Slurm's `--time` has minute granularity and
//! is set as a backstop), and writes `exit=` / `reason=` / `job=` (its job id,
//! to find it again once Slurm forgot it) into
//! `<workdir>/result` so a timeout or a signal can be named.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ferry_core::{bindings, Launch};

use crate::launcher::{Launcher, Mount};
use crate::quote::{check_no_nul, script_join, script_quote, SCRIPT_PRELUDE};
use crate::SlurmError;

/// Prefix of every job name Ferry submits: `ferry.<name>.<workload id>`.
pub const JOB_NAME_PREFIX: &str = "ferry.";

/// Per-context settings the script depends on.
#[derive(Debug, Clone)]
pub struct RenderSettings {
    /// Absolute directory on the cluster's shared filesystem.
    pub workdir_root: String,
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Over ssh: bindings are staged into the job directory; locally the
    /// workload directory is used in place (it must be on the shared filesystem).
    pub remote: bool,
    pub launcher: Launcher,
}

/// A rendered job: the script and what must be staged around it.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub job_name: String,
    /// `<workdir_root>/<workload id>` on the cluster.
    pub workdir: String,
    pub script: String,
    /// Local directory → directory on the cluster, copied before submission (remote only).
    pub uploads: Vec<(PathBuf, String)>,
    /// Directory on the cluster → local directory, copied back after the job (remote only).
    pub downloads: Vec<(String, PathBuf)>,
}

pub fn job_name(name: &str, id: &str) -> String {
    let clean: String = name
        .chars()
        .take(40)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{JOB_NAME_PREFIX}{clean}.{id}")
}

/// The workload id in a Ferry job name, if it is one.
pub fn workload_id_of(job_name: &str) -> Option<ferry_core::WorkloadId> {
    let rest = job_name.strip_prefix(JOB_NAME_PREFIX)?;
    rest.rsplit_once('.')?.1.parse().ok()
}

fn plain_word(field: &str, v: &str) -> Result<(), SlurmError> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-+".contains(&b)) {
        Ok(())
    } else {
        Err(SlurmError::Invalid(format!(
            "{field}: {v:?} must be a plain word (letters, digits, '_', '.', ':', '-', '+')"
        )))
    }
}

/// Check one `runtime.slurm.extra` entry (see the module docs).
pub fn check_extra(i: usize, opt: &str) -> Result<(), SlurmError> {
    let field = format!("runtime.slurm.extra[{i}]");
    let bad = |why: &str| SlurmError::Invalid(format!("{field}: {opt:?} {why}"));
    let name = opt.strip_prefix("--").ok_or_else(|| bad("must be a long option like --qos=high"))?;
    let key = name.split('=').next().unwrap_or_default();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(bad("must be --name or --name=value with a name of letters, digits and '-'"));
    }
    if opt.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'' || c == '\\') {
        return Err(bad("cannot be written on an #SBATCH line: no whitespace, quotes, backslashes or newlines"));
    }
    if ["job-name", "output", "error", "J", "o", "e", "open-mode", "parsable", "wrap"].contains(&key) {
        return Err(bad("sets an option Ferry manages itself"));
    }
    Ok(())
}

fn check_directive_path(field: &str, p: &str) -> Result<(), SlurmError> {
    if !p.starts_with('/')
        || p.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'' || c == '\\' || c == '%')
    {
        return Err(SlurmError::Config(format!(
            "{field}: {p:?} must be an absolute path without whitespace, quotes, backslashes or '%' (it is written on #SBATCH lines)"
        )));
    }
    Ok(())
}

/// Render `launch` as a batch script for a context with `s`.
pub fn render(launch: &Launch, s: &RenderSettings) -> Result<JobPlan, SlurmError> {
    let w = &launch.workload;
    let id = launch.id.as_str();
    check_directive_path("workdir_root", &s.workdir_root)?;
    let workdir = format!("{}/{id}", s.workdir_root.trim_end_matches('/'));
    let job_name = job_name(&launch.name, id);

    // Where the program runs and where its bindings are.
    let mut uploads = Vec::new();
    let mut downloads = Vec::new();
    let resolved = bindings::resolve(&launch.spec_dir, w).map_err(|e| SlurmError::Invalid(e.to_string()))?;
    let cluster_path = |b: &bindings::ResolvedBinding| -> String {
        if s.remote {
            format!("{workdir}/io/{}", b.name)
        } else {
            b.host_path.display().to_string()
        }
    };
    let mut mounts = Vec::new();
    for b in &resolved {
        let on_cluster = cluster_path(b);
        if s.remote {
            if b.writable {
                downloads.push((on_cluster.clone(), b.host_path.clone()));
            } else {
                uploads.push((b.host_path.clone(), on_cluster.clone()));
            }
        }
        mounts.push(Mount { source: on_cluster, target: bindings::container_path(&b.name), read_only: !b.writable });
    }
    let inside = |b: &bindings::ResolvedBinding| {
        if w.image.is_some() {
            bindings::container_path(&b.name)
        } else {
            cluster_path(b)
        }
    };
    let (io_env, io_args) = bindings::io_env_and_args(w, &resolved, inside);
    let cwd = if s.remote {
        match &w.workdir {
            Some(d) => {
                let local = launch.spec_dir.join(d);
                let local = local
                    .canonicalize()
                    .map_err(|e| SlurmError::Io(format!("workdir: cannot open {}", local.display()), e))?;
                uploads.push((local, format!("{workdir}/code")));
                format!("{workdir}/code")
            }
            None => workdir.clone(),
        }
    } else {
        let d = match &w.workdir {
            Some(d) => launch.spec_dir.join(d),
            None => launch.spec_dir.clone(),
        };
        d.canonicalize()
            .map_err(|e| SlurmError::Io(format!("workdir: cannot open {}", d.display()), e))?
            .display()
            .to_string()
    };

    // The command.
    let mut argv = match (&w.command, &w.run) {
        (Some(cmd), _) if !cmd.is_empty() => cmd.clone(),
        (_, Some(script)) => vec!["/bin/sh".into(), "-c".into(), script.clone(), w.name.clone()],
        _ => return Err(SlurmError::Invalid("one of `command` or `run` is required".into())),
    };
    argv.extend(io_args);
    for (i, a) in argv.iter().enumerate() {
        check_no_nul(&format!("command[{i}]"), a).map_err(SlurmError::Invalid)?;
    }
    let mut env: Vec<(String, String)> = Vec::new();
    for (k, v) in &w.env {
        if k.is_empty()
            || k.starts_with(|c: char| c.is_ascii_digit())
            || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(SlurmError::Invalid(format!("env.{k}: not a valid variable name (letters, digits, '_')")));
        }
        check_no_nul(&format!("env.{k}"), v).map_err(SlurmError::Invalid)?;
        env.push((k.clone(), v.clone()));
    }
    env.extend(io_env);
    env.push(("FERRY_WORKLOAD_ID".into(), id.to_owned()));
    env.push(("FERRY_WORKLOAD_NAME".into(), launch.name.clone()));
    check_no_nul("name", &launch.name).map_err(SlurmError::Invalid)?;
    if let Some(image) = &w.image {
        check_no_nul("image", image).map_err(SlurmError::Invalid)?;
        let names: Vec<String> = env.iter().map(|(k, _)| k.clone()).collect();
        argv = s.launcher.wrap(image, &mounts, &names, &argv)?;
    }
    let tasks = w.nodes.max(1) * w.tasks_per_node.max(1);
    if let Some(mpi) = &w.mpi {
        plain_word("mpi", mpi)?;
        argv.splice(0..0, ["srun".to_string(), format!("--mpi={mpi}")]);
    } else if tasks > 1 {
        argv.insert(0, "srun".into());
    }

    // #SBATCH directives.
    let mut d = vec![
        format!("--job-name={job_name}"),
        format!("--output={workdir}/stdout"),
        format!("--error={workdir}/stderr"),
        "--open-mode=append".to_string(),
    ];
    if let Some(c) = w.resources.cpus {
        d.push(format!("--cpus-per-task={}", c.ceil().max(1.0) as u64));
    }
    if let Some(m) = w.resources.memory {
        d.push(format!("--mem={}M", m.bytes().div_ceil(1024 * 1024).max(1)));
    }
    if let Some(g) = w.resources.gpus.filter(|g| *g > 0) {
        match &w.resources.gpu_type {
            Some(t) => {
                plain_word("resources.gpu_type", t)?;
                d.push(format!("--gres=gpu:{t}:{g}"));
            }
            None => d.push(format!("--gres=gpu:{g}")),
        }
    }
    if w.nodes > 1 {
        d.push(format!("--nodes={}", w.nodes));
    }
    if w.tasks_per_node > 1 {
        d.push(format!("--ntasks-per-node={}", w.tasks_per_node));
    }
    let timeout_secs = w.timeout.map(|t| t.as_std().as_secs_f64().ceil().max(1.0) as u64);
    if let Some(t) = timeout_secs {
        // Backstop only: the wrapper enforces the exact timeout.
        d.push(format!("--time={}", t.div_ceil(60) + 1));
    }
    let opts = w.runtime.slurm.as_ref();
    if let Some(p) = opts.and_then(|o| o.partition.clone()).or_else(|| s.partition.clone()) {
        plain_word("runtime.slurm.partition", &p)?;
        d.push(format!("--partition={p}"));
    }
    if let Some(a) = opts.and_then(|o| o.account.clone()).or_else(|| s.account.clone()) {
        plain_word("runtime.slurm.account", &a)?;
        d.push(format!("--account={a}"));
    }
    for (i, e) in opts.map(|o| o.extra.as_slice()).unwrap_or_default().iter().enumerate() {
        check_extra(i, e)?;
        d.push(e.clone());
    }

    // The script.
    let mut sc = String::from("#!/bin/sh\n");
    for o in &d {
        let _ = writeln!(sc, "#SBATCH {o}");
    }
    let _ = writeln!(sc, "# Rendered by Ferry as job {job_name}. Every value below is a single-quoted word.");
    sc.push_str(SCRIPT_PRELUDE);
    let _ = writeln!(sc, "ferry_wd={}", script_quote(&workdir));
    for (k, v) in &env {
        let _ = writeln!(sc, "export {k}={}", script_quote(v));
    }
    let _ = writeln!(sc, "ferry_attempts={}", w.retries + 1);
    let _ = writeln!(sc, "ferry_timeout={}", timeout_secs.map(|t| t.to_string()).unwrap_or_default());
    let _ = writeln!(
        sc,
        "ferry_timeout_reason={}",
        script_quote(&w.timeout.map(|t| format!("timed out after {t}")).unwrap_or_default())
    );
    let _ = writeln!(sc, "ferry_cwd={}", script_quote(&cwd));
    let cmd = script_join(&argv);
    sc.push_str(&WRAPPER.replace("@COMMAND@", &cmd));
    Ok(JobPlan { job_name, workdir, script: sc, uploads, downloads })
}

/// Runs the command (`@COMMAND@`) with retries and timeout; records the end.
/// The command runs in the background so that the shell can wait again after
/// a TERM from `scancel` and record how the command really ended.
const WRAPPER: &str = r#"ferry_finish() {
    printf 'exit=%s\nreason=%s\njob=%s\n' "$1" "$2" "${SLURM_JOB_ID:-}" > "$ferry_wd/result"
    exit "$1"
}
cd "$ferry_cwd" || ferry_finish 1 "cannot enter the working directory $ferry_cwd"
trap ':' TERM
ferry_rc=0
ferry_reason=
ferry_attempt=0
while [ "$ferry_attempt" -lt "$ferry_attempts" ]; do
    [ -e "$ferry_wd/stop-requested" ] && break
    ferry_attempt=$((ferry_attempt + 1))
    echo "$ferry_attempt" > "$ferry_wd/attempt"
    ferry_started=$(date +%s)
    if [ -n "$ferry_timeout" ]; then
        timeout -k 10 "$ferry_timeout" @COMMAND@ &
    else
        @COMMAND@ &
    fi
    ferry_child=$!
    wait "$ferry_child"
    ferry_rc=$?
    while kill -0 "$ferry_child" 2>/dev/null; do
        wait "$ferry_child"
        ferry_rc=$?
    done
    if [ "$ferry_rc" -eq 0 ]; then
        ferry_reason=
        break
    fi
    if [ -n "$ferry_timeout" ] && { [ "$ferry_rc" -eq 124 ] || [ $(($(date +%s) - ferry_started)) -ge "$ferry_timeout" ]; }; then
        ferry_reason=$ferry_timeout_reason
        break
    fi
    if [ "$ferry_rc" -gt 128 ]; then
        ferry_reason="killed by signal $((ferry_rc - 128)) (SIG$(kill -l $((ferry_rc - 128))))"
    else
        ferry_reason="exited with code $ferry_rc"
    fi
done
ferry_finish "$ferry_rc" "$ferry_reason"
"#;

/// Where `spec_dir`'s relative paths would be resolved: for `ferry render`.
pub fn spec_dir_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::WorkloadId;

    fn launch(yaml: &str, dir: &Path) -> Launch {
        let workload = ferry_spec::parse_str(yaml, Path::new("t.yaml")).unwrap();
        Launch {
            id: WorkloadId::random(),
            name: workload.name.clone(),
            context: "c".into(),
            workload,
            spec_dir: dir.to_path_buf(),
        }
    }

    fn settings() -> RenderSettings {
        RenderSettings {
            workdir_root: "/shared/ferry".into(),
            partition: Some("debug".into()),
            account: None,
            remote: false,
            launcher: Launcher::named("podman").unwrap(),
        }
    }

    #[test]
    fn directives_follow_the_workload() {
        let dir = tempfile::tempdir().unwrap();
        let l = launch(
            "name: train\ncommand: [python, t.py]\nresources: {cpus: 1.5, memory: 1Gi, gpus: 2, gpu_type: h100}\nnodes: 2\ntasks_per_node: 4\nmpi: pmix\ntimeout: 90s\nruntime: {slurm: {account: proj1, extra: [\"--qos=high\"]}}\n",
            dir.path(),
        );
        let p = render(&l, &settings()).unwrap();
        for want in [
            "#SBATCH --cpus-per-task=2\n",
            "#SBATCH --mem=1024M\n",
            "#SBATCH --gres=gpu:h100:2\n",
            "#SBATCH --nodes=2\n",
            "#SBATCH --ntasks-per-node=4\n",
            "#SBATCH --time=3\n",
            "#SBATCH --partition=debug\n",
            "#SBATCH --account=proj1\n",
            "#SBATCH --qos=high\n",
            "srun --mpi=pmix python t.py",
        ] {
            assert!(p.script.contains(want), "missing {want:?} in\n{}", p.script);
        }
        assert!(p.script.contains(&format!("#SBATCH --output=/shared/ferry/{}/stdout\n", l.id)));
        assert_eq!(workload_id_of(&p.job_name), Some(l.id.clone()));
    }

    #[test]
    fn unsafe_directives_are_refused_with_the_field() {
        let dir = tempfile::tempdir().unwrap();
        for (extra, why) in [
            ("--qos=high\n#SBATCH --x", "no whitespace"),
            ("qos=high", "long option"),
            ("--output=/etc/x", "manages itself"),
            ("--comment=\"a\"", "no whitespace, quotes"),
        ] {
            // Set after parsing: the spec parser already refuses some of these.
            let mut l = launch("name: t\ncommand: [\"true\"]\nruntime: {slurm: {extra: []}}\n", dir.path());
            l.workload.runtime.slurm.as_mut().unwrap().extra = vec![extra.to_string()];
            let err = render(&l, &settings()).unwrap_err().to_string();
            assert!(err.contains("runtime.slurm.extra[0]") && err.contains(why), "{extra:?}: {err}");
        }
        let mut l = launch("name: t\ncommand: [\"true\"]\nruntime: {slurm: {partition: p}}\n", dir.path());
        l.workload.runtime.slurm.as_mut().unwrap().partition = Some("a b".into());
        let err = render(&l, &settings()).unwrap_err().to_string();
        assert!(err.contains("runtime.slurm.partition"), "{err}");
        let mut s = settings();
        s.workdir_root = "/has space".into();
        let err = render(&launch("name: t\ncommand: [\"true\"]\n", dir.path()), &s).unwrap_err().to_string();
        assert!(err.contains("workdir_root"), "{err}");
    }

    #[test]
    fn hostile_names_make_safe_job_names() {
        let n = job_name("a b;$(x)\n", "0123456789abcdef0123456789abcdef");
        assert_eq!(n, "ferry.a_b___x__.0123456789abcdef0123456789abcdef");
        assert_eq!(workload_id_of("ferry.x.y"), None);
        assert_eq!(workload_id_of("other"), None);
    }
}
