//! `ferry-monitor local|oci DIR`: started by `ferry run`, never by hand.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let ran = match args.as_slice() {
        [kind, dir] => kind.to_str().and_then(|kind| ferry_monitor::main_for(kind, Path::new(dir))),
        _ => None,
    };
    ran.unwrap_or_else(|| {
        eprintln!("usage: ferry-monitor local|oci DIR (started by `ferry run`, not by hand)");
        ExitCode::from(2)
    })
}
