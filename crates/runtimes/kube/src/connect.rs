//! Which cluster and namespace a context talks to.
//!
//! Precedence, as kubectl: an explicit kubeconfig path from the context, else
//! `KUBECONFIG` / `~/.kube/config`, else the in-cluster service account. The
//! context's `kube_context` picks a kubeconfig context; its `namespace` wins
//! over the kubeconfig's, and a workload's `runtime.kubernetes.namespace`
//! wins over both.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::KubeError;

/// The Kubernetes part of a Ferry context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    pub kubeconfig: Option<PathBuf>,
    pub kube_context: Option<String>,
    pub namespace: Option<String>,
}

impl KubeSettings {
    pub fn from_context(s: &ferry_core::context::ContextSettings) -> Self {
        KubeSettings {
            kubeconfig: s.kubeconfig.as_ref().map(PathBuf::from),
            kube_context: s.kube_context.clone(),
            namespace: s.namespace.clone(),
        }
    }

    /// A client and the namespace workloads go to by default.
    pub async fn connect(&self) -> Result<(Client, String), KubeError> {
        ensure_crypto_provider();
        let options = KubeConfigOptions { context: self.kube_context.clone(), ..Default::default() };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path)
                    .map_err(|e| KubeError::Config(format!("cannot read kubeconfig {}: {e}", path.display())))?;
                Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| KubeError::Config(format!("kubeconfig {}: {e}", path.display())))?
            }
            None if self.kube_context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(|e| KubeError::Config(format!("kubeconfig (KUBECONFIG or ~/.kube/config): {e}")))?,
            None => Config::infer().await.map_err(|e| {
                KubeError::Config(format!(
                    "no cluster configured: {e} (give the context --kubeconfig, set KUBECONFIG, or run in a pod)"
                ))
            })?,
        };
        let namespace = self.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).map_err(|e| KubeError::Config(format!("cannot build a client: {e}")))?;
        Ok((client, namespace))
    }
}

/// Install rustls' ring provider for the process unless one is installed
/// already (with several providers compiled in, rustls will not pick one).
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing one is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\ncurrent-context: a\n\
        clusters:\n- {name: a, cluster: {server: 'http://127.0.0.1:1'}}\n- {name: b, cluster: {server: 'http://127.0.0.1:2'}}\n\
        contexts:\n- {name: a, context: {cluster: a, user: u, namespace: ns-a}}\n- {name: b, context: {cluster: b, user: u, namespace: ns-b}}\n\
        users:\n- {name: u, user: {}}\n";

    #[tokio::test]
    async fn kubeconfig_context_and_namespace_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, KUBECONFIG).unwrap();
        let base = KubeSettings { kubeconfig: Some(path.clone()), ..Default::default() };
        // The kubeconfig's current context and its namespace.
        let (client, ns) = base.connect().await.unwrap();
        assert_eq!(ns, "ns-a");
        assert_eq!(client.default_namespace(), "ns-a");
        // --kube-context picks another context.
        let (_, ns) = KubeSettings { kube_context: Some("b".into()), ..base.clone() }.connect().await.unwrap();
        assert_eq!(ns, "ns-b");
        // --namespace wins over the kubeconfig's.
        let (_, ns) = KubeSettings { namespace: Some("mine".into()), ..base.clone() }.connect().await.unwrap();
        assert_eq!(ns, "mine");
        // An unknown context or a missing file is one clear error.
        let err = KubeSettings { kube_context: Some("zz".into()), ..base.clone() }.connect().await.err().unwrap();
        assert!(err.to_string().contains("kubeconfig"), "{err}");
        let err = KubeSettings { kubeconfig: Some(dir.path().join("nope")), ..Default::default() }
            .connect()
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("cannot read kubeconfig"), "{err}");
    }
}
