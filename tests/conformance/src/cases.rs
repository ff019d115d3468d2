//! The conformance cases. Each takes the target and panics with a message
//! naming what differed.

use std::time::{Duration, Instant};

use crate::harness::{describe, Ferry, Target};

const LONG: Duration = Duration::from_secs(60);

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Attached run: output streamed, exit code 0, status succeeded.
pub fn exit_zero(t: &Target) {
    let f = Ferry::new(t);
    let file = f.workload("exit-zero");
    let out = f.run(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout(&out), "hello from ferry\n");
    let v = f.inspect("exit-zero");
    assert_eq!(v["status"]["state"], "succeeded", "{v}");
    let history: Vec<&str> =
        v["history"].as_array().unwrap().iter().map(|e| e["status"]["state"].as_str().unwrap()).collect();
    assert_eq!(history.first(), Some(&"pending"), "{history:?}");
    assert_eq!(history.last(), Some(&"succeeded"), "{history:?}");
}

/// Exit code 1 becomes ferry's exit code; stderr stays stderr.
pub fn exit_one(t: &Target) {
    let f = Ferry::new(t);
    let out = f.run(&["run", f.workload("exit-one").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    if t.supports("stderr") {
        assert!(stderr(&out).contains("about to fail"), "{}", describe(&out));
        assert!(!stdout(&out).contains("about to fail"), "stderr leaked into stdout: {}", describe(&out));
    } else {
        // Listed in the target's `unsupported`: the runtime keeps one log for both streams.
        assert!(stdout(&out).contains("about to fail"), "{}", describe(&out));
    }
    let v = f.inspect("exit-one");
    assert_eq!(v["status"]["state"], "failed");
    assert_eq!(v["status"]["exit_code"], 1);
}

/// Death by SIGKILL is exit code 137 with the signal named.
pub fn exit_137(t: &Target) {
    let f = Ferry::new(t);
    let out = f.run(&["run", f.workload("exit-137").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(137), "{}", describe(&out));
    let v = f.inspect("exit-137");
    assert_eq!(v["status"]["exit_code"], 137, "{v}");
    assert!(v["status"]["reason"].as_str().unwrap().contains("SIGKILL"), "{v}");
}

/// Env from the file and from `-e`, and arguments, arrive byte for byte.
pub fn env_and_args(t: &Target) {
    let f = Ferry::new(t);
    let file = f.workload("env-args");
    let out = f.run(&["run", "-e", "EXTRA=from -e; $(x)", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout(&out), "hello world|it's \"quoted\" $HOME `and` $(not expanded)|from -e; $(x)|two words\n");
}

/// Inputs and outputs reach the program as FERRY_IO_* and --name=path; the
/// output lands on the host.
pub fn io_bindings(t: &Target) {
    let f = Ferry::new(t);
    let file = f.workload("io-bindings");
    let data = f.work_dir().join("workspace/data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("input.txt"), "payload 42\n").unwrap();
    let out = f.run(&["run", file.to_str().unwrap()]);
    if !t.supports("host-paths") {
        return refused_for_host_paths(&f, &out, "inputs.data");
    }
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    let env_line = text.lines().find_map(|l| l.strip_prefix("env=")).expect("env line");
    let (d, r) = env_line.split_once(',').expect("two paths");
    assert!(d.ends_with("data") && r.ends_with("result"), "{text}");
    let args_line = text.lines().find_map(|l| l.strip_prefix("args=")).expect("args line");
    assert_eq!(args_line, format!("--data={d} --result={r}"));
    let copy = f.work_dir().join("workspace/result/copy.txt");
    assert_eq!(std::fs::read_to_string(&copy).unwrap_or_default(), "payload 42\n", "{}", copy.display());
}

/// For a target listed with "host-paths" in `unsupported`: bindings need the runtime's
/// own volumes, and the refusal names the binding, before anything starts.
fn refused_for_host_paths(f: &Ferry, out: &std::process::Output, field: &str) {
    assert_eq!(out.status.code(), Some(125), "{}", describe(out));
    assert!(stderr(out).contains(field), "{}", describe(out));
    assert!(f.ok(&["ps", "-a", "-q"]).is_empty(), "a refusal leaves no row");
}

/// A missing input is refused before anything starts, naming the field.
pub fn missing_input_is_refused(t: &Target) {
    let f = Ferry::new(t);
    let out = f.run(&["run", f.workload("io-bindings").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    // Where bindings cannot be host paths, that refusal comes first, naming the binding.
    let field = if t.supports("host-paths") { "inputs.data.path" } else { "inputs.data" };
    assert!(stderr(&out).contains(field), "{}", describe(&out));
}

/// Over the memory limit: killed, exit 137, reason says out of memory.
pub fn oom_kill(t: &Target) {
    if !t.supports("oom") {
        // Listed in the target's `unsupported` with the reason in its test file.
        crate::harness::not_applicable("oom_kill", "this target cannot enforce memory limits by design");
        return;
    }
    let f = Ferry::new(t);
    let out = f.run(&["run", f.workload("oom").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(137), "{}", describe(&out));
    let v = f.inspect("oom");
    assert!(v["status"]["reason"].as_str().unwrap().contains("out of memory"), "{v}");
}

/// The timeout ends the workload and says so.
pub fn timeout(t: &Target) {
    let f = Ferry::new(t);
    let started = Instant::now();
    let out = f.run(&["run", f.workload("timeout").to_str().unwrap()]);
    assert!(started.elapsed() < Duration::from_secs(30), "timeout of 1s took {:?}", started.elapsed());
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let v = f.inspect("timeout");
    assert_eq!(v["status"]["state"], "failed", "{v}");
    assert!(v["status"]["reason"].as_str().unwrap().contains("timed out after 1s"), "{v}");
}

/// 10,000 lines, in order, none lost; --tail keeps the last ones.
pub fn logs_10k_lines(t: &Target) {
    let f = Ferry::new(t);
    let id = f.start(&f.workload("logs-10k"), &[]);
    f.wait_state(&id, "succeeded", LONG);
    if !t.supports("stderr") {
        // A kubelet's log can still be filling for a moment after the container's end
        // is reported (containerd copies the output apart from the exit): wait for all of it.
        f.wait_logs(&id, LONG, |o| o.lines().count() >= 10_001);
    }
    let out = f.run(&["logs", &id]);
    let text = stdout(&out);
    let mut lines: Vec<&str> = text.lines().collect();
    if !t.supports("stderr") {
        // One log for both streams: stderr's line arrives on stdout, and only the
        // order within each stream is exact.
        let before = lines.len();
        lines.retain(|l| *l != "done");
        assert_eq!(before - lines.len(), 1, "the stderr line, once");
    } else {
        assert_eq!(stderr(&out), "done\n");
    }
    assert_eq!(lines.len(), 10_000, "stdout line count");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(*l, format!("line {}", i + 1));
    }
    // --tail counts records of both streams; stdout and stderr are separate
    // pipes, so only the order within each stream is exact.
    let out = f.run(&["logs", "--tail", "3", "--timestamps", &id]);
    let (o, e) = (stdout(&out), stderr(&out));
    let records: Vec<&str> = o.lines().chain(e.lines()).collect();
    assert_eq!(records.len(), 3, "{}", describe(&out));
    for r in &records {
        let (time, _) = r.split_once(' ').unwrap_or_default();
        assert!(time.len() >= 20 && time.ends_with('Z'), "no RFC 3339 timestamp on {r:?}");
    }
    // The program's own last stdout line (with one log for both streams, stderr's
    // "done" may come before or after it).
    let last_stdout = o.lines().filter_map(|l| l.split_once(' ')).map(|(_, t)| t).filter(|t| *t != "done").last();
    assert_eq!(last_stdout, Some("line 10000"), "{}", describe(&out));
}

/// `logs -f` follows a running workload and ends when it ends.
pub fn logs_follow(t: &Target) {
    let f = Ferry::new(t);
    let id = f.start(&f.workload("ticker"), &[]);
    f.wait_logs(&id, LONG, |o| o.contains("tick 3"));
    let follower = f.command(&["logs", "-f", &id]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    f.ok(&["stop", "-t", "5", &id]);
    let out = follower.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("tick 1\n") && text.contains("got SIGTERM"), "{text}");
}

/// Pause freezes output; resume continues it.
pub fn pause_resume(t: &Target) {
    let f = Ferry::new(t);
    let id = f.start(&f.workload("ticker"), &[]);
    f.wait_logs(&id, LONG, |o| o.contains("tick 2"));
    if !t.supports("pause") {
        let out = f.run(&["pause", &id]);
        assert_eq!(out.status.code(), Some(125));
        assert!(stderr(&out).contains("not supported by the"), "{}", describe(&out));
        f.ok(&["stop", &id]);
        return;
    }
    f.ok(&["pause", &id]);
    assert_eq!(f.state(&id), "paused");
    std::thread::sleep(Duration::from_millis(300));
    let before = f.ok(&["logs", &id]).lines().count();
    std::thread::sleep(Duration::from_millis(700));
    let during = f.ok(&["logs", &id]).lines().count();
    assert_eq!(before, during, "output advanced while paused");
    f.ok(&["resume", &id]);
    assert_eq!(f.state(&id), "running");
    f.wait_logs(&id, LONG, |o| o.lines().count() > during + 2);
    f.ok(&["stop", &id]);
    assert_eq!(f.state(&id), "cancelled");
}

/// Stop sends SIGTERM first: the workload's handler runs; status cancelled.
pub fn stop_graceful(t: &Target) {
    let f = Ferry::new(t);
    let id = f.start(&f.workload("ticker"), &[]);
    f.wait_logs(&id, LONG, |o| o.contains("tick 1"));
    // A follower sees the workload's last words (a runtime may drop a stopped
    // workload's log with it, as Kubernetes does with its pods).
    let follower = f.command(&["logs", "-f", &id]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    f.wait_logs(&id, LONG, |o| o.contains("tick 3"));
    f.ok(&["stop", "-t", "10", &id]);
    let v = f.inspect(&id);
    assert_eq!(v["status"]["state"], "cancelled", "{v}");
    let followed = follower.wait_with_output().unwrap();
    assert!(stdout(&followed).contains("got SIGTERM"), "{}", describe(&followed));
}

/// A workload that ignores SIGTERM is killed after the grace period.
pub fn stop_kills_after_grace(t: &Target) {
    let f = Ferry::new(t);
    let id = f.start(&f.workload("stubborn"), &[]);
    f.wait_logs(&id, LONG, |o| o.contains("ready"));
    let started = Instant::now();
    f.ok(&["stop", "-t", "1", &id]);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "killed before the grace period ended ({took:?})");
    assert!(took < Duration::from_secs(20), "stop took {took:?}");
    assert_eq!(f.state(&id), "cancelled");
}

/// `run -d` returns at once; the exit code is recorded with no CLI around.
pub fn exit_recorded_after_cli_left(t: &Target) {
    let f = Ferry::new(t);
    let id = f.start(&f.workload("slow-exit"), &[]);
    // `run -d` returned before the workload could end (it sleeps 3 s); no
    // wall-clock bound, which a loaded CI machine could miss.
    let state = f.state(&id);
    assert!(matches!(state.as_str(), "pending" | "running"), "run -d waited for the workload: {state}");
    // `ferry wait` blocks until the end and prints the exit code.
    assert_eq!(f.ok(&["wait", &id]).trim(), "3");
    assert_eq!(f.state(&id), "failed", "`ferry wait` returned before the end was recorded");
    let v = f.wait_state(&id, "failed", LONG);
    assert_eq!(v["status"]["exit_code"], 3, "{v}");
    let out = f.ok(&["ps", "-a", "-o", "json"]);
    let ps: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ps[0]["status"]["exit_code"], 3, "{out}");
}

/// A failing job is retried; the third attempt succeeds.
pub fn retries(t: &Target) {
    let f = Ferry::new(t);
    let out = f.run(&["run", f.workload("retries").to_str().unwrap()]);
    if !t.supports("host-paths") {
        // The attempt count lives in a host directory.
        return refused_for_host_paths(&f, &out, "outputs.state");
    }
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout(&out), "attempt 1\nattempt 2\nattempt 3\n");
    let attempts = std::fs::read_to_string(f.work_dir().join("workspace/state/attempts")).unwrap();
    assert_eq!(attempts.trim(), "3");
}

/// Stats come from the workload's cgroup: CPU time grows, memory and pids are counted.
pub fn stats(t: &Target) {
    let f = Ferry::new(t);
    let id = f.start(&f.workload("busy"), &[]);
    f.wait_state(&id, "running", LONG);
    if !t.supports("stats") {
        let out = f.run(&["stats", &id]);
        assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
        assert!(stderr(&out).contains("not supported by the"), "{}", describe(&out));
        f.ok(&["stop", "-t", "1", &id]);
        return;
    }
    let read = || {
        let out = f.ok(&["stats", "-o", "json", "--interval-ms", "200", &id]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0].clone()
    };
    let first = read();
    let second = read();
    // CPU time is cumulative: a busy loop's must grow between two readings
    // (no threshold on the rate: the machine may be loaded).
    let cpu = |s: &serde_json::Value| s["cpu_usage_ns"].as_u64().unwrap();
    assert!(cpu(&second) > cpu(&first), "CPU time did not grow: {first} then {second}");
    assert!(second["cpu_percent"].as_f64().unwrap() > 0.0, "{second}");
    assert!(second["memory_bytes"].as_u64().unwrap() > 0, "{second}");
    assert!(second["pids"].as_u64().unwrap() >= 1, "{second}");
    let table = f.ok(&["stats", &id]);
    assert!(table.contains("CPU %") && table.contains("busy"), "{table}");
    f.ok(&["stop", "-t", "1", &id]);
}

/// A bad file gets one error with file, line, column and field; nothing starts.
pub fn bad_file_is_reported(t: &Target) {
    let f = Ferry::new(t);
    let file = f.workload("bad-field");
    let out = f.run(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let err = stderr(&out);
    let expect = if t.image.is_some() { ":5:" } else { ":4:" };
    assert!(err.contains("bad-field.yaml") && err.contains(expect) && err.contains("resources.memory"), "{err}");
    assert!(f.ok(&["ps", "-a", "-q"]).is_empty(), "a rejected file must not create a workload");
}

/// Names are unique among live workloads; a finished name can be reused.
pub fn live_names_are_unique(t: &Target) {
    let f = Ferry::new(t);
    let file = f.workload("ticker");
    let first = f.start(&file, &[]);
    let out = f.run(&["run", "-d", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(stderr(&out).contains("ticker"), "{}", describe(&out));
    let other = f.start(&file, &["--name", "ticker-2"]);
    f.ok(&["stop", "-t", "2", &first, &other]);
    let again = f.start(&file, &[]);
    f.ok(&["stop", "-t", "2", &again]);
}

/// Of several `ferry run`s of one name at the same moment, exactly one
/// starts and the others are refused: the name is held from the check until
/// the workload is recorded, also while it starts.
pub fn one_of_simultaneous_same_name_runs_starts(t: &Target) {
    let f = Ferry::new(t);
    let file = f.workload("ticker");
    let file = file.to_str().unwrap();
    let outs: Vec<std::process::Output> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4).map(|_| s.spawn(|| f.run(&["run", "-d", file]))).collect();
        runs.into_iter().map(|r| r.join().expect("a run thread panicked")).collect()
    });
    let all = outs.iter().map(describe).collect::<Vec<_>>().join("\n---\n");
    let started: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(started.len(), 1, "exactly one run may start:\n{all}");
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_eq!(o.status.code(), Some(125), "a refused run exits 125:\n{all}");
        assert!(stderr(o).contains("ticker"), "the refusal names the name:\n{all}");
    }
    let id = String::from_utf8_lossy(&started[0].stdout).trim().to_string();
    assert_eq!(
        f.ok(&["ps", "-a", "-q"]).split_whitespace().collect::<Vec<_>>(),
        [id.as_str()],
        "refused runs leave no record"
    );
    f.ok(&["stop", "-t", "2", &id]);
}

/// A name is free again once its holder ended, even while the store still
/// holds it as live: a monitor records the end in the runtime's own state
/// first and in the store a moment later (or never, if it died), so the next
/// `ferry run` of the same name, right after an attached one, may find the
/// store behind. The holder is asked about, not taken on the store's word.
pub fn name_free_once_the_holder_ended(t: &Target) {
    let f = Ferry::new(t);
    let file = f.workload("exit-zero");
    let out = f.run(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let id = f.inspect("exit-zero")["id"].as_str().unwrap().to_string();
    // What a lagging (or dead) monitor leaves behind.
    let db = rusqlite::Connection::open(f.data_dir().join("ferry/state.db")).unwrap();
    let stale =
        db.execute("UPDATE workloads SET status = '{\"state\":\"running\"}', live = 1 WHERE id = ?1", [&id]).unwrap();
    assert_eq!(stale, 1, "the record of {id} was not found");
    drop(db);
    let out = f.run(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "the name of an ended workload must be free: {}", describe(&out));
    assert_eq!(f.state(&id), "succeeded", "the stale record is brought up to date");
    assert_eq!(f.ok(&["ps", "-a", "-q"]).lines().count(), 2);
}

/// With the state store deleted, `ps` finds the runtime's workloads again.
pub fn rediscovered_after_store_loss(t: &Target) {
    let f = Ferry::new(t);
    let id = f.start(&f.workload("ticker"), &[]);
    f.wait_state(&id, "running", LONG);
    f.lose_store();
    let out = f.ok(&["ps", "-o", "json"]);
    let ps: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ps[0]["id"], id.as_str(), "{out}");
    assert_eq!(ps[0]["name"], "ticker", "{out}");
    f.ok(&["stop", "-t", "2", &id]);
    assert_eq!(f.state(&id), "cancelled");
}

/// `rm` forgets a finished workload; a live one needs --force.
pub fn rm_forgets(t: &Target) {
    let f = Ferry::new(t);
    let id = f.start(&f.workload("ticker"), &[]);
    let out = f.run(&["rm", &id]);
    assert_eq!(out.status.code(), Some(125), "rm of a live workload must refuse: {}", describe(&out));
    f.ok(&["rm", "--force", &id[..8]]);
    assert!(f.ok(&["ps", "-a", "-q"]).is_empty());
    let out = f.run(&["logs", &id]);
    assert_eq!(out.status.code(), Some(125));
}

/// A `ferry run` killed (SIGKILL) while it starts a workload strands
/// nothing: a later `ps` shows the truth, `wait` ends, and `rm --force`
/// removes the record and the runtime's object (with the store lost after,
/// nothing is found again). The instants, from the engine's debug log: right
/// after the intent is recorded (the start then may or may not happen), and
/// right after the runtime accepted the workload, before its handle is
/// recorded. For runtimes whose start is not brief (docker, slurm, kubernetes).
pub fn killed_run_converges(t: &Target) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    for (i, instant) in ["recorded as pending", "accepted by the runtime"].into_iter().enumerate() {
        let f = Ferry::new(t);
        let name = format!("killed-{i}");
        let file = f.workload("exit-one");
        let mut child = f
            .command(&["run", "-d", "--name", &name, file.to_str().expect("utf-8 path")])
            .env("RUST_LOG", "ferry_core::engine=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferry run");
        let mut seen = String::new();
        for line in BufReader::new(child.stderr.take().expect("stderr")).lines() {
            let line = line.expect("read stderr");
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(instant) {
                child.kill().expect("SIGKILL ferry run");
                break;
            }
        }
        let _ = child.wait();
        assert!(seen.contains(instant), "ferry run never logged {instant:?}:\n{seen}");

        let ps: serde_json::Value = serde_json::from_str(&f.ok(&["ps", "-a", "-o", "json"])).expect("ps json");
        let rows = ps.as_array().expect("a list");
        assert_eq!(rows.len(), 1, "one record after the kill: {ps}");
        let out = f.run(&["wait", &name]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let ran = out.status.success() && stdout.trim() == "1";
        if instant == "accepted by the runtime" {
            assert!(ran, "the accepted workload ran to its exit code 1: {}", describe(&out));
        } else {
            assert!(
                ran || (out.status.code() == Some(125) && stderr.contains("never started")),
                "wait must end with the exit code or say it never started: {}",
                describe(&out)
            );
        }
        f.ok(&["rm", "--force", &name]);
        assert!(f.ok(&["ps", "-a", "-q"]).is_empty(), "rm --force removed the record");
        f.lose_store();
        assert!(f.ok(&["ps", "-a", "-q"]).is_empty(), "rm --force removed the runtime's object too");
    }
}

/// A refusal before anything started leaves no row in `ps -a` and nothing
/// in the runtime (with the store lost, nothing is found again): here an
/// input that does not exist.
pub fn refusals_leave_nothing(t: &Target) {
    let f = Ferry::new(t);
    let out = f.run(&["run", f.workload("io-bindings").to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(125), "a missing input must be refused: {}", describe(&out));
    let rows = f.ok(&["ps", "-a", "-q"]);
    assert!(rows.is_empty(), "the refusal left a row: {rows}");
    f.lose_store();
    assert!(f.ok(&["ps", "-a", "-q"]).is_empty(), "a refusal left something in the runtime");
}

/// `ferry context rm` never strands a workload: it refuses while the
/// context has a live one (which stays manageable), and with --force stops
/// it; the context's workloads go with it, runtime objects included (with
/// the store lost after, nothing is found again).
pub fn context_rm_strands_nothing(t: &Target) {
    let f = Ferry::new(t);
    if t.context_args.is_empty() {
        f.ok(&["context", "create", "conformance", "--runtime", "local", "--use"]);
    }
    let live = f.start(&f.workload("ticker"), &[]);
    let done = f.start(&f.workload("exit-zero"), &[]);
    f.wait_state(&done, "ended", LONG);
    f.ok(&["context", "use", "default"]);
    let out = f.run(&["context", "rm", "conformance"]);
    assert_eq!(out.status.code(), Some(125), "a context with a live workload must stay: {}", describe(&out));
    assert!(stderr(&out).contains("ticker"), "the refusal names the live workload: {}", describe(&out));
    f.wait_logs(&live, LONG, |o| o.contains("tick"));
    f.ok(&["context", "rm", "--force", "-t", "2", "conformance"]);
    assert!(f.ok(&["ps", "-a", "-q"]).is_empty(), "the context's workloads went with it");
    let out = f.run(&["context", "show", "conformance"]);
    assert_eq!(out.status.code(), Some(125), "the context is gone: {}", describe(&out));
    let recreate: Vec<&str> = ["context", "create", "conformance"].into_iter().chain(context_args(t)).collect();
    f.ok(&recreate);
    f.lose_store();
    let found = f.ok(&["--context", "conformance", "ps", "-a", "-q"]);
    assert!(found.is_empty(), "runtime objects were left behind: {found}");
}

/// After the store is lost, a plain `ferry ps` finds the workloads of every
/// context, not only the current one's.
pub fn rediscovered_in_every_context(t: &Target) {
    let f = Ferry::new(t);
    if t.context_args.is_empty() {
        f.ok(&["context", "create", "conformance", "--runtime", "local", "--use"]);
    }
    let id = f.start(&f.workload("ticker"), &[]);
    f.wait_state(&id, "running", LONG);
    f.ok(&["context", "use", "default"]);
    f.lose_store();
    let out = f.ok(&["ps", "-o", "json"]);
    let ps: serde_json::Value = serde_json::from_str(&out).expect("ps json");
    assert_eq!(ps[0]["id"], id.as_str(), "{out}");
    assert_eq!(ps[0]["context"], "conformance", "{out}");
    f.ok(&["rm", "--force", &id]);
}

/// The `context create` arguments of `t`'s runtime.
fn context_args(t: &Target) -> Vec<&str> {
    if t.context_args.is_empty() {
        vec!["--runtime", "local"]
    } else {
        t.context_args.iter().map(String::as_str).collect()
    }
}
