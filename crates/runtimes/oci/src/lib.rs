//! `ferry-oci`: containers without a daemon. Images from Ferry's own store
//! (`ferry-image`) run with an OCI runtime binary — crun, runc or
//! nvidia-container-runtime, chosen as [`select`] describes — each owned by a
//! small detached monitor process (see [`monitor`]), so exit codes survive
//! the CLI.
//!
//! Status mapping (native state → Ferry status):
//!
//! | native state                                              | Ferry status |
//! |-----------------------------------------------------------|--------------|
//! | bundle written, monitor has not started the container yet | Pending |
//! | container running (`<runtime> run --detach` succeeded)     | Running |
//! | container frozen by `<runtime> pause`                      | Paused |
//! | init exited 0                                              | Succeeded |
//! | init exited N ≠ 0 (N ≤ 128)                                | Failed{N, "exited with code N"} |
//! | main process killed by signal S (init exits 128+S)         | Failed{128+S, "killed by signal S"} |
//! | memory cgroup out of memory; container killed              | Failed{137, "out of memory (…)"} |
//! | timeout reached                                            | Failed{code, "timed out after …"} |
//! | `<runtime> run`/`restore` failed                           | Failed{None, "crun run failed …"} |
//! | ended after `ferry stop` or `ferry checkpoint`             | Cancelled |
//! | monitor died before recording an end                       | Failed{None, "monitor … died …"} |

pub mod binary;
pub mod bundle;
pub mod cgroup;
pub mod doctor;
pub mod monitor;
pub mod rootfs;
pub mod select;
pub mod spare;
pub mod state;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferry_core::{
    bindings, Capabilities, Handle, Launch, LogOptions, LogStream, Result, Runtime, RuntimeError, RuntimeKind, Stats,
    Status, WorkloadId,
};
use ferry_image::{ImageStore, Reference};
use serde::{Deserialize, Serialize};

use crate::binary::RuntimeBinary;
use crate::bundle::BundleOptions;
use crate::select::Selection;
use crate::state::{write_json_atomic, ContainerDir, OciPlan, OciState, WorkloadFiles};

/// The static init binary put into every container as pid 1
/// (`init/ferry-init.c`).
pub const FERRY_INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ferry-init"));
/// Where containers see it.
pub const INIT_PATH: &str = "/ferry/init";
/// Grace between SIGTERM and SIGKILL when a timeout fires.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// File written into a checkpoint directory so `restore` knows what ran.
pub const CHECKPOINT_META: &str = "ferry-checkpoint.json";

/// Settings of one OCI context.
#[derive(Debug, Clone)]
pub struct OciConfig {
    /// `$XDG_DATA_HOME/ferry/oci`: image store, containers, runtime state.
    pub root: PathBuf,
    pub context: String,
    /// The context's `oci_runtime` setting.
    pub oci_runtime: Option<String>,
    /// The `ferry` binary, started as `ferry __oci-monitor DIR`.
    pub monitor: ferry_local::launcher::MonitorCommand,
    /// Share the host's network namespace instead of a private one.
    pub host_network: bool,
}

pub struct OciRuntime {
    cfg: OciConfig,
    /// Containers written by `prepare` that `start` (or `discard`) has not taken yet.
    prepared: std::sync::Mutex<std::collections::HashMap<WorkloadId, (ContainerDir, OciPlan)>>,
}

/// What `checkpoint` leaves next to CRIU's images for `restore`.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointMeta {
    name: String,
    context: String,
    image: String,
    workload: ferry_spec::Workload,
    runtime: Selection,
    memory_limit: Option<u64>,
}

fn backend(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::internal(e.to_string())
}

impl OciRuntime {
    pub fn new(cfg: OciConfig) -> OciRuntime {
        OciRuntime { cfg, prepared: Default::default() }
    }

    pub fn image_store(&self) -> Result<ImageStore> {
        ImageStore::open(&self.cfg.root).map_err(backend)
    }

