//! `ferry-slurm`: workloads as Slurm batch jobs, submitted with the local
//! `sbatch` or on a login node over ssh.
//!
//! * [`script`] renders a workload as a batch script (`ferry render --runtime slurm`).
//! * [`exec`] runs Slurm commands here or over one reused ssh connection.
//! * [`poller`] answers every `status()` from one `squeue` snapshot per interval.
//! * [`logs`] reads and follows the job's `--output`/`--error` files.
//! * [`launcher`] runs an `image` inside the allocation (podman, apptainer, pyxis).
//!
//! Each job lives in `<workdir_root>/<workload id>/` on the cluster: `job.sh`,
//! `ferry.json` (the workload, for re-discovery), `stdout`, `stderr`,
//! `result` (exit code and reason written by the script's wrapper),
//! `stop-requested` (Ferry's stop marker) and, over ssh, `io/<binding>/`.
//!
//! Status mapping (Slurm job state → Ferry status):
//!
//! | Slurm state | Ferry status |
//! |---|---|
//! | PENDING, CONFIGURING, REQUEUED, REQUEUE_FED, REQUEUE_HOLD, RESV_DEL_HOLD | Pending |
//! | PENDING with reason JobHeldUser/JobHeldAdmin (`ferry pause` of a pending job) | Paused |
//! | RUNNING, COMPLETING, SIGNALING, STAGE_OUT, RESIZING | Running |
//! | SUSPENDED, STOPPED | Paused |
//! | COMPLETED, `ExitCode=0:0` | Succeeded |
//! | COMPLETED/FAILED, `ExitCode=N:0`, N ≠ 0 | Failed{N, wrapper's reason: "exited with code N", "killed by signal S (SIGx)" for N = 128+S, "timed out after T"} |
//! | COMPLETED/FAILED, `ExitCode=N:S`, S ≠ 0 | Failed{128+S, "killed by signal S"} |
//! | any end after `ferry stop` (stop marker present) | Cancelled |
//! | CANCELLED (by someone else) | Cancelled |
//! | TIMEOUT | Failed{N or 124, "timed out: reached the Slurm time limit"} |
//! | OUT_OF_MEMORY | Failed{137, "out of memory …"} |
//! | NODE_FAIL, BOOT_FAIL, PREEMPTED, DEADLINE, REVOKED | Failed{None, state and Slurm's reason} |
//! | SPECIAL_EXIT | Failed{N, "SPECIAL_EXIT …"} |
//! | gone from the controller, `result` file present | from the `result` file |
//! | unknown to Slurm and without a job directory | NotFound |
//!
//! Exit codes come from Slurm (`ExitCode=N:S` via `sacct` or `scontrol`);
//! the `result` file only adds words (timeout, signal names).

pub mod exec;
pub mod launcher;
pub mod logs;
pub mod native;
pub mod poller;
pub mod quote;
pub mod script;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferry_core::context::ContextSettings;
use ferry_core::{
    engine, Capabilities, ErrorKind, Handle, Launch, LogOptions, LogStream, Result, Runtime, RuntimeError, RuntimeKind,
    Stats, Status, WorkloadId,
};
use serde::{Deserialize, Serialize};

pub use exec::{Executor, Secret, SshTarget, Transport};
pub use launcher::Launcher;
pub use script::{render, JobPlan, RenderSettings};

/// Errors of the Slurm runtime.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("slurm context: {0}")]
    Config(String),
    #[error("invalid workload: {0}")]
    Invalid(String),
    #[error("{command} failed: {message}")]
    Command { command: String, message: String },
    #[error("{0}")]
    Ssh(String),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

impl From<SlurmError> for RuntimeError {
    fn from(e: SlurmError) -> RuntimeError {
        match e {
            SlurmError::Invalid(m) => RuntimeError::InvalidWorkload(m),
            SlurmError::Io(context, source) => RuntimeError::Io { context, source },
            SlurmError::Config(_) => RuntimeError::backend(ErrorKind::Invalid, e.to_string()),
            SlurmError::Ssh(_) => RuntimeError::backend(ErrorKind::Unavailable, e.to_string()),
            SlurmError::Command { .. } => RuntimeError::internal(e.to_string()),
        }
    }
}

