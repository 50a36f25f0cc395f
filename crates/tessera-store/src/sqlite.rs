//! SQLite in WAL mode, in the data directory: the one-command start.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use tessera_core::Clock;

use crate::batch::WriteBatcher;
use crate::cache::ReadCache;
use crate::sql::impl_sql_store;

mod group_commit;
use group_commit::WriterState;

/// This process's turn to write. SQLite lets one connection write at a time, and two that race
/// for its lock sleep in its busy handler (1, 2, 5 ms and longer at a time, tens of
/// milliseconds under load); the turn is handed on in the order it was asked for. The batch
/// writer keeps a connection of its own (`group_commit`) and every other write uses the
/// writer pool's other one, so each takes the turn first: a write transaction for as long as
/// it lasts (`Tx`), a batch for all its statements.
type WriteTurn = tokio::sync::OwnedMutexGuard<()>;

/// How long a write waits for its turn before it fails: as long as writes waited for the one
/// writer connection before there were turns, and for another process's lock.
const TURN_TIMEOUT: Duration = Duration::from_secs(10);

/// This process's turn to write, once the writes that asked before it have had theirs.
async fn take_turn(turns: &Arc<tokio::sync::Mutex<()>>) -> Result<WriteTurn, StoreError> {
    tokio::time::timeout(TURN_TIMEOUT, turns.clone().lock_owned()).await.map_err(|_| {
        StoreError::Database(format!(
            "a write waited more than {} s for this process's other writes",
            TURN_TIMEOUT.as_secs()
        ))
    })
}

use crate::migrations::SQLITE as MIGRATOR;

pub struct SqliteStore {
    pool: SqlitePool,
    /// Two connections for the writes: one the batch writer keeps, one for every other
    /// write. They take turns (`turns`). A database opened as `:memory:` has only the readers'
    /// pool (each connection of its own would be another database), used the same way.
    writer: SqlitePool,
    /// Whose turn it is to write ([`WriteTurn`]).
    turns: Arc<tokio::sync::Mutex<()>>,
    /// Audit records and message IDs, written in batches on a connection of `writer`'s.
    batcher: WriteBatcher,
    /// The key of the audit trail's chain, once the binary has loaded it.
    audit_key: crate::audit_chain::AuditKeySlot,
    /// Every writer but the management commands is this process, so reads can be kept briefly.
    cache: ReadCache,
    /// Where the times the store records (audit rows, creation and change times) come from.
    clock: Arc<dyn Clock>,
    /// Checkpoints the WAL beside the writer (see [`Checkpointer`]); stopped with the store.
    _checkpointer: Option<Checkpointer>,
}

/// How often the WAL is checkpointed. Under a sign-on load the writer adds a few thousand
/// pages a second; SQLite's own checkpoint, every 1,000 pages, ran inside whichever commit
/// crossed the mark, and every write queued behind that commit waited for it.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// SQLite's own checkpoint on the writer's connection, kept as a backstop only: should the
/// checkpointer fall behind (its reader connections all busy, or a backup's snapshot holding
/// the WAL), the WAL still stops growing at about 40 MB.
const WRITER_AUTOCHECKPOINT_PAGES: &str = "10000";

/// Copies the WAL into the database on a reader connection, PASSIVE (it never waits for the
/// writer or the readers, and they never wait for it), so that no commit does it. Commits stay
/// durable as before: each one is synced to the WAL (`synchronous=FULL`) before it returns.
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    /// Starts it if the database is in WAL mode (an in-memory one is not).
    async fn start(pool: &SqlitePool) -> Result<Option<Self>, StoreError> {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Ok(None);
        }
        let pool = pool.clone();
        Ok(Some(Checkpointer(tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                every.tick().await;
                // Said once when it starts failing (a full disk, say) and once when it recovers,
                // not four times a second.
                match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "checkpointing the WAL failed; retrying every tick");
                    }
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("checkpointing the WAL works again");
                    }
                    _ => {}
                }
            }
        }))))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl SqliteStore {
    /// Runs the migrations with foreign keys off, as SQLite's table-rebuild procedure needs (a
    /// rebuilt table is dropped, which would otherwise cascade to the rows that refer to it),
    /// then checks every foreign key before the store is used.
    async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
        let mut conn = pool.acquire().await?;
        sqlx::query("PRAGMA foreign_keys = OFF").execute(&mut *conn).await?;
        let migrated = MIGRATOR.run_direct(&mut *conn).await;
        let violations = sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut *conn).await;
        if let Err(e) = sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await {
            // Never back into the pool with foreign keys off.
            drop(conn.detach());
            return Err(e.into());
        }
        migrated.map_err(|e| StoreError::Migration(e.to_string()))?;
        crate::migrations::record_rules_sqlite(&mut conn).await?;
        if !violations?.is_empty() {
            return Err(StoreError::Migration(
                "foreign keys no longer hold after migrating; restore the backup".into(),
            ));
        }
        Ok(())
    }

    /// Opens (creating if needed) the database file and migrates it.
    pub async fn open_file(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
        Self::connect_with(options, clock).await
    }

    /// Opens a `sqlite:` URL (tests and unusual layouts). Besides sqlx's own parameters it
    /// takes `max_page_count=N`: a hard cap on the database's size in pages (4 KiB each), at
    /// which writes are refused as on a full disk.
    pub async fn connect_url(url: &str, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let (url, max_pages) = take_max_page_count(url)?;
        let mut options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true);
        if let Some(pages) = max_pages {
            options = options.pragma("max_page_count", pages.to_string());
        }
        Self::connect_with(options, clock).await
    }

    async fn connect_with(options: SqliteConnectOptions, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            // FULL, not NORMAL: in WAL mode NORMAL leaves the last commits unsynced, and a power
            // loss or OS crash could then take an issued token's audit row and the replay
            // record of its request with it. Group commit keeps the fsync off the hot path
            // (README "SQLite durability" has the measured cost).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let in_memory = options.get_filename() == Path::new(":memory:");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        let applied: Option<i64> = match sqlx::query_scalar::<_, String>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&pool)
        .await?
        {
            Some(_) => sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&pool).await?,
            None => None,
        };
        crate::sql::check_schema_version(applied, &MIGRATOR)?;
        Self::migrate(&pool).await?;
        let writer = if in_memory {
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                // The batch writer's and one for every other write, in turns (`WriteTurn`).
                .max_connections(2)
                // No ping before each use: one more round trip to the connection's thread,
                // where a file connection has no network to lose (sqlx still checks it on the
                // way back).
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES))
                .await?
        };
        let audit_key = crate::audit_chain::AuditKeySlot::default();
        let turns = Arc::new(tokio::sync::Mutex::new(()));
        let batcher = Self::start_batcher(writer.clone(), audit_key.clone(), WriterState::new(turns.clone()));
        let _checkpointer = Checkpointer::start(&pool).await?;
        Ok(SqliteStore {
            pool,
            writer,
            turns,
            batcher,
            audit_key,
            cache: ReadCache::enabled(clock.clone()),
            clock,
            _checkpointer,
        })
    }
}