    fn prepared_containers(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<WorkloadId, (ContainerDir, OciPlan)>> {
        self.prepared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn containers(&self) -> PathBuf {
        self.cfg.root.join("containers")
    }

    fn dir_of(&self, id: &WorkloadId) -> ContainerDir {
        ContainerDir(self.containers().join(id.as_str()))
    }

    fn existing(&self, h: &Handle) -> Result<(ContainerDir, OciPlan)> {
        let cd = self.dir_of(&h.workload);
        match cd.read_plan() {
            Ok(p) => Ok((cd, p)),
            Err(_) => Err(RuntimeError::NotFound { runtime: RuntimeKind::Oci, native_id: h.native_id.clone() }),
        }
    }

    fn binary(&self, plan: &OciPlan) -> RuntimeBinary {
        RuntimeBinary::new(&plan.runtime.binary, &plan.runtime_root)
    }

    fn handle_for(&self, id: &WorkloadId, plan: &OciPlan) -> Handle {
        let cd = self.dir_of(id);
        let mut details: std::collections::BTreeMap<String, String> = [
            ("dir".to_string(), cd.0.display().to_string()),
            ("image".to_string(), plan.image.clone()),
            ("container_id".to_string(), plan.container_id.clone()),
            ("oci_runtime".to_string(), plan.runtime.binary.display().to_string()),
            ("oci_runtime_reason".to_string(), plan.runtime.reason.clone()),
        ]
        .into();
        let rootfs = match &plan.rootfs {
            rootfs::Rootfs::Overlay { .. } => "overlay".to_string(),
            rootfs::Rootfs::Copy { why, .. } => format!("copy ({why})"),
        };
        details.insert("rootfs".into(), rootfs);
        Handle { runtime: RuntimeKind::Oci, workload: id.clone(), native_id: plan.container_id.clone(), details }
    }

    /// The live state: `state.json`, corrected for pause and a dead monitor.
    fn observe(&self, cd: &ContainerDir) -> Result<OciState> {
        ferry_local::observe(cd, "container", |st: &mut OciState| &mut st.status)
    }

    fn live(&self, h: &Handle) -> Result<(ContainerDir, OciPlan, OciState)> {
        let (cd, plan) = self.existing(h)?;
        let st = self.observe(&cd)?;
        if !st.status.is_live() || st.pid.is_none() {
            return Err(RuntimeError::NotPossible {
                operation: "this",
                why: format!("workload {} is {}", h.workload.short(), st.status),
            });
        }
        Ok((cd, plan, st))
    }

    /// Install ferry-init next to the store once per build (its name carries
    /// a fingerprint of the binary, so finding it is enough).
    fn init_binary(&self) -> Result<PathBuf> {
        let p = self.cfg.root.join(concat!("ferry-init-", env!("FERRY_INIT_FINGERPRINT")));
        if !p.exists() {
            use std::os::unix::fs::PermissionsExt;
            let tmp = self.cfg.root.join(format!("ferry-init.tmp{}", std::process::id()));
            std::fs::write(&tmp, FERRY_INIT).map_err(RuntimeError::io("write ferry-init"))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
                .map_err(RuntimeError::io("chmod ferry-init"))?;
            std::fs::rename(&tmp, &p).map_err(RuntimeError::io("install ferry-init"))?;
        }
        Ok(p)
    }

    /// Pull the workload's image unless the store has it already.
    async fn ensure_image(&self, store: &ImageStore, image: &str) -> Result<ferry_image::Image> {
        let r: Reference = image.parse().map_err(|e| RuntimeError::InvalidWorkload(format!("image: {e}")))?;
        let name = r.to_string();
        match store.resolve(&name) {
            Ok(img) => Ok(img),
            Err(ferry_image::StoreError::NotFound(_)) => {
                tracing::info!("image {name} not in the store; pulling it");
                ferry_image::registry::pull(store, &r, ferry_image::registry::show_progress())
                    .await
                    .map_err(|e| RuntimeError::NotPossible { operation: "pull", why: e.to_string() })
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// The container of a new workload (not a restore), once the workload
    /// is checked against what this runtime can do.
    async fn write_new_container(&self, launch: &Launch) -> Result<(ContainerDir, OciPlan)> {
        if !launch.workload.ports.is_empty() && !self.cfg.host_network {
            // Said in words of its own: the way out is a setting of this runtime.
            return Err(RuntimeError::NotPossible {
                operation: "publishing ports",
                why: "the oci runtime gives each container a private network and does not publish its ports; \
                      set FERRY_OCI_NETWORK=host to run it in the host's network (its ports are then the host's), \
                      or use a docker or kubernetes context"
                    .into(),
            });
        }
        self.capabilities().check_workload(RuntimeKind::Oci, &launch.workload)?;
        self.write_container(launch, None, None).await
    }

    /// Everything up to a written plan: image, binary, rootfs, bundle.
    async fn write_container(
        &self,
        launch: &Launch,
        runtime: Option<Selection>,
        restore_from: Option<PathBuf>,
    ) -> Result<(ContainerDir, OciPlan)> {
        let w = &launch.workload;
        let image = w.image.clone().ok_or_else(|| {
            RuntimeError::InvalidWorkload("image: the oci runtime runs container images; add `image:`".into())
        })?;
        let wants_gpus = w.resources.gpus.unwrap_or(0) > 0;
        let selection =
            match runtime {
                Some(s) => s,
                None => select::select(&select::Inputs::from_env(self.cfg.oci_runtime.clone(), wants_gpus)).map_err(
                    |e| RuntimeError::NotPossible {
                        operation: if wants_gpus { "resources.gpus" } else { "run" },
                        why: e.to_string(),
                    },
                )?,
            };
        tracing::info!(binary = %selection.binary.display(), reason = %selection.reason, "OCI runtime chosen");
        ferry_local::launcher::will_exec(&selection.binary);
        let resolved = bindings::resolve(&launch.spec_dir, w)?;
        let store = self.image_store()?;
        let img = self.ensure_image(&store, &image).await?;
        let cd = self.dir_of(&launch.id);
        if !spare::claim(&spare::spares_of(&self.containers()), &cd.0) {
            std::fs::create_dir_all(cd.bundle())
                .map_err(RuntimeError::io(format!("cannot create {}", cd.0.display())))?;
        }
        write_json_atomic(&cd.spec(), w)?;
        let init = self.init_binary()?;
        let (rootfs, warning) = rootfs::prepare(&store, &img, &cd.0)?;
        let container_id = format!("ferry-{}", launch.id.as_str());
        let opts = BundleOptions { host_network: self.cfg.host_network, gpus: wants_gpus };
        let mut spec = bundle::build_spec(launch, &img.config, rootfs.target(), &resolved, &container_id, &opts)?;
        add_init(&mut spec, &init)?;
        limit_oom_to_whole_container(&mut spec);
        spec.save(cd.bundle().join("config.json")).map_err(backend)?;
        let runtime_root = self.cfg.root.join("run").join(selection.name());
        std::fs::create_dir_all(&runtime_root).map_err(RuntimeError::io("create runtime state dir"))?;
        let plan = OciPlan {
            workload_id: launch.id.to_string(),
            name: launch.name.clone(),
            context: launch.context.clone(),
            image: img.reference.clone(),
            container_id,
            runtime: selection,
            runtime_root,
            bundle: cd.bundle(),
            rootfs,
            memory_limit: w.resources.memory.map(|q| q.bytes()),
            timeout: w.timeout.map(|d| d.as_std()),
            retries: w.retries,
            kill_grace: DEFAULT_GRACE,
            restore_from,
        };
        write_json_atomic(&cd.plan(), &plan)?;
        let mut st = OciState::pending();
        st.warnings.extend(warning);
        write_json_atomic(&cd.state(), &st)?;
        Ok((cd, plan))
    }

    /// Start the container's monitor in its own session; it outlives us.
    fn spawn_monitor(&self, cd: &ContainerDir) -> Result<()> {
        ferry_local::launcher::launch(&self.cfg.monitor, cd)
            .map_err(RuntimeError::io(format!("cannot start monitor {}", self.cfg.monitor.program.display())))
    }
}

/// Run the workload under ferry-init (bind-mounted read-only at /ferry/init).
fn add_init(spec: &mut oci_spec::runtime::Spec, init: &Path) -> Result<()> {
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(
        oci_spec::runtime::MountBuilder::default()
            .destination(INIT_PATH)
            .typ("bind")
            .source(init)
            .options(vec!["bind".to_string(), "ro".to_string()])
            .build()
            .map_err(backend)?,
    );
    spec.set_mounts(Some(mounts));
    if let Some(p) = spec.process_mut() {
        let current = p.args().clone().unwrap_or_default();
        // Images built by `ferry build` already start with /ferry/init.
        if current.first().map(String::as_str) != Some(INIT_PATH) {
            let mut args = vec![INIT_PATH.to_string()];
            args.extend(current);
            p.set_args(Some(args));
        }
    }
    Ok(())
}

/// An OOM ends the whole container, not just one of its processes: on v2
/// `memory.oom.group` makes the kernel kill the whole cgroup; on v1 the
/// kernel kills one process and the monitor, seeing `oom_kill` rise, kills
/// the rest (best effort: the survivors may run for a few milliseconds).
/// Disabling the v1 OOM killer instead is not an option: allocations made in
/// system calls then fail with ENOMEM and the workload exits with an
/// ordinary error code.
fn limit_oom_to_whole_container(spec: &mut oci_spec::runtime::Spec) {
    if cgroup::memory_is_v1() {
        return;
    }
    let Some(linux) = spec.linux_mut() else { return };
    let Some(res) = linux.resources_mut() else { return };
    if res.memory().as_ref().and_then(|m| m.limit()).is_none() {
        return;
    }
    let mut unified = res.unified().clone().unwrap_or_default();
    unified.insert("memory.oom.group".into(), "1".into());
    res.set_unified(Some(unified));
}

/// Whether CRIU works on this machine; the error names the cause.
pub fn criu_check() -> std::result::Result<(), String> {
    let out = Command::new("criu").arg("check").output().map_err(|e| format!("criu is not installed ({e})"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let last: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let version = Command::new("criu")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Err(format!(
        "`criu check` fails on this machine ({version}, kernel {}): {} — CRIU is probably older than the kernel; \
         install a CRIU release that supports this kernel",
        kernel.trim(),
        last.iter().rev().take(3).rev().cloned().collect::<Vec<_>>().join(" / ")
    ))
}

#[async_trait]
impl Runtime for OciRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Oci
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            pause: true,
            checkpoint: true,
            // In the host's network (FERRY_OCI_NETWORK=host), where they are
            // the host's; in a private one `write_new_container` refuses them
            // with that way out, which a plain "not supported" would not say.
            ports: true,
            gpus: true,
            multi_node: false,
            stats: true,
            host_process: false,
            images: true,
        }
    }

    async fn prepare(&self, launch: &Launch) -> Result<()> {
        let written = self.write_new_container(launch).await?;
        self.prepared_containers().insert(launch.id.clone(), written);
        Ok(())
    }

    async fn discard(&self, launch: &Launch) {
        if let Some((cd, plan)) = self.prepared_containers().remove(&launch.id) {
            plan.rootfs.unmount();
            let _ = std::fs::remove_dir_all(&cd.0);
        }
    }

    /// A prepared container's start is an order to its pre-forked monitor.
    fn start_is_brief(&self) -> bool {
        true
    }

    async fn start(&self, launch: &Launch) -> Result<Handle> {
        let taken = self.prepared_containers().remove(&launch.id);
        let (cd, plan) = match taken {
            Some(written) => written,
            None => self.write_new_container(launch).await?,
        };
        self.spawn_monitor(&cd)?;
        Ok(self.handle_for(&launch.id, &plan))
    }

    async fn status(&self, h: &Handle) -> Result<Status> {
        let (cd, _) = self.existing(h)?;
        Ok(self.observe(&cd)?.status)
    }

    async fn list(&self) -> Result<Vec<(Handle, Status)>> {
        self.list_unknown(&HashSet::new()).await
    }

    async fn list_unknown(&self, known: &HashSet<WorkloadId>) -> Result<Vec<(Handle, Status)>> {
        let mut out = Vec::new();
        for (id, path) in ferry_local::unknown_dirs(&self.containers(), known)? {
            let cd = ContainerDir(path);
            let Ok(plan) = cd.read_plan() else { continue };
            if plan.context != self.cfg.context {
                continue;
            }
            if let Ok(st) = self.observe(&cd) {
                let mut h = self.handle_for(&id, &plan);
                ferry_local::add_adoption_details(&mut h, &plan.name, &cd);
                out.push((h, st.status));
            }
        }
        Ok(out)
    }

    async fn logs(&self, h: &Handle, opts: LogOptions) -> Result<LogStream> {
        let (cd, _) = self.existing(h)?;
        ferry_local::follow::workload_log(cd, opts, |st: &mut OciState| &mut st.status)
    }

    async fn stats(&self, h: &Handle) -> Result<Stats> {
        let (_, _, st) = self.live(h)?;
        cgroup::stats(&st.cgroups).ok_or_else(|| RuntimeError::NotPossible {
            operation: "stats",
            why: format!("the cgroup of workload {} cannot be read ({:?})", h.workload.short(), st.cgroups),
        })
    }

    async fn stop(&self, h: &Handle, grace: Duration) -> Result<()> {
        let (cd, plan) = self.existing(h)?;
        if self.observe(&cd)?.status.is_terminal() {
            return Ok(());
        }
        // The monitor checks the marker before each start and right after
        // the container started, so a container starting now is stopped too.
        std::fs::write(cd.stop_marker(), b"").map_err(RuntimeError::io("write stop marker"))?;
        let rt = self.binary(&plan);
        let started = Instant::now();
        let mut termed = false;
        let mut killed = false;
        loop {
            let st = self.observe(&cd)?;
            if st.status.is_terminal() {
                return Ok(());
            }
            if st.pid.is_some() && !termed {
                let _ = rt.kill(&plan.container_id, "TERM");
                if cd.paused_marker().exists() {
                    let _ = rt.resume(&plan.container_id);
                    let _ = std::fs::remove_file(cd.paused_marker());
                }
                termed = true;
            }
            if started.elapsed() >= grace && !killed && st.pid.is_some() {
                let _ = rt.kill(&plan.container_id, "KILL");
                killed = true;
            }
            if started.elapsed() >= grace + Duration::from_secs(10) {
                return Err(RuntimeError::internal(format!(
                    "workload {} did not end within {}s of SIGKILL (see {})",
                    h.workload.short(),
                    10,
                    cd.monitor_err().display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn destroy(&self, h: &Handle) -> Result<()> {
        let (cd, plan) = self.existing(h)?;
        let st = self.observe(&cd)?;
        if st.status.is_live() {
            return Err(RuntimeError::NotPossible {
                operation: "remove",
                why: format!("workload {} is {}; stop it first (or use --force)", h.workload.short(), st.status),
            });
        }
        self.binary(&plan).delete(&plan.container_id);
        plan.rootfs.unmount();
        std::fs::remove_dir_all(&cd.0).map_err(RuntimeError::io(format!("cannot remove {}", cd.0.display())))
    }

    async fn pause(&self, h: &Handle) -> Result<()> {
        let (cd, plan, _) = self.live(h)?;
        self.binary(&plan).pause(&plan.container_id)?;
        std::fs::write(cd.paused_marker(), b"").map_err(RuntimeError::io("write paused marker"))
    }

    async fn resume(&self, h: &Handle) -> Result<()> {
        let (cd, plan, st) = self.live(h)?;
        if st.status != Status::Paused {
            return Err(RuntimeError::NotPossible { operation: "resume", why: format!("workload is {}", st.status) });
        }
        self.binary(&plan).resume(&plan.container_id)?;
        std::fs::remove_file(cd.paused_marker()).map_err(RuntimeError::io("remove paused marker"))
    }

    async fn checkpoint(&self, h: &Handle, to: &Path) -> Result<()> {
        let (cd, plan, _) = self.live(h)?;
        criu_check().map_err(|why| RuntimeError::NotPossible { operation: "checkpoint", why })?;
        std::fs::create_dir_all(to).map_err(RuntimeError::io(format!("cannot create {}", to.display())))?;
        let workload: ferry_spec::Workload = state::read_json(&cd.spec())?;
        let meta = CheckpointMeta {
            name: plan.name.clone(),
            context: plan.context.clone(),
            image: plan.image.clone(),
            workload,
            runtime: plan.runtime.clone(),
            memory_limit: plan.memory_limit,
        };
        write_json_atomic(&to.join(CHECKPOINT_META), &meta)?;
        std::fs::copy(plan.bundle.join("config.json"), to.join("config.json"))
            .map_err(RuntimeError::io("copy config.json into the checkpoint"))?;
        // The container ends when checkpointed: record that as a stop.
        std::fs::write(cd.stop_marker(), b"").map_err(RuntimeError::io("write stop marker"))?;
        let images = to.join("criu");
        let work = to.join("criu-work");
        let res = self.binary(&plan).run(
            "checkpoint",
            [
                "checkpoint".as_ref(),
                "--image-path".as_ref(),
                images.as_os_str(),
                "--work-path".as_ref(),
                work.as_os_str(),
                plan.container_id.as_ref(),
            ],
        );
        if res.is_err() {
            let _ = std::fs::remove_file(cd.stop_marker());
        }
        res.map(drop)
    }

    async fn restore(&self, from: &Path) -> Result<Handle> {
        criu_check().map_err(|why| RuntimeError::NotPossible { operation: "restore", why })?;
        let meta: CheckpointMeta =
            state::read_json(&from.join(CHECKPOINT_META)).map_err(|e| RuntimeError::NotPossible {
                operation: "restore",
                why: format!("{} is not a Ferry checkpoint: {e}", from.display()),
            })?;
        let launch = Launch {
            id: WorkloadId::random(),
            name: meta.name,
            context: self.cfg.context.clone(),
            workload: meta.workload,
            spec_dir: from.to_path_buf(),
        };
        let (cd, plan) = self.write_container(&launch, Some(meta.runtime), Some(from.join("criu"))).await?;
        self.spawn_monitor(&cd)?;
        Ok(self.handle_for(&launch.id, &plan))
    }

    async fn gpu_enabled(&self) -> Result<bool> {
        let found = select::select(&select::Inputs::from_env(None, true)).is_ok();
        Ok(found && Path::new("/dev/nvidia0").exists())
    }
}
