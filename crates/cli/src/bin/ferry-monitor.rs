//! `ferry-monitor local|oci DIR`: started by `ferry run`, never by hand.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match args.as_slice() {
        [kind, dir] if kind == "local" => ferry_monitor::local_main(Path::new(dir)),
        [kind, dir] if kind == "oci" => ferry_monitor::oci_main(Path::new(dir)),
        _ => {
            eprintln!("usage: ferry-monitor local|oci DIR (started by `ferry run`, not by hand)");
            ExitCode::from(2)
        }
    }
}
