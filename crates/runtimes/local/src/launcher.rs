//! Starting a workload's monitor, and recognising it later.
//!
//! A monitor is started one of two ways:
//!
//! - **Pre-forked** (the fast path of `ferry run`): the CLI forks a copy of
//!   itself as its first act, while it still has a single thread ([`prefork`]).
//!   The copy leaves the CLI's session and waits on a pipe; [`launch`] writes
//!   it the workload's directory and it becomes that workload's monitor at once.
//!   This takes the fork, the exec of a monitor binary and the wait for that
//!   exec off the start of every workload (about 2 ms here), and the copy gets
//!   them done while the CLI reads the workload file and the store. It also
//!   gives the CLI a pipe that the monitor closes as soon as it has recorded
//!   the end ([`take_end_signal`]), so an attached run sees the end at once
//!   instead of at its next poll.
//! - **Exec'd** (everything else): `ferry-monitor local|oci DIR`, or `ferry
//!   __monitor DIR` where the small binary was not built.
//!
//! A pre-forked monitor can also be told early which program it will run
//! ([`will_exec`]): it then makes a sealed copy of it meanwhile
//! ([`crate::sealed`]), which spares a container runtime its own copy.
//!
//! Either way `monitor.pid` holds the monitor's pid and its start time, so a
//! recycled pid is never mistaken for a live monitor.
//!
//! `FERRY_NO_PREFORK=1` makes every monitor exec'd (to rule the fast path out
//! when debugging).

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;

use nix::unistd::{ForkResult, Pid};

use crate::sealed::SealedCopy;
use crate::state::WorkloadFiles;

/// How to exec a monitor: a program and the arguments that come before the
/// workload's directory (`ferry-monitor local`, or `ferry __monitor` where the
/// small binary was not built).
#[derive(Debug, Clone)]
pub struct MonitorCommand {
    /// `local` or `oci`: which monitor a pre-forked one is to become.
    pub kind: String,
    pub program: PathBuf,
    pub args: Vec<std::ffi::OsString>,
}

impl MonitorCommand {
    fn for_dir(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).arg(dir);
        cmd
    }
}

/// A monitor forked by [`prefork`], waiting for its order.
struct Preforked {
    pid: Pid,
    /// Where orders go (see [`Order`]).
    order: std::io::PipeWriter,
    /// Reaches end of file once the monitor has recorded the end.
    end: OwnedFd,
}

/// The CLI's pre-forked monitor, until a launch takes it.
static PREFORKED: Mutex<Option<Preforked>> = Mutex::new(None);
/// End signals of workloads this process launched, by directory.
static END_SIGNALS: Mutex<Vec<(PathBuf, OwnedFd)>> = Mutex::new(Vec::new());
/// In a pre-forked monitor: the write end of its end signal.
static RECORDED: Mutex<Option<std::io::PipeWriter>> = Mutex::new(None);
/// In a pre-forked monitor: sealed copies of the programs it was told it will run.
static SEALED: Mutex<Vec<SealedCopy>> = Mutex::new(Vec::new());

/// What the CLI tells its pre-forked monitor, each field ending in NUL.
#[derive(Debug, PartialEq, Eq)]
enum Order {
    /// `exec PATH`: the monitor will run PATH; make a sealed copy of it
    /// meanwhile (see [`crate::sealed`]). Any number, before `run`.
    Exec(PathBuf),
    /// `run KIND DIR`: become the monitor of `kind` of the workload in `dir`.
    Run { kind: String, dir: PathBuf },
}

impl Order {
    fn encode(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let fields: Vec<&[u8]> = match self {
            Order::Exec(path) => vec![b"exec", path.as_os_str().as_bytes()],
            Order::Run { kind, dir } => vec![b"run", kind.as_bytes(), dir.as_os_str().as_bytes()],
        };
        fields.iter().flat_map(|f| f.iter().copied().chain([0])).collect()
    }

    /// The next order on `r`; `None` at end of input or on anything malformed.
    fn read(r: &mut impl std::io::BufRead) -> Option<Order> {
        use std::os::unix::ffi::OsStringExt;
        let mut field = || {
            let mut buf = Vec::new();
            r.read_until(0, &mut buf).ok()?;
            (buf.pop() == Some(0)).then_some(buf)
        };
        match field()?.as_slice() {
            b"exec" => Some(Order::Exec(PathBuf::from(std::ffi::OsString::from_vec(field()?)))),
            b"run" => {
                let kind = String::from_utf8(field()?).ok()?;
                Some(Order::Run { kind, dir: PathBuf::from(std::ffi::OsString::from_vec(field()?)) })
            }
            _ => None,
        }
    }
}

/// What [`prefork`] returns in each of the two processes.
pub enum Forked {
    /// In the CLI (also when no monitor could be forked).
    Parent,
    /// In the monitor, once ordered: run the monitor of `kind` on `dir`.
    Monitor { kind: String, dir: PathBuf },
}

