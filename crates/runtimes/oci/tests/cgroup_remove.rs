//! `ferry_oci::cgroup::remove` against the machine's real cgroups: what the
//! monitor relies on to forget an ended container without its runtime. Needs
//! root and the pids controller (v1) or cgroup v2; fails without them unless
//! `FERRY_SKIP_CGROUP_TESTS=1` (then the skip is printed and logged).

use std::path::PathBuf;
use std::process::Command;

use ferry_oci::cgroup;

#[test]
fn a_cgroup_is_removed_everywhere_once_empty_and_kept_while_busy() {
    if std::env::var("FERRY_SKIP_CGROUP_TESTS").is_ok_and(|v| !v.is_empty() && v != "0") {
        let line = "cgroup_remove::a_cgroup_is_removed_everywhere_once_empty_and_kept_while_busy: skipped (FERRY_SKIP_CGROUP_TESTS is set)";
        println!("{line}");
        ferry_core::skip_log::append(line);
        return;
    }
    let root = PathBuf::from("/sys/fs/cgroup");
    let hierarchy = if root.join("cgroup.controllers").exists() { root.clone() } else { root.join("pids") };
    assert!(
        hierarchy.join("cgroup.procs").exists(),
        "needs cgroup v2 or v1's pids controller at {} (root)",
        hierarchy.display()
    );
    let path = format!("/ferry-remove-test-{}", std::process::id());
    let dir = hierarchy.join(path.trim_start_matches('/'));
    std::fs::create_dir(&dir).expect("create a test cgroup (needs root)");

    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(dir.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    assert!(!cgroup::remove(&path), "a cgroup with a process is reported as left");
    assert!(dir.exists());

    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert!(cgroup::remove(&path), "an empty cgroup is removed");
    assert!(!dir.exists());
    assert!(cgroup::remove(&path), "nothing left is nothing left");
}
