//! The server's own storage: tenants, users, tokens, quotas and the job
//! queue, on SQLite (the default, no set-up) or PostgreSQL. It is apart from
//! ferry-core's workload store, which records what the runtimes ran; a job
//! here points at its workload there by id.
//!
//! One SQL dialect serves both databases through sqlx's `Any` driver: `$N`
//! placeholders, TEXT and BIGINT columns, times in milliseconds since the
//! epoch.

mod jobs;
mod schema;
mod tenancy;

use std::path::Path;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use jobs::{JobRecord, JobState, NewJob};
pub use tenancy::{Caller, Quota, Role, Tenant, TokenInfo, User};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("{what} {name:?} already exists")]
    Exists { what: &'static str, name: String },
    #[error("no {what} {name:?}")]
    NotFound { what: &'static str, name: String },
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://…")]
    BadUrl(String),
    #[error("corrupt row in {table}: {why}")]
    Corrupt { table: &'static str, why: String },
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// A handle on the server's database (cheap to clone: a connection pool).
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
}

impl Db {
    /// Open (creating if needed) and migrate the database at `url`:
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub async fn open(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let url = if let Some(path) = url.strip_prefix("sqlite://") {
            if let Some(dir) = Path::new(path).parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DbError::Sql(sqlx::Error::Configuration(format!("{}: {e}", dir.display()).into())))?;
            }
            // WAL: readers (the API) do not wait for the scheduler's writes.
            format!("sqlite://{path}?mode=rwc")
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url.to_string()
        } else {
            return Err(DbError::BadUrl(url.to_string()));
        };
        let pool = AnyPoolOptions::new().max_connections(8).connect(&url).await?;
        let db = Db { pool };
        if url.starts_with("sqlite://") {
            sqlx::raw_sql("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000").execute(&db.pool).await?;
        }
        db.migrate().await?;
        Ok(db)
    }

    /// Apply the migrations this database has not seen yet, each in its own
    /// transaction with its version row, so a crash leaves none half-applied.
    async fn migrate(&self) -> Result<()> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS ferry_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        let applied: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM ferry_migrations").fetch_one(&self.pool).await?.try_get("n")?;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(applied as usize) {
            let mut tx = self.pool.begin().await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO ferry_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(i as i64 + 1)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// A liveness probe for `/healthz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1 AS one").fetch_one(&self.pool).await?;
        Ok(())
    }
}

/// Milliseconds since the Unix epoch: the one time unit of the schema.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A row's nullable BIGINT as an unsigned value.
fn opt_u64(row: &AnyRow, col: &str) -> Result<Option<u64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(|v| v.max(0) as u64))
}

/// Is this error a unique-key violation (a name already taken)?
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A random id of `bytes` random bytes, hex-encoded.
pub fn random_hex(bytes: usize) -> String {
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(buf)
}
