//! Containers on Slurm, for real: the workload's `image` runs inside the
//! allocation through the podman launcher, on the test cluster of
//! scripts/services/50-slurm.sh, with the busybox image it imports from
//! Debian's busybox-static (no registry needed).
//!
//! The podman command line comes from FERRY_SLURM_PODMAN and
//! FERRY_SLURM_PODMAN_RUN as exported by the service script (this machine
//! has no systemd and a cgroup v1 hybrid: runc, cgroupfs, explicit ulimits);
//! the same defaults are used when they are unset.
//! Set FERRY_SKIP_SLURM_TESTS=1 to skip on a machine without the services.

use ferry_conformance::Target;

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

fn target() -> Target {
    let image = env_or("FERRY_SLURM_IMAGE", "localhost/ferry-busybox:1");
    let ok = std::process::Command::new("podman")
        .args(["image", "exists", &image])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "podman image {image} is missing: run scripts/services/50-slurm.sh (or set FERRY_SKIP_SLURM_TESTS=1)");
    Target {
        bin: env!("CARGO_BIN_EXE_ferry").into(),
        context_args: vec!["--runtime".into(), "slurm".into()],
        image: Some(image),
        unsupported: vec!["oom", "stats"],
        setup: Vec::new(),
        env: vec![
            ("FERRY_SLURM_LAUNCHER".into(), "podman".into()),
            (
                "FERRY_SLURM_PODMAN".into(),
                env_or("FERRY_SLURM_PODMAN", "podman --runtime runc --cgroup-manager=cgroupfs"),
            ),
            (
                "FERRY_SLURM_PODMAN_RUN".into(),
                env_or(
                    "FERRY_SLURM_PODMAN_RUN",
                    "run --rm --init --network=host --ulimit nofile=1024:1024 --ulimit nproc=4096:4096",
                ),
            ),
        ],
    }
}

fn skipping(test: &str) -> bool {
    if std::env::var("FERRY_SKIP_SLURM_TESTS").as_deref() == Ok("1") {
        println!("{test}: skipped (FERRY_SKIP_SLURM_TESTS=1)");
        ferry_core::skip_log::append(&format!("slurm_podman::{test}: skipped (FERRY_SKIP_SLURM_TESTS=1)"));
        return true;
    }
    false
}

macro_rules! in_podman {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                if skipping(stringify!($case)) {
                    return;
                }
                ferry_conformance::$case(&target());
            }
        )*
    };
}

in_podman!(exit_zero, exit_one, exit_137, env_and_args, io_bindings, retries, bad_file_is_reported, stop_graceful);