/// What Ferry keeps next to each job (`ferry.json`) so that `list()` can
/// re-adopt it after the state store is lost.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobMeta {
    id: String,
    name: String,
    context: String,
    spec: ferry_spec::Workload,
}

/// Handle details keys.
const D_WORKDIR: &str = "workdir";
const D_JOB_NAME: &str = "job_name";
const D_DOWNLOADS: &str = "downloads";

/// The Slurm runtime of one context.
pub struct SlurmRuntime {
    context: String,
    exec: Arc<Executor>,
    poller: poller::Poller,
    partition: Option<String>,
    account: Option<String>,
    workdir_root: tokio::sync::OnceCell<String>,
    configured_root: Option<String>,
    accounting_cache: PathBuf,
    /// Local default for the job directories when Slurm runs here.
    local_root: PathBuf,
    /// Jobs whose outputs were already copied back (over ssh) in this process.
    downloaded: Mutex<HashSet<String>>,
}

impl SlurmRuntime {
    /// The runtime for context `context` with `settings`; `state_dir` is a
    /// local directory for Ferry's own files (ssh control sockets, default
    /// job directories when Slurm runs on this machine).
    pub fn new(context: &str, settings: &ContextSettings, state_dir: &Path) -> Result<SlurmRuntime, SlurmError> {
        let transport = match &settings.ssh {
            None => Transport::Local,
            Some(s) => {
                let password = match (&settings.password_file, &settings.password_env) {
                    (Some(f), _) => Some(Secret::File(PathBuf::from(f))),
                    (None, Some(v)) => {
                        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                            return Err(SlurmError::Config(format!("password_env: {v:?} is not a variable name")));
                        }
                        if std::env::var_os(v).is_none() {
                            return Err(SlurmError::Config(format!(
                                "password_env: the environment variable {v} holding the cluster password is not set"
                            )));
                        }
                        Some(Secret::Env(v.clone()))
                    }
                    (None, None) => None,
                };
                // Control sockets need a short path (sun_path is ~100 bytes).
                let control_dir = short_control_dir(state_dir);
                let config = std::env::var_os("FERRY_SSH_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from);
                Transport::Ssh { target: SshTarget::parse(s)?, control_dir, config, password }
            }
        };
        let accounting_cache = match &transport {
            Transport::Local => state_dir.join("accounting"),
            Transport::Ssh { target, .. } => {
                state_dir.join(format!("accounting-{}-{}", target.destination(), target.port.unwrap_or(22)))
            }
        };
        let exec = Arc::new(Executor::new(transport));
        Ok(SlurmRuntime {
            context: context.to_owned(),
            poller: poller::Poller::new(exec.clone(), Some(accounting_cache.clone())),
            accounting_cache,
            exec,
            partition: settings.partition.clone(),
            account: settings.account.clone(),
            workdir_root: tokio::sync::OnceCell::new(),
            configured_root: settings.workdir_root.clone(),
            local_root: state_dir.join("jobs"),
            downloaded: Mutex::new(HashSet::new()),
        })
    }

    /// How many times each Slurm command (and ssh/rsync helper) ran.
    pub fn invocations(&self) -> BTreeMap<String, u64> {
        self.exec.counts()
    }

