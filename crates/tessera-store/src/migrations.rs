//! How the schema moves forward without stopping every node. A migration is either
//! **compatible** (nodes of the release before it keep working once it is applied: new tables,
//! new nullable or defaulted columns, widened checks, indexes) or **finishing** (it takes away
//! something those nodes rely on, or closes a door they need open). On PostgreSQL, where
//! several nodes share the database, a node or `tessera migrate run` applies compatible
//! migrations only, up to the first finishing one; `tessera migrate finish` applies the rest,
//! once every node runs the new release (a new database gets every one at once: no node of an
//! earlier release can be using it). On SQLite, one node, everything is applied at once.

use sqlx::migrate::{Migrate, MigrateError, Migration, Migrator};
use sqlx::postgres::PgPool;

use crate::StoreError;

/// Both backends' migrations: two directories with the same numbered files.
pub(crate) static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
pub(crate) static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The finishing migrations; every other one is compatible (README "Upgrades": why each is).
/// 0014 closes the audit chain's upgrade window: nodes of the release before the chain write
/// records without a link, which it refuses from then on.
const FINISHING: [i64; 1] = [14];

/// Whether nodes of the release before `version` stop working once it is applied.
pub fn is_finishing(version: i64) -> bool {
    FINISHING.contains(&version)
}

/// The migrations to apply to a database that has `applied`, in order: without `finish`,
/// those before the first finishing one.
fn plan<'a>(migrator: &'a Migrator, applied: &[i64], finish: bool) -> Vec<&'a Migration> {
    let mut todo = Vec::new();
    for migration in migrator.iter().filter(|m| !m.migration_type.is_down_migration()) {
        if applied.contains(&migration.version) {
            continue;
        }
        if !finish && is_finishing(migration.version) {
            break;
        }
        todo.push(migration);
    }
    todo
}

/// Compatible migrations that `applied` cannot get without `finish`: they wait behind a
/// pending finishing one. Then the upgrade before this release was never finished, and this
/// release's code (which reads what they add) cannot run on the database yet.
fn held_back(migrator: &Migrator, applied: &[i64]) -> Vec<i64> {
    let mut blocked = false;
    let mut held = Vec::new();
    for migration in migrator.iter().filter(|m| !m.migration_type.is_down_migration()) {
        if applied.contains(&migration.version) {
            continue;
        }
        if is_finishing(migration.version) {
            blocked = true;
        } else if blocked {
            held.push(migration.version);
        }
    }
    held
}

/// Refuses a database whose previous upgrade was not finished (see [`held_back`]).
fn refuse_unfinished_previous_upgrade(migrator: &Migrator, applied: &[i64]) -> Result<(), StoreError> {
    let held = held_back(migrator, applied);
    let finishing: Vec<i64> = plan(migrator, applied, true)
        .iter()
        .map(|m| m.version)
        .filter(|v| is_finishing(*v) && held.first().is_some_and(|h| v < h))
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    Err(StoreError::Migration(format!(
        "the previous upgrade is not finished: migration {finishing:?} is pending, and this release needs          {held:?} after it; run `tessera migrate finish` once no node runs a release from before that          upgrade, then start this release"
    )))
}

/// The versions recorded as applied (none where the table does not exist yet).
pub(crate) async fn applied_versions(pool: &PgPool) -> Result<Vec<i64>, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await?)
}

/// Applies PostgreSQL's pending migrations (with `finish`, the finishing ones too) under
/// sqlx's advisory lock, so nodes starting together migrate once; the versions applied. A
/// database with nothing to apply is not touched (a least-privileged role can start on it).
pub(crate) async fn apply_postgres(pool: &PgPool, finish: bool) -> Result<Vec<i64>, StoreError> {
    let migrator = &POSTGRES;
    let applied = applied_versions(pool).await?;
    if !finish && !applied.is_empty() {
        refuse_unfinished_previous_upgrade(migrator, &applied)?;
    }
    if plan(migrator, &applied, finish || applied.is_empty()).is_empty() {
        warn_if_unfinished(migrator, &applied);
        return Ok(Vec::new());
    }
    let mut conn = pool.acquire().await?;
    let failed = |e: MigrateError| StoreError::Migration(e.to_string());
    conn.lock().await.map_err(failed)?;
    let outcome = async {
        conn.ensure_migrations_table().await?;
        if let Some(version) = conn.dirty_version().await? {
            return Err(MigrateError::Dirty(version));
        }
        let applied = conn.list_applied_migrations().await?;
        for done in &applied {
            if let Some(known) = migrator.iter().find(|m| m.version == done.version)
                && known.checksum != done.checksum
            {
                return Err(MigrateError::VersionMismatch(done.version));
            }
        }
        let versions: Vec<i64> = applied.iter().map(|m| m.version).collect();
        // A new database has no nodes of an earlier release to wait for.
        let finish = finish || versions.is_empty();
        let mut applied_now = Vec::new();
        for migration in plan(migrator, &versions, finish) {
            conn.apply(migration).await?;
            applied_now.push(migration.version);
        }
        Ok(applied_now)
    }
    .await;
    let recorded = match &outcome {
        Ok(_) => record_rules(&mut conn).await,
        Err(_) => Ok(()),
    };
    let unlocked = conn.unlock().await;
    let applied_now = outcome.map_err(failed)?;
    unlocked.map_err(failed)?;
    recorded?;
    let mut applied = applied;
    applied.extend(&applied_now);
    warn_if_unfinished(migrator, &applied);
    Ok(applied_now)
}

