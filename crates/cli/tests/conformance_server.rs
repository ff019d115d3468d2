//! The conformance suite through a Ferry server: each case gets a server of
//! its own (`ferry server`, SQLite, one pool on the local runtime) and runs
//! the suite's commands in a context of kind `server`.
//!
//! Not in the list, by design for now:
//! * pause_resume, stats: the API has no pause or stats (the runtime says
//!   "not supported", which the cases accept only for both together).
//! * io_bindings, missing_input_is_refused, retries: bindings are paths on the
//!   server's machine; relative ones resolve against the server, not against
//!   the client's file (retries itself works: the case reads its count from a
//!   relative output binding).
//! * rediscovered_after_store_loss: a client that lost its store does not
//!   adopt the server's jobs (`GET /v1/jobs` lists them).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `ferry server` for one case, stopped when dropped.
struct CaseServer {
    child: Child,
    url: String,
    token_file: PathBuf,
    _home: tempfile::TempDir,
}

impl CaseServer {
    fn start() -> CaseServer {
        let home = tempfile::tempdir().unwrap();
        let pools = home.path().join("pools.toml");
        std::fs::write(&pools, "[[pool]]\nname = \"local\"\ncontext = \"default\"\ncpus = 64\nmemory = \"64Gi\"\n")
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let token_file = home.path().join("admin-token");
        let database = format!("sqlite://{}", home.path().join("server.db").display());
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["server", "--listen", &format!("127.0.0.1:{port}"), "--database", &database, "--tick-ms", "50"])
            .arg("--pools")
            .arg(&pools)
            .arg("--admin-token-file")
            .arg(&token_file)
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ferry server");
        let start = Instant::now();
        while !token_file.exists() || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(60), "the server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        CaseServer { child, url: format!("http://127.0.0.1:{port}"), token_file, _home: home }
    }

    fn target(&self) -> ferry_conformance::Target {
        let mut t = ferry_conformance::Target::local(env!("CARGO_BIN_EXE_ferry"));
        t.context_args =
            vec!["--server".into(), self.url.clone(), "--token-file".into(), self.token_file.display().to_string()];
        t
    }
}

impl Drop for CaseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

macro_rules! server_suite {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let server = CaseServer::start();
                ferry_conformance::$case(&server.target());
            }
        )*
    };
}

server_suite!(
    exit_zero,
    exit_one,
    exit_137,
    env_and_args,
    oom_kill,
    timeout,
    logs_10k_lines,
    logs_follow,
    stop_graceful,
    stop_kills_after_grace,
    exit_recorded_after_cli_left,
    bad_file_is_reported,
    live_names_are_unique,
    one_of_simultaneous_same_name_runs_starts,
    name_free_once_the_holder_ended,
    rm_forgets
);