    /// The job directories' root on the cluster: the context's
    /// `workdir_root`, else `<state_dir>/jobs` here or `$HOME/.ferry/slurm`
    /// on the login node.
    pub async fn workdir_root(&self) -> Result<String, SlurmError> {
        self.workdir_root
            .get_or_try_init(|| async {
                if let Some(r) = &self.configured_root {
                    return Ok(r.trim_end_matches('/').to_owned());
                }
                if !self.exec.is_remote() {
                    return Ok(self.local_root.display().to_string());
                }
                // Asked once per login node and remembered locally: every
                // round trip counts when `ferry run -d` should return at once.
                let cache = self.remote_home_cache();
                if let Some(home) =
                    cache.as_ref().and_then(|c| std::fs::read_to_string(c).ok()).filter(|h| h.starts_with('/'))
                {
                    return Ok(format!("{}/.ferry/slurm", home.trim_end_matches('/')));
                }
                let out = self.exec.sh("printf '%s' \"$HOME\"", &[]).await?;
                let home = out.stdout_text();
                if !out.success() || !home.starts_with('/') {
                    return Err(SlurmError::Config(format!(
                        "cannot find the home directory on the login node ({}); set --workdir-root",
                        out.stderr_text()
                    )));
                }
                if let Some(c) = cache {
                    let _ = std::fs::write(c, &home);
                }
                Ok(format!("{}/.ferry/slurm", home.trim_end_matches('/')))
            })
            .await
            .cloned()
    }

    fn remote_home_cache(&self) -> Option<PathBuf> {
        match self.exec.transport() {
            Transport::Ssh { target, control_dir, .. } => {
                Some(control_dir.join(format!("home-{}-{}", target.destination(), target.port.unwrap_or(22))))
            }
            Transport::Local => None,
        }
    }

    /// Render `launch` with this context's settings (no submission).
    pub async fn plan(&self, launch: &Launch) -> Result<JobPlan, SlurmError> {
        let settings = RenderSettings {
            workdir_root: self.workdir_root().await?,
            partition: self.partition.clone(),
            account: self.account.clone(),
            remote: self.exec.is_remote(),
            launcher: Launcher::from_env()?,
        };
        render(launch, &settings)
    }

    async fn workdir_of(&self, h: &Handle) -> Result<String, SlurmError> {
        if let Some(d) = h.details.get(D_WORKDIR) {
            return Ok(d.clone());
        }
        Ok(format!("{}/{}", self.workdir_root().await?, h.workload.as_str()))
    }

