//! The linker lays out `ferry`'s code in the order of `symbol-order.txt`
//! (build.rs passes it to LLD, rustc's linker on x86_64 Linux).
//! This test build's binary is checked: it has fewer of the listed functions
//! than the release build the file was made from (symbol names differ by
//! profile), but those it has must be in the file's order. Functions that
//! share one section with others (some C objects) can only move together, so
//! a few steps back are allowed; without the ordering, half the steps are.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use std::collections::HashMap;
use std::process::Command;

#[test]
fn the_listed_functions_are_laid_out_in_the_files_order() {
    let exe = env!("CARGO_BIN_EXE_ferry");
    let nm = Command::new("nm").args(["--defined-only", exe]).output().expect("run nm (binutils)");
    assert!(nm.status.success(), "nm {exe}: {}", String::from_utf8_lossy(&nm.stderr));
    let mut address_of = HashMap::new();
    for line in String::from_utf8_lossy(&nm.stdout).lines() {
        if let [address, "t" | "T" | "w" | "W", name] = line.split_whitespace().collect::<Vec<_>>()[..] {
            let address = u64::from_str_radix(address, 16).expect("nm prints hex addresses");
            address_of.entry(name.to_string()).or_insert(address);
        }
    }
    let listed: Vec<u64> = include_str!("../symbol-order.txt")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|name| address_of.get(name).copied())
        .collect();
    assert!(listed.len() >= 200, "only {} of the listed functions are in {exe}", listed.len());
    let steps_back = listed.windows(2).filter(|pair| pair[0] > pair[1]).count();
    assert!(
        steps_back * 4 < listed.len(),
        "{steps_back} of {} consecutive listed functions are out of order in {exe}: \
         the linker did not get symbol-order.txt",
        listed.len() - 1
    );
}
