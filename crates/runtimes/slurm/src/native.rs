//! Slurm's own words for a job (state, reason, exit code) and how they map
//! onto Ferry's [`Status`]. See the crate docs for the table.

use std::collections::HashMap;

use ferry_core::Status;

/// One job as `squeue -h -t all -o '%i|%T|%r|%j'` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub job_id: String,
    pub state: String,
    pub reason: String,
    pub name: String,
}

/// The `squeue` format Ferry asks for: job id, long state, reason, name
/// (last, so that a `|` in a foreign job's name cannot shift the fields).
pub const SQUEUE_FORMAT: &str = "%i|%T|%r|%j";

pub fn parse_squeue(text: &str) -> Vec<QueueEntry> {
    text.lines()
        .filter_map(|l| {
            let mut p = l.splitn(4, '|');
            Some(QueueEntry {
                job_id: p.next()?.trim().to_owned(),
                state: p.next()?.trim().to_owned(),
                reason: p.next()?.trim().to_owned(),
                name: p.next()?.trim_end().to_owned(),
            })
        })
        .filter(|e| !e.job_id.is_empty())
        .collect()
}

/// The facts of a job that `scontrol -o show job` (or `sacct`) adds: the exit
/// code and signal (`ExitCode=N:S`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub job_id: String,
    pub state: String,
    pub reason: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
}

/// Parse `scontrol -o show job` output: one job per line of `Key=Value` pairs.
pub fn parse_scontrol(text: &str) -> HashMap<String, JobRecord> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for word in line.split_whitespace() {
            if let Some((k, v)) = word.split_once('=') {
                fields.entry(k).or_insert(v);
            }
        }
        let Some(id) = fields.get("JobId") else { continue };
        let (exit_code, signal) = fields.get("ExitCode").map(|v| parse_exit_code(v)).unwrap_or((None, None));
        out.insert(
            id.to_string(),
            JobRecord {
                job_id: id.to_string(),
                state: fields.get("JobState").unwrap_or(&"").to_string(),
                reason: fields.get("Reason").unwrap_or(&"").to_string(),
                exit_code,
                signal,
            },
        );
    }
    out
}

/// Parse `sacct -n -P -X -o JobID,State,ExitCode,Reason` output.
pub fn parse_sacct(text: &str) -> HashMap<String, JobRecord> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let p: Vec<&str> = line.split('|').collect();
        if p.len() < 3 {
            continue;
        }
        let (exit_code, signal) = parse_exit_code(p[2]);
        // sacct writes "CANCELLED by 0"; the state is the first word.
        let state = p[1].split_whitespace().next().unwrap_or("").to_string();
        out.insert(
            p[0].to_string(),
            JobRecord {
                job_id: p[0].to_string(),
                state,
                reason: p.get(3).unwrap_or(&"").to_string(),
                exit_code,
                signal,
            },
        );
    }
    out
}

/// `N:S` → (exit code, signal); a 0 signal is no signal.
pub fn parse_exit_code(v: &str) -> (Option<i32>, Option<i32>) {
    let (c, s) = v.split_once(':').unwrap_or((v, "0"));
    let code = c.trim().parse().ok();
    let sig = s.trim().parse().ok().filter(|s: &i32| *s != 0);
    (code, sig)
}

/// What the batch script's wrapper wrote into `<workdir>/result` and
/// whether Ferry was asked to stop the job (`<workdir>/stop-requested`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkdirFacts {
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub stop_requested: bool,
    /// The job id the job wrote with its end.
    pub job_id: Option<String>,
}

pub fn parse_result_file(text: &str, facts: &mut WorkdirFacts) {
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("exit=") {
            facts.exit_code = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("job=") {
            facts.job_id = Some(v.trim().to_owned()).filter(|j| !j.is_empty() && j.bytes().all(|b| b.is_ascii_digit()));
        } else if let Some(v) = line.strip_prefix("reason=") {
            facts.reason = Some(v.to_owned()).filter(|r| !r.is_empty());
        } else if line == "stop-requested" {
            facts.stop_requested = true;
        }
    }
}

/// Signal names for reasons ("killed by signal 9 (SIGKILL)").
pub fn signal_name(sig: i32) -> &'static str {
    ferry_core::status::signal_name(sig).unwrap_or("signal")
}

/// Live states: no exit code needed. `None` for a terminal state.
pub fn live_status(state: &str, reason: &str) -> Option<Status> {
    Some(match state {
        "PENDING" if reason.starts_with("JobHeld") => Status::Paused,
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_FED" | "REQUEUE_HOLD" | "RESV_DEL_HOLD" => Status::Pending,
        "RUNNING" | "COMPLETING" | "SIGNALING" | "STAGE_OUT" | "RESIZING" | "POWER_UP_NODE" | "UPDATE_DB" => {
            Status::Running
        }
        "SUSPENDED" | "STOPPED" => Status::Paused,
        _ => return None,
    })
}