    /// Write `bytes` to `path` on the cluster.
    async fn put_file(&self, path: &str, bytes: &[u8]) -> Result<(), SlurmError> {
        if !self.exec.is_remote() {
            if let Some(parent) = Path::new(path).parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| SlurmError::Io(format!("cannot create {}", parent.display()), e))?;
            }
            return std::fs::write(path, bytes).map_err(|e| SlurmError::Io(format!("cannot write {path}"), e));
        }
        let out = self
            .exec
            .run(
                &[
                    "sh".into(),
                    "-c".into(),
                    "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"".into(),
                    "ferry".into(),
                    path.into(),
                ],
                Some(bytes),
            )
            .await?;
        if !out.success() {
            return Err(SlurmError::Command { command: format!("writing {path}"), message: out.stderr_text() });
        }
        Ok(())
    }

    async fn slurm(&self, args: &[&str]) -> Result<exec::Output, SlurmError> {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.exec.run(&argv, None).await
    }

    async fn copy_back(&self, h: &Handle) -> Result<(), SlurmError> {
        let Some(json) = h.details.get(D_DOWNLOADS) else { return Ok(()) };
        if !self.downloaded.lock().unwrap_or_else(|p| p.into_inner()).insert(h.native_id.clone()) {
            return Ok(());
        }
        let pairs: Vec<(String, PathBuf)> = serde_json::from_str(json).unwrap_or_default();
        for (remote, local) in pairs {
            std::fs::create_dir_all(&local)
                .map_err(|e| SlurmError::Io(format!("cannot create {}", local.display()), e))?;
            self.exec.sync_dir(&local, &remote, true).await?;
        }
        Ok(())
    }

    async fn observe(&self, h: &Handle) -> Result<Status> {
        let root = self.workdir_root().await?;
        let workdir_of = move |id: &str| format!("{root}/{id}");
        let status = match self.poller.status(&h.native_id, &workdir_of).await? {
            Some(s) => s,
            None => {
                let dir = self.workdir_of(h).await?;
                match self.poller.status_from_workdir(&h.native_id, &dir).await? {
                    Some(s) => s,
                    None => {
                        return Err(RuntimeError::NotFound {
                            runtime: RuntimeKind::Slurm,
                            native_id: h.native_id.clone(),
                        })
                    }
                }
            }
        };
        if status.is_terminal() && self.exec.is_remote() {
            if let Err(e) = self.copy_back(h).await {
                tracing::warn!("cannot copy the outputs of job {} back: {e}", h.native_id);
            }
        }
        Ok(status)
    }

    /// Poll (invalidating the snapshot) until `h` ended or `within` passed.
    async fn wait_terminal(&self, h: &Handle, within: Duration) -> Result<bool> {
        let deadline = Instant::now() + within;
        loop {
            self.poller.invalidate().await;
            if self.observe(h).await?.is_terminal() {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn not_possible(op: &'static str, why: impl Into<String>) -> RuntimeError {
        RuntimeError::NotPossible { operation: op, why: why.into() }
    }
}

impl SlurmRuntime {
    /// The jobs in Slurm's queue (live, or ended less than MinJobAge ago).
    async fn list_queued(&self) -> Result<Vec<(Handle, Status)>> {
        let queue = self.poller.queue().await?;
        let root = self.workdir_root().await?;
        let mut jobs: Vec<(String, WorkloadId)> =
            queue.values().filter_map(|e| script::workload_id_of(&e.name).map(|id| (e.job_id.clone(), id))).collect();
        jobs.sort();
        let dirs: Vec<String> = jobs.iter().map(|(_, id)| format!("{root}/{id}")).collect();
        let metas = read_metas(&self.exec, &dirs).await?;
        let mut out = Vec::new();
        for ((job_id, id), dir) in jobs.into_iter().zip(dirs) {
            let Some(meta) = metas.get(&dir) else { continue };
            if meta.context != self.context || meta.id != id.as_str() {
                continue;
            }
            out.extend(self.found(id, job_id, &dir, meta).await?);
        }
        Ok(out)
    }

    /// Ended jobs that Slurm no longer lists (it forgets them MinJobAge after
    /// their end) but whose job folders remain: found from the folder's
    /// `ferry.json` and the `result` the job wrote with its end (job id
    /// included). Workloads in `skip` are left out unread.
    async fn list_forgotten(&self, skip: &HashSet<WorkloadId>) -> Result<Vec<(Handle, Status)>> {
        let root = self.workdir_root().await?;
        let dirs: Vec<String> = self
            .job_dir_names(&root)
            .await?
            .into_iter()
            .filter(|name| name.parse::<WorkloadId>().is_ok_and(|id| !skip.contains(&id)))
            .map(|name| format!("{root}/{name}"))
            .collect();
        let metas = read_metas(&self.exec, &dirs).await?;
        let facts = poller::read_facts(&self.exec, &dirs).await?;
        let mut out = Vec::new();
        for (dir, meta) in &metas {
            let Some(job_id) = facts.get(dir).and_then(|f| f.job_id.clone()) else { continue };
            let Ok(id) = meta.id.parse::<WorkloadId>() else { continue };
            if meta.context != self.context || !dir.ends_with(meta.id.as_str()) {
                continue;
            }
            out.extend(self.found(id, job_id, dir, meta).await?);
        }
        Ok(out)
    }

    /// A job found by `list()` in folder `dir`, with its status; `None` if
    /// Slurm and its folder no longer know it.
    async fn found(
        &self,
        id: WorkloadId,
        job_id: String,
        dir: &str,
        meta: &JobMeta,
    ) -> Result<Option<(Handle, Status)>> {
        let mut details = BTreeMap::from([(D_WORKDIR.to_string(), dir.to_owned())]);
        details.insert(engine::DETAIL_NAME.into(), meta.name.clone());
        details.insert(engine::DETAIL_SPEC.into(), serde_json::to_string(&meta.spec).unwrap_or_default());
        let h = Handle { runtime: RuntimeKind::Slurm, workload: id, native_id: job_id, details };
        match self.observe(&h).await {
            Ok(s) => Ok(Some((h, s))),
            Err(RuntimeError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The names in the job folders' root (local reads, or one shell call over ssh).
    async fn job_dir_names(&self, root: &str) -> Result<Vec<String>> {
        if !self.exec.is_remote() {
            let Ok(entries) = std::fs::read_dir(root) else { return Ok(Vec::new()) };
            return Ok(entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect());
        }
        let out = self.exec.sh("cd \"$1\" 2>/dev/null && ls -1A; true", &[root.to_owned()]).await?;
        Ok(out.stdout_text().lines().map(str::to_owned).collect())
    }

    /// Remove a workload's job folder, `<root>/<workload id>` and never
    /// anything else, where the jobs run (locally or over ssh).
    async fn remove_job_dir(&self, id: &WorkloadId) -> Result<()> {
        let root = self.workdir_root().await?;
        let dir = format!("{root}/{}", id.as_str());
        if self.exec.is_remote() {
            let out = self.exec.sh("rm -rf -- \"$1\"", std::slice::from_ref(&dir)).await?;
            if !out.success() {
                return Err(SlurmError::Command { command: format!("rm -rf {dir}"), message: out.stderr_text() }.into());
            }
        } else if Path::new(&dir).exists() {
            std::fs::remove_dir_all(&dir).map_err(RuntimeError::io(format!("cannot remove {dir}")))?;
        }
        Ok(())
    }
}

/// `<state_dir>/ssh`, or a short per-user directory under /tmp when that
/// path is too long for a unix socket.
fn short_control_dir(state_dir: &Path) -> PathBuf {
    let d = state_dir.join("ssh");
    if d.as_os_str().len() < 60 {
        d
    } else {
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc_getuid() };
        std::env::temp_dir().join(format!("ferry-ssh-{uid}"))
    }
}

extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
}

#[async_trait]
impl Runtime for SlurmRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Slurm
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            pause: true,
            checkpoint: false,
            ports: false,
            gpus: true,
            multi_node: true,
            // jobacct_gather is cluster policy; Ferry does not read sstat.
            stats: false,
            host_process: true,
            images: true,
        }
    }

    async fn start(&self, launch: &Launch) -> Result<Handle> {
        let plan = self.plan(launch).await?;
        let meta = JobMeta {
            id: launch.id.to_string(),
            name: launch.name.clone(),
            context: launch.context.clone(),
            spec: launch.workload.clone(),
        };
        let meta_json = serde_json::to_string_pretty(&meta).map_err(|e| RuntimeError::internal(e.to_string()))?;
        let script_path = format!("{}/job.sh", plan.workdir);
        let out = if self.exec.is_remote() {
            if !plan.uploads.is_empty() {
                let dirs: Vec<String> = plan.uploads.iter().map(|(_, remote)| remote.clone()).collect();
                let out = self.exec.sh("mkdir -p \"$@\"", &dirs).await?;
                if !out.success() {
                    return Err(SlurmError::Command {
                        command: format!("mkdir {}", plan.workdir),
                        message: out.stderr_text(),
                    }
                    .into());
                }
            }
            for (local, remote) in &plan.uploads {
                self.exec.sync_dir(local, remote, false).await?;
            }
            // One round trip: job directory, output directories, ferry.json,
            // job.sh (from stdin) and the submission.
            let mut args = vec![plan.workdir.clone(), meta_json];
            args.extend(plan.downloads.iter().map(|(remote, _)| remote.clone()));
            let script = r#"wd=$1; meta=$2; shift 2
mkdir -p "$wd" "$@" && printf '%s\n' "$meta" > "$wd/ferry.json" && cat > "$wd/job.sh" && exec sbatch --parsable "$wd/job.sh""#;
            let mut argv = vec!["sh".to_string(), "-c".into(), script.into(), "ferry-submit".into()];
            argv.extend(args);
            self.exec.count_as("sbatch");
            self.exec.run(&argv, Some(plan.script.as_bytes())).await?
        } else {
            self.put_file(&format!("{}/ferry.json", plan.workdir), meta_json.as_bytes()).await?;
            self.put_file(&script_path, plan.script.as_bytes()).await?;
            self.slurm(&["sbatch", "--parsable", &script_path]).await?
        };
        if !out.success() {
            return Err(SlurmError::Command { command: "sbatch".into(), message: out.stderr_text() }.into());
        }
        let text = out.stdout_text();
        let job_id = text.trim().split(';').next().unwrap_or_default().to_owned();
        if job_id.is_empty() || !job_id.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return Err(RuntimeError::internal(format!("sbatch printed no job id: {text:?}")));
        }
        self.poller.invalidate().await;
        self.poller.submitted(&job_id).await;
        let mut details = BTreeMap::from([
            (D_WORKDIR.to_string(), plan.workdir.clone()),
            (D_JOB_NAME.to_string(), plan.job_name.clone()),
        ]);
        if !plan.downloads.is_empty() {
            details.insert(D_DOWNLOADS.into(), serde_json::to_string(&plan.downloads).unwrap_or_default());
        }
        Ok(Handle { runtime: RuntimeKind::Slurm, workload: launch.id.clone(), native_id: job_id, details })
    }

    async fn status(&self, h: &Handle) -> Result<Status> {
        self.observe(h).await
    }

    async fn list(&self) -> Result<Vec<(Handle, Status)>> {
        let mut out = self.list_queued().await?;
        let queued: HashSet<WorkloadId> = out.iter().map(|(h, _)| h.workload.clone()).collect();
        out.extend(self.list_forgotten(&queued).await?);
        Ok(out)
    }

    /// Job folders of known workloads are not even read.
    async fn list_unknown(&self, known: &HashSet<WorkloadId>) -> Result<Vec<(Handle, Status)>> {
        let mut out = self.list_queued().await?;
        let mut skip = known.clone();
        skip.extend(out.iter().map(|(h, _)| h.workload.clone()));
        out.retain(|(h, _)| !known.contains(&h.workload));
        out.extend(self.list_forgotten(&skip).await?);
        Ok(out)
    }

    async fn logs(&self, h: &Handle, opts: LogOptions) -> Result<LogStream> {
        let dir = self.workdir_of(h).await?;
        if !opts.follow {
            let lines = logs::history(&self.exec, &dir, opts.tail).await?;
            return Ok(Box::pin(futures::stream::iter(lines.into_iter().map(Ok))));
        }
        let mut follower = logs::Follower {
            exec: self.exec.clone(),
            dir: dir.clone(),
            stdout: Default::default(),
            stderr: Default::default(),
            poll: if self.exec.is_remote() { Duration::from_millis(500) } else { Duration::from_millis(100) },
        };
        let mut first = Vec::new();
        if let Some(n) = opts.tail {
            // History limited to the last n lines, then follow from the end.
            let hist = logs::history(&self.exec, &dir, None).await?;
            let c = logs::read_from(&self.exec, &dir, (0, 0)).await?;
            let ends_o = c.stdout.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let ends_e = c.stderr.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            follower.stdout.offset = ends_o as u64;
            follower.stderr.offset = ends_e as u64;
            let complete: Vec<_> = hist.into_iter().filter(|l| l.complete).collect();
            let skip = complete.len().saturating_sub(n);
            first.extend(complete.into_iter().skip(skip));
        }
        let this =
            FollowState { rt: self.handle_clone(), handle: h.clone(), follower, queued: first.into(), done: false };
        Ok(Box::pin(futures::stream::unfold(this, |mut st| async move {
            loop {
                if let Some(l) = st.queued.pop_front() {
                    return Some((Ok(l), st));
                }
                if st.done {
                    return None;
                }
                match st.follower.step().await {
                    Ok(lines) if !lines.is_empty() => {
                        st.queued.extend(lines);
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
                let ended = match st.rt.observe(&st.handle).await {
                    Ok(s) => s.is_terminal(),
                    Err(RuntimeError::NotFound { .. }) => true,
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                };
                if ended {
                    // The job ended: read what it wrote last, then stop.
                    if let Ok(lines) = st.follower.step().await {
                        st.queued.extend(lines);
                    }
                    st.queued.extend(st.follower.finish());
                    st.done = true;
                    continue;
                }
                tokio::time::sleep(st.follower.poll).await;
            }
        })))
    }

    async fn stats(&self, _h: &Handle) -> Result<Stats> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Slurm, operation: "stats" })
    }

    async fn stop(&self, h: &Handle, grace: Duration) -> Result<()> {
        let status = self.observe(h).await?;
        if status.is_terminal() {
            return Ok(());
        }
        let dir = self.workdir_of(h).await?;
        self.put_file(&format!("{dir}/stop-requested"), b"").await?;
        let id = h.native_id.as_str();
        let native = self.poller.native_state(id).await?;
        let state = native.as_ref().map(|e| e.state.as_str()).unwrap_or("");
        if state == "SUSPENDED" {
            let _ = self.slurm(&["scontrol", "resume", id]).await?;
        }
        if state == "PENDING" {
            let out = self.slurm(&["scancel", id]).await?;
            if !out.success() {
                return Err(SlurmError::Command { command: "scancel".into(), message: out.stderr_text() }.into());
            }
        } else {
            // TERM to the batch shell and every process of the job.
            let out = self.slurm(&["scancel", "--full", "--signal=TERM", id]).await?;
            if !out.success() && !self.wait_terminal(h, Duration::ZERO).await? {
                tracing::debug!("scancel --signal=TERM {id}: {}", out.stderr_text());
            }
            if !self.wait_terminal(h, grace).await? {
                let _ = self.slurm(&["scancel", "--full", "--signal=KILL", id]).await?;
                let _ = self.slurm(&["scancel", id]).await?;
            }
        }
        if !self.wait_terminal(h, Duration::from_secs(30)).await? {
            return Err(Self::not_possible("stop", format!("Slurm job {id} did not end within 30s of scancel")));
        }
        Ok(())
    }

    async fn destroy(&self, h: &Handle) -> Result<()> {
        let status = self.observe(h).await;
        if let Ok(s) = &status {
            if s.is_live() {
                return Err(Self::not_possible(
                    "remove",
                    format!("workload {} is {s}; stop it first (or use --force)", h.workload.short()),
                ));
            }
        }
        self.remove_job_dir(&h.workload).await?;
        status.map(|_| ())
    }

    /// A refused submission (sbatch failed) leaves no job folder behind.
    async fn discard(&self, launch: &Launch) {
        if let Err(e) = self.remove_job_dir(&launch.id).await {
            tracing::warn!("cannot remove the job folder of refused workload {}: {e}", launch.id);
        }
    }

    async fn pause(&self, h: &Handle) -> Result<()> {
        let id = h.native_id.as_str();
        let status = self.observe(h).await?;
        let (cmd, what) = match status {
            Status::Running => ("suspend", "suspend a running job"),
            Status::Pending => ("hold", "hold a pending job"),
            other => return Err(Self::not_possible("pause", format!("workload {} is {other}", h.workload.short()))),
        };
        let out = self.slurm(&["scontrol", cmd, id]).await?;
        if !out.success() {
            let msg = out.stderr_text();
            let why = if msg.contains("denied") || msg.contains("not permitted") || msg.contains("Access") {
                format!("Slurm does not permit this user to {what} (scontrol {cmd} needs operator rights for running jobs): {msg}")
            } else {
                format!("scontrol {cmd} {id}: {msg}")
            };
            return Err(Self::not_possible("pause", why));
        }
        self.poller.invalidate().await;
        Ok(())
    }

    async fn resume(&self, h: &Handle) -> Result<()> {
        let id = h.native_id.as_str();
        let native = self.poller.native_state(id).await?;
        let cmd = match native.as_ref().map(|e| (e.state.as_str(), e.reason.as_str())) {
            Some(("SUSPENDED", _)) => "resume",
            Some(("PENDING", r)) if r.starts_with("JobHeld") => "release",
            _ => {
                let s = self.observe(h).await?;
                return Err(Self::not_possible(
                    "resume",
                    format!("workload {} is {s}, not paused", h.workload.short()),
                ));
            }
        };
        let out = self.slurm(&["scontrol", cmd, id]).await?;
        if !out.success() {
            return Err(Self::not_possible("resume", format!("scontrol {cmd} {id}: {}", out.stderr_text())));
        }
        self.poller.invalidate().await;
        Ok(())
    }

    async fn checkpoint(&self, _h: &Handle, _to: &Path) -> Result<()> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Slurm, operation: "checkpoint" })
    }

    async fn restore(&self, _from: &Path) -> Result<Handle> {
        Err(RuntimeError::Unsupported { runtime: RuntimeKind::Slurm, operation: "restore" })
    }

    async fn gpu_enabled(&self) -> Result<bool> {
        let out = self.slurm(&["sinfo", "-h", "-o", "%G"]).await?;
        if !out.success() {
            return Err(SlurmError::Command { command: "sinfo".into(), message: out.stderr_text() }.into());
        }
        Ok(out.stdout_text().contains("gpu"))
    }
}