/// Finishing migrations left pending (a rolling upgrade not finished) are said by every node
/// and command that opens the database: until they are applied it lets in what this release
/// would refuse (records without an audit chain link).
fn warn_if_unfinished(migrator: &Migrator, applied: &[i64]) {
    let deferred: Vec<i64> = plan(migrator, applied, true).iter().map(|m| m.version).collect();
    if !deferred.is_empty() {
        tracing::warn!(
            ?deferred,
            "the upgrade is not finished: run `tessera migrate finish` once every node runs this release"
        );
    }
}

/// Records the rule of every applied migration `$migrator` knows, where the rules' table
/// exists (from 0013 on; `$table_exists` asks); a rule recorded already stays (the release
/// that applied a migration knew it best). One body for both backends' connections.
macro_rules! record_rules {
    ($conn:expr, $table_exists:expr, $migrator:expr) => {{
        let conn = $conn;
        let exists: bool = sqlx::query_scalar($table_exists).fetch_one(&mut *conn).await?;
        if exists {
            let applied: Vec<i64> = sqlx::query_scalar(APPLIED).fetch_all(&mut *conn).await?;
            // Every SQLite open migrates: nothing is written when every rule is there already.
            let recorded: i64 = sqlx::query_scalar(RECORDED).fetch_one(&mut *conn).await?;
            if (recorded as usize) < applied.len() {
                for version in applied.into_iter().filter(|v| $migrator.iter().any(|m| m.version == *v)) {
                    sqlx::query(RECORD).bind(version).bind(is_finishing(version)).execute(&mut *conn).await?;
                }
            }
        }
        Ok(())
    }};
}

async fn record_rules(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    record_rules!(conn, "SELECT to_regclass('schema_upgrade_rules') IS NOT NULL", POSTGRES)
}

/// The same for SQLite, after its migrations ran.
pub(crate) async fn record_rules_sqlite(conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
    record_rules!(
        conn,
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_upgrade_rules')",
        SQLITE
    )
}

const APPLIED: &str = "SELECT version FROM _sqlx_migrations WHERE success";
const RECORDED: &str = "SELECT COUNT(*) FROM schema_upgrade_rules";
const RECORD: &str =
    "INSERT INTO schema_upgrade_rules (version, finishing) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING";

/// Whether a PostgreSQL database newer than this binary (`binary`: its newest migration) may
/// still be used by it: every newer migration applied is recorded as compatible by the release
/// that applied it. A node of this release can then restart during a rolling upgrade to the
/// next; anything else (a finishing migration, a rule unrecorded) is refused as too new.
pub(crate) async fn newer_are_compatible(pool: &PgPool, binary: i64) -> Result<bool, StoreError> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('schema_upgrade_rules') IS NOT NULL").fetch_one(pool).await?;
    if !exists {
        return Ok(false);
    }
    let unsafe_newer: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM _sqlx_migrations m WHERE m.version > $1 AND NOT EXISTS \
         (SELECT 1 FROM schema_upgrade_rules r WHERE r.version = m.version AND NOT r.finishing)",
    )
    .bind(binary)
    .fetch_one(pool)
    .await?;
    Ok(unsafe_newer == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finishing_migrations_wait_for_finish_and_hold_back_later_ones() {
        let migrator = &POSTGRES;
        let before: Vec<i64> = (1..=12).collect();
        let run: Vec<i64> = plan(migrator, &before, false).iter().map(|m| m.version).collect();
        assert_eq!(run, vec![13], "0013 is compatible, 0014 finishing");
        let finish: Vec<i64> = plan(migrator, &before, true).iter().map(|m| m.version).collect();
        assert_eq!(finish, vec![13, 14, 15, 16, 17, 18, 19, 20]);
        // From the release before these (0014 finished): 0015 to 0020 are compatible.
        let finished: Vec<i64> = (1..=14).collect();
        let run: Vec<i64> = plan(migrator, &finished, false).iter().map(|m| m.version).collect();
        assert_eq!(run, vec![15, 16, 17, 18, 19, 20]);
        let all: Vec<i64> = migrator.iter().map(|m| m.version).collect();
        assert!(plan(migrator, &all, true).is_empty());
        // From an unfinished upgrade (0013 applied, 0014 pending) this release cannot run: 0015
        // to 0020 wait behind 0014.
        let unfinished: Vec<i64> = (1..=13).collect();
        assert_eq!(held_back(migrator, &unfinished), vec![15, 16, 17, 18, 19, 20]);
        assert!(refuse_unfinished_previous_upgrade(migrator, &unfinished).is_err());
        assert!(refuse_unfinished_previous_upgrade(migrator, &finished).is_ok());
        // Nor from two releases back (0012): upgraded to the release between and finished first.
        assert_eq!(held_back(migrator, &before), vec![15, 16, 17, 18, 19, 20]);
        // Both backends have the same migrations, so one rule serves both.
        let sqlite: Vec<i64> = SQLITE.iter().map(|m| m.version).collect();
        assert_eq!(all, sqlite);
        assert!(FINISHING.iter().all(|v| all.contains(v)));
    }
}
