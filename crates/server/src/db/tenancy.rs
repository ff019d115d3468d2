//! Tenants, users with a role, API tokens and per-tenant quotas.
//!
//! Tokens are 32 random bytes: their SHA-256 is what is stored and looked up.
//! A slow password hash (argon2) buys nothing for secrets with 256 bits of
//! entropy and would cost every request its time.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use utoipa::ToSchema;

use super::{is_unique_violation, now_ms, opt_u64, random_hex, Db, DbError, Result};

/// What a user may do. `admin` manages the server (tenants, users, tokens,
/// quotas) besides acting as a member of its own tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads its tenant's jobs and logs.
    Viewer,
    /// Also submits and cancels its tenant's jobs.
    Member,
    /// Also manages tenants, users, tokens and quotas.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Result<Role> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            other => Err(DbError::Corrupt { table: "users", why: format!("unknown role {other:?}") }),
        }
    }
}

/// Per-tenant limits on what its running jobs hold at once; absent = unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// CPUs (fractions allowed).
    pub cpus: Option<f64>,
    /// Memory in bytes.
    pub memory: Option<u64>,
    pub gpus: Option<u64>,
    /// Jobs running at once.
    pub running: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    pub name: String,
    pub quota: Quota,
    /// Fair-share weight (1 = an equal share).
    pub weight: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub name: String,
    pub tenant: String,
    pub role: Role,
}

/// A token as listed: its id and owner, never the secret or its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub user: String,
    pub created_at: i64,
    pub revoked: bool,
}

/// Who is calling, as resolved from a valid token.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub user: String,
    pub tenant: String,
    pub role: Role,
}

fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// An INSERT's error: a key already taken becomes `Exists { what, name }`.
fn taken_as(e: sqlx::Error, what: &'static str, name: &str) -> DbError {
    if is_unique_violation(&e) {
        DbError::Exists { what, name: name.into() }
    } else {
        DbError::Sql(e)
    }
}

fn tenant_from(row: &AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        name: row.try_get("name")?,
        quota: Quota {
            cpus: opt_u64(row, "quota_millicpus")?.map(|m| m as f64 / 1000.0),
            memory: opt_u64(row, "quota_memory")?,
            gpus: opt_u64(row, "quota_gpus")?,
            running: opt_u64(row, "quota_running")?,
        },
        weight: row.try_get::<i64, _>("weight")?.max(1) as u64,
    })
}

/// A quota value as a nullable BIGINT.
fn limit(v: Option<u64>) -> Option<i64> {
    v.map(|v| v.min(i64::MAX as u64) as i64)
}

impl Db {
    pub async fn create_tenant(&self, name: &str, weight: u64) -> Result<Tenant> {
        let inserted = sqlx::query("INSERT INTO tenants (name, created_at, weight) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(now_ms())
            .bind(weight.max(1) as i64)
            .execute(&self.pool)
            .await;
        inserted.map_err(|e| taken_as(e, "tenant", name))?;
        self.tenant(name).await
    }

    pub async fn tenant(&self, name: &str) -> Result<Tenant> {
        let row = sqlx::query("SELECT * FROM tenants WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(tenant_from)
            .transpose()?
            .ok_or_else(|| DbError::NotFound { what: "tenant", name: name.into() })
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT * FROM tenants ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(tenant_from).collect()
    }

    pub async fn set_quota(&self, tenant: &str, quota: &Quota) -> Result<Tenant> {
        let done = sqlx::query(
            "UPDATE tenants SET quota_millicpus = $1, quota_memory = $2, quota_gpus = $3, quota_running = $4
             WHERE name = $5",
        )
        .bind(limit(quota.cpus.map(|c| (c * 1000.0).round().max(0.0) as u64)))
        .bind(limit(quota.memory))
        .bind(limit(quota.gpus))
        .bind(limit(quota.running))
        .bind(tenant)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound { what: "tenant", name: tenant.into() });
        }
        self.tenant(tenant).await
    }

    pub async fn create_user(&self, name: &str, tenant: &str, role: Role) -> Result<User> {
        self.tenant(tenant).await?;
        let inserted = sqlx::query("INSERT INTO users (name, tenant, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(name)
            .bind(tenant)
            .bind(role.as_str())
            .bind(now_ms())
            .execute(&self.pool)
            .await;
        inserted.map_err(|e| taken_as(e, "user", name))?;
        Ok(User { name: name.into(), tenant: tenant.into(), role })
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT name, tenant, role FROM users ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(User {
                    name: r.try_get("name")?,
                    tenant: r.try_get("tenant")?,
                    role: Role::parse(&r.try_get::<String, _>("role")?)?,
                })
            })
            .collect()
    }

    /// A new token for `user`: returns its id and the secret, which is shown
    /// once and never stored.
    pub async fn create_token(&self, user: &str) -> Result<(TokenInfo, String)> {
        let exists =
            sqlx::query("SELECT name FROM users WHERE name = $1").bind(user).fetch_optional(&self.pool).await?;
        if exists.is_none() {
            return Err(DbError::NotFound { what: "user", name: user.into() });
        }
        let id = random_hex(6);
        let secret = format!("ferry_{id}_{}", random_hex(32));
        let created_at = now_ms();
        sqlx::query("INSERT INTO tokens (id, hash, user_name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(hash_token(&secret))
            .bind(user)
            .bind(created_at)
            .execute(&self.pool)
            .await?;
        Ok((TokenInfo { id, user: user.into(), created_at, revoked: false }, secret))
    }

    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query("SELECT id, user_name, created_at, revoked_at FROM tokens ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    user: r.try_get("user_name")?,
                    created_at: r.try_get("created_at")?,
                    revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                })
            })
            .collect()
    }

    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        let done = sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound { what: "active token", name: id.into() });
        }
        Ok(())
    }

    /// The caller a token belongs to, if it is known and not revoked.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Caller>> {
        let row = sqlx::query(
            "SELECT u.name AS name, u.tenant AS tenant, u.role AS role FROM tokens t JOIN users u ON u.name = t.user_name
             WHERE t.hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(hash_token(secret))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Caller {
                user: r.try_get("name")?,
                tenant: r.try_get("tenant")?,
                role: Role::parse(&r.try_get::<String, _>("role")?)?,
            })
        })
        .transpose()
    }

    /// Whether any user exists yet (the first start creates an admin).
    pub async fn has_users(&self) -> Result<bool> {
        Ok(sqlx::query("SELECT name FROM users LIMIT 1").fetch_optional(&self.pool).await?.is_some())
    }
}
