//! `ferry __monitor DIR`: the local runtime's per-workload monitor, which also
//! records every status change in Ferry's store so nothing depends on the
//! CLI still running.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use ferry_core::store::Store;
use ferry_core::WorkloadId;

pub fn main(dir: &Path) -> ExitCode {
    match ferry_local::monitor::daemonize(dir) {
        Ok(false) => return ExitCode::SUCCESS, // the caller's child: done
        Ok(true) => {}
        Err(e) => {
            eprintln!("ferry monitor: {e}");
            return ExitCode::FAILURE;
        }
    }
    // Opened on the first transition, which comes after the workload's
    // process started: the store is not on the start-up path.
    let mut store: Option<Result<Store, String>> = None;
    let mut record = |plan: &ferry_local::ProcessPlan, st: &ferry_local::MonitorState| {
        let store = store.get_or_insert_with(|| {
            Store::open(&Store::default_path()).map_err(|e| {
                eprintln!("ferry monitor: state store unavailable, recording in {} only: {e}", dir.display());
                e.to_string()
            })
        });
        let (Ok(store), Ok(id)) = (&*store, plan.workload_id.parse::<WorkloadId>()) else { return };
        let at = st.finished_at.or(st.started_at).unwrap_or_else(Utc::now);
        if let Err(e) = store.record_status(&id, &st.status, at) {
            eprintln!("ferry monitor: cannot record status of {id}: {e}");
        }
    };
    match ferry_local::monitor::run(dir, &mut record) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry monitor: {e}");
            ExitCode::FAILURE
        }
    }
}
