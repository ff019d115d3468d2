//! Printing: tables, JSON, log lines, human times and sizes.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use comfy_table::{presets, ContentArrangement, Table};
use ferry_core::{LogLine, LogSource};

/// A borderless table like `docker ps` prints.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled).set_header(header.to_vec());
    t
}

/// Print a table without the trailing spaces comfy-table pads with.
pub fn print_table(t: &Table) {
    for line in t.to_string().lines() {
        println!("{}", line.trim_end().trim_start_matches(' '));
    }
}

pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Write one log line to stdout or stderr as the workload wrote it.
pub fn write_log_line(l: &LogLine, timestamps: bool, out: &mut impl Write, err: &mut impl Write) -> std::io::Result<()> {
    let w: &mut dyn Write = match l.source {
        LogSource::Stdout => out,
        LogSource::Stderr => err,
    };
    if timestamps {
        if let Some(t) = l.time {
            write!(w, "{} ", t.to_rfc3339_opts(SecondsFormat::Nanos, true))?;
        }
    }
    w.write_all(&l.text)?;
    if l.complete {
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// "3 seconds ago", "2 hours ago".
pub fn ago(t: DateTime<Utc>) -> String {
    let s = (Utc::now() - t).num_seconds().max(0);
    let (n, unit) = match s {
        0..=59 => (s, "second"),
        60..=3599 => (s / 60, "minute"),
        3600..=86399 => (s / 3600, "hour"),
        _ => (s / 86400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// 1536 → "1.5KiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_well() {
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1536), "1.5KiB");
        assert_eq!(bytes(64 << 20), "64.0MiB");
        assert_eq!(ago(Utc::now() - chrono::Duration::seconds(1)), "1 second ago");
        assert_eq!(ago(Utc::now() - chrono::Duration::hours(3)), "3 hours ago");
    }

    #[test]
    fn log_lines_go_to_their_stream() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let line = |source, text: &str, complete| LogLine { source, time: None, text: text.into(), complete };
        write_log_line(&line(LogSource::Stdout, "a", true), false, &mut out, &mut err).unwrap();
        write_log_line(&line(LogSource::Stderr, "b", false), false, &mut out, &mut err).unwrap();
        assert_eq!(out, b"a\n");
        assert_eq!(err, b"b");
    }
}
