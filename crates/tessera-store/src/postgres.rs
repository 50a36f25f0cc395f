//! PostgreSQL: several Tessera nodes on one database behave as one.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::sql::impl_sql_store;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    /// Writes use the same pool: PostgreSQL has row locks, not one writer.
    writer: PgPool,
    /// Message IDs remembered since start: expired replay rows are swept every so many.
    remembered: AtomicU32,
}

impl PgStore {
    /// Connects and migrates. Requests that need the database fail within the acquire timeout
    /// when it is down, rather than hanging.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await
            .map_err(|e| StoreError::Config(format!("cannot connect to {}: {e}", crate::redact_url(url))))?;
        let applied: Option<i64> =
            match sqlx::query_scalar::<_, bool>("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&pool)
                .await?
            {
                true => sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&pool).await?,
                false => None,
            };
        crate::sql::check_schema_version(applied, &MIGRATOR)?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(PgStore { writer: pool.clone(), pool, remembered: AtomicU32::new(0) })
    }
}

impl_sql_store!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow, "BEGIN", "postgres");
