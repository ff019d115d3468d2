//! Where Slurm commands run: on this machine, or on a login node through the
//! system `ssh` client.
//!
//! Over ssh one master connection is kept per target (`ControlMaster=auto`,
//! `ControlPersist`), so a burst of commands costs one TCP + auth handshake.
//! Key or agent auth runs with `BatchMode=yes`. A password-only cluster is
//! reached through `SSH_ASKPASS` with a small helper script that prints the
//! secret from the file or environment variable the context references: the
//! password never appears on a command line, in Ferry's files or its logs.
//!
//! Every remote command line is built by [`crate::quote::sh_join`]; the login
//! shell on the remote side must be POSIX-compatible (sh, bash, dash, zsh).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use tokio::process::Command;

use crate::quote::sh_join;
use crate::SlurmError;

/// `user@host[:port]`, as given to `ferry context create --ssh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    pub fn parse(s: &str) -> Result<SshTarget, SlurmError> {
        let bad = |why: &str| SlurmError::Config(format!("ssh: {s:?} is not user@host[:port] ({why})"));
        let (user, rest) = match s.split_once('@') {
            Some((u, r)) => (Some(u.to_owned()), r),
            None => (None, s),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad("the port is not a number"))?)),
            None => (rest, None),
        };
        let word_ok = |w: &str| {
            !w.is_empty()
                && !w.starts_with('-')
                && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-[]".contains(&b))
        };
        if !word_ok(host) {
            return Err(bad("the host name is empty or has characters other than letters, digits, '.', '-', '_'"));
        }
        if let Some(u) = &user {
            if !word_ok(u) {
                return Err(bad("the user name has characters other than letters, digits, '.', '-', '_'"));
            }
        }
        Ok(SshTarget { user, host: host.to_owned(), port })
    }

    /// `user@host` (or `host`) as ssh wants it.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

/// Where a password for a password-only cluster comes from. Only the
/// reference is kept; the helper reads the secret when ssh asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    Env(String),
}

/// How to reach the machine that runs `sbatch` & co.
#[derive(Debug, Clone)]
pub enum Transport {
    Local,
    Ssh {
        target: SshTarget,
        /// Directory for the control socket and the askpass helper.
        control_dir: PathBuf,
        /// Extra ssh configuration file (`ssh -F`), from `FERRY_SSH_CONFIG`.
        config: Option<PathBuf>,
        password: Option<Secret>,
    },
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_owned()
    }
}

/// Runs commands through a [`Transport`] and counts them by program name
/// (the benchmark reports how many `squeue`/`scontrol` calls a run cost).
pub struct Executor {
    transport: Transport,
    counts: Mutex<BTreeMap<String, u64>>,
    /// `FERRY_SLURM_TRACE`: append each program name run to this file.
    trace: Option<PathBuf>,
}

/// The askpass helper: prints the secret named by the environment ssh passes
/// it. It holds no secret itself.
const ASKPASS_SCRIPT: &str = "#!/bin/sh\n\
# Ferry's SSH_ASKPASS helper: prints the cluster password from the file or\n\
# environment variable the Ferry context references. Holds no secret itself.\n\
if [ -n \"${FERRY_ASKPASS_FILE:-}\" ]; then exec head -n 1 \"$FERRY_ASKPASS_FILE\"; fi\n\
if [ -n \"${FERRY_ASKPASS_ENV:-}\" ]; then exec printenv \"$FERRY_ASKPASS_ENV\"; fi\n\
exit 1\n";

