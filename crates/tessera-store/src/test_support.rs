//! Throwaway PostgreSQL databases for tests, on the machine's server at 127.0.0.1:5432
//! (override with `TESSERA_TEST_PG_URL`, a URL of a database the tests may connect to).

use sqlx::Connection;

/// The admin URL tests create databases through.
pub fn admin_url() -> String {
    std::env::var("TESSERA_TEST_PG_URL").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_string())
}

/// Runs SQL statements in turn on one connection to the database `url` names, for a test that
/// reaches past the store (a change made behind the triggers, say); the rows the last affected.
pub async fn run_sql(url: &str, statements: &[&str]) -> Result<u64, sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let mut affected = 0;
    for statement in statements {
        affected = sqlx::query(statement).execute(&mut conn).await?.rows_affected();
    }
    Ok(affected)
}

/// A database created for one test run and dropped by [`ThrowawayPg::drop_database`].
pub struct ThrowawayPg {
    pub url: String,
    name: String,
}

impl ThrowawayPg {
    /// Creates a fresh database. Without a reachable server: `None`, unless `CI=true`, where a
    /// missing PostgreSQL is a failure, not a skip.
    pub async fn create() -> Option<ThrowawayPg> {
        let admin = admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "PostgreSQL is required under CI=true but {admin} is unreachable: {e}"
                );
                eprintln!("skipping PostgreSQL tests: {admin} is unreachable: {e}");
                return None;
            }
        };
        let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
        // The name is generated above from hex digits only, so formatting it into SQL is safe.
        let create = format!("CREATE DATABASE {name}");
        sqlx::query(&create).execute(&mut conn).await.ok()?;
        let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
        Some(ThrowawayPg { url: format!("{base}/{name}"), name })
    }

    pub async fn drop_database(self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(&drop).execute(&mut conn).await;
        }
    }
}
