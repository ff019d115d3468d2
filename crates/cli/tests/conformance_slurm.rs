//! The conformance suite on the Slurm runtime, against the real single-node
//! cluster that scripts/services/50-slurm.sh starts (munged, slurmctld, slurmd).
//!
//! Not applicable by design, listed in `unsupported`:
//! * "oom": the test cluster runs `task/none` + `proctrack/linuxproc`, so
//!   slurmd accounts `--mem` but has no cgroup to enforce it and never
//!   OOM-kills. (A cluster with `task/cgroup` reports OUT_OF_MEMORY, which
//!   Ferry maps to Failed{137, "out of memory …"}; see ferry-slurm's table.)
//! * "stats": Ferry does not read live usage from Slurm (it would need
//!   `jobacct_gather` and `sstat`); `ferry stats` says so clearly.
//!
//! Set FERRY_SKIP_SLURM_TESTS=1 to skip on a machine without Slurm.

fn target() -> ferry_conformance::Target {
    ferry_conformance::Target {
        bin: env!("CARGO_BIN_EXE_ferry").into(),
        context_args: vec!["--runtime".into(), "slurm".into()],
        image: None,
        unsupported: vec!["oom", "stats"],
        setup: Vec::new(),
        env: Vec::new(),
    }
}

/// Skip (only when asked to) or fail loudly when no Slurm controller answers.
fn slurm_target() -> ferry_conformance::Target {
    static CHECK: std::sync::Once = std::sync::Once::new();
    CHECK.call_once(|| {
        let ok = std::process::Command::new("scontrol")
            .arg("ping")
            .output()
            .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("UP"))
            .unwrap_or(false);
        if !ok && std::env::var("FERRY_SKIP_SLURM_TESTS").as_deref() != Ok("1") {
            panic!("no Slurm controller answers `scontrol ping`: run scripts/services/50-slurm.sh (or set FERRY_SKIP_SLURM_TESTS=1)");
        }
    });
    target()
}

/// The target for one case, or `None` (recorded) when FERRY_SKIP_SLURM_TESTS=1.
fn setup(case: &str) -> Option<(ferry_conformance::Target, ())> {
    if std::env::var("FERRY_SKIP_SLURM_TESTS").as_deref() == Ok("1") {
        println!("{case}: skipped (FERRY_SKIP_SLURM_TESTS=1)");
        ferry_core::skip_log::append(&format!("conformance_slurm::{case}: skipped (FERRY_SKIP_SLURM_TESTS=1)"));
        return None;
    }
    Some((slurm_target(), ()))
}

ferry_conformance::suite!(setup = setup);

/// A `ferry run` killed at any instant of a Slurm submission converges (see the case).
#[test]
fn killed_run_converges() {
    if let Some((target, ())) = setup("killed_run_converges") {
        ferry_conformance::killed_run_converges(&target);
    }
}

/// A submission that sbatch refuses (a GPU request on this cluster, which
/// has no GPUs) leaves no row and no job folder.
#[test]
fn refused_submit_leaves_no_job_folder() {
    let Some((target, ())) = setup("refused_submit_leaves_no_job_folder") else { return };
    let f = ferry_conformance::Ferry::new(&target);
    let file = f.work_dir().join("gpu.yaml");
    std::fs::write(&file, "name: gpu\ncommand: [\"true\"]\nresources: {gpus: 1}\n").expect("write workload");
    let out = f.run(&["run", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(125), "sbatch must refuse: {}", ferry_conformance::describe(&out));
    assert!(f.ok(&["ps", "-a", "-q"]).is_empty(), "the refusal left a row");
    let jobs = f.data_dir().join("ferry/slurm/jobs");
    let left: Vec<_> = std::fs::read_dir(&jobs).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "the refusal left job folders: {left:?}");
}

/// Slurm forgets an ended job MinJobAge after its end (600 s on the test
/// cluster); its job folder stays. A forgotten job is made here by copying a
/// finished job's folder under a new workload id, with a job id Slurm never
/// had. After the store is lost, `ps -a` finds it from its folder with the
/// end its job recorded, and `rm` removes the folder.
#[test]
fn forgotten_job_is_found_from_its_folder_and_rm_removes_it() {
    let Some((target, ())) = setup("forgotten_job_is_found_from_its_folder_and_rm_removes_it") else { return };
    let f = ferry_conformance::Ferry::new(&target);
    let out = f.run(&["run", f.workload("exit-one").to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1), "{}", ferry_conformance::describe(&out));
    let id = f.ok(&["ps", "-a", "-q"]).trim().to_owned();
    let jobs = f.data_dir().join("ferry/slurm/jobs");
    let forgotten: String = id.chars().rev().collect();
    let dir = jobs.join(&forgotten);
    std::fs::create_dir(&dir).expect("make the forgotten job's folder");
    for entry in std::fs::read_dir(jobs.join(&id)).expect("the job folder").flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
        }
    }
    let meta = std::fs::read_to_string(dir.join("ferry.json")).expect("ferry.json");
    std::fs::write(dir.join("ferry.json"), meta.replace(&id, &forgotten)).expect("write ferry.json");
    let result = std::fs::read_to_string(dir.join("result")).expect("the job recorded its end");
    assert!(result.contains("job="), "the job records its id: {result}");
    let result: String = result
        .lines()
        .map(|l| if l.starts_with("job=") { "job=999999999\n".to_owned() } else { format!("{l}\n") })
        .collect();
    std::fs::write(dir.join("result"), result).expect("write result");

    f.lose_store();
    let out = f.ok(&["ps", "-a", "-o", "json"]);
    let ps: serde_json::Value = serde_json::from_str(&out).expect("ps json");
    let found = ps.as_array().expect("a list").iter().find(|r| r["id"] == forgotten.as_str());
    let found = found.unwrap_or_else(|| panic!("the forgotten job was not found: {out}"));
    assert_eq!(found["status"]["state"], "failed", "{found}");
    assert_eq!(found["status"]["exit_code"], 1, "{found}");
    f.ok(&["rm", &forgotten]);
    assert!(!dir.exists(), "rm removed the forgotten job's folder");
    f.ok(&["rm", &id]);
}
