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
