//! Link flags of the `ferry` binaries.
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    let target_is = |key: &str, value: &str| env::var(key).as_deref() == Ok(value);
    // Pack the ~45,000 relative relocations of the position-independent
    // executable into a compact table (DT_RELR; glibc 2.36, binutils 2.38):
    // the dynamic loader applies them faster, from a table of kilobytes
    // instead of a megabyte, at every start. Still a PIE, still ASLR.
    if target_is("CARGO_CFG_TARGET_OS", "linux") && target_is("CARGO_CFG_TARGET_ENV", "gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    // Lay out the functions that Ferry's frequent commands run together, at
    // the front of the code, in the order of symbol-order.txt (made by
    // scripts/symbol-order). The kernel maps a binary's code in blocks of
    // 64 KB or more around each page touched: with those functions spread
    // over 23 MB, every `ferry run` mapped 2,100 pages of code, and unmapped
    // them at its exit; laid out together, 900. Names the file has that the
    // binary lacks (code changed since) are skipped, so the layout only
    // degrades until the file is made again. LLD has the option: rustc links
    // with it on x86_64 Linux since 1.90, unless a linker is configured.
    if target_is("TARGET", "x86_64-unknown-linux-gnu") && links_with_rust_lld() {
        let order = format!("{}/symbol-order.txt", env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={order}");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether rustc links with its own LLD: 1.90 or later, and no linker set
/// for the target (or in the flags).
fn links_with_rust_lld() -> bool {
    // Cargo sets RUSTC_LINKER when a linker is configured for the target.
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if env::var_os("RUSTC_LINKER").is_some() || flags.contains("linker") {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else { return false };
    let version = String::from_utf8_lossy(&out.stdout);
    let minor = version
        .lines()
        .find_map(|line| line.strip_prefix("release: 1."))
        .and_then(|rest| rest.split('.').next()?.parse::<u32>().ok());
    minor.is_some_and(|minor| minor >= 90)
}
