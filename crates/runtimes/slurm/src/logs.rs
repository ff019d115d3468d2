//! Reading a job's `stdout` and `stderr` files (Slurm's `--output` and
//! `--error`), locally or over ssh, once or following them.
//!
//! Slurm output files carry no per-line timestamps: a line's time is when
//! Ferry read it while following, or the file's modification time (locally)
//! / the read time (over ssh) for history.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_core::{LogLine, LogSource, RuntimeError};

use crate::exec::Executor;
use crate::SlurmError;

/// New bytes of both files since the given offsets.
pub struct Chunk {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_time: Option<DateTime<Utc>>,
    pub stderr_time: Option<DateTime<Utc>>,
}

/// Read `dir/stdout` and `dir/stderr` from `offsets` on (one shell call over ssh).
pub async fn read_from(exec: &Executor, dir: &str, offsets: (u64, u64)) -> Result<Chunk, SlurmError> {
    if !exec.is_remote() {
        let read = |name: &str, off: u64| -> Result<(Vec<u8>, Option<DateTime<Utc>>), SlurmError> {
            use std::io::{Read, Seek, SeekFrom};
            let path = format!("{dir}/{name}");
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
                Err(e) => return Err(SlurmError::Io(format!("cannot read {path}"), e)),
            };
            let time = f.metadata().and_then(|m| m.modified()).ok().map(DateTime::<Utc>::from);
            f.seek(SeekFrom::Start(off)).map_err(|e| SlurmError::Io(format!("cannot read {path}"), e))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).map_err(|e| SlurmError::Io(format!("cannot read {path}"), e))?;
            Ok((buf, time))
        };
        let (stdout, stdout_time) = read("stdout", offsets.0)?;
        let (stderr, stderr_time) = read("stderr", offsets.1)?;
        return Ok(Chunk { stdout, stderr, stdout_time, stderr_time });
    }
    // Sizes first, then exactly that many bytes of each file, so a file that
    // grows meanwhile cannot shift the split.
    let script = r#"s1=0; s2=0
[ -f "$1/stdout" ] && s1=$(wc -c < "$1/stdout")
[ -f "$1/stderr" ] && s2=$(wc -c < "$1/stderr")
printf '%s %s\n' "$s1" "$s2"
[ "$s1" -gt "$2" ] && tail -c +$(($2 + 1)) "$1/stdout" | head -c $((s1 - $2))
[ "$s2" -gt "$3" ] && tail -c +$(($3 + 1)) "$1/stderr" | head -c $((s2 - $3))
true"#;
    let out = exec.sh(script, &[dir.to_owned(), offsets.0.to_string(), offsets.1.to_string()]).await?;
    let bad = || SlurmError::Command { command: "reading the job's output".into(), message: out.stderr_text() };
    let nl = out.stdout.iter().position(|b| *b == b'\n').ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&out.stdout[..nl]).to_string();
    let mut sizes = head.split_whitespace().map(|s| s.trim().parse::<u64>());
    let (Some(Ok(s1)), Some(Ok(_s2))) = (sizes.next(), sizes.next()) else { return Err(bad()) };
    let body = &out.stdout[nl + 1..];
    let n1 = (s1.saturating_sub(offsets.0) as usize).min(body.len());
    let now = Some(Utc::now());
    Ok(Chunk { stdout: body[..n1].to_vec(), stderr: body[n1..].to_vec(), stdout_time: now, stderr_time: now })
}

/// Splits a growing byte stream into lines.
#[derive(Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
    pub offset: u64,
}

impl LineBuffer {
    pub fn push(&mut self, bytes: &[u8], source: LogSource, time: Option<DateTime<Utc>>, out: &mut Vec<LogLine>) {
        self.offset += bytes.len() as u64;
        self.pending.extend_from_slice(bytes);
        while let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=i).collect();
            line.pop();
            out.push(LogLine { source, time, text: line, complete: true });
        }
    }

    /// The last line without a newline, at the end of the output.
    pub fn finish(&mut self, source: LogSource, time: Option<DateTime<Utc>>, out: &mut Vec<LogLine>) {
        if !self.pending.is_empty() {
            out.push(LogLine { source, time, text: std::mem::take(&mut self.pending), complete: false });
        }
    }
}

/// Everything written so far: stdout lines, then stderr lines (two files
/// keep no order between them), the last `tail` of them.
pub async fn history(exec: &Executor, dir: &str, tail: Option<usize>) -> Result<Vec<LogLine>, SlurmError> {
    let c = read_from(exec, dir, (0, 0)).await?;
    let mut lines = Vec::new();
    let (mut o, mut e) = (LineBuffer::default(), LineBuffer::default());
    o.push(&c.stdout, LogSource::Stdout, c.stdout_time, &mut lines);
    o.finish(LogSource::Stdout, c.stdout_time, &mut lines);
    e.push(&c.stderr, LogSource::Stderr, c.stderr_time, &mut lines);
    e.finish(LogSource::Stderr, c.stderr_time, &mut lines);
    if let Some(n) = tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    Ok(lines)
}

/// Follows both files until `ended()` says the job is over and all is read.
pub struct Follower {
    pub exec: Arc<Executor>,
    pub dir: String,
    pub stdout: LineBuffer,
    pub stderr: LineBuffer,
    pub poll: Duration,
}

impl Follower {
    /// Read what is new; `Ok(lines)` possibly empty.
    pub async fn step(&mut self) -> Result<Vec<LogLine>, RuntimeError> {
        let c = read_from(&self.exec, &self.dir, (self.stdout.offset, self.stderr.offset)).await?;
        let now = Some(Utc::now());
        let mut lines = Vec::new();
        self.stdout.push(&c.stdout, LogSource::Stdout, now, &mut lines);
        self.stderr.push(&c.stderr, LogSource::Stderr, now, &mut lines);
        Ok(lines)
    }

    pub fn finish(&mut self) -> Vec<LogLine> {
        let now = Some(Utc::now());
        let mut lines = Vec::new();
        self.stdout.finish(LogSource::Stdout, now, &mut lines);
        self.stderr.finish(LogSource::Stderr, now, &mut lines);
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_pushes() {
        let mut b = LineBuffer::default();
        let mut out = Vec::new();
        b.push(b"one\ntw", LogSource::Stdout, None, &mut out);
        b.push(b"o\nthree", LogSource::Stdout, None, &mut out);
        b.finish(LogSource::Stdout, None, &mut out);
        let got: Vec<(String, bool)> =
            out.iter().map(|l| (String::from_utf8_lossy(&l.text).into(), l.complete)).collect();
        assert_eq!(got, [("one".into(), true), ("two".into(), true), ("three".into(), false)]);
        assert_eq!(b.offset, 13);
    }
}
