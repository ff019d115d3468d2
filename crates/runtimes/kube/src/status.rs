//! Kubernetes state → Ferry [`Status`]: pure functions over the objects a
//! watch (or one GET) delivered, so the mapping is tested without a cluster.
//! The table is in the crate docs.

use ferry_core::Status;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};

use crate::manifest::{ANNOTATION_STOPPED, CONTAINER};

/// Waiting reasons after which the pod will not start without a change by
/// someone (a fixed image name, a pushed image): reported as failures so an
/// attached `ferry run` ends instead of waiting forever.
const FATAL_WAITING: &[&str] = &["ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerError"];

fn stopped(annotations: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    annotations.is_some_and(|a| a.contains_key(ANNOTATION_STOPPED))
}

/// Pods of one workload, newest first (the latest attempt decides).
pub fn newest_first(pods: &mut [Pod]) {
    pods.sort_by(|a, b| {
        let key = |p: &Pod| (p.metadata.creation_timestamp.clone().map(|t| t.0), p.metadata.name.clone());
        key(b).cmp(&key(a))
    });
}

/// The status of a Job given its pods (any order).
pub fn job_status(job: &Job, pods: &[Pod]) -> Status {
    let mut pods = pods.to_vec();
    newest_first(&mut pods);
    let latest = pods.first();
    if stopped(job.metadata.annotations.as_ref()) {
        return Status::Cancelled;
    }
    let conditions = job.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let is_true = |c: &&k8s_openapi::api::batch::v1::JobCondition| c.status == "True";
    if conditions.iter().filter(is_true).any(|c| c.type_ == "Complete") {
        return Status::Succeeded;
    }
    if let Some(c) = conditions.iter().filter(is_true).find(|c| c.type_ == "Failed") {
        let reason = c.reason.clone().unwrap_or_else(|| "Failed".into());
        let mut text = match &c.message {
            Some(m) if !m.is_empty() => format!("{reason}: {m}"),
            _ => reason.clone(),
        };
        if reason == "DeadlineExceeded" {
            // The Job's deadline is a multiple of the workload's timeout, which its pods carry.
            if let Some(timeout) = job.spec.as_ref().and_then(|s| s.template.spec.as_ref()?.active_deadline_seconds) {
                text = format!("timed out after {} ({text})", seconds(timeout));
            }
        }
        // The newest attempt that ended says how (its exit, a timeout, an OOM kill).
        let last = pods.iter().find_map(|p| match pod_status(p, true) {
            Status::Failed { exit_code, reason } => Some((exit_code, reason)),
            _ => None,
        });
        let exit_code = pods.iter().find_map(terminated).map(|t| t.exit_code);
        if let Some(r) = last.as_ref().map(|(_, r)| r.clone()).or_else(|| latest.and_then(pod_failure_reason)) {
            text.push_str(&format!("; last attempt: {r}"));
        }
        return Status::Failed { exit_code: last.and_then(|(code, _)| code).or(exit_code), reason: text };
    }
    match latest.map(|p| (p, pod_status(p, true))) {
        // A failed attempt before the Job controller's verdict: a retry is
        // coming while attempts remain (the verdict then arrives as a condition).
        Some((p, Status::Failed { .. })) if pod_failure_reason(p).is_none() && retry_pending(job, &pods) => {
            Status::Pending
        }
        Some((_, s)) => s,
        None => Status::Pending,
    }
}

/// Attempts remain: fewer failed pods than `backoffLimit` + 1.
fn retry_pending(job: &Job, pods: &[Pod]) -> bool {
    let limit = job.spec.as_ref().and_then(|s| s.backoff_limit).unwrap_or(6);
    let failed = pods.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")).count();
    (failed as i64) <= i64::from(limit)
}

/// The status of a service's Deployment given its pods.
pub fn deployment_status(d: &Deployment, pods: &[Pod]) -> Status {
    if stopped(d.metadata.annotations.as_ref()) {
        return Status::Cancelled;
    }
    let mut pods: Vec<Pod> = pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).cloned().collect();
    newest_first(&mut pods);
    match pods.first() {
        Some(p) => match pod_status(p, false) {
            // A service that exits is restarted by the kubelet; it is only
            // failed once it crash-loops.
            Status::Succeeded => Status::Running,
            s => s,
        },
        None => Status::Pending,
    }
}

