//! The OCI runtime spec (`config.json`) of a container: the image config
//! merged with the workload file.
//!
//! - args, by the rule of `docker run IMAGE COMMAND…` that every container
//!   runtime follows: the workload's `command` replaces the image's cmd and
//!   keeps its entrypoint; `run` (`sh -c script name`) replaces both; without
//!   either, entrypoint + cmd; `--name=path` binding arguments are appended
//!   with `pass_io_as: args`.
//! - env: image env, then the workload's env, then `FERRY_IO_*` and
//!   `FERRY_WORKLOAD_*` (later wins).
//! - cwd and user from the image config.
//! - `/ferry/io/<name>` bind mounts (inputs read-only).
//! - `linux.resources`: memory limit, CPU quota (period 100 ms), pids limit,
//!   and no device but the runtime's standard few (`/dev/null`, `/dev/zero`,
//!   the ttys …): the device cgroup denies the rest, as Docker's does.
//! - namespaces: pid, mount, ipc, uts and network (private network unless
//!   host networking is asked for).

use std::collections::BTreeMap;
use std::path::Path;

use ferry_core::bindings::{self, ResolvedBinding};
use ferry_core::{Launch, RuntimeError};
use ferry_image::store::ImageConfig;
use oci_spec::runtime::{
    LinuxBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, MountBuilder, RootBuilder, Spec, UserBuilder,
};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// CFS period used to express `resources.cpus` as a quota.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Environment in first-set order; a later value replaces an earlier one.
#[derive(Default)]
struct EnvList {
    values: BTreeMap<String, String>,
    order: Vec<String>,
}

impl EnvList {
    fn set(&mut self, k: &str, v: &str) {
        if self.values.insert(k.to_string(), v.to_string()).is_none() {
            self.order.push(k.to_string());
        }
    }
}

/// Options that are not part of the workload file.
#[derive(Debug, Clone, Default)]
pub struct BundleOptions {
    pub host_network: bool,
    /// Set `NVIDIA_VISIBLE_DEVICES` for the NVIDIA runtime hook.
    pub gpus: bool,
}

fn bad(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::internal(format!("cannot build the OCI spec: {e}"))
}

/// The final argv of the container's process.
pub fn process_args(launch: &Launch, image: &ImageConfig, io_args: Vec<String>) -> Result<Vec<String>, RuntimeError> {
    let w = &launch.workload;
    let cfg = image.config.clone().unwrap_or_default();
    let mut args = match (&w.command, &w.run) {
        (Some(cmd), _) if !cmd.is_empty() => {
            let mut a = cfg.entrypoint.unwrap_or_default();
            a.extend(cmd.iter().cloned());
            a
        }
        (_, Some(script)) => vec!["/bin/sh".into(), "-c".into(), script.clone(), w.name.clone()],
        _ => {
            let mut a = cfg.entrypoint.unwrap_or_default();
            a.extend(cfg.cmd.unwrap_or_default());
            a
        }
    };
    if args.is_empty() {
        return Err(RuntimeError::InvalidWorkload(
            "command: the workload has no command or run, and the image has no entrypoint or cmd".into(),
        ));
    }
    args.extend(io_args);
    Ok(args)
}

