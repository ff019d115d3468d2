//! The test suite's record of skipped tests: `scripts/test` sets
//! `FERRY_SKIP_LOG` to a file, every test that skips itself appends one line
//! to it, and the run ends by counting and printing those lines.

/// Append `line` to `$FERRY_SKIP_LOG`, if it is set (best effort).
pub fn append(line: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("FERRY_SKIP_LOG") else { return };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}
