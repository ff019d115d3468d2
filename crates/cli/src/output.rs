//! Printing: tables, JSON, log lines, human times and sizes.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use ferry_core::{LogLine, LogSource};
use unicode_width::UnicodeWidthStr;

/// A borderless table like `docker ps` prints: columns two spaces apart,
/// padded to their widest cell, no trailing spaces. Kept this simple on
/// purpose: `ferry ps -a` prints tens of thousands of rows.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Add a row; a cell that spans lines (a status whose reason quotes a
    /// runtime's multi-line error) is joined into one, so that each row
    /// stays one line and `grep`/`awk` still see whole rows.
    pub fn add_row(&mut self, row: Vec<String>) {
        self.rows.push(row.into_iter().map(one_line).collect());
    }
}

fn one_line(cell: String) -> String {
    if !cell.contains(['\n', '\r']) {
        return cell;
    }
    cell.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

pub fn table(header: &[&str]) -> Table {
    Table { rows: vec![header.iter().map(|h| h.to_string()).collect()] }
}

pub fn print_table(t: &Table) {
    let columns = t.rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in &t.rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = String::new();
    for row in &t.rows {
        line.clear();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', w - cell.width() + 2));
            }
        }
        // A closed pipe (`ferry ps | head`) is not an error worth reporting.
        if writeln!(out, "{}", line.trim_end()).is_err() {
            return;
        }
    }
    let _ = out.flush();
}

pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Write one log line to stdout or stderr as the workload wrote it.
pub fn write_log_line(
    l: &LogLine,
    timestamps: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<()> {
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
    fn every_row_is_one_line() {
        let mut t = table(&["NAME", "STATUS"]);
        t.add_row(vec!["a".into(), "failed (podman: Error:\n  image not known\r\n)".into()]);
        assert_eq!(t.rows[1], ["a", "failed (podman: Error: image not known )"]);
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
