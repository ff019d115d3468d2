//! Status of many jobs costs one `squeue` (and one `scontrol` batch for the
//! finished ones), not one call per job — on the real test cluster of
//! scripts/services/50-slurm.sh. FERRY_SKIP_SLURM_TESTS=1 skips it.

use std::time::{Duration, Instant};

use ferry_core::context::ContextSettings;
use ferry_core::{Launch, Runtime, Status, WorkloadId};
use ferry_slurm::SlurmRuntime;

#[test]
fn thirty_statuses_one_squeue() {
    if std::env::var("FERRY_SKIP_SLURM_TESTS").as_deref() == Ok("1") {
        println!("thirty_statuses_one_squeue: skipped (FERRY_SKIP_SLURM_TESTS=1)");
        ferry_core::skip_log::append(
            "ferry-slurm batched_status::thirty_statuses_one_squeue: skipped (FERRY_SKIP_SLURM_TESTS=1)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let settings = ContextSettings::default();
        let slurm = SlurmRuntime::new("batched", &settings, dir.path()).unwrap();
        let mut handles = Vec::new();
        for i in 0..30 {
            let code = i % 3; // some succeed, some fail with 1 or 2
            let workload: ferry_spec::Workload = serde_json::from_value(
                serde_json::json!({"name": format!("b{i}"), "command": ["sh", "-c", format!("exit {code}")]}),
            )
            .unwrap();
            let launch = Launch {
                id: WorkloadId::random(),
                name: format!("b{i}"),
                context: "batched".into(),
                workload,
                spec_dir: dir.path().into(),
            };
            let h = slurm
                .start(&launch)
                .await
                .unwrap_or_else(|e| panic!("sbatch failed (is the cluster up? scripts/services/50-slurm.sh): {e}"));
            handles.push((h, code));
        }
        // Wait until all have ended, polling through the runtime itself.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut live = 0;
            for (h, _) in &handles {
                if slurm.status(h).await.unwrap().is_live() {
                    live += 1;
                }
            }
            if live == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{live} jobs still live after 2 minutes");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // A fresh runtime (as a new CLI process would be): 30 statuses, one squeue.
        let fresh = SlurmRuntime::new("batched", &settings, dir.path()).unwrap();
        for (h, code) in &handles {
            let want = if *code == 0 {
                Status::Succeeded
            } else {
                Status::Failed { exit_code: Some(*code), reason: format!("exited with code {code}") }
            };
            assert_eq!(fresh.status(h).await.unwrap(), want, "job {}", h.native_id);
        }
        let calls = fresh.invocations();
        assert_eq!(calls.get("squeue"), Some(&1), "{calls:?}");
        assert!(calls.get("scontrol").copied().unwrap_or(0) <= 1, "{calls:?}");
        assert!(calls.get("sacct").copied().unwrap_or(0) <= 1, "{calls:?}");
    });
}
