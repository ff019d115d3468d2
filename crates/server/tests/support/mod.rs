//! Test support: a server in this process, bound to a free port on
//! 127.0.0.1, on one of the databases of [`ferry_server::testing::databases`].

use std::sync::Arc;
use std::time::Duration;

use ferry_core::context::ContextStore;
use ferry_core::RuntimeError;
use ferry_server::sched::Strategy;
pub use ferry_server::testing::databases;
use ferry_server::{PoolConfig, Server, ServerConfig};

/// A running server and an admin token for it.
pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// A server on `database` with `pools` (none: every job waits, which the
    /// API tests want: they check the API, not the runtimes).
    pub async fn start(database: &str, pools: Vec<PoolConfig>) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("admin-token");
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            database: database.to_string(),
            workload_store: dir.path().join("workloads.db"),
            pools,
            strategy: Strategy::Binpack,
            body_limit: 64 * 1024,
            bootstrap_token_file: Some(token_file.clone()),
            tick: Duration::from_millis(100),
        };
        let contexts = ContextStore::open(dir.path().join("contexts"));
        let no_runtimes: ferry_server::Factory =
            Arc::new(|c| Err(RuntimeError::Unavailable(format!("the API tests start no runtime ({})", c.name))));
        let server = Server::start(config, contexts, no_runtimes).await.expect("start the server");
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server.run(async { drop(stopped.await) }).await.expect("serve");
        });
        let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
        TestServer { base, admin, http: reqwest::Client::new(), _dir: dir, stop: Some(stop), task: Some(task) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Send `method path` with `token` and an optional JSON body; the status and the JSON answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// A tenant with one user of `role`; returns that user's token.
    pub async fn tenant_user(&self, tenant: &str, user: &str, role: &str) -> String {
        let post = reqwest::Method::POST;
        let (s, _) =
            self.call(post.clone(), "/v1/admin/tenants", &self.admin, Some(serde_json::json!({"name": tenant}))).await;
        assert!(s == 201 || s == 409, "create tenant {tenant}: {s}");
        let body = serde_json::json!({"name": user, "tenant": tenant, "role": role});
        let (s, b) = self.call(post.clone(), "/v1/admin/users", &self.admin, Some(body)).await;
        assert_eq!(s, 201, "create user {user}: {b}");
        let (s, b) = self.call(post, "/v1/admin/tokens", &self.admin, Some(serde_json::json!({"user": user}))).await;
        assert_eq!(s, 201, "create token: {b}");
        b["token"].as_str().unwrap().to_string()
    }

    /// Stop the server the way SIGTERM does, and wait for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server stops cleanly");
        }
    }
}