impl SlurmRuntime {
    /// A cheap shared view for the log follower (same executor and poller).
    fn handle_clone(&self) -> Arc<SlurmRuntime> {
        // The follower outlives `&self`; it gets its own runtime sharing the
        // executor. Its poller is separate, which costs at most one extra
        // squeue per interval while following.
        Arc::new(SlurmRuntime {
            context: self.context.clone(),
            exec: self.exec.clone(),
            poller: poller::Poller::new(self.exec.clone(), Some(self.accounting_cache.clone())),
            accounting_cache: self.accounting_cache.clone(),
            partition: self.partition.clone(),
            account: self.account.clone(),
            workdir_root: self.workdir_root.clone(),
            configured_root: self.configured_root.clone(),
            local_root: self.local_root.clone(),
            downloaded: Mutex::new(HashSet::new()),
        })
    }
}

struct FollowState {
    rt: Arc<SlurmRuntime>,
    handle: Handle,
    follower: logs::Follower,
    queued: std::collections::VecDeque<ferry_core::LogLine>,
    done: bool,
}

/// `ferry.json` of each directory (local reads, or one shell call over ssh).
async fn read_metas(exec: &Executor, dirs: &[String]) -> Result<BTreeMap<String, JobMeta>, SlurmError> {
    let mut out = BTreeMap::new();
    if dirs.is_empty() {
        return Ok(out);
    }
    if !exec.is_remote() {
        for d in dirs {
            if let Ok(text) = std::fs::read_to_string(format!("{d}/ferry.json")) {
                if let Ok(m) = serde_json::from_str(&text) {
                    out.insert(d.clone(), m);
                }
            }
        }
        return Ok(out);
    }
    let script = r#"for d; do printf '\036%s\n' "$d"; cat "$d/ferry.json" 2>/dev/null; done; true"#;
    let res = exec.sh(script, dirs).await?;
    for chunk in res.stdout_text().split('\u{1e}').filter(|c| !c.is_empty()) {
        let (dir, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        if let Ok(m) = serde_json::from_str(body) {
            out.insert(dir.to_owned(), m);
        }
    }
    Ok(out)
}

/// Render `file` as it would be submitted in a context with `settings`
/// (for `ferry render`), on a private thread with its own async runtime so
/// sync callers can use it.
pub fn render_file(
    file: &Path,
    workload: ferry_spec::Workload,
    context: &str,
    settings: &ContextSettings,
    state_dir: &Path,
) -> Result<String, SlurmError> {
    let rt = SlurmRuntime::new(context, settings, state_dir)?;
    let launch = Launch {
        id: WorkloadId::random(),
        name: workload.name.clone(),
        context: context.to_owned(),
        workload,
        spec_dir: script::spec_dir_of(file),
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| SlurmError::Io("cannot start an async runtime".into(), e))?;
            runtime.block_on(async { rt.plan(&launch).await.map(|p| p.script) })
        })
        .join()
        .unwrap_or_else(|_| Err(SlurmError::Config("rendering panicked".into())))
    })
}
