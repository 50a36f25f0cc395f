//! PostgreSQL: several Tessera nodes on one database behave as one.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use tessera_core::Clock;

use crate::batch::WriteBatcher;
use crate::cache::ReadCache;
use crate::sql::impl_sql_store;

mod group_commit;
use group_commit::WriterState;

/// PostgreSQL writes need no turn of their own: its row locks order them (SQLite's
/// `WriteTurn` does).
type WriteTurn = ();

use crate::migrations::POSTGRES as MIGRATOR;

pub struct PgStore {
    pool: PgPool,
    /// Writes use the same pool: PostgreSQL has row locks, not one writer.
    writer: PgPool,
    /// Audit records and message IDs, written in batches.
    batcher: WriteBatcher,
    /// The key of the audit trail's chain, once the binary has loaded it.
    audit_key: crate::audit_chain::AuditKeySlot,
    /// On while `listener` hears the other nodes' writes (see `pg_notices.rs`).
    cache: Arc<ReadCache>,
    listener: crate::pg_notices::Listener,
    /// Where the times the store records come from.
    clock: Arc<dyn Clock>,
}

impl PgStore {
    /// Every write may go at once (`WriteTurn`).
    async fn write_turn(&self) -> Result<WriteTurn, StoreError> {
        Ok(())
    }

    /// Connects and migrates. No call waits without a bound: a connection is acquired within
    /// [`ACQUIRE_TIMEOUT`] (a database that is down answers fast), the server ends any
    /// statement after [`STATEMENT_TIMEOUT`] and any transaction left idle after
    /// [`IDLE_TRANSACTION_TIMEOUT`]. Migrations run on a pool of their own, without the
    /// statement timeout, since rewriting a large table may take longer.
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let config_error =
            |e: sqlx::Error| StoreError::Config(format!("cannot connect to {}: {e}", crate::redact_url(url)));
        let options: PgConnectOptions = url.parse().map_err(config_error)?;
        let migrating = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(STARTUP_ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(config_error)?;
        let applied: Option<i64> =
            match sqlx::query_scalar::<_, bool>("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&migrating)
                .await?
            {
                true => sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&migrating).await?,
                false => None,
            };
        if let Err(too_new) = crate::sql::check_schema_version(applied, &MIGRATOR) {
            // A node of this release restarting while the next one's compatible migrations
            // are applied (a rolling upgrade) may start; it migrates nothing then.
            let binary = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
            if !crate::migrations::newer_are_compatible(&migrating, binary).await? {
                return Err(too_new);
            }
            tracing::warn!(
                database = applied,
                binary,
                "the database is newer than this binary, but every newer migration is compatible: serving"
            );
        }
        // Compatible migrations only: nodes of the release before may still be running (a
        // rolling upgrade); `tessera migrate finish` applies the finishing ones. A database
        // with nothing to apply is left alone: the nodes' role then needs no right to change
        // the schema (nor any on the audit trail but SELECT and INSERT).
        crate::migrations::apply_postgres(&migrating, false).await?;
        migrating.close().await;

        let bounded = options.options([
            ("statement_timeout", millis(STATEMENT_TIMEOUT)),
            ("idle_in_transaction_session_timeout", millis(IDLE_TRANSACTION_TIMEOUT)),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // sqlx also pings a connection before each use: one more round trip a query, but
            // that ping runs inside the acquire timeout, so a connection whose route went
            // silent (no reset: a failover, a partition) is dropped within it. Without it such
            // a connection would take the query itself, which nothing on this side bounds, and
            // sqlx 0.8's ping on release (not bounded either) would keep its slot for as long
            // as the kernel keeps the socket: bench/README.md, sixth look.
            .connect_with(bounded.clone())
            .await
            .map_err(config_error)?;
        let audit_key = crate::audit_chain::AuditKeySlot::default();
        let batcher = Self::start_batcher(pool.clone(), audit_key.clone(), WriterState::default());
        let cache = Arc::new(ReadCache::for_one_of_several_nodes(clock.clone()));
        let listener = crate::pg_notices::Listener::start(bounded, cache.clone());
        Ok(PgStore { writer: pool.clone(), pool, batcher, audit_key, cache, listener, clock })
    }

    /// Whether this node keeps the reads each sign-on makes (but the session): it does while
    /// it hears the other nodes' writes.
    pub fn keeps_reads(&self) -> bool {
        self.cache.is_on()
    }

    /// How many times this node has begun to hear the other nodes' writes: 1 once it first
    /// does, one more each time it listens again after losing its connection.
    pub fn times_listened(&self) -> u64 {
        self.listener.times_listened()
    }
}

/// How long a request waits for a free connection (or for a database that is down): inside
/// the 2 s in which SECURITY.md §5 wants an outage answered.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long start-up waits for the database before it gives up.
const STARTUP_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest any one statement may run on a serving connection.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// A transaction its client left open (a request cancelled mid-way) is ended after this.
const IDLE_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

impl_sql_store!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow, "BEGIN", "postgres");
