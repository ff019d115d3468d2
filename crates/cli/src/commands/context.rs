//! `ferry context create|ls|use|rm|show`.

use anyhow::{bail, Result};
use ferry_core::context::{Context, ContextSettings};
use ferry_core::RuntimeKind;

use crate::app;
use crate::cli::{ContextCommand, ContextCreateArgs, Format};
use crate::commands::workloads;
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
        ContextCommand::Rm { name, force } => {
            store.check_removable(&name)?;
            remove_workloads_of(flag, &name, force).await?;
            store.remove(&name)?;
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

/// The workloads recorded in context `name` need it to be stopped, read or
/// removed: refuse while there are any, or with `force` stop and remove them
/// (runtime objects and records) so that nothing is left unmanageable.
async fn remove_workloads_of(flag: Option<&str>, name: &str, force: bool) -> Result<()> {
    let engine = app::engine(flag)?;
    let recs: Vec<_> = engine.store()?.list(true)?.into_iter().filter(|r| r.context == name).collect();
    if recs.is_empty() {
        return Ok(());
    }
    if !force {
        let listed: Vec<String> = recs.iter().map(|r| format!("{} ({})", r.name, r.status.word())).collect();
        let (count, them) = match recs.len() {
            1 => ("1 workload".to_string(), "it"),
            n => (format!("{n} workloads"), "them"),
        };
        bail!(
            "context {name:?} still has {count}: {}; remove {them} first with `ferry rm`, or use `ferry context rm {name} --force` to stop and remove {them} with the context",
            listed.join(", ")
        );
    }
    for rec in recs {
        let rec = engine.refresh(rec).await?;
        workloads::remove(&engine, rec, true).await?;
    }
    Ok(())
}

/// The context a `context create` describes, refused when its OCI runtime
/// binary cannot be found (the runtime-independent checks are the store's).
fn context_from(a: ContextCreateArgs) -> Result<Context> {
    let runtime: RuntimeKind = a.runtime.parse().map_err(anyhow::Error::msg)?;
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
            password_file: a.password_file,
            password_env: a.password_env,
        },
    })
}