impl SqliteStore {
    async fn write_turn(&self) -> Result<WriteTurn, StoreError> {
        take_turn(&self.turns).await
    }
}

impl_sql_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow, "BEGIN IMMEDIATE", "sqlite");

/// The URL without its `max_page_count` parameter, and that parameter's value.
fn take_max_page_count(url: &str) -> Result<(String, Option<u32>), StoreError> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_string(), None)) };
    let mut pages = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("max_page_count", value)) => {
                let parsed = value.parse::<u32>().ok().filter(|n| *n >= 16).ok_or_else(|| {
                    StoreError::Config(format!(
                        "max_page_count must be a whole number of pages from 16 up, not {value:?}"
                    ))
                })?;
                pages = Some(parsed);
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, pages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_cap_is_taken_from_the_url_and_the_rest_left_to_sqlx() {
        let (url, pages) = take_max_page_count("sqlite:///d/t.db?mode=rwc&max_page_count=512").unwrap();
        assert_eq!((url.as_str(), pages), ("sqlite:///d/t.db?mode=rwc", Some(512)));
        assert_eq!(take_max_page_count("sqlite:///d/t.db").unwrap(), ("sqlite:///d/t.db".into(), None));
        assert_eq!(take_max_page_count("sqlite:///d/t.db?max_page_count=64").unwrap().0, "sqlite:///d/t.db");
        for bad in ["x", "-1", "15", ""] {
            assert!(take_max_page_count(&format!("sqlite:///d/t.db?max_page_count={bad}")).is_err(), "{bad}");
        }
    }

    /// Every step of the access decision is an index search: no scan, no materialized
    /// subquery, whatever the number of users (a plan, so no timing in a test).
    #[tokio::test]
    async fn the_access_decision_searches_indexes_only() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open_file(&dir.path().join("t.db"), Arc::new(tessera_core::SystemClock)).await.unwrap();
        let explain = format!("EXPLAIN QUERY PLAN {}", crate::sql::ACCESS_OF_USER);
        let rows = sqlx::query(&explain).bind("user").bind("app").fetch_all(&store.pool).await.unwrap();
        let plan: Vec<String> = rows.iter().map(|row| sqlx::Row::get::<String, _>(row, "detail")).collect();
        assert!(plan.iter().any(|step| step.contains("memberships_user")), "{plan:?}");
        assert!(plan.iter().all(|step| step.starts_with("SEARCH ") || step.contains("SUBQUERY")), "{plan:?}");
    }

    /// The WAL is copied into the database file beside the writer, not inside a commit: right
    /// after opening, the migrations are in the WAL only (SQLite's own checkpoint waits for
    /// 1,000 pages), and the checkpointer brings them into the file within a few ticks.
    #[tokio::test]
    async fn the_wal_is_checkpointed_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open_file(&path, Arc::new(tessera_core::SystemClock)).await.unwrap();
        let autocheckpoint: i64 =
            sqlx::query_scalar("PRAGMA wal_autocheckpoint").fetch_one(&store.writer).await.unwrap();
        assert_eq!(autocheckpoint, 10_000, "the writer leaves checkpoints to the checkpointer");
        let mut size = 0;
        for _ in 0..100 {
            size = std::fs::metadata(&path).unwrap().len();
            if size > 64 * 1024 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(size > 64 * 1024, "the schema is still only in the WAL: the file has {size} bytes");
    }
}
