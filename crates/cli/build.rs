//! Link flags of the `ferry` binaries.
fn main() {
    // Pack the ~45,000 relative relocations of the position-independent
    // executable into a compact table (DT_RELR; glibc 2.36, binutils 2.38):
    // the dynamic loader applies them faster, from a table of kilobytes
    // instead of a megabyte, at every start. Still a PIE, still ASLR.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
