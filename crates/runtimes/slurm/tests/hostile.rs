//! Hostile names, environment values and arguments reach the job byte for
//! byte. Many generated cases run the rendered batch script with `sh` (the
//! script body is all that quoting affects); a smaller set goes through the
//! real `sbatch` of the test cluster (scripts/services/50-slurm.sh) and reads
//! the job's output file. FERRY_SKIP_SLURM_TESTS=1 skips the sbatch part.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ferry_core::context::ContextSettings;
use ferry_core::{Launch, Runtime, WorkloadId};
use ferry_slurm::{render, Launcher, RenderSettings, SlurmRuntime};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// A workload printing its name, every env value and every argument, each
/// followed by a NUL, so the test can compare bytes exactly.
fn workload(env: &BTreeMap<String, String>, args: &[String]) -> ferry_spec::Workload {
    let mut script = String::from("printf '%s\\0' \"$FERRY_WORKLOAD_NAME\"");
    for k in env.keys() {
        script.push_str(&format!(" \"${k}\""));
    }
    script.push_str(" \"$@\"");
    let mut command = vec!["/bin/sh".to_string(), "-c".into(), script, "argv0".into()];
    command.extend(args.iter().cloned());
    serde_json::from_value(serde_json::json!({"name": "hostile", "command": command, "env": env})).unwrap()
}

fn expected(name: &str, env: &BTreeMap<String, String>, args: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in std::iter::once(name).chain(env.values().map(String::as_str)).chain(args.iter().map(String::as_str)) {
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

fn hostile_string() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("$(touch /tmp/ferry-pwned)".to_string()),
        Just("`id`".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\\".to_string()),
        Just("\\'".to_string()),
        Just("${HOME}".to_string()),
        Just("$1".to_string()),
        Just("#SBATCH --mem=1".to_string()),
        Just("ünï©ødé ✓".to_string()),
        Just(" \t ".to_string()),
        Just("*".to_string()),
        Just(";exit 7;".to_string()),
        Just("EOF".to_string()),
        "[^\u{0}]{0,6}",
    ];
    proptest::collection::vec(atom, 0..6).prop_map(|v| v.concat())
}

fn case() -> impl Strategy<Value = (String, BTreeMap<String, String>, Vec<String>)> {
    (
        hostile_string(),
        proptest::collection::btree_map("[A-Z][A-Z0-9_]{0,6}", hostile_string(), 0..4),
        proptest::collection::vec(hostile_string(), 0..4),
    )
}

fn launch(dir: &Path, name: &str, env: &BTreeMap<String, String>, args: &[String]) -> Launch {
    Launch {
        id: WorkloadId::random(),
        name: name.to_owned(),
        context: "hostile".into(),
        workload: workload(env, args),
        spec_dir: dir.to_path_buf(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The rendered script, run by sh: output equals the inputs byte for byte.
    #[test]
    fn rendered_script_keeps_every_byte((name, env, args) in case()) {
        let dir = tempfile::tempdir().unwrap();
        let l = launch(dir.path(), &name, &env, &args);
        let settings = RenderSettings {
            workdir_root: dir.path().join("jobs").display().to_string(),
            partition: None,
            account: None,
            remote: false,
            launcher: Launcher::named("podman").unwrap(),
        };
        let plan = render(&l, &settings).unwrap();
        std::fs::create_dir_all(&plan.workdir).unwrap();
        let script = Path::new(&plan.workdir).join("job.sh");
        std::fs::write(&script, &plan.script).unwrap();
        let out = std::process::Command::new("/bin/sh").arg(&script).output().unwrap();
        prop_assert!(out.status.success(), "script failed: {}\n{}", String::from_utf8_lossy(&out.stderr), plan.script);
        prop_assert_eq!(out.stdout, expected(&name, &env, &args));
        prop_assert!(!Path::new("/tmp/ferry-pwned").exists());
    }
}

/// A smaller set through the real sbatch: the job's output file holds the
/// inputs byte for byte.
#[test]
fn hostile_inputs_survive_real_sbatch() {
    if std::env::var("FERRY_SKIP_SLURM_TESTS").as_deref() == Ok("1") {
        println!("hostile_inputs_survive_real_sbatch: skipped (FERRY_SKIP_SLURM_TESTS=1)");
        ferry_core::skip_log::append(
            "ferry-slurm hostile::hostile_inputs_survive_real_sbatch: skipped (FERRY_SKIP_SLURM_TESTS=1)",
        );
        return;
    }
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 12, ..ProptestConfig::default() });
    let cases: Vec<_> = (0..12).map(|_| case().new_tree(&mut runner).unwrap().current()).collect();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let settings =
            ContextSettings { workdir_root: Some(dir.path().join("jobs").display().to_string()), ..Default::default() };
        let slurm = SlurmRuntime::new("hostile", &settings, dir.path()).unwrap();
        let mut jobs = Vec::new();
        for (name, env, args) in &cases {
            let l = launch(dir.path(), name, env, args);
            let h = slurm.start(&l).await.unwrap_or_else(|e| {
                panic!("sbatch failed (is the Slurm cluster up? scripts/services/50-slurm.sh): {e}")
            });
            jobs.push((h, expected(name, env, args)));
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        for (h, want) in &jobs {
            loop {
                let s = slurm.status(h).await.unwrap();
                if s.is_terminal() {
                    assert_eq!(s, ferry_core::Status::Succeeded, "job {}", h.native_id);
                    break;
                }
                assert!(Instant::now() < deadline, "job {} still {s} after 2 minutes", h.native_id);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let got = std::fs::read(format!("{}/stdout", h.details["workdir"])).unwrap();
            assert_eq!(&got, want, "job {}", h.native_id);
        }
        // All of those status calls were answered from shared snapshots.
        let calls = slurm.invocations();
        assert!(calls.get("squeue").copied().unwrap_or(0) < 12 * 4, "{calls:?}");
    });
    assert!(!Path::new("/tmp/ferry-pwned").exists());
}
