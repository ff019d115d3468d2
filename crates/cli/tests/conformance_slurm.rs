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

fn skipping() -> bool {
    if std::env::var("FERRY_SKIP_SLURM_TESTS").as_deref() == Ok("1") {
        let name = std::thread::current().name().unwrap_or("conformance_slurm").to_string();
        println!("{name}: skipped (FERRY_SKIP_SLURM_TESTS=1)");
        ferry_core::skip_log::append(&format!("conformance_slurm::{name}: skipped (FERRY_SKIP_SLURM_TESTS=1)"));
        return true;
    }
    false
}

macro_rules! slurm_suite {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                if skipping() {
                    return;
                }
                ferry_conformance::$case(&slurm_target());
            }
        )*
    };
}

slurm_suite!(
    exit_zero,
    exit_one,
    exit_137,
    env_and_args,
    io_bindings,
    missing_input_is_refused,
    oom_kill,
    timeout,
    logs_10k_lines,
    logs_follow,
    pause_resume,
    stop_graceful,
    stop_kills_after_grace,
    exit_recorded_after_cli_left,
    retries,
    stats,
    bad_file_is_reported,
    live_names_are_unique,
    one_of_simultaneous_same_name_runs_starts,
    name_free_once_the_holder_ended,
    rediscovered_after_store_loss,
    rm_forgets,
    context_rm_keeps_workloads_manageable
);