/// One pod's status. `job`: the pod belongs to a Job (restartPolicy Never),
/// so a terminated container is final for this attempt.
pub fn pod_status(p: &Pod, job: bool) -> Status {
    let st = p.status.as_ref();
    let phase = st.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    if let Some(reason) = pod_failure_reason(p) {
        return Status::Failed { exit_code: None, reason };
    }
    let main = main_container(p);
    match phase {
        "Succeeded" => Status::Succeeded,
        "Failed" => {
            let term = main.and_then(|c| c.state.as_ref()?.terminated.clone());
            let pod_reason = st.and_then(|s| s.reason.clone());
            if pod_reason.as_deref() == Some("DeadlineExceeded") {
                // The pod's activeDeadlineSeconds is the workload's timeout: said as every runtime says it.
                let secs = p.spec.as_ref().and_then(|s| s.active_deadline_seconds).unwrap_or_default();
                return Status::Failed {
                    exit_code: term.map(|t| t.exit_code),
                    reason: format!("timed out after {} (DeadlineExceeded)", seconds(secs)),
                };
            }
            match (term, pod_reason) {
                (Some(t), _) => Status::Failed { exit_code: Some(t.exit_code), reason: describe_terminated(&t) },
                (None, Some(r)) => {
                    let msg = st.and_then(|s| s.message.clone()).unwrap_or_default();
                    Status::Failed { exit_code: None, reason: join(&r, &msg) }
                }
                (None, None) => Status::Failed { exit_code: None, reason: "pod failed".into() },
            }
        }
        "Running" => {
            if let Some(waiting) = main.and_then(|c| c.state.as_ref()?.waiting.clone()) {
                if waiting.reason.as_deref() == Some("CrashLoopBackOff") && !job {
                    let last = main.and_then(|c| c.last_state.as_ref()?.terminated.clone());
                    return Status::Failed {
                        exit_code: last.as_ref().map(|t| t.exit_code),
                        reason: match last {
                            Some(t) => format!("CrashLoopBackOff: {}", describe_terminated(&t)),
                            None => "CrashLoopBackOff".into(),
                        },
                    };
                }
            }
            Status::Running
        }
        _ => Status::Pending,
    }
}

/// Why a pod will never run, if it will not: an image that cannot be pulled
/// (after the kubelet's back-off started) or a container that cannot be created.
pub fn pod_failure_reason(p: &Pod) -> Option<String> {
    let waiting = main_container(p)?.state.as_ref()?.waiting.as_ref()?;
    let reason = waiting.reason.as_deref()?;
    FATAL_WAITING.contains(&reason).then(|| join(reason, waiting.message.as_deref().unwrap_or_default()))
}

/// Why a pod is still pending, for people waiting on it: unschedulable,
/// pulling, a transient image pull error.
pub fn pending_reason(p: &Pod) -> Option<String> {
    let st = p.status.as_ref()?;
    if let Some(c) = st.conditions.iter().flatten().find(|c| c.type_ == "PodScheduled" && c.status == "False") {
        let reason = c.reason.clone().unwrap_or_else(|| "Unschedulable".into());
        return Some(join(&reason, c.message.as_deref().unwrap_or_default()));
    }
    let waiting = main_container(p)?.state.as_ref()?.waiting.as_ref()?;
    Some(join(waiting.reason.as_deref()?, waiting.message.as_deref().unwrap_or_default()))
}

fn main_container(p: &Pod) -> Option<&ContainerStatus> {
    let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find(|c| c.name == CONTAINER).or(statuses.first())
}

fn terminated(p: &Pod) -> Option<ContainerStateTerminated> {
    main_container(p)?.state.as_ref()?.terminated.clone()
}

/// `out of memory (OOMKilled, exit 137)`, `exited with code 3`, `Error: message (exit 1)`.
pub fn describe_terminated(t: &ContainerStateTerminated) -> String {
    match (t.reason.as_deref(), t.message.as_deref()) {
        // The words every runtime uses for the kernel's OOM kill.
        (Some("OOMKilled"), _) => format!("out of memory (OOMKilled, exit {})", t.exit_code),
        // A container's exit code of 128 + N is death by signal N, as the other runtimes say it.
        (Some("Error") | None, None) if t.exit_code > 128 => match ferry_core::status::signal_name(t.exit_code - 128) {
            Some(sig) => format!("killed by signal {sig}"),
            None => format!("exited with code {}", t.exit_code),
        },
        (Some("Error") | Some("Completed") | None, None) => format!("exited with code {}", t.exit_code),
        (Some(r), Some(m)) if !m.is_empty() => format!("{r}: {m} (exit {})", t.exit_code),
        (Some(r), _) => format!("{r} (exit {})", t.exit_code),
        (None, Some(m)) => format!("{m} (exit {})", t.exit_code),
    }
}

/// A deadline in seconds as Ferry writes durations (`90` → `1m30s`).
fn seconds(secs: i64) -> ferry_spec::Duration {
    ferry_spec::Duration(std::time::Duration::from_secs(secs.max(0) as u64))
}

