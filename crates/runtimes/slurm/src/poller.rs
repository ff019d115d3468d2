//! Status without hammering the controller.
//!
//! The `Runtime` trait asks for one handle's status at a time, but a caller
//! refreshing 200 workloads must not cost 200 `squeue` calls. The poller keeps
//! one snapshot of all of the user's Ferry jobs (`squeue -h -t all --me`, one
//! call) and answers every `status()` from it until it is older than the
//! current interval. The interval starts at [`MIN_INTERVAL`] and doubles up to
//! [`MAX_INTERVAL`] while nothing changes; any change, submission, stop or
//! pause resets it.
//!
//! Finished jobs need their exit code, which `squeue` does not print: all
//! finished jobs not yet resolved are resolved together, with one `sacct`
//! when accounting exists, otherwise one `scontrol -o show job`, plus one
//! read of the wrappers' `result` files (for the reason words and Ferry's
//! stop marker). Jobs that left the controller's memory (after `MinJobAge`)
//! without accounting are resolved from the `result` file alone.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::Status;
use tokio::sync::Mutex;

use crate::exec::Executor;
use crate::native::{self, JobRecord, QueueEntry, WorkdirFacts};
use crate::script::{workload_id_of, JOB_NAME_PREFIX};
use crate::SlurmError;

pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
pub const MAX_INTERVAL: Duration = Duration::from_secs(4);

#[derive(Default)]
struct PollState {
    /// Ferry jobs by Slurm job id, as of `taken`.
    queue: HashMap<String, QueueEntry>,
    taken: Option<Instant>,
    interval: Duration,
    /// Terminal statuses already resolved, by job id.
    finals: HashMap<String, Status>,
    /// Whether `sacct` works (learned on first use).
    accounting: Option<bool>,
    /// Jobs this process just submitted: `sbatch` accepted them, so they are
    /// at least pending; no need to ask squeue within the first interval.
    submitted: HashMap<String, Instant>,
}

pub struct Poller {
    exec: Arc<Executor>,
    state: Mutex<PollState>,
    /// Remembers across processes whether the cluster has accounting, so
    /// each CLI process does not probe `sacct` again.
    accounting_cache: Option<PathBuf>,
}

