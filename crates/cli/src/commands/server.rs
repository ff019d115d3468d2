//! `ferry server`: the shared queue's HTTP API and scheduler, in this process.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use ferry_core::paths;
use ferry_server::{PoolConfig, Server, ServerConfig};

use crate::app;
use crate::cli::ServerArgs;

pub async fn server(args: ServerArgs) -> Result<u8> {
    let home = paths::data_dir().join("server");
    let pools = match &args.pools {
        Some(file) => ferry_server::config::load_pools(file)?,
        None => vec![PoolConfig::this_machine()],
    };
    let database = args.database.unwrap_or_else(|| format!("sqlite://{}", home.join("server.db").display()));
    let config = ServerConfig {
        listen: args.listen,
        database,
        workload_store: home.join("workloads.db"),
        pools,
        strategy: args.strategy,
        body_limit: args.max_body,
        bootstrap_token_file: Some(args.admin_token_file.unwrap_or_else(|| home.join("admin-token"))),
        tick: Duration::from_millis(args.tick_ms),
    };
    let server =
        Server::start(config, app::contexts(), Arc::new(app::runtime_for)).await.context("cannot start the server")?;
    server.run(ferry_server::shutdown_signal()).await?;
    Ok(0)
}
