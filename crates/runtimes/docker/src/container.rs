//! A Ferry workload → a Docker container definition (labels, command,
//! bindings, limits, GPUs, published ports). Pure: no daemon involved, so it
//! is unit-tested directly.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, DeviceRequest, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use ferry_core::bindings::{self, ResolvedBinding};
use ferry_core::{Launch, RuntimeError};
use ferry_spec::{Kind, Workload};
use sha2::{Digest, Sha256};

/// Labels every Ferry container carries, so `list()` finds them without the store.
pub const LABEL_WORKLOAD: &str = "io.ferry.workload";
pub const LABEL_CONTEXT: &str = "io.ferry.context";
/// Which Ferry installation started it (see [`owner_id`]): several users or
/// test runs may share one daemon and use the same context name.
pub const LABEL_OWNER: &str = "io.ferry.owner";
pub const LABEL_NAME: &str = "io.ferry.name";
pub const LABEL_SPEC_DIGEST: &str = "io.ferry.spec-digest";
/// The Workload as JSON, for re-adoption after the store was lost.
pub const LABEL_SPEC: &str = "io.ferry.spec";
/// On images made by `ferry build`: the init at PID 1 is part of the image's
/// entrypoint, so the runtime must not add Docker's own.
pub const IMAGE_LABEL_INIT: &str = "io.ferry.init";

/// What the runtime learned about the image before creating the container.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    /// The image brings its own init (built by `ferry build`).
    pub has_ferry_init: bool,
}

/// The container name: `ferry-<instance name>-<first 8 of the id>`.
pub fn container_name(launch: &Launch) -> String {
    let clean: String =
        launch.name.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' }).collect();
    format!("ferry-{clean}-{}", &launch.id.as_str()[..8])
}

/// A stable id of one Ferry installation: its state directory on this machine.
/// Survives the loss of the state store (the directory is recreated at the
/// same path), differs between users, machines and isolated test runs.
pub fn owner_id(state_root: &std::path::Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut h = Sha256::new();
    h.update(host.trim().as_bytes());
    h.update(b"\0");
    h.update(state_root.as_os_str().as_encoded_bytes());
    hex::encode(h.finalize())[..16].to_owned()
}

/// sha256 of the Workload's JSON.
pub fn spec_digest(spec_json: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(spec_json.as_bytes())))
}

/// The program and its arguments: `command` as is, `run` as `sh -c script name`;
/// binding arguments appended (`pass_io_as: args`).
pub fn argv(w: &Workload, io_args: Vec<String>) -> Result<Vec<String>, RuntimeError> {
    let mut argv = match (&w.command, &w.run) {
        (Some(cmd), _) if !cmd.is_empty() => cmd.clone(),
        (_, Some(script)) => vec!["/bin/sh".into(), "-c".into(), script.clone(), w.name.clone()],
        _ => return Err(RuntimeError::InvalidWorkload("one of `command` or `run` is required".into())),
    };
    argv.extend(io_args);
    Ok(argv)
}

