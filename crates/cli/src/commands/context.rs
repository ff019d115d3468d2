//! `ferry context create|ls|use|rm|show`.

use std::time::Duration;

use anyhow::{bail, Result};
use ferry_core::context::{Context, ContextSettings};
use ferry_core::RuntimeKind;

use crate::app;
use crate::cli::{ContextCommand, ContextCreateArgs, Format};
use crate::output::{self, print_json, print_table};

pub async fn run(flag: Option<&str>, cmd: ContextCommand) -> Result<u8> {
    let store = app::contexts();
    match cmd {
        ContextCommand::Create(args) => {
            let name = args.name.clone();
            let use_it = args.use_it;
            store.create(context_from(args)?)?;
            if use_it {
                store.use_context(&name)?;
            }
            println!("{name}");
        }
        ContextCommand::Ls { output } => {
            let current = app::resolve_context(flag)?.context.name;
            let all = store.list()?;
            if output == Format::Json {
                print_json(&all)?;
                return Ok(0);
            }
            let mut t = output::table(&["NAME", "RUNTIME", "CURRENT", "ENDPOINT"]);
            for c in &all {
                let s = &c.settings;
                let endpoint =
                    s.docker_host.clone().or(s.ssh.clone()).or(s.kubeconfig.clone()).or(s.oci_runtime.clone());
                t.add_row(vec![
                    c.name.clone(),
                    c.runtime.to_string(),
                    if c.name == current { "*".into() } else { String::new() },
                    endpoint.unwrap_or_default(),
                ]);
            }
            print_table(&t);
        }
        ContextCommand::Use { name } => {
            store.use_context(&name)?;
            println!("{name}");
        }
        ContextCommand::Rm { name, force, grace_secs } => {
            let engine = app::engine(flag)?;
            for rec in engine.remove_context(&name, force, Duration::from_secs(grace_secs)).await? {
                eprintln!("ferry: removed workload {} ({})", rec.name, rec.status);
            }
            println!("{name}");
        }
        ContextCommand::Show { name, output } => {
            let (ctx, source) = match &name {
                Some(n) => (store.get(n)?, None),
                None => {
                    let r = app::resolve_context(flag)?;
                    (r.context, Some(r.source))
                }
            };
            if output == Format::Json {
                print_json(&ctx)?;
            } else {
                if let Some(source) = source {
                    println!("# in force because of {source}");
                }
                print!("{}", toml::to_string_pretty(&ctx)?);
            }
        }
    }
    Ok(0)
}

/// The context a `context create` describes, refused when its OCI runtime
/// binary cannot be found (the runtime-independent checks are the store's).
fn context_from(a: ContextCreateArgs) -> Result<Context> {
    // A server context needs no --runtime: --server says it.
    let runtime: RuntimeKind = match (&a.runtime, &a.server) {
        (Some(runtime), _) => runtime.parse().map_err(anyhow::Error::msg)?,
        (None, Some(_)) => RuntimeKind::Server,
        (None, None) => bail!("--runtime is required (or --server URL for a Ferry server)"),
    };
    if let Some(name) = a.oci_runtime.as_ref().filter(|_| runtime == RuntimeKind::Oci) {
        let inputs = ferry_oci::select::Inputs {
            context_setting: Some(name.clone()),
            path: std::env::var_os("PATH"),
            ..Default::default()
        };
        ferry_oci::select::select(&inputs)?;
    }
    Ok(Context {
        runtime,
        name: a.name,
        settings: ContextSettings {
            docker_host: a.docker_host,
            kubeconfig: a.kubeconfig,
            kube_context: a.kube_context,
            namespace: a.namespace,
            ssh: a.ssh,
            partition: a.partition,
            account: a.account,
            workdir_root: a.workdir_root,
            oci_runtime: a.oci_runtime,
            server: a.server,
            password_file: a.token_file.or(a.password_file),
            password_env: a.password_env,
        },
    })
}
