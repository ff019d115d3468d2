//! What the integration tests of ferry-core share.

use ferry_core::store::NewWorkload;
use ferry_core::{RuntimeKind, WorkloadId};

/// A new local workload named `name` that runs `true`.
pub fn new_workload(name: &str) -> NewWorkload {
    let spec = serde_json::from_value(serde_json::json!({"name": name, "command": ["true"]})).expect("valid spec");
    NewWorkload {
        id: WorkloadId::random(),
        name: name.to_owned(),
        context: "default".into(),
        runtime: RuntimeKind::Local,
        spec,
        spec_path: None,
    }
}