/// Fork a monitor that waits to be told which workload to run. Call it
/// before the process starts a second thread (forking a multi-threaded
/// process is unsafe); with more threads, or with `FERRY_NO_PREFORK` set, it
/// does nothing and monitors are exec'd.
///
/// In the monitor this returns only when the order came; if the CLI ends
/// without giving one, the monitor exits quietly. `meanwhile` runs in a
/// thread of the monitor while it waits (work worth doing before the
/// workload is known).
pub fn prefork(meanwhile: fn()) -> Forked {
    if std::env::var_os("FERRY_NO_PREFORK").is_some() || !single_threaded() {
        return Forked::Parent;
    }
    let (Ok((order_r, order_w)), Ok((end_r, end_w))) = (std::io::pipe(), std::io::pipe()) else {
        return Forked::Parent;
    };
    // SAFETY: the process has one thread (checked above), so the child
    // inherits no lock held by another thread.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Parent { child }) => {
            drop(order_r);
            drop(end_w);
            *lock(&PREFORKED) = Some(Preforked { pid: child, order: order_w, end: end_r.into() });
            Forked::Parent
        }
        Ok(ForkResult::Child) => {
            drop(order_w);
            drop(end_r);
            thread::spawn(meanwhile);
            become_monitor(order_r, end_w)
        }
        Err(e) => {
            tracing::debug!("cannot pre-fork a monitor: {e}; monitors will be exec'd");
            Forked::Parent
        }
    }
}

/// In the forked child: detach from the CLI's terminal and output, wait for
/// the order.
fn become_monitor(order: std::io::PipeReader, end: std::io::PipeWriter) -> Forked {
    let _ = nix::unistd::setsid();
    // Its command line stays `ferry run …`; `ps -e` and `top` show this name.
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"ferry-monitor".as_ptr(), 0, 0, 0) };
    // Whoever waits for the CLI's output to close must not wait for us.
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..=2 {
            let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd);
        }
    }
    let mut orders = std::io::BufReader::new(order);
    let (kind, dir) = loop {
        match Order::read(&mut orders) {
            Some(Order::Exec(program)) => match SealedCopy::of(&program) {
                Ok(copy) => lock(&SEALED).push(copy),
                Err(e) => tracing::debug!("no sealed copy of {}: {e}", program.display()),
            },
            Some(Order::Run { kind, dir }) => break (kind, dir),
            None => std::process::exit(0),
        }
    };
    // stderr into the monitor's own diagnostics file, as for an exec'd one.
    if let Ok(err) = File::options().create(true).append(true).open(dir.join("monitor.err")) {
        let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&err), 2);
    }
    *lock(&RECORDED) = Some(end);
    Forked::Monitor { kind, dir }
}

/// Tell the pre-forked monitor, if there is one, that it will exec `program`,
/// so it makes a sealed copy while this process prepares the workload.
pub fn will_exec(program: &Path) {
    if let Some(p) = lock(&PREFORKED).as_mut() {
        let _ = p.order.write_all(&Order::Exec(program.to_path_buf()).encode());
    }
}

/// In a monitor: the path to exec for `program`. That is its sealed copy
/// (through a link made in `link_dir`) when the CLI announced it with
/// [`will_exec`] and the copy could be made, else `program` itself.
pub fn exec_path(program: &Path, link_dir: &Path) -> PathBuf {
    let sealed = lock(&SEALED);
    sealed.iter().find(|c| c.original == program).map_or_else(|| program.to_path_buf(), |c| c.exec_path(link_dir))
}

/// Let the pre-forked monitor go unused (this command starts no monitor).
pub fn release_preforked() {
    if let Some(p) = lock(&PREFORKED).take() {
        drop(p.order); // it exits at the end of its orders
        reap_in_background(p.pid);
    }
}

/// Wait for a pre-forked monitor that exits without a workload, so a
/// long-lived CLI keeps no zombie. (One that got a workload outlives the
/// CLI, or ends with it when the workload ends.)
fn reap_in_background(pid: Pid) {
    thread::spawn(move || nix::sys::wait::waitpid(pid, None));
}

/// In a monitor: the end is recorded in `state.json`; tell the CLI that
/// launched it (a no-op for an exec'd monitor).
pub fn end_recorded() {
    lock(&RECORDED).take();
}

/// The end signal of the workload in `dir`, if this process launched it
/// through the pre-forked monitor: it reaches end of file once the monitor has
/// recorded the end (or died).
pub fn take_end_signal(dir: &Path) -> Option<OwnedFd> {
    let mut signals = lock(&END_SIGNALS);
    let i = signals.iter().position(|(d, _)| d == dir)?;
    Some(signals.swap_remove(i).1)
}

/// Start the monitor of the workload in `dir`, in a session of its own with
/// stdin/stdout closed and stderr into `monitor.err`, and record it in
/// `monitor.pid`. Returns at once: the caller goes on while the monitor works.
pub fn launch(cmd: &MonitorCommand, dir: &impl WorkloadFiles) -> std::io::Result<()> {
    let pid = match take_preforked(cmd, dir.dir()) {
        Some(pid) => pid,
        None => spawn_detached(cmd.for_dir(dir.dir()), File::create(dir.monitor_err())?)?,
    };
    // Read after the order, while the monitor gets going: it is our child, so
    // its pid is not reused before we wait for it, even if it ended already.
    let identity = ProcessIdentity::of(pid).unwrap_or(ProcessIdentity { pid, start: None });
    std::fs::write(dir.monitor_pid(), identity.to_string())
}

