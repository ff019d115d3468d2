//! Wiring: which context is in force, its runtime, and the state store.

use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use ferry_core::context::{Context, ContextStore, Resolved};
use ferry_core::engine::{BlockingCalls, Engine, StoreSource};
use ferry_core::store::Store;
use ferry_core::{paths, Runtime, RuntimeError, RuntimeKind};
use ferry_local::launcher::MonitorCommand;

/// The runtime a context describes.
pub fn runtime_for(ctx: &Context) -> Result<Arc<dyn Runtime>, RuntimeError> {
    match ctx.runtime {
        RuntimeKind::Local => Ok(Arc::new(ferry_local::LocalRuntime::new(
            paths::data_dir().join("local"),
            ctx.name.clone(),
            monitor_command("local", "__monitor")?,
        ))),
        RuntimeKind::Docker => {
            let exe = std::env::current_exe()
                .map_err(RuntimeError::io("cannot find the ferry executable to run as timeout supervisor"))?;
            let host = ferry_docker::host_for(ctx.settings.docker_host.as_deref());
            Ok(Arc::new(ferry_docker::DockerRuntime::new(
                &host,
                ctx.name.clone(),
                paths::data_dir().join("docker"),
                exe,
            )?))
        }
        RuntimeKind::Oci => Ok(Arc::new(ferry_oci::OciRuntime::new(ferry_oci::OciConfig {
            root: paths::data_dir().join("oci"),
            context: ctx.name.clone(),
            oci_runtime: ctx.settings.oci_runtime.clone(),
            monitor: monitor_command("oci", "__oci-monitor")?,
            host_network: std::env::var("FERRY_OCI_NETWORK").is_ok_and(|v| v == "host"),
        }))),
        RuntimeKind::Kubernetes => {
            Ok(Arc::new(ferry_kube::KubeRuntime::new(ferry_kube::KubeSettings::from_context(&ctx.settings))))
        }
        RuntimeKind::Server => Ok(Arc::new(ferry_server::remote::ServerRuntime::new(server_client_of(ctx)?))),
        RuntimeKind::Slurm => Ok(Arc::new(
            ferry_slurm::SlurmRuntime::new(&ctx.name, &ctx.settings, &paths::data_dir().join("slurm"))
                .map_err(RuntimeError::from)?,
        )),
    }
}

/// The API client of a `server` context: its URL and its token.
pub fn server_client_of(ctx: &Context) -> Result<ferry_server::remote::ServerClient, RuntimeError> {
    let url = ctx.settings.server.as_deref().ok_or_else(|| {
        RuntimeError::Unavailable(format!("context {:?} is not a Ferry server context (no --server URL)", ctx.name))
    })?;
    let token =
        ctx.settings.password().map_err(|e| RuntimeError::Unavailable(e.to_string()))?.ok_or_else(|| {
            RuntimeError::Unavailable(format!("context {:?} names no token (--token-file)", ctx.name))
        })?;
    Ok(ferry_server::remote::ServerClient::new(url, token))
}

/// How to start a monitor: the small `ferry-monitor` binary next to this
/// one, else this binary's hidden `subcommand` (`cargo run` builds only
/// `ferry`).
fn monitor_command(kind: &str, subcommand: &str) -> Result<MonitorCommand, RuntimeError> {
    let exe = std::env::current_exe().map_err(RuntimeError::io("cannot find the ferry executable"))?;
    let small = exe.with_file_name("ferry-monitor");
    Ok(if small.is_file() {
        MonitorCommand { kind: kind.into(), program: small, args: vec![kind.into()] }
    } else {
        MonitorCommand { kind: kind.into(), program: exe, args: vec![subcommand.into()] }
    })
}

pub fn contexts() -> ContextStore {
    ContextStore::open(paths::config_dir())
}

/// The context chosen by `--context`, `FERRY_CONTEXT` or `ferry context use`.
pub fn resolve_context(flag: Option<&str>) -> Result<Resolved> {
    let env = std::env::var("FERRY_CONTEXT").ok().filter(|v| !v.is_empty());
    Ok(contexts().resolve(flag, env.as_deref())?)
}

/// The state store, opened in the background by [`open_store_in_background`]
/// when a command asked for that early enough.
static OPENING: Mutex<Option<StoreSource>> = Mutex::new(None);

/// Start opening the state store in a thread, for a command that is sure to
/// need it (`run`): opening takes about a millisecond that the command can
/// spend reading its files and preparing the workload meanwhile.
pub fn open_store_in_background() {
    *OPENING.lock().unwrap_or_else(|p| p.into_inner()) = Some(StoreSource::open_in_background(Store::default_path()));
}

fn open_store() -> Result<Store> {
    let path = Store::default_path();
    Store::open(&path).with_context(|| format!("cannot open the state store {}", path.display()))
}

/// Engine for the context in force.
pub fn engine(flag: Option<&str>) -> Result<Engine> {
    let ctx = resolve_context(flag)?.context;
    let opening = OPENING.lock().unwrap_or_else(|p| p.into_inner()).take();
    let store = match opening {
        Some(opening) => opening,
        None => StoreSource::Open(open_store()?),
    };
    // One command at a time: a hand-off to a blocking thread would only add latency.
    Ok(Engine::new(store, ctx, contexts(), Box::new(runtime_for)).with_blocking_calls(BlockingCalls::Inline))
}
