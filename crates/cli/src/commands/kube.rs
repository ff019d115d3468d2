//! `ferry port-forward NAME [LOCAL:]REMOTE…`: forward local ports to a
//! workload's pod on a Kubernetes context (as `kubectl port-forward`).

use std::sync::Arc;

use anyhow::{bail, Result};
use ferry_core::engine::Engine;
use ferry_core::store::WorkloadRecord;
use ferry_core::{Handle, RuntimeKind};
use ferry_kube::{portforward::parse_mapping, KubeRuntime, KubeSettings};

use crate::app;
use crate::cli::PortForwardArgs;

/// `jupyter` or `9000:jupyter` → the port number from the workload's `ports:`.
fn resolve_names(mapping: &str, ports: &[ferry_spec::Port]) -> String {
    let (local, remote) = match mapping.split_once(':') {
        Some((l, r)) => (Some(l), r),
        None => (None, mapping),
    };
    let remote = ports.iter().find(|p| p.name == remote).map_or(remote.to_string(), |p| p.port.to_string());
    match local {
        Some(l) => format!("{l}:{remote}"),
        None => remote,
    }
}

pub async fn port_forward(ctx: Option<&str>, args: PortForwardArgs) -> Result<u8> {
    let engine = app::engine(ctx)?;
    let (rec, handle, _) = engine.find_started(&args.workload).await?;
    let mut mappings = Vec::new();
    for mapping in &args.ports {
        mappings.push(
            parse_mapping(&resolve_names(mapping, &rec.spec.ports))
                .map_err(|e| anyhow::anyhow!("port mapping {mapping:?}: {e}"))?,
        );
    }
    forward(&engine, &rec, &handle, &mappings, false).await
}

/// For `ferry up` on a Kubernetes context: forward every port of the
/// workload's `ports:` (the same local port, or any free one if it is taken)
/// and print the endpoints; runs until Ctrl-C.
pub async fn forward_all(engine: &Engine, rec: &WorkloadRecord) -> Result<u8> {
    let Some(handle) = rec.handle.clone() else { bail!("{} never started", rec.name) };
    let mappings: Vec<(u16, u16)> = rec.spec.ports.iter().map(|p| (p.port, p.port)).collect();
    if mappings.is_empty() {
        return Ok(0);
    }
    forward(engine, rec, &handle, &mappings, true).await
}

async fn forward(
    engine: &Engine,
    rec: &WorkloadRecord,
    handle: &Handle,
    mappings: &[(u16, u16)],
    any_port_if_taken: bool,
) -> Result<u8> {
    if handle.runtime != RuntimeKind::Kubernetes {
        bail!("port-forward needs a workload on the kubernetes runtime; {} runs on {}", rec.name, handle.runtime);
    }
    if rec.status.is_terminal() {
        bail!("{} is {}; nothing to forward to", rec.name, rec.status);
    }
    let context =
        if rec.context == engine.context.name { engine.context.clone() } else { app::contexts().get(&rec.context)? };
    let rt = Arc::new(KubeRuntime::new(KubeSettings::from_context(&context.settings)));
    let mut servers = tokio::task::JoinSet::new();
    for &(local, remote) in mappings {
        let fwd = match rt.bind_forward(local, remote).await {
            Err(_) if any_port_if_taken => rt.bind_forward(0, remote).await?,
            other => other?,
        };
        println!("Forwarding from {} -> {}:{remote}", fwd.local_addr()?, rec.name);
        let (rt, handle) = (rt.clone(), handle.clone());
        servers.spawn(async move { fwd.serve(&rt, &handle, |e| eprintln!("ferry: port-forward: {e}")).await });
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(0),
        Some(done) = servers.join_next() => match done {
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(())) => Ok(0),
            Err(e) => bail!("port-forward stopped: {e}"),
        },
    }
}
