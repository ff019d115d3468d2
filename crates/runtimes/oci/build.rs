//! Builds `ferry-init` (init/ferry-init.c), the static pid 1 of every container.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "init/ferry-init.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed=init/cflags");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("ferry-init");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    // No C library (see the source): no start files, no stack protector
    // (it needs the library's thread setup), no relocations to apply. One
    // flag per line in init/cflags, which the aarch64 test uses too.
    let flags = std::fs::read_to_string("init/cflags").expect("read init/cflags");
    let status = Command::new(&cc)
        .args(flags.split_whitespace())
        .arg("-o")
        .arg(&out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("ferry-oci needs a C compiler to build ferry-init ({cc}: {e}); install gcc"));
    assert!(status.success(), "building ferry-init with `{cc} -static -nostdlib` failed ({status})");
    // A fingerprint of the binary names its installed copy, so a start only
    // checks that the file exists instead of reading and comparing it.
    let bytes = std::fs::read(&out).expect("read the built ferry-init");
    let fnv = bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3));
    println!("cargo:rustc-env=FERRY_INIT_FINGERPRINT={fnv:016x}");
}
