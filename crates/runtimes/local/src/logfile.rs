//! The log file format: one line per output line, CRI style,
//! `<RFC3339Nano time> <stdout|stderr> <F|P> <text>\n`, so stdout and stderr
//! stay interleaved in the order they were read and keep their timestamps.
//! `P` marks a partial line (cut at [`MAX_LINE`] or at end of output without
//! a newline); the next record continues it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use ferry_core::{LogLine, LogSource, RuntimeError};

/// Longest record body; longer lines are split into partial records.
pub const MAX_LINE: usize = 16 * 1024;

/// Append-only writer shared by the stdout and stderr readers.
#[derive(Clone)]
pub struct LogWriter(Arc<Mutex<File>>);

impl LogWriter {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogWriter(Arc::new(Mutex::new(f))))
    }

    /// Write one record with a single `write` so records never interleave.
    pub fn record(&self, source: LogSource, text: &[u8], complete: bool) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(text.len() + 48);
        buf.extend_from_slice(Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true).as_bytes());
        buf.extend_from_slice(match source {
            LogSource::Stdout => b" stdout ",
            LogSource::Stderr => b" stderr ",
        });
        buf.extend_from_slice(if complete { b"F " } else { b"P " });
        buf.extend_from_slice(text);
        buf.push(b'\n');
        let mut f = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&buf)
    }

    /// Copy `input` into the log line by line until EOF.
    pub fn pump(&self, source: LogSource, input: impl Read) -> std::io::Result<()> {
        let mut r = BufReader::with_capacity(64 * 1024, input);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut r).take(MAX_LINE as u64).read_until(b'\n', &mut line)?;
            if n == 0 {
                return Ok(());
            }
            let complete = line.last() == Some(&b'\n');
            if complete {
                line.pop();
            }
            self.record(source, &line, complete)?;
        }
    }
}

/// Parse one record; `None` for a malformed line (skipped by readers).
pub fn parse_record(line: &[u8]) -> Option<LogLine> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let source = match parts.next()? {
        b"stdout" => LogSource::Stdout,
        b"stderr" => LogSource::Stderr,
        _ => return None,
    };
    let complete = match parts.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    let text = parts.next().unwrap_or_default().to_vec();
    let time = DateTime::parse_from_rfc3339(time).ok().map(|t| t.with_timezone(&Utc));
    Some(LogLine { source, time, text, complete })
}

/// Reads records from a log file, optionally following it as it grows.
pub struct LogReader {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    pending: Vec<u8>,
}

impl LogReader {
    pub fn new(path: PathBuf) -> Self {
        LogReader { path, reader: None, pending: Vec::new() }
    }

    /// The last `n` records already written.
    pub fn tail(&mut self, n: usize) -> Result<Vec<LogLine>, RuntimeError> {
        let mut lines = std::collections::VecDeque::with_capacity(n.min(4096));
        while let Some(l) = self.next_available()? {
            if lines.len() == n {
                lines.pop_front();
            }
            if n > 0 {
                lines.push_back(l);
            }
        }
        Ok(lines.into())
    }

    /// The next complete record, or `None` at the current end of the file.
    pub fn next_available(&mut self) -> Result<Option<LogLine>, RuntimeError> {
        if self.reader.is_none() {
            match File::open(&self.path) {
                Ok(f) => self.reader = Some(BufReader::new(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(RuntimeError::io(format!("cannot read {}", self.path.display()))(e)),
            }
        }
        let r = self.reader.as_mut().expect("opened above");
        loop {
            let n = r
                .read_until(b'\n', &mut self.pending)
                .map_err(RuntimeError::io(format!("cannot read {}", self.path.display())))?;
            if n == 0 || self.pending.last() != Some(&b'\n') {
                // End of file, possibly in the middle of a record being written:
                // keep the bytes and rewind nothing; the rest arrives later.
                return Ok(None);
            }
            self.pending.pop();
            let rec = parse_record(&self.pending);
            self.pending.clear();
            if let Some(rec) = rec {
                return Ok(Some(rec));
            }
        }
    }

    /// Byte offset already consumed (for tests and resumable followers).
    pub fn position(&mut self) -> u64 {
        self.reader.as_mut().and_then(|r| r.stream_position().ok()).unwrap_or(0)
    }

    /// Skip to the end (follow without history).
    pub fn seek_end(&mut self) -> Result<(), RuntimeError> {
        let _ = self.next_available()?;
        if let Some(r) = self.reader.as_mut() {
            r.seek(SeekFrom::End(0)).map_err(RuntimeError::io("seek log"))?;
            self.pending.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_long_lines_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let w = LogWriter::open(&path).unwrap();
        let long = vec![b'x'; MAX_LINE + 10];
        let mut input = b"hello\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\nno newline");
        w.pump(LogSource::Stdout, &input[..]).unwrap();
        w.record(LogSource::Stderr, b"err line", true).unwrap();

        let mut r = LogReader::new(path);
        let all = r.tail(usize::MAX).unwrap();
        let texts: Vec<(usize, bool)> = all.iter().map(|l| (l.text.len(), l.complete)).collect();
        assert_eq!(texts, vec![(5, true), (MAX_LINE, false), (10, true), (10, false), (8, true)]);
        assert_eq!(all[4].source, LogSource::Stderr);
        assert!(all[0].time.is_some());
    }

    #[test]
    fn tail_keeps_the_last_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let w = LogWriter::open(&path).unwrap();
        for i in 0..100 {
            w.record(LogSource::Stdout, format!("{i}").as_bytes(), true).unwrap();
        }
        let got = LogReader::new(path.clone()).tail(3).unwrap();
        let got: Vec<_> = got.iter().map(|l| String::from_utf8_lossy(&l.text).to_string()).collect();
        assert_eq!(got, ["97", "98", "99"]);
        assert!(LogReader::new(path).tail(0).unwrap().is_empty());
    }
}