impl Executor {
    pub fn new(transport: Transport) -> Executor {
        let trace = std::env::var_os("FERRY_SLURM_TRACE").filter(|v| !v.is_empty()).map(PathBuf::from);
        Executor { transport, counts: Mutex::new(BTreeMap::new()), trace }
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub fn is_remote(&self) -> bool {
        matches!(self.transport, Transport::Ssh { .. })
    }

    /// How many times each program ran through this executor.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Count a Slurm command run inside a compound shell call.
    pub fn count_as(&self, program: &str) {
        self.count(program)
    }

    fn count(&self, program: &str) {
        let name = Path::new(program).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        *self.counts.lock().unwrap_or_else(|p| p.into_inner()).entry(name.clone()).or_default() += 1;
        if let Some(trace) = &self.trace {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(trace) {
                let _ = writeln!(f, "{name}");
            }
        }
    }

    /// The ssh options shared by `ssh` and rsync's `-e`.
    pub fn ssh_argv(&self) -> Result<Vec<String>, SlurmError> {
        let Transport::Ssh { target, control_dir, config, password } = &self.transport else {
            return Ok(Vec::new());
        };
        std::fs::create_dir_all(control_dir)
            .map_err(|e| SlurmError::Io(format!("cannot create {}", control_dir.display()), e))?;
        let mut argv = vec!["ssh".to_string()];
        if let Some(cfg) = config {
            argv.extend(["-F".into(), cfg.display().to_string()]);
        }
        argv.extend([
            "-o".into(),
            "ControlMaster=auto".into(),
            "-o".into(),
            format!("ControlPath={}/%C", control_dir.display()),
            "-o".into(),
            "ControlPersist=120".into(),
            "-o".into(),
            "ServerAliveInterval=30".into(),
            "-o".into(),
            if password.is_some() { "BatchMode=no".into() } else { "BatchMode=yes".into() },
        ]);
        if password.is_some() {
            argv.extend(["-o".into(), "NumberOfPasswordPrompts=1".into()]);
        }
        if let Some(p) = target.port {
            argv.extend(["-p".into(), p.to_string()]);
        }
        Ok(argv)
    }

    /// Environment for ssh: the askpass helper when a password is needed.
    fn ssh_env(&self) -> Result<Vec<(String, String)>, SlurmError> {
        let Transport::Ssh { control_dir, password: Some(secret), .. } = &self.transport else {
            return Ok(Vec::new());
        };
        let helper = control_dir.join("askpass.sh");
        if std::fs::read_to_string(&helper).ok().as_deref() != Some(ASKPASS_SCRIPT) {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&helper, ASKPASS_SCRIPT)
                .and_then(|_| std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o700)))
                .map_err(|e| SlurmError::Io(format!("cannot write {}", helper.display()), e))?;
        }
        let mut env = vec![
            ("SSH_ASKPASS".to_string(), helper.display().to_string()),
            ("SSH_ASKPASS_REQUIRE".to_string(), "force".to_string()),
            ("DISPLAY".to_string(), std::env::var("DISPLAY").unwrap_or_else(|_| ":0".into())),
        ];
        match secret {
            Secret::File(p) => env.push(("FERRY_ASKPASS_FILE".into(), p.display().to_string())),
            Secret::Env(v) => env.push(("FERRY_ASKPASS_ENV".into(), v.clone())),
        }
        Ok(env)
    }

    /// Run `argv` (program and arguments, never a shell line) where Slurm is.
    pub async fn run(&self, argv: &[String], stdin: Option<&[u8]>) -> Result<Output, SlurmError> {
        let program = argv.first().ok_or_else(|| SlurmError::Config("empty command".into()))?;
        self.count(program);
        let mut cmd = match &self.transport {
            Transport::Local => {
                let mut c = Command::new(program);
                c.args(&argv[1..]);
                c
            }
            Transport::Ssh { target, .. } => {
                let ssh = self.ssh_argv()?;
                let mut c = Command::new(&ssh[0]);
                c.args(&ssh[1..]).arg(target.destination()).arg("--").arg(sh_join(argv));
                c.envs(self.ssh_env()?);
                c
            }
        };
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| SlurmError::Io(format!("cannot run {}", self.describe(program)), e))?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            pipe.write_all(data).await.map_err(|e| SlurmError::Io(format!("cannot feed {program}"), e))?;
            drop(pipe);
        }
        let out = child.wait_with_output().await.map_err(|e| SlurmError::Io(format!("{program} failed"), e))?;
        let out = Output { code: out.status.code(), stdout: out.stdout, stderr: out.stderr };
        if let (Transport::Ssh { target, .. }, Some(255)) = (&self.transport, out.code) {
            return Err(SlurmError::Ssh(format!(
                "cannot reach {} over ssh (to run {program} there): {}",
                target.destination(),
                out.stderr_text()
            )));
        }
        Ok(out)
    }

    /// Run `argv` and require success, with the program's own error text.
    pub async fn run_ok(&self, argv: &[String], stdin: Option<&[u8]>) -> Result<Output, SlurmError> {
        let out = self.run(argv, stdin).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(SlurmError::Command { command: argv[0].clone(), message: out.stderr_text() })
        }
    }

    /// Run a POSIX shell script (fixed text, arguments passed as `$1…`).
    pub async fn sh(&self, script: &str, args: &[String]) -> Result<Output, SlurmError> {
        let mut argv = vec!["sh".to_string(), "-c".to_string(), script.to_string(), "ferry".to_string()];
        argv.extend_from_slice(args);
        self.run(&argv, None).await
    }

    /// Copy a local directory's content to `remote_dir` (over the same ssh
    /// connection), or back with `download`. Local transport: plain copy.
    pub async fn sync_dir(&self, local: &Path, remote_dir: &str, download: bool) -> Result<(), SlurmError> {
        let Transport::Ssh { target, .. } = &self.transport else {
            return Err(SlurmError::Config("sync_dir is only needed over ssh".into()));
        };
        let ssh = sh_join(&self.ssh_argv()?);
        let remote = format!("{}:{}/", target.destination(), remote_dir);
        let local_s = format!("{}/", local.display());
        let (src, dst) = if download { (remote, local_s) } else { (local_s, remote) };
        self.count("rsync");
        let mut cmd = Command::new("rsync");
        // --protect-args: the remote path is not split or expanded by the remote shell.
        cmd.args(["-a", "--protect-args", "-e", &ssh, &src, &dst])
            .envs(self.ssh_env()?)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = cmd.output().await.map_err(|e| SlurmError::Io("cannot run rsync (is it installed?)".into(), e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(SlurmError::Command {
                command: "rsync".into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    fn describe(&self, program: &str) -> String {
        match &self.transport {
            Transport::Local => program.to_owned(),
            Transport::Ssh { target, .. } => format!("{program} on {}", target.destination()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_targets_parse_and_hostile_ones_are_refused() {
        let t = SshTarget::parse("alice@login.hpc.example:2222").unwrap();
        assert_eq!((t.user.as_deref(), t.host.as_str(), t.port), (Some("alice"), "login.hpc.example", Some(2222)));
        assert_eq!(SshTarget::parse("login").unwrap().destination(), "login");
        for bad in ["-oProxyCommand=x", "a@", "a b@h", "h:port", "u@h;rm", ""] {
            assert!(SshTarget::parse(bad).is_err(), "{bad}");
        }
    }

    /// The error names the host it could not reach and what for, in words.
    #[tokio::test]
    async fn an_unreachable_login_node_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let ex = Executor::new(Transport::Ssh {
            // Port 1 on the loopback: refused at once, no network needed.
            target: SshTarget::parse("nobody@127.0.0.1:1").unwrap(),
            control_dir: dir.path().join("ssh"),
            config: None,
            password: None,
        });
        let e = ex.run(&["sbatch".into(), "--version".into()], None).await.unwrap_err().to_string();
        assert!(e.starts_with("cannot reach nobody@127.0.0.1 over ssh (to run sbatch there): "), "{e}");
        assert!(e.contains("port 1") && !e.ends_with('\n'), "{e}");
    }

    #[tokio::test]
    async fn local_commands_are_counted_and_not_shell_parsed() {
        let ex = Executor::new(Transport::Local);
        let out = ex.run(&["printf".into(), "%s".into(), "$(echo no)".into()], None).await.unwrap();
        assert_eq!(out.stdout, b"$(echo no)");
        let out = ex.sh("printf '%s|' \"$@\"", &["a b".into(), "'c'".into()]).await.unwrap();
        assert_eq!(out.stdout_text(), "a b|'c'|");
        assert_eq!(ex.counts().get("printf"), Some(&1));
        assert_eq!(ex.counts().get("sh"), Some(&1));
    }
}