/// Build the spec. `rootfs` is the path written into `root.path`.
pub fn build_spec(
    launch: &Launch,
    image: &ImageConfig,
    rootfs_on_host: &Path,
    resolved: &[ResolvedBinding],
    container_id: &str,
    opts: &BundleOptions,
) -> Result<Spec, RuntimeError> {
    let w = &launch.workload;
    let cfg = image.config.clone().unwrap_or_default();
    let (io_env, io_args) = bindings::io_env_and_args(w, resolved, |b| bindings::container_path(&b.name));
    let args = process_args(launch, image, io_args)?;

    let mut env = EnvList::default();
    for kv in cfg.env.unwrap_or_default() {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        env.set(k, v);
    }
    for (k, v) in &w.env {
        env.set(k, v);
    }
    for (k, v) in &io_env {
        env.set(k, v);
    }
    env.set("FERRY_WORKLOAD_ID", launch.id.as_str());
    env.set("FERRY_WORKLOAD_NAME", &launch.name);
    if opts.gpus {
        env.set("NVIDIA_VISIBLE_DEVICES", "all");
    }
    if !env.values.contains_key("PATH") {
        env.set("PATH", DEFAULT_PATH);
    }
    let env_list: Vec<String> = env.order.iter().map(|k| format!("{k}={}", env.values[k])).collect();

    let (uid, gid) = resolve_user(cfg.user.as_deref().unwrap_or(""), rootfs_on_host)?;
    let cwd = cfg.working_dir.filter(|d| d.starts_with('/')).unwrap_or_else(|| "/".into());
    // Start from the runtime's defaults (capabilities, rlimits) and replace the rest.
    let mut process = oci_spec::runtime::Process::default();
    process
        .set_terminal(Some(false))
        .set_args(Some(args))
        .set_env(Some(env_list))
        .set_cwd(cwd.into())
        .set_user(UserBuilder::default().uid(uid).gid(gid).build().map_err(bad)?)
        .set_no_new_privileges(Some(true));

    let mut mounts = oci_spec::runtime::get_default_mounts();
    for b in resolved {
        let mode = if b.writable { "rw" } else { "ro" };
        mounts.push(
            MountBuilder::default()
                .destination(bindings::container_path(&b.name))
                .typ("bind")
                .source(&b.host_path)
                .options(vec!["rbind".to_string(), mode.to_string()])
                .build()
                .map_err(bad)?,
        );
    }
    // Name resolution works with host networking (and is harmless otherwise).
    for f in ["/etc/resolv.conf", "/etc/hosts"] {
        if Path::new(f).exists() && opts.host_network {
            mounts.push(
                MountBuilder::default()
                    .destination(f)
                    .typ("bind")
                    .source(f)
                    .options(vec!["rbind".to_string(), "ro".to_string()])
                    .build()
                    .map_err(bad)?,
            );
        }
    }

    // Deny every device; runc and crun then allow their standard ones (and
    // nvidia-container-runtime's hook the GPUs it passes in).
    let deny_all = LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().map_err(bad)?;
    let mut resources = LinuxResourcesBuilder::default().devices(vec![deny_all]);
    if let Some(m) = w.resources.memory {
        let bytes = m.bytes() as i64;
        resources = resources.memory(LinuxMemoryBuilder::default().limit(bytes).build().map_err(bad)?);
    }
    if let Some(c) = w.resources.cpus {
        let quota = ((c * CPU_PERIOD_US as f64).round() as i64).max(1000);
        resources = resources.cpu(LinuxCpuBuilder::default().quota(quota).period(CPU_PERIOD_US).build().map_err(bad)?);
    }
    if let Some(p) = w.resources.pids {
        resources = resources.pids(LinuxPidsBuilder::default().limit(p as i64).build().map_err(bad)?);
    }
    let default_linux = oci_spec::runtime::Linux::default();
    let mut namespaces: Vec<LinuxNamespace> = Vec::new();
    for t in [LinuxNamespaceType::Pid, LinuxNamespaceType::Mount, LinuxNamespaceType::Ipc, LinuxNamespaceType::Uts] {
        namespaces.push(LinuxNamespaceBuilder::default().typ(t).build().map_err(bad)?);
    }
    if !opts.host_network {
        namespaces.push(LinuxNamespaceBuilder::default().typ(LinuxNamespaceType::Network).build().map_err(bad)?);
    }
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources.build().map_err(bad)?)
        .cgroups_path(crate::cgroup::cgroups_path(container_id));
    if let Some(m) = default_linux.masked_paths() {
        linux = linux.masked_paths(m.clone());
    }
    if let Some(r) = default_linux.readonly_paths() {
        linux = linux.readonly_paths(r.clone());
    }
    let linux = linux.build().map_err(bad)?;

    let mut spec = Spec::default();
    spec.set_process(Some(process))
        .set_root(Some(RootBuilder::default().path(rootfs_on_host).readonly(false).build().map_err(bad)?))
        .set_hostname(Some(ferry_core::container::hostname(&launch.name)))
        .set_mounts(Some(mounts))
        .set_linux(Some(linux));
    Ok(spec)
}