/// The full create request for `launch` with resolved `bindings`.
pub fn create_body(
    launch: &Launch,
    owner: &str,
    image: &str,
    facts: &ImageFacts,
    resolved: &[ResolvedBinding],
) -> Result<ContainerCreateBody, RuntimeError> {
    let w = &launch.workload;
    let (io_env, io_args) = bindings::io_env_and_args(w, resolved, |b| bindings::container_path(&b.name));
    let cmd = argv(w, io_args)?;

    let mut env: Vec<String> = w.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.extend(io_env.into_iter().map(|(k, v)| format!("{k}={v}")));

    let spec_json =
        serde_json::to_string(w).map_err(|e| RuntimeError::internal(format!("cannot encode the workload: {e}")))?;
    let labels: HashMap<String, String> = [
        (LABEL_WORKLOAD, launch.id.to_string()),
        (LABEL_CONTEXT, launch.context.clone()),
        (LABEL_OWNER, owner.to_owned()),
        (LABEL_NAME, launch.name.clone()),
        (LABEL_SPEC_DIGEST, spec_digest(&spec_json)),
        (LABEL_SPEC, spec_json),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let binds: Vec<String> = resolved
        .iter()
        .map(|b| {
            let mode = if b.writable { "rw" } else { "ro" };
            format!("{}:{}:{mode}", b.host_path.display(), bindings::container_path(&b.name))
        })
        .collect();

    let mut host = HostConfig {
        binds: (!binds.is_empty()).then_some(binds),
        // Docker's init (tini) as PID 1 unless the image has Ferry's own:
        // signals reach the program and zombies are reaped either way.
        init: Some(!facts.has_ferry_init),
        ..Default::default()
    };
    if let Some(cpus) = w.resources.cpus {
        if !(cpus > 0.0 && cpus.is_finite()) {
            return Err(RuntimeError::InvalidWorkload(format!(
                "resources.cpus: expected a positive number, got {cpus}"
            )));
        }
        host.nano_cpus = Some((cpus * 1e9).round() as i64);
    }
    if let Some(mem) = &w.resources.memory {
        let bytes = i64::try_from(mem.bytes()).map_err(|_| {
            RuntimeError::InvalidWorkload(format!("resources.memory: {} bytes is too large", mem.bytes()))
        })?;
        host.memory = Some(bytes);
        // No swap beyond the limit, so the limit means what it says.
        host.memory_swap = Some(bytes);
    }
    if let Some(pids) = w.resources.pids {
        host.pids_limit = Some(pids.min(i64::MAX as u64) as i64);
    }
    if let Some(gpus) = w.resources.gpus.filter(|g| *g > 0) {
        host.device_requests = Some(vec![DeviceRequest {
            driver: Some(String::new()),
            count: Some(i64::from(gpus)),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..Default::default()
        }]);
    }
    if w.retries > 0 {
        // Docker restarts the same container: same logs, same file system,
        // and no Ferry process needs to stay around for it.
        host.restart_policy = Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::ON_FAILURE),
            maximum_retry_count: Some(i64::from(w.retries)),
        });
    }
    let mut exposed = None;
    if w.kind == Kind::Service && !w.ports.is_empty() {
        let mut map = HashMap::new();
        for p in &w.ports {
            // Empty HostPort: Docker picks a free port; loopback only.
            map.insert(
                format!("{}/tcp", p.port),
                Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }]),
            );
        }
        exposed = Some(map.keys().cloned().collect());
        host.port_bindings = Some(map);
    }

    Ok(ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(cmd),
        // As `docker run IMAGE COMMAND…`, the rule of every container runtime:
        // `command` keeps the image's entrypoint; a `run` script replaces a
        // foreign image's, but never the init entrypoint of images Ferry built.
        entrypoint: if facts.has_ferry_init || w.run.is_none() { None } else { Some(vec![]) },
        // The workload's name, as on the OCI runtime (Docker's default is the container id).
        hostname: Some(ferry_core::container::hostname(&launch.name)),
        env: Some(env),
        labels: Some(labels),
        exposed_ports: exposed,
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        host_config: Some(host),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::WorkloadId;

    fn launch(yaml_json: serde_json::Value) -> Launch {
        Launch {
            id: WorkloadId::random(),
            name: "svc".into(),
            context: "dock".into(),
            workload: serde_json::from_value(yaml_json).unwrap(),
            spec_dir: ".".into(),
        }
    }

    #[test]
    fn run_scripts_go_through_sh_with_the_name_as_argv0() {
        let l = launch(serde_json::json!({"name": "t", "run": "echo \"$1\""}));
        let b = create_body(&l, "owner1", "img", &ImageFacts::default(), &[]).unwrap();
        assert_eq!(b.cmd.unwrap(), ["/bin/sh", "-c", "echo \"$1\"", "t"]);
        assert_eq!(b.entrypoint, Some(vec![]));
        assert_eq!(b.host_config.unwrap().init, Some(true));
    }

    #[test]
    fn a_command_keeps_the_image_entrypoint_and_the_hostname_is_the_name() {
        let l = launch(serde_json::json!({"name": "t", "command": ["hello", "world"]}));
        let b = create_body(&l, "owner1", "img", &ImageFacts::default(), &[]).unwrap();
        // As `docker run img hello world`: ENTRYPOINT stays, CMD is replaced.
        assert_eq!(b.entrypoint, None);
        assert_eq!(b.cmd.unwrap(), ["hello", "world"]);
        assert_eq!(b.hostname.as_deref(), Some("svc"));
    }

    #[test]
    fn labels_carry_the_spec_for_readoption() {
        let l = launch(serde_json::json!({"name": "t", "command": ["true"]}));
        let b = create_body(&l, "owner1", "img", &ImageFacts { has_ferry_init: true }, &[]).unwrap();
        let labels = b.labels.unwrap();
        assert_eq!(labels[LABEL_WORKLOAD], l.id.to_string());
        assert_eq!(labels[LABEL_CONTEXT], "dock");
        let spec: Workload = serde_json::from_str(&labels[LABEL_SPEC]).unwrap();
        assert_eq!(spec, l.workload);
        assert!(labels[LABEL_SPEC_DIGEST].starts_with("sha256:"));
        assert_eq!(b.entrypoint, None, "an image with Ferry's init keeps its entrypoint");
        assert_eq!(b.host_config.unwrap().init, Some(false));
    }

    #[test]
    fn resources_ports_and_bindings() {
        let l = launch(serde_json::json!({
            "name": "t", "kind": "service", "command": ["httpd"],
            "resources": {"cpus": 0.5, "memory": "64Mi", "pids": 50, "gpus": 1},
            "ports": [{"name": "http", "port": 8080}], "retries": 2
        }));
        let resolved = vec![
            ResolvedBinding { name: "data".into(), host_path: "/h/data".into(), writable: false },
            ResolvedBinding { name: "out".into(), host_path: "/h/out".into(), writable: true },
        ];
        let b = create_body(&l, "owner1", "img", &ImageFacts::default(), &resolved).unwrap();
        let h = b.host_config.unwrap();
        assert_eq!(h.nano_cpus, Some(500_000_000));
        assert_eq!(h.memory, Some(64 << 20));
        assert_eq!(h.pids_limit, Some(50));
        assert_eq!(h.device_requests.unwrap()[0].count, Some(1));
        assert_eq!(h.restart_policy.unwrap().maximum_retry_count, Some(2));
        assert_eq!(h.binds.unwrap(), ["/h/data:/ferry/io/data:ro", "/h/out:/ferry/io/out:rw"]);
        let pb = &h.port_bindings.unwrap()["8080/tcp"];
        assert_eq!(pb.as_ref().unwrap()[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert!(b.env.unwrap().contains(&"FERRY_IO_DATA=/ferry/io/data".to_string()));
    }

    #[test]
    fn names_are_docker_safe() {
        let mut l = launch(serde_json::json!({"name": "t", "command": ["true"]}));
        l.name = "a b/c".into();
        let n = container_name(&l);
        assert!(n.starts_with("ferry-a-b-c-") && n.len() == "ferry-a-b-c-".len() + 8, "{n}");
    }
}
