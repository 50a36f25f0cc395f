//! PostgreSQL: several Tessera nodes on one database behave as one.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use tessera_core::Clock;

use crate::batch::WriteBatcher;
use crate::cache::ReadCache;
use crate::sql::impl_sql_store;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    /// Writes use the same pool: PostgreSQL has row locks, not one writer.
    writer: PgPool,
    /// Audit records and message IDs, written in batches.
    batcher: WriteBatcher,
    /// Disabled: other nodes write too (see `cache.rs`).
    cache: ReadCache,
    /// Where the times the store records come from.
    clock: Arc<dyn Clock>,
}

impl PgStore {
    /// Connects and migrates. Requests that need the database fail within the acquire timeout
    /// when it is down, rather than hanging.
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
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
        let batcher = Self::start_batcher(pool.clone());
        Ok(PgStore { writer: pool.clone(), pool, batcher, cache: ReadCache::disabled(clock.clone()), clock })
    }
}

impl_sql_store!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow, "BEGIN", "postgres");