fn join(reason: &str, message: &str) -> String {
    if message.is_empty() {
        reason.to_string()
    } else {
        format!("{reason}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(status: serde_json::Value) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "j"}, "status": status})).unwrap()
    }
    fn pod(name: &str, created: &str, status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "creationTimestamp": created}, "status": status}))
            .unwrap()
    }
    fn terminated_pod(name: &str, created: &str, code: i32, reason: &str) -> Pod {
        pod(
            name,
            created,
            json!({"phase": "Failed", "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": code, "reason": reason}}}]}),
        )
    }

    #[test]
    fn job_conditions_decide_the_end() {
        let done = job(json!({"conditions": [{"type": "Complete", "status": "True"}]}));
        assert_eq!(job_status(&done, &[]), Status::Succeeded);

        let pods = [
            terminated_pod("a", "2026-01-01T00:00:00Z", 3, "Error"),
            terminated_pod("b", "2026-01-01T00:01:00Z", 137, "OOMKilled"),
        ];
        let failed = job(json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit"}]}));
        match job_status(&failed, &pods) {
            Status::Failed { exit_code, reason } => {
                assert_eq!(exit_code, Some(137), "the newest attempt's exit code");
                assert!(reason.starts_with("BackoffLimitExceeded: Job has reached"), "{reason}");
                assert!(reason.contains("out of memory (OOMKilled, exit 137)"), "{reason}");
            }
            s => panic!("{s:?}"),
        }
        let deadline = job(json!({"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}));
        assert!(
            matches!(job_status(&deadline, &[]), Status::Failed { exit_code: None, reason } if reason == "DeadlineExceeded")
        );
        // A condition that is not True does not count.
        let not_yet = job(json!({"conditions": [{"type": "Failed", "status": "False"}]}));
        assert_eq!(job_status(&not_yet, &[]), Status::Pending);
    }

    #[test]
    fn the_newest_pod_decides_while_running() {
        let j = job(json!({"active": 1}));
        let old = terminated_pod("a", "2026-01-01T00:00:00Z", 1, "Error");
        let new = pod("b", "2026-01-01T00:01:00Z", json!({"phase": "Running"}));
        assert_eq!(job_status(&j, &[old.clone(), new]), Status::Running);
        // Between attempts (no verdict yet, attempts left): waiting for the retry.
        let j1: Job = serde_json::from_value(json!({"metadata": {"name": "j"}, "spec": {"backoffLimit": 1,
            "template": {}}}))
        .unwrap();
        assert_eq!(job_status(&j1, std::slice::from_ref(&old)), Status::Pending);
        // No attempts left but the controller has not written its verdict: the pod's end.
        let j0: Job = serde_json::from_value(json!({"metadata": {"name": "j"}, "spec": {"backoffLimit": 0,
            "template": {}}}))
        .unwrap();
        assert!(matches!(job_status(&j0, std::slice::from_ref(&old)), Status::Failed { exit_code: Some(1), .. }));
        let pending = pod("c", "2026-01-01T00:02:00Z", json!({"phase": "Pending"}));
        assert_eq!(job_status(&j, &[old, pending]), Status::Pending);
    }

    #[test]
    fn image_pull_back_off_fails_with_the_reason() {
        let p = pod(
            "a",
            "2026-01-01T00:00:00Z",
            json!({"phase": "Pending", "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nope\""}}}]}),
        );
        match job_status(&job(json!({"active": 1})), std::slice::from_ref(&p)) {
            Status::Failed { exit_code: None, reason } => {
                assert_eq!(reason, "ImagePullBackOff: Back-off pulling image \"nope\"")
            }
            s => panic!("{s:?}"),
        }
        // ErrImagePull alone may be a blip: still pending, with a reason for people.
        let blip: Pod = serde_json::from_value(
            serde_json::to_value(&p)
                .unwrap()
                .to_string()
                .replace("ImagePullBackOff", "ErrImagePull")
                .parse::<serde_json::Value>()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(pod_status(&blip, true), Status::Pending);
        assert!(pending_reason(&blip).unwrap().starts_with("ErrImagePull"));
    }

    #[test]
    fn unschedulable_stays_pending_with_a_reason() {
        let p = pod(
            "a",
            "2026-01-01T00:00:00Z",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}),
        );
        assert_eq!(job_status(&job(json!({})), std::slice::from_ref(&p)), Status::Pending);
        assert_eq!(
            pending_reason(&p).unwrap(),
            "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
        );
    }

    #[test]
    fn stopped_objects_are_cancelled() {
        let mut j = job(json!({"active": 1}));
        j.metadata.annotations = Some([(ANNOTATION_STOPPED.to_string(), "2026-01-01T00:00:00Z".to_string())].into());
        assert_eq!(job_status(&j, &[]), Status::Cancelled);
    }

    #[test]
    fn services_fail_only_when_crash_looping() {
        let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "d"}})).unwrap();
        assert_eq!(deployment_status(&d, &[]), Status::Pending);
        let running = pod("a", "2026-01-01T00:00:00Z", json!({"phase": "Running"}));
        assert_eq!(deployment_status(&d, &[running]), Status::Running);
        let looping = pod(
            "a",
            "2026-01-01T00:00:00Z",
            json!({"phase": "Running", "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false,
                "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}}}]}),
        );
        assert_eq!(
            deployment_status(&d, &[looping]),
            Status::Failed { exit_code: Some(2), reason: "CrashLoopBackOff: exited with code 2".into() }
        );
    }
}
