//! The local and the OCI runtime agree on whether a memory cgroup saw an
//! out-of-memory kill: both are asked about the same fixture files, and both
//! must give the answer of the one rule (`ferry_local::cgroup::oom`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_local::cgroup::Cgroup;

/// A memory cgroup's files as the kernel leaves them, and the verdict.
struct Fixture {
    name: &'static str,
    v2: bool,
    files: &'static [(&'static str, &'static str)],
    oom: bool,
}

const LIMIT_64M: &str = "67108864\n";

const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "v2 quiet",
        v2: true,
        files: &[("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")],
        oom: false,
    },
    Fixture {
        name: "v2 killed",
        v2: true,
        files: &[("memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")],
        oom: true,
    },
    Fixture {
        name: "v1 killed",
        v2: false,
        files: &[("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")],
        oom: true,
    },
    Fixture {
        // The limit was hit and cache reclaimed, but the kernel's counter says
        // nothing was killed: the counter wins over the heuristic.
        name: "v1 reclaimed at the limit",
        v2: false,
        files: &[
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"),
            ("memory.failcnt", "12\n"),
            ("memory.limit_in_bytes", LIMIT_64M),
            ("memory.max_usage_in_bytes", LIMIT_64M),
        ],
        oom: false,
    },
    Fixture {
        // The OOM killer is disabled for the cgroup: its processes wait at the
        // limit, which is out of memory as surely as a kill.
        name: "v1 waiting under OOM",
        v2: false,
        files: &[("memory.oom_control", "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n")],
        oom: true,
    },
    Fixture {
        // Kernels before 4.13 have no `oom_kill` counter.
        name: "v1 old kernel, limit hit at peak",
        v2: false,
        files: &[
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n"),
            ("memory.failcnt", "3\n"),
            ("memory.limit_in_bytes", LIMIT_64M),
            ("memory.max_usage_in_bytes", "67100672\n"),
        ],
        oom: true,
    },
    Fixture {
        name: "v1 old kernel, limit never hit",
        v2: false,
        files: &[
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n"),
            ("memory.failcnt", "0\n"),
            ("memory.limit_in_bytes", LIMIT_64M),
            ("memory.max_usage_in_bytes", "1048576\n"),
        ],
        oom: false,
    },
    Fixture {
        name: "v1 old kernel, no limit",
        v2: false,
        files: &[
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n"),
            ("memory.failcnt", "0\n"),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.max_usage_in_bytes", "9223372036854771712\n"),
        ],
        oom: false,
    },
];

fn write_fixture(root: &Path, f: &Fixture) -> PathBuf {
    let dir = root.join(f.name.replace([' ', ','], "-"));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in f.files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

/// The local runtime's view: a `Cgroup` whose memory controller is `dir`.
fn local_verdict(dir: &Path, v2: bool) -> bool {
    let cgroup: Cgroup = serde_json::from_value(serde_json::json!({
        "version": if v2 { "v2" } else { "v1" },
        "name": "fixture",
        "dirs": [dir],
        "controllers": { "memory": dir },
    }))
    .unwrap();
    cgroup.oom_killed()
}

/// The OCI runtime's view: the container's cgroup directories by controller.
fn oci_verdict(dir: &Path, v2: bool) -> bool {
    let key = if v2 { "unified" } else { "memory" };
    let dirs: BTreeMap<String, PathBuf> = [(key.to_string(), dir.to_path_buf())].into();
    ferry_oci::cgroup::out_of_memory(&dirs)
}

#[test]
fn local_and_oci_runtimes_read_an_oom_kill_by_one_rule() {
    let root = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for f in FIXTURES {
        let dir = write_fixture(root.path(), f);
        let (local, oci) = (local_verdict(&dir, f.v2), oci_verdict(&dir, f.v2));
        if local != f.oom || oci != f.oom {
            wrong.push(format!("{}: expected {}, local runtime {local}, OCI runtime {oci}", f.name, f.oom));
        }
    }
    assert!(wrong.is_empty(), "verdicts differ from the rule:\n{}", wrong.join("\n"));
}

#[test]
fn no_memory_controller_is_no_oom() {
    let root = tempfile::tempdir().unwrap();
    assert!(!oci_verdict(&root.path().join("absent"), false));
    assert!(!oci_verdict(&root.path().join("absent"), true));
    assert!(!local_verdict(&root.path().join("absent"), false));
    assert!(!local_verdict(&root.path().join("absent"), true));
}
