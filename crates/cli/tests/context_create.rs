//! `ferry context create` refuses a context that could not work as written:
//! a setting its runtime does not read, or an OCI runtime binary that is not
//! there. Nothing is written for a refused context.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use ferry_conformance::{describe, Ferry, Target};

fn refused(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(125), "{}", describe(out));
    assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{}", describe(out));
}

#[test]
fn settings_the_runtime_does_not_read_are_refused() {
    let f = Ferry::new(&Target::local(env!("CARGO_BIN_EXE_ferry")));
    let out = f.run(&["context", "create", "x", "--runtime", "local", "--ssh", "me@login"]);
    refused(&out, "ssh is a setting of slurm contexts; a local context does not read it");
    let out = f.run(&["context", "create", "x", "--runtime", "docker", "--partition", "debug"]);
    refused(&out, "partition is a setting of slurm contexts; a docker context does not read it");
    assert!(!f.ok(&["context", "ls"]).lines().any(|l| l.starts_with("x ")), "a refused context was written");
}

#[test]
fn an_oci_runtime_that_is_not_there_is_refused() {
    let f = Ferry::new(&Target::local(env!("CARGO_BIN_EXE_ferry")));
    let out = f.run(&["context", "create", "x", "--runtime", "oci", "--oci-runtime", "no-such-runtime"]);
    refused(&out, "\"no-such-runtime\", which was not found");
    let fake = f.work_dir().join("my-runtime");
    std::fs::write(&fake, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.ok(&["context", "create", "x", "--runtime", "oci", "--oci-runtime", fake.to_str().unwrap()]);
}