impl Poller {
    pub fn new(exec: Arc<Executor>, accounting_cache: Option<PathBuf>) -> Poller {
        let accounting =
            accounting_cache.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).and_then(|t| match t.trim() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            });
        Poller {
            exec,
            state: Mutex::new(PollState { interval: MIN_INTERVAL, accounting, ..Default::default() }),
            accounting_cache,
        }
    }

    fn remember_accounting(&self, st: &mut PollState, has: bool) {
        if st.accounting != Some(has) {
            st.accounting = Some(has);
            if let Some(p) = &self.accounting_cache {
                if let Some(dir) = p.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = std::fs::write(p, if has { "yes\n" } else { "no\n" });
            }
        }
    }

    /// Forget the snapshot's age (after a submission, stop or pause).
    pub async fn invalidate(&self) {
        let mut st = self.state.lock().await;
        st.taken = None;
        st.interval = MIN_INTERVAL;
    }

    /// Record a job this process just submitted.
    pub async fn submitted(&self, job_id: &str) {
        let mut st = self.state.lock().await;
        st.submitted.insert(job_id.to_owned(), Instant::now());
    }

    /// The current snapshot of Ferry jobs, refreshed if older than the interval.
    pub async fn queue(&self) -> Result<HashMap<String, QueueEntry>, SlurmError> {
        let mut st = self.state.lock().await;
        self.refresh_if_stale(&mut st).await?;
        Ok(st.queue.clone())
    }

    async fn refresh_if_stale(&self, st: &mut PollState) -> Result<(), SlurmError> {
        if st.taken.is_some_and(|t| t.elapsed() < st.interval) {
            return Ok(());
        }
        let argv: Vec<String> =
            ["squeue", "-h", "-t", "all", "--me", "-o", native::SQUEUE_FORMAT].iter().map(|s| s.to_string()).collect();
        let out = self.exec.run_ok(&argv, None).await?;
        let queue: HashMap<String, QueueEntry> = native::parse_squeue(&out.stdout_text())
            .into_iter()
            .filter(|e| e.name.starts_with(JOB_NAME_PREFIX))
            .map(|e| (e.job_id.clone(), e))
            .collect();
        let changed = queue.len() != st.queue.len()
            || queue.iter().any(|(id, e)| st.queue.get(id).is_none_or(|o| o.state != e.state || o.reason != e.reason));
        st.interval = if changed || st.taken.is_none() { MIN_INTERVAL } else { (st.interval * 2).min(MAX_INTERVAL) };
        st.queue = queue;
        st.taken = Some(Instant::now());
        Ok(())
    }

    /// The status of Slurm job `job_id`, whose job directory is
    /// `workdir_of(workload id)`. `Ok(None)`: Slurm and the job directory
    /// know nothing of it.
    pub async fn status(
        &self,
        job_id: &str,
        workdir_of: &(dyn Fn(&str) -> String + Sync),
    ) -> Result<Option<Status>, SlurmError> {
        let mut st = self.state.lock().await;
        if let Some(s) = st.finals.get(job_id) {
            return Ok(Some(s.clone()));
        }
        if st.submitted.get(job_id).is_some_and(|t| t.elapsed() < MIN_INTERVAL) && !st.queue.contains_key(job_id) {
            return Ok(Some(Status::Pending));
        }
        self.refresh_if_stale(&mut st).await?;
        if let Some(e) = st.queue.get(job_id) {
            if let Some(s) = native::live_status(&e.state, &e.reason) {
                return Ok(Some(s));
            }
        }
        // Finished (or gone): resolve it together with every other finished
        // job of the snapshot that is not resolved yet.
        let mut wanted: Vec<(String, Option<String>)> = st
            .queue
            .values()
            .filter(|e| native::live_status(&e.state, &e.reason).is_none() && !st.finals.contains_key(&e.job_id))
            .map(|e| (e.job_id.clone(), workload_id_of(&e.name).map(|w| workdir_of(w.as_str()))))
            .collect();
        if !st.queue.contains_key(job_id) {
            wanted.push((job_id.to_owned(), None));
        }
        let ids: Vec<String> = wanted.iter().map(|(j, _)| j.clone()).collect();
        let records = self.records(&mut st, &ids).await?;
        let dirs: Vec<String> = wanted.iter().filter_map(|(_, d)| d.clone()).collect();
        let facts = read_facts(&self.exec, &dirs).await?;
        for (job, dir) in &wanted {
            let f = dir.as_ref().and_then(|d| facts.get(d)).cloned().unwrap_or_default();
            let status = match records.get(job) {
                Some(r) if native::live_status(&r.state, &r.reason).is_none() => native::final_status(r, &f),
                Some(_) => continue,
                None => continue,
            };
            st.finals.insert(job.clone(), status);
        }
        Ok(st.finals.get(job_id).cloned())
    }

    /// Resolve a job that Slurm forgot from its job directory alone.
    pub async fn status_from_workdir(&self, job_id: &str, dir: &str) -> Result<Option<Status>, SlurmError> {
        let facts = read_facts(&self.exec, &[dir.to_owned()]).await?;
        let Some(f) = facts.get(dir) else { return Ok(None) };
        let Some(code) = f.exit_code else {
            return Ok(f.stop_requested.then_some(Status::Cancelled));
        };
        let rec = JobRecord {
            job_id: job_id.to_owned(),
            state: if code == 0 { "COMPLETED".into() } else { "FAILED".into() },
            reason: String::new(),
            exit_code: Some(code),
            signal: None,
        };
        let s = native::final_status(&rec, f);
        self.state.lock().await.finals.insert(job_id.to_owned(), s.clone());
        Ok(Some(s))
    }

    /// Exit codes of `ids`: one `sacct` when accounting works, else one
    /// `scontrol -o show job` (all jobs the controller still holds).
    async fn records(&self, st: &mut PollState, ids: &[String]) -> Result<HashMap<String, JobRecord>, SlurmError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        if st.accounting != Some(false) {
            let argv = vec![
                "sacct".to_string(),
                "-n".into(),
                "-P".into(),
                "-X".into(),
                "-j".into(),
                ids.join(","),
                "-o".into(),
                "JobID,State,ExitCode,Reason".into(),
            ];
            let out = self.exec.run(&argv, None).await?;
            if out.success() {
                self.remember_accounting(st, true);
                return Ok(native::parse_sacct(&out.stdout_text()));
            }
            tracing::debug!("sacct unavailable ({}); using scontrol", out.stderr_text());
            self.remember_accounting(st, false);
        }
        let argv = vec!["scontrol".to_string(), "-o".into(), "show".into(), "job".into()];
        let out = self.exec.run(&argv, None).await?;
        let wanted: HashSet<&String> = ids.iter().collect();
        Ok(native::parse_scontrol(&out.stdout_text()).into_iter().filter(|(k, _)| wanted.contains(k)).collect())
    }

    /// Whether Slurm knows `job_id` is suspended (vs. held while pending).
    pub async fn native_state(&self, job_id: &str) -> Result<Option<QueueEntry>, SlurmError> {
        let mut st = self.state.lock().await;
        self.refresh_if_stale(&mut st).await?;
        Ok(st.queue.get(job_id).cloned())
    }
}

/// The `result` file and stop marker of each job directory: direct reads
/// locally, one shell call for all directories over ssh.
pub async fn read_facts(exec: &Executor, dirs: &[String]) -> Result<HashMap<String, WorkdirFacts>, SlurmError> {
    let mut out = HashMap::new();
    if dirs.is_empty() {
        return Ok(out);
    }
    if !exec.is_remote() {
        for d in dirs {
            let mut f = WorkdirFacts::default();
            if let Ok(text) = std::fs::read_to_string(format!("{d}/result")) {
                native::parse_result_file(&text, &mut f);
            }
            f.stop_requested = std::path::Path::new(&format!("{d}/stop-requested")).exists();
            out.insert(d.clone(), f);
        }
        return Ok(out);
    }
    let script = r#"for d; do printf '\036%s\n' "$d"; cat "$d/result" 2>/dev/null; [ -e "$d/stop-requested" ] && echo stop-requested; done; true"#;
    let res = exec.sh(script, dirs).await?;
    for chunk in res.stdout_text().split('\u{1e}').filter(|c| !c.is_empty()) {
        let (dir, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let mut f = WorkdirFacts::default();
        native::parse_result_file(body, &mut f);
        out.insert(dir.to_owned(), f);
    }
    Ok(out)
}
