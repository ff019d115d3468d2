//! `ferry port-forward NAME [LOCAL:]REMOTE`: a local TCP listener whose
//! connections are tunnelled to the workload's pod through the API server's
//! `pods/portforward` WebSocket (kube's `ws` feature), as `kubectl
//! port-forward` does.
//!
//! The pod is resolved again for every new connection, so forwarding keeps
//! working after the pod was replaced (a restart, a rescheduled Deployment).

use std::net::SocketAddr;

use ferry_core::{Handle, Result, RuntimeError};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::net::{TcpListener, TcpStream};

use crate::{KubeError, KubeRuntime};

/// `[LOCAL:]REMOTE`: `8888` (same port locally), `9000:8888`, `0:8888` (any free local port).
pub fn parse_mapping(s: &str) -> std::result::Result<(u16, u16), String> {
    let port = |p: &str| p.parse::<u16>().map_err(|_| format!("{p:?} is not a port number (0-65535)"));
    match s.split_once(':') {
        Some((local, remote)) => {
            let remote = port(remote)?;
            if remote == 0 {
                return Err("the remote port must not be 0".into());
            }
            Ok((port(local)?, remote))
        }
        None => {
            let p = port(s)?;
            if p == 0 {
                return Err("the remote port must not be 0".into());
            }
            Ok((p, p))
        }
    }
}

/// A bound local listener forwarding to one remote port of a workload.
pub struct Forwarder {
    listener: TcpListener,
    remote: u16,
}

impl KubeRuntime {
    /// Bind `127.0.0.1:local` (0 = any free port) for forwarding to `remote`.
    pub async fn bind_forward(&self, local: u16, remote: u16) -> Result<Forwarder> {
        let listener = TcpListener::bind(("127.0.0.1", local))
            .await
            .map_err(RuntimeError::io(format!("cannot listen on 127.0.0.1:{local}")))?;
        Ok(Forwarder { listener, remote })
    }
}

impl Forwarder {
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(RuntimeError::io("cannot read the local address"))
    }

    /// Serve connections until the task is dropped. A failing connection is
    /// reported through `on_error` and does not stop the others.
    pub async fn serve(
        self,
        rt: &KubeRuntime,
        h: &Handle,
        on_error: impl Fn(RuntimeError) + Send + Sync + 'static,
    ) -> Result<()> {
        let on_error = std::sync::Arc::new(on_error);
        loop {
            let (conn, _) = self.listener.accept().await.map_err(RuntimeError::io("accepting a connection"))?;
            let target = KubeRuntime::target(h)?;
            // Resolve the pod now, not once: it may have been replaced.
            let pod = match rt.running_pod(h).await {
                Ok(p) => p,
                Err(e) => {
                    on_error(e);
                    continue;
                }
            };
            let pods: Api<Pod> = Api::namespaced(rt.client().await?, &target.namespace);
            let remote = self.remote;
            let on_error = on_error.clone();
            tokio::spawn(async move {
                if let Err(e) = tunnel(conn, &pods, &pod, remote).await {
                    on_error(e.into());
                }
            });
        }
    }
}

async fn tunnel(mut conn: TcpStream, pods: &Api<Pod>, pod: &str, port: u16) -> std::result::Result<(), KubeError> {
    let mut pf = pods.portforward(pod, &[port]).await?;
    let mut upstream = pf
        .take_stream(port)
        .ok_or_else(|| KubeError::Backend(format!("port-forward to pod {pod}: no stream for port {port}")))?;
    tokio::io::copy_bidirectional(&mut conn, &mut upstream)
        .await
        .map_err(|e| KubeError::Backend(format!("port-forward to pod {pod}:{port}: {e}")))?;
    drop(upstream);
    pf.join().await.map_err(|e| KubeError::Backend(format!("port-forward to pod {pod}:{port}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_parse_like_kubectl() {
        assert_eq!(parse_mapping("8888"), Ok((8888, 8888)));
        assert_eq!(parse_mapping("9000:8888"), Ok((9000, 8888)));
        assert_eq!(parse_mapping("0:8888"), Ok((0, 8888)));
        assert!(parse_mapping("0").is_err());
        assert!(parse_mapping("x:1").unwrap_err().contains("\"x\""));
        assert!(parse_mapping("70000").is_err());
    }
}
