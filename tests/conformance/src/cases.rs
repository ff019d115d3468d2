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
    assert!(stderr(&out).contains("about to fail"), "{}", describe(&out));
    assert!(!stdout(&out).contains("about to fail"), "stderr leaked into stdout: {}", describe(&out));
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

/// A missing input is refused before anything starts, naming the field.
pub fn missing_input_is_refused(t: &Target) {
    let f = Ferry::new(t);
    let out = f.run(&["run", f.workload("io-bindings").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(stderr(&out).contains("inputs.data.path"), "{}", describe(&out));
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
    let out = f.run(&["logs", &id]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10_000, "stdout line count");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(*l, format!("line {}", i + 1));
    }
    assert_eq!(stderr(&out), "done\n");
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
    let last_stdout = o.lines().last().and_then(|l| l.split_once(' ')).map(|(_, t)| t);
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
    f.ok(&["stop", "-t", "10", &id]);
    let v = f.inspect(&id);
    assert_eq!(v["status"]["state"], "cancelled", "{v}");
    f.wait_logs(&id, LONG, |o| o.contains("got SIGTERM"));
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
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(f.data_dir().join(format!("ferry/state.db{suffix}")));
    }
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

/// `context rm` refuses while a workload started in the context is recorded
/// (it is stopped, read and removed through that context); `--force` stops
/// and removes it, runtime object and record, with the context.
pub fn context_rm_keeps_workloads_manageable(t: &Target) {
    let f = Ferry::new(t);
    let mut create = vec!["context", "create", "second"];
    match t.context_args.is_empty() {
        true => create.extend(["--runtime", "local"]),
        false => create.extend(t.context_args.iter().map(String::as_str)),
    }
    f.ok(&create);
    let id = f.start(&f.workload("ticker"), &["--context", "second"]);
    let out = f.run(&["context", "rm", "second"]);
    assert_eq!(out.status.code(), Some(125), "context rm with a live workload must refuse: {}", describe(&out));
    assert!(stderr(&out).contains("still has 1 workload: ticker ("), "{}", describe(&out));
    assert!(f.ok(&["context", "ls"]).contains("second"), "the refused context is gone");
    f.ok(&["logs", &id]);
    f.ok(&["context", "rm", "--force", "second"]);
    assert!(!f.ok(&["context", "ls"]).contains("second"));
    // Nothing left to re-discover either: the runtime's object went too.
    assert!(f.ok(&["ps", "-a", "-q"]).is_empty());
}