/// Hand `dir` to the pre-forked monitor, if there is one and it still waits;
/// its pid.
fn take_preforked(cmd: &MonitorCommand, dir: &Path) -> Option<u32> {
    let mut p = lock(&PREFORKED).take()?;
    let order = Order::Run { kind: cmd.kind.clone(), dir: dir.to_path_buf() };
    // A monitor that died meanwhile makes this fail: exec one instead.
    if p.order.write_all(&order.encode()).is_err() {
        reap_in_background(p.pid);
        return None;
    }
    drop(p.order);
    lock(&END_SIGNALS).push((dir.to_path_buf(), p.end));
    Some(p.pid.as_raw() as u32)
}

/// Start an exec'd monitor in a session of its own, stdin/stdout closed and
/// stderr into `err`, and return its pid. A thread waits for it, so a
/// long-lived caller keeps no zombie.
fn spawn_detached(mut cmd: Command, err: File) -> std::io::Result<u32> {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    thread::spawn(move || child.wait());
    Ok(pid)
}

/// Whether the monitor recorded in the workload's `monitor.pid` still runs:
/// the pid exists and started when the monitor did (not a recycled pid).
/// Files written by older Ferry versions hold only the pid: the monitor's
/// command line, which names the directory, tells then.
pub fn monitor_alive(dir: &impl WorkloadFiles) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.monitor_pid()) else {
        // Not written yet: `launch` writes it before returning, so this is a
        // monitor that never came up.
        return false;
    };
    let Some(recorded) = ProcessIdentity::parse(&text) else { return false };
    if nix::sys::signal::kill(Pid::from_raw(recorded.pid as i32), None).is_err() {
        return false;
    }
    match recorded.start {
        Some(start) => start_time(recorded.pid) == Some(start),
        None => {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", recorded.pid)).unwrap_or_default();
            let needle = dir.dir().as_os_str().as_encoded_bytes();
            cmdline.windows(needle.len()).any(|w| w == needle)
        }
    }
}

/// A process as `monitor.pid` records it: `PID START`, START being the
/// process's start time in clock ticks since boot (`/proc/PID/stat`, field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcessIdentity {
    pid: u32,
    start: Option<u64>,
}

impl ProcessIdentity {
    fn of(pid: u32) -> Option<Self> {
        Some(ProcessIdentity { pid, start: Some(start_time(pid)?) })
    }

    fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        let pid = words.next()?.parse().ok()?;
        let start = match words.next() {
            Some(w) => Some(w.parse().ok()?),
            None => None,
        };
        Some(ProcessIdentity { pid, start })
    }
}

impl std::fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.start {
            Some(start) => write!(f, "{} {start}", self.pid),
            None => write!(f, "{}", self.pid),
        }
    }
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_and_reads_old_files() {
        let me = ProcessIdentity::of(std::process::id()).unwrap();
        assert!(me.start.is_some());
        assert_eq!(ProcessIdentity::parse(&me.to_string()), Some(me));
        assert_eq!(ProcessIdentity::parse("123\n"), Some(ProcessIdentity { pid: 123, start: None }));
        assert_eq!(ProcessIdentity::parse("123 x"), None);
        assert_eq!(ProcessIdentity::parse(""), None);
    }

    #[test]
    fn a_recycled_pid_is_not_the_monitor() {
        let dir = tempfile::tempdir().unwrap();
        let wd = crate::WorkloadDir(dir.path().to_path_buf());
        let pid_file = dir.path().join("monitor.pid");
        let me = ProcessIdentity::of(std::process::id()).unwrap();
        std::fs::write(&pid_file, me.to_string()).unwrap();
        assert!(monitor_alive(&wd));
        let other = ProcessIdentity { start: me.start.map(|s| s + 1), ..me };
        std::fs::write(&pid_file, other.to_string()).unwrap();
        assert!(!monitor_alive(&wd));
        // An old file with only the pid: our command line does not name the directory.
        std::fs::write(&pid_file, me.pid.to_string()).unwrap();
        assert!(!monitor_alive(&wd));
    }

    #[test]
    fn orders_round_trip_in_sequence() {
        let sent = [
            Order::Exec(PathBuf::from("/usr/bin/crun")),
            Order::Run { kind: "oci".into(), dir: PathBuf::from("/a b/c\nd") },
        ];
        let stream: Vec<u8> = sent.iter().flat_map(Order::encode).collect();
        let mut r = std::io::Cursor::new(stream);
        for order in sent {
            assert_eq!(Order::read(&mut r), Some(order));
        }
        assert_eq!(Order::read(&mut r), None, "end of input");
        assert_eq!(Order::read(&mut std::io::Cursor::new(b"run\0oci\0/x".to_vec())), None, "cut short");
        assert_eq!(Order::read(&mut std::io::Cursor::new(b"jump\0".to_vec())), None, "unknown");
    }
}