/// `uid[:gid]` or `name[:group]` looked up in the image's /etc/passwd and /etc/group.
pub fn resolve_user(user: &str, rootfs: &Path) -> Result<(u32, u32), RuntimeError> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let lookup = |file: &str, name: &str, field: usize| -> Option<u32> {
        file.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f.get(field).and_then(|v| v.parse().ok())).flatten()
        })
    };
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(&passwd, u, 2).ok_or_else(|| {
            RuntimeError::InvalidWorkload(format!("image user {u:?} is not in the image's /etc/passwd"))
        })?,
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
                lookup(&group, g, 2).ok_or_else(|| {
                    RuntimeError::InvalidWorkload(format!("image group {g:?} is not in the image's /etc/group"))
                })?
            }
        },
        None => passwd
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2).and_then(|v| v.parse::<u32>().ok()) == Some(uid))
                    .then(|| f.get(3).and_then(|v| v.parse().ok()))
                    .flatten()
            })
            .unwrap_or(0),
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::WorkloadId;

    fn launch(yaml: serde_json::Value) -> Launch {
        Launch {
            id: WorkloadId::random(),
            name: "t".into(),
            context: "c".into(),
            workload: serde_json::from_value(yaml).unwrap(),
            spec_dir: ".".into(),
        }
    }

    fn image() -> ImageConfig {
        serde_json::from_value(serde_json::json!({
            "config": {"Env": ["PATH=/bin", "A=image"], "Entrypoint": ["/ep"], "Cmd": ["x"], "WorkingDir": "/w", "User": "7:8"},
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap()
    }

    #[test]
    fn command_follows_the_entrypoint_and_env_merges() {
        let l = launch(serde_json::json!({"name": "t", "command": ["echo", "hi"], "env": {"A": "file", "B": "b"},
            "resources": {"memory": "32Mi", "cpus": 0.5, "pids": 50}}));
        let spec = build_spec(&l, &image(), Path::new("/r"), &[], "ferry-x", &BundleOptions::default()).unwrap();
        let p = spec.process().as_ref().unwrap();
        // As `docker run IMAGE echo hi`: the image's entrypoint stays, its cmd goes.
        assert_eq!(p.args().as_ref().unwrap(), &vec!["/ep".to_string(), "echo".into(), "hi".into()]);
        let env = p.env().as_ref().unwrap();
        assert!(env.contains(&"A=file".to_string()) && env.contains(&"PATH=/bin".to_string()), "{env:?}");
        assert_eq!(p.cwd(), Path::new("/w"));
        assert_eq!((p.user().uid(), p.user().gid()), (7, 8));
        let r = spec.linux().as_ref().unwrap().resources().as_ref().unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(32 * 1024 * 1024));
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(50_000));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 50);
        let devices = r.devices().as_ref().expect("device rules");
        assert_eq!(devices.len(), 1);
        assert!(
            !devices[0].allow() && devices[0].access().as_deref() == Some("rwm") && devices[0].typ().is_none(),
            "{devices:?}"
        );
        let ns = spec.linux().as_ref().unwrap().namespaces().as_ref().unwrap();
        assert!(ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network), "private network by default");
    }

    #[test]
    fn image_entrypoint_when_no_command_and_host_network() {
        let mut l = launch(serde_json::json!({"name": "t", "run": "true"}));
        l.workload.run = None;
        let args = process_args(&l, &image(), vec!["--a=/ferry/io/a".into()]).unwrap();
        assert_eq!(args, vec!["/ep", "x", "--a=/ferry/io/a"]);
        let l = launch(serde_json::json!({"name": "t", "run": "echo $1"}));
        let opts = BundleOptions { host_network: true, gpus: false };
        let spec = build_spec(&l, &image(), Path::new("/r"), &[], "ferry-x", &opts).unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().as_ref().unwrap();
        assert!(!ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network));
        assert_eq!(spec.process().as_ref().unwrap().args().as_ref().unwrap()[..3], ["/bin/sh", "-c", "echo $1"]);
    }

    #[test]
    fn bindings_become_bind_mounts() {
        let l = launch(serde_json::json!({"name": "t", "command": ["true"]}));
        let b = vec![
            ResolvedBinding { name: "in".into(), host_path: "/h/in".into(), writable: false },
            ResolvedBinding { name: "out".into(), host_path: "/h/out".into(), writable: true },
        ];
        let spec = build_spec(&l, &image(), Path::new("/r"), &b, "ferry-x", &BundleOptions::default()).unwrap();
        let mounts = spec.mounts().as_ref().unwrap();
        let m = mounts.iter().find(|m| m.destination() == Path::new("/ferry/io/in")).unwrap();
        assert!(m.options().as_ref().unwrap().contains(&"ro".to_string()));
        let m = mounts.iter().find(|m| m.destination() == Path::new("/ferry/io/out")).unwrap();
        assert!(m.options().as_ref().unwrap().contains(&"rw".to_string()));
        let env = spec.process().as_ref().unwrap().env().clone().unwrap();
        assert!(env.contains(&"FERRY_IO_IN=/ferry/io/in".to_string()), "{env:?}");
    }

    #[test]
    fn user_names_come_from_the_image() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
            .unwrap();
        std::fs::write(d.path().join("etc/group"), "staff:x:50:\n").unwrap();
        assert_eq!(resolve_user("app", d.path()).unwrap(), (1000, 1001));
        assert_eq!(resolve_user("app:staff", d.path()).unwrap(), (1000, 50));
        assert_eq!(resolve_user("", d.path()).unwrap(), (0, 0));
        assert!(resolve_user("nobody-here", d.path()).is_err());
    }
}
