//! `ferry admin …` and `ferry queue`: a Ferry server's API, through the
//! server context in force. The server checks every call (admins only for
//! `admin`); this only sends and prints.

use anyhow::Result;
use ferry_server::remote::ServerClient;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app;
use crate::cli::{AdminCommand, Format, OutputArgs, QuotaArgs, TenantCommand, TokenCommand, UserCommand};
use crate::output::{self, print_json, print_table};

fn client(ctx: Option<&str>) -> Result<ServerClient> {
    Ok(app::server_client_of(&app::resolve_context(ctx)?.context)?)
}

pub async fn admin(ctx: Option<&str>, cmd: AdminCommand) -> Result<u8> {
    let c = client(ctx)?;
    match cmd {
        AdminCommand::Tenant(TenantCommand::Create { name, weight }) => {
            let t: Value =
                c.call(Method::POST, "/v1/admin/tenants", Some(&json!({"name": name, "weight": weight}))).await?;
            println!("{}", t["name"].as_str().unwrap_or_default());
        }
        AdminCommand::Tenant(TenantCommand::Ls(out)) => {
            let rows: Value = c.call(Method::GET, "/v1/admin/tenants", None).await?;
            list(&rows, out, &["NAME", "WEIGHT", "CPUS", "MEMORY", "GPUS", "RUNNING"], |t| {
                let q = &t["quota"];
                vec![
                    text(&t["name"]),
                    text(&t["weight"]),
                    text(&q["cpus"]),
                    text(&q["memory"]),
                    text(&q["gpus"]),
                    text(&q["running"]),
                ]
            })?;
        }
        AdminCommand::User(UserCommand::Create { name, tenant, role }) => {
            let body = json!({"name": name, "tenant": tenant, "role": role});
            let u: Value = c.call(Method::POST, "/v1/admin/users", Some(&body)).await?;
            println!("{}", u["name"].as_str().unwrap_or_default());
        }
        AdminCommand::User(UserCommand::Ls(out)) => {
            let rows: Value = c.call(Method::GET, "/v1/admin/users", None).await?;
            list(&rows, out, &["NAME", "TENANT", "ROLE"], |u| {
                vec![text(&u["name"]), text(&u["tenant"]), text(&u["role"])]
            })?;
        }
        AdminCommand::Token(TokenCommand::Create { user }) => {
            let t: Value = c.call(Method::POST, "/v1/admin/tokens", Some(&json!({"user": user}))).await?;
            println!("{}", t["token"].as_str().unwrap_or_default());
        }
        AdminCommand::Token(TokenCommand::Ls(out)) => {
            let rows: Value = c.call(Method::GET, "/v1/admin/tokens", None).await?;
            list(&rows, out, &["ID", "USER", "REVOKED"], |t| {
                vec![text(&t["id"]), text(&t["user"]), text(&t["revoked"])]
            })?;
        }
        AdminCommand::Token(TokenCommand::Revoke { id }) => {
            c.call::<Value>(Method::DELETE, &format!("/v1/admin/tokens/{id}"), None).await?;
        }
        AdminCommand::Quota(QuotaArgs { tenant, cpus, memory, gpus, running }) => {
            let body = json!({"cpus": cpus, "memory": memory.map(|m| m.bytes()), "gpus": gpus, "running": running});
            let t: Value = c.call(Method::PUT, &format!("/v1/admin/tenants/{tenant}/quota"), Some(&body)).await?;
            print_json(&t["quota"])?;
        }
    }
    Ok(0)
}

pub async fn queue(ctx: Option<&str>, out: OutputArgs) -> Result<u8> {
    let rows: Value = client(ctx)?.call(Method::GET, "/v1/queue", None).await?;
    list(&rows, out, &["JOB", "NAME", "PRIORITY", "WAITS BECAUSE"], |j| {
        vec![text(&j["id"]), text(&j["name"]), text(&j["priority"]), text(&j["reason"])]
    })?;
    Ok(0)
}

/// Print a JSON array as JSON or as a table of `columns`.
fn list(rows: &Value, out: OutputArgs, columns: &[&str], row: impl Fn(&Value) -> Vec<String>) -> Result<()> {
    if out.output == Format::Json {
        return print_json(rows);
    }
    let mut t = output::table(columns);
    for r in rows.as_array().into_iter().flatten() {
        t.add_row(row(r));
    }
    print_table(&t);
    Ok(())
}

/// A JSON value as a table cell: strings bare, null as "-".
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
