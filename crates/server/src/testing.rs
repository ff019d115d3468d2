//! Test support for the server's tests and the CLI's (feature `testing`):
//! the databases a test runs on.

use sqlx::Connection;

/// The databases to run a test on: a SQLite file in `dir` always; a fresh
/// database on the PostgreSQL server named by FERRY_TEST_POSTGRES_URL
/// (scripts/services/70-postgres.sh starts one and sets it), or a loud
/// failure unless FERRY_SKIP_POSTGRES_TESTS is set.
pub async fn databases(test: &str, dir: &std::path::Path) -> Vec<String> {
    let mut out = vec![format!("sqlite://{}", dir.join("server.db").display())];
    match std::env::var("FERRY_TEST_POSTGRES_URL") {
        Ok(url) => out.push(fresh_postgres(&url).await),
        Err(_) if std::env::var_os("FERRY_SKIP_POSTGRES_TESTS").is_some() => {
            ferry_core::skip_log::append(&format!("{test}: PostgreSQL half skipped (FERRY_SKIP_POSTGRES_TESTS)"));
        }
        Err(_) => panic!(
            "FERRY_TEST_POSTGRES_URL is not set: source scripts/services/70-postgres.sh to start PostgreSQL, \
             or set FERRY_SKIP_POSTGRES_TESTS=1 to skip the PostgreSQL half knowingly"
        ),
    }
    out
}

/// A new, empty database on the server at `url` (tests run in parallel).
async fn fresh_postgres(url: &str) -> String {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    let name = format!("ferry_t_{}", crate::db::random_hex(8));
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create a test database");
    let (base, _) = url.rsplit_once('/').expect("a database URL ends with /DBNAME");
    format!("{base}/{name}")
}