/// The Ferry status of a finished job from Slurm's record and the wrapper's
/// facts. Slurm's exit code wins; the wrapper only adds the words (timeout,
/// signal names) Slurm cannot know.
pub fn final_status(rec: &JobRecord, facts: &WorkdirFacts) -> Status {
    if facts.stop_requested {
        return Status::Cancelled;
    }
    let state = rec.state.as_str();
    let slurm_reason =
        if rec.reason.is_empty() || rec.reason == "None" { String::new() } else { format!(", {}", rec.reason) };
    let from_signal = rec.signal.map(|s| (128 + s, format!("killed by signal {s} ({})", signal_name(s))));
    let code = rec.exit_code;
    let wrapper_reason = |code: i32| {
        facts.reason.clone().filter(|_| facts.exit_code == Some(code)).unwrap_or_else(|| describe_exit(code))
    };
    match state {
        "COMPLETED" if code == Some(0) && rec.signal.is_none() => Status::Succeeded,
        "COMPLETED" | "FAILED" => match (from_signal, code) {
            (Some((c, why)), _) => Status::Failed { exit_code: Some(c), reason: why },
            (None, Some(c)) if c != 0 => Status::Failed { exit_code: Some(c), reason: wrapper_reason(c) },
            (None, c) => Status::Failed { exit_code: c, reason: format!("Slurm state {state}{slurm_reason}") },
        },
        "CANCELLED" => Status::Cancelled,
        "TIMEOUT" => Status::Failed {
            exit_code: code.filter(|c| *c != 0).or(Some(124)),
            reason: "timed out: reached the Slurm time limit (TIMEOUT)".into(),
        },
        "OUT_OF_MEMORY" => Status::Failed {
            exit_code: Some(137),
            reason: "out of memory: Slurm killed the job over its --mem limit (OUT_OF_MEMORY)".into(),
        },
        "NODE_FAIL" => {
            Status::Failed { exit_code: None, reason: format!("a node of the job failed (NODE_FAIL{slurm_reason})") }
        }
        "BOOT_FAIL" => {
            Status::Failed { exit_code: None, reason: format!("the node failed to boot (BOOT_FAIL{slurm_reason})") }
        }
        "PREEMPTED" => Status::Failed {
            exit_code: None,
            reason: format!("preempted by a higher-priority job (PREEMPTED{slurm_reason})"),
        },
        "DEADLINE" => {
            Status::Failed { exit_code: None, reason: format!("missed its --deadline (DEADLINE{slurm_reason})") }
        }
        "SPECIAL_EXIT" => Status::Failed { exit_code: code, reason: format!("SPECIAL_EXIT{slurm_reason}") },
        "REVOKED" => Status::Failed { exit_code: None, reason: "revoked by a sibling cluster (REVOKED)".into() },
        other => Status::Failed { exit_code: code, reason: format!("unknown Slurm state {other}{slurm_reason}") },
    }
}

fn describe_exit(code: i32) -> String {
    if code > 128 && code < 160 {
        let s = code - 128;
        format!("killed by signal {s} ({})", signal_name(s))
    } else {
        format!("exited with code {code}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: &str, code: i32, sig: i32) -> JobRecord {
        JobRecord {
            job_id: "1".into(),
            state: state.into(),
            reason: "None".into(),
            exit_code: Some(code),
            signal: Some(sig).filter(|s| *s != 0),
        }
    }

    #[test]
    fn squeue_and_scontrol_output_parse() {
        let q = parse_squeue("12|RUNNING|None|ferry.a.b\n13|PENDING|Resources|x|y\n\n");
        assert_eq!(q.len(), 2);
        assert_eq!(q[1].name, "x|y");
        let s = parse_scontrol("JobId=7 JobName=a UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 Comment=x=y\n");
        let r = &s["7"];
        assert_eq!((r.state.as_str(), r.exit_code, r.signal), ("FAILED", Some(3), None));
        assert_eq!(parse_exit_code("0:9"), (Some(0), Some(9)));
        let a = parse_sacct("8|CANCELLED by 0|0:15|None\n");
        assert_eq!((a["8"].state.as_str(), a["8"].signal), ("CANCELLED", Some(15)));
    }

    #[test]
    fn every_documented_state_maps() {
        let none = WorkdirFacts::default();
        assert_eq!(live_status("PENDING", "Priority"), Some(Status::Pending));
        assert_eq!(live_status("PENDING", "JobHeldUser"), Some(Status::Paused));
        assert_eq!(live_status("RUNNING", "None"), Some(Status::Running));
        assert_eq!(live_status("COMPLETING", "None"), Some(Status::Running));
        assert_eq!(live_status("SUSPENDED", "None"), Some(Status::Paused));
        assert_eq!(live_status("REQUEUED", "None"), Some(Status::Pending));
        assert_eq!(live_status("COMPLETED", "None"), None);
        assert_eq!(final_status(&rec("COMPLETED", 0, 0), &none), Status::Succeeded);
        assert_eq!(
            final_status(&rec("FAILED", 3, 0), &none),
            Status::Failed { exit_code: Some(3), reason: "exited with code 3".into() }
        );
        assert_eq!(
            final_status(&rec("FAILED", 0, 9), &none),
            Status::Failed { exit_code: Some(137), reason: "killed by signal 9 (SIGKILL)".into() }
        );
        assert_eq!(final_status(&rec("CANCELLED", 0, 15), &none), Status::Cancelled);
        let stopped = WorkdirFacts { stop_requested: true, ..Default::default() };
        assert_eq!(final_status(&rec("COMPLETED", 0, 0), &stopped), Status::Cancelled);
        let timed = WorkdirFacts {
            exit_code: Some(124),
            reason: Some("timed out after 1s".into()),
            stop_requested: false,
            job_id: None,
        };
        assert_eq!(
            final_status(&rec("FAILED", 124, 0), &timed),
            Status::Failed { exit_code: Some(124), reason: "timed out after 1s".into() }
        );
        for (state, word) in [
            ("TIMEOUT", "time limit"),
            ("OUT_OF_MEMORY", "out of memory"),
            ("NODE_FAIL", "NODE_FAIL"),
            ("PREEMPTED", "PREEMPTED"),
            ("BOOT_FAIL", "BOOT_FAIL"),
            ("DEADLINE", "DEADLINE"),
        ] {
            match final_status(&rec(state, 0, 0), &none) {
                Status::Failed { reason, .. } => assert!(reason.contains(word), "{state}: {reason}"),
                other => panic!("{state} mapped to {other:?}"),
            }
        }
    }
}
