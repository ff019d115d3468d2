//! Fill a state store with N finished local workloads, as months of use
//! would, for the `ferry ps` benchmark (benches/local/run.sh):
//!
//!     cargo run --release -p ferry-core --example populate_store -- STORE_DB LOCAL_ROOT N
//!
//! Each workload gets a record with a handle and a `succeeded` status, and
//! an (empty) directory under LOCAL_ROOT, as the local runtime leaves behind.

use std::path::PathBuf;

use ferry_core::store::{NewWorkload, Store};
use ferry_core::{Handle, RuntimeKind, Status, WorkloadId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, root, n] = args.as_slice() else {
        return Err("usage: populate_store STORE_DB LOCAL_ROOT N".into());
    };
    let n: usize = n.parse()?;
    let store = Store::open(&PathBuf::from(db))?;
    let spec = ferry_spec::parse_str("name: job\ncommand: [\"true\"]\n", "populate.yaml".as_ref())?;
    for i in 0..n {
        let id = WorkloadId::random();
        let dir = PathBuf::from(root).join(id.as_str());
        std::fs::create_dir_all(&dir)?;
        let handle = Handle {
            runtime: RuntimeKind::Local,
            workload: id.clone(),
            native_id: id.to_string(),
            details: [("dir".to_string(), dir.display().to_string())].into(),
        };
        let new = NewWorkload {
            id,
            name: format!("job-{i}"),
            context: "default".into(),
            runtime: RuntimeKind::Local,
            spec: spec.clone(),
            spec_path: None,
        };
        store.adopt(&new, &handle, &Status::Succeeded)?;
    }
    println!("{n} workloads in {db}");
    Ok(())
}
