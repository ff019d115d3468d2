//! Builds `ferry-init` (init/ferry-init.c), the static pid 1 of every container.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "init/ferry-init.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("ferry-init");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-static", "-Os", "-s", "-Wall", "-o"])
        .arg(&out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("ferry-oci needs a C compiler to build ferry-init ({cc}: {e}); install gcc"));
    assert!(status.success(), "building ferry-init with `{cc} -static` failed ({status}); install gcc and libc6-dev");
}
