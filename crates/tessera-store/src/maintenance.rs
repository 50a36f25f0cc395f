//! What operators do to a database besides using it: list and apply its schema's migrations,
//! take a consistent copy of a SQLite database while it serves, and look inside such a copy.
//! None of it opens the store (which would migrate): each works on the database as it is.

use std::path::Path;
use std::time::Duration;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::StoreError;

/// Where one migration of this binary stands in a database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationState {
    Applied,
    Pending,
    /// Applied, but from a file that differs from this binary's (a hand-edited database or a
    /// build from other sources): the store refuses to migrate such a database.
    Modified,
    /// Applied by a newer Tessera: this binary refuses the database.
    Unknown,
}

impl MigrationState {
    pub fn name(&self) -> &'static str {
        match self {
            MigrationState::Applied => "applied",
            MigrationState::Pending => "pending",
            MigrationState::Modified => "modified",
            MigrationState::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationRow {
    pub version: i64,
    pub description: String,
    pub state: MigrationState,
    /// When it was applied, as the database recorded it (UTC).
    pub applied_at: Option<String>,
    /// `compatible` (nodes of the release before keep working once it is applied) or
    /// `finishing` (applied by `tessera migrate finish` on PostgreSQL).
    pub upgrade: &'static str,
}

fn upgrade_of(version: i64) -> &'static str {
    if crate::migrations::is_finishing(version) { "finishing" } else { "compatible" }
}

/// The schema version this binary writes (its newest migration).
pub fn binary_schema_version(postgres: bool) -> i64 {
    migrator(postgres).iter().map(|m| m.version).max().unwrap_or(0)
}

fn migrator(postgres: bool) -> &'static sqlx::migrate::Migrator {
    if postgres { &crate::migrations::POSTGRES } else { &crate::migrations::SQLITE }
}

/// Whether a database URL names PostgreSQL (else SQLite).
pub fn is_postgres_url(url: Option<&str>) -> bool {
    url.is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
}

/// One applied migration as `_sqlx_migrations` records it.
struct Applied {
    version: i64,
    checksum: Vec<u8>,
    success: bool,
    installed_on: String,
}

/// `_sqlx_migrations`' version, checksum, success and time of application, as read.
type AppliedRow = (i64, Vec<u8>, bool, String);

impl From<AppliedRow> for Applied {
    fn from((version, checksum, success, installed_on): AppliedRow) -> Self {
        Applied { version, checksum, success, installed_on }
    }
}

/// Every migration this binary knows, and any newer one the database has, oldest first. A
/// SQLite database that does not exist yet has every migration pending (and is not created).
pub async fn migration_status(database_url: Option<&str>, data_dir: &Path) -> Result<Vec<MigrationRow>, StoreError> {
    let postgres = is_postgres_url(database_url);
    let applied = match database_url {
        Some(url) if postgres => applied_on_postgres(url).await?,
        Some(url) if url.starts_with("sqlite:") => {
            let options: SqliteConnectOptions = url
                .split_once('?')
                .map_or(url, |(base, _)| base)
                .parse()
                .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?;
            applied_on_sqlite(options).await?
        }
        Some(other) => return Err(unsupported(other)),
        None => {
            let path = data_dir.join(crate::SQLITE_FILE);
            if !path.exists() {
                Vec::new()
            } else {
                applied_on_sqlite(SqliteConnectOptions::new().filename(path)).await?
            }
        }
    };
    let mut rows: Vec<MigrationRow> = migrator(postgres)
        .iter()
        .map(|known| {
            let found = applied.iter().find(|a| a.version == known.version);
            let state = match found {
                None => MigrationState::Pending,
                Some(a) if !a.success || a.checksum != known.checksum.as_ref() => MigrationState::Modified,
                Some(_) => MigrationState::Applied,
            };
            MigrationRow {
                version: known.version,
                description: known.description.to_string(),
                state,
                applied_at: found.map(|a| a.installed_on.clone()),
                upgrade: upgrade_of(known.version),
            }
        })
        .collect();
    for newer in applied.iter().filter(|a| !migrator(postgres).iter().any(|m| m.version == a.version)) {
        rows.push(MigrationRow {
            version: newer.version,
            description: "(unknown to this binary)".into(),
            state: MigrationState::Unknown,
            applied_at: Some(newer.installed_on.clone()),
            upgrade: "unknown",
        });
    }
    rows.sort_by_key(|row| row.version);
    Ok(rows)
}

fn unsupported(url: &str) -> StoreError {
    StoreError::Config(format!(
        "unsupported database URL {:?}: use postgres://… or leave it unset for SQLite in the data directory",
        crate::redact_url(url)
    ))
}

async fn applied_on_sqlite(options: SqliteConnectOptions) -> Result<Vec<Applied>, StoreError> {
    let mut conn = SqliteConnection::connect_with(&options.create_if_missing(false).read_only(true))
        .await
        .map_err(|e| StoreError::Config(format!("cannot open the SQLite database: {e}")))?;
    let has_table: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(&mut conn)
            .await?;
    if has_table.is_none() {
        return Ok(Vec::new());
    }
    let rows: Vec<AppliedRow> = sqlx::query_as(
        "SELECT version, checksum, success, CAST(installed_on AS TEXT) FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut conn)
    .await?;
    conn.close().await.ok();
    Ok(rows.into_iter().map(Applied::from).collect())
}

async fn applied_on_postgres(url: &str) -> Result<Vec<Applied>, StoreError> {
    let config_error =
        |e: sqlx::Error| StoreError::Config(format!("cannot connect to {}: {e}", crate::redact_url(url)));
    let options: sqlx::postgres::PgConnectOptions = url.parse().map_err(config_error)?;
    let mut conn = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect_with(&options))
        .await
        .map_err(|_| StoreError::Config(format!("{} did not answer within 5 s", crate::redact_url(url))))?
        .map_err(config_error)?;
    let has_table: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&mut conn).await?;
    if !has_table {
        return Ok(Vec::new());
    }
    let rows: Vec<AppliedRow> = sqlx::query_as(
        "SELECT version, checksum, success, to_char(installed_on AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
         FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut conn)
    .await?;
    conn.close().await.ok();
    Ok(rows.into_iter().map(Applied::from).collect())
}

/// Applies PostgreSQL's pending migrations: the compatible ones, and with `finish` the
/// finishing ones too; the versions applied. A database newer than this binary is refused.
pub async fn migrate_postgres(url: &str, finish: bool) -> Result<Vec<i64>, StoreError> {
    let config_error =
        |e: sqlx::Error| StoreError::Config(format!("cannot connect to {}: {e}", crate::redact_url(url)));
    let options: sqlx::postgres::PgConnectOptions = url.parse().map_err(config_error)?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(config_error)?;
    let newest = crate::migrations::applied_versions(&pool).await?.into_iter().max();
    crate::sql::check_schema_version(newest, &crate::migrations::POSTGRES)?;
    let applied = crate::migrations::apply_postgres(&pool, finish).await;
    pool.close().await;
    applied
}

/// What [`sqlite_snapshot`] and [`inspect_sqlite`] find in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteFacts {
    /// `PRAGMA integrity_check`'s first line: `ok` for a sound file.
    pub integrity: String,
    /// The newest migration applied; `None` for a database that was never migrated.
    pub schema_version: Option<i64>,
    /// The sealed check value of the master key the database was set up with.
    pub master_key_check: Option<String>,
    /// How many users, groups, applications and audit records it holds.
    pub counts: Vec<(&'static str, i64)>,
}

/// The tables whose sizes a backup's manifest states.
const COUNTED: [(&str, &str, &str); 4] = [
    ("users", "users", "SELECT COUNT(*) FROM users"),
    ("groups", "user_groups", "SELECT COUNT(*) FROM user_groups"),
    ("applications", "apps", "SELECT COUNT(*) FROM apps"),
    ("audit_events", "audit_events", "SELECT COUNT(*) FROM audit_events"),
];

/// A consistent copy of the SQLite database at `source` written to `into` (which must not
/// exist), taken while the database serves. `VACUUM INTO` reads one snapshot (a WAL read
/// transaction: writers go on meanwhile) and writes it out whole; unlike a copy of the file it
/// never catches a write half done, and unlike SQLite's C backup API it needs no unsafe code.
pub async fn sqlite_snapshot(source: &Path, into: &Path) -> Result<SqliteFacts, StoreError> {
    if !source.is_file() {
        return Err(StoreError::Config(format!("there is no SQLite database at {}", source.display())));
    }
    let options =
        SqliteConnectOptions::new().filename(source).create_if_missing(false).busy_timeout(Duration::from_secs(30));
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| StoreError::Config(format!("cannot open {}: {e}", source.display())))?;
    let target = into.to_str().ok_or_else(|| StoreError::Config(format!("{} is not UTF-8", into.display())))?;
    sqlx::query("VACUUM INTO ?").bind(target).execute(&mut conn).await?;
    conn.close().await.ok();
    inspect_sqlite(into).await
}

/// Reads a SQLite database file without changing it: its integrity, schema version, master-key
/// check value and sizes. An error for a file that is not a SQLite database at all.
pub async fn inspect_sqlite(path: &Path) -> Result<SqliteFacts, StoreError> {
    let options = SqliteConnectOptions::new().filename(path).create_if_missing(false).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| StoreError::Corrupt(format!("{} cannot be opened as a SQLite database: {e}", path.display())))?;
    let facts = read_facts(&mut conn).await.map_err(|e| match e {
        StoreError::Database(message) => {
            StoreError::Corrupt(format!("{} is not a sound SQLite database: {message}", path.display()))
        }
        other => other,
    });
    conn.close().await.ok();
    facts
}

async fn read_facts(conn: &mut SqliteConnection) -> Result<SqliteFacts, StoreError> {
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut *conn).await?;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(&mut *conn).await?;
    let has = |name: &str| tables.iter().any(|t| t == name);
    let schema_version = if has("_sqlx_migrations") {
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success").fetch_one(&mut *conn).await?
    } else {
        None
    };
    let master_key_check = if has("settings") {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(crate::SETTING_MASTER_KEY_CHECK)
            .fetch_optional(&mut *conn)
            .await?
    } else {
        None
    };
    let mut counts = Vec::new();
    for (name, table, count) in COUNTED {
        if has(table) {
            let count: i64 = sqlx::query_scalar(count).fetch_one(&mut *conn).await?;
            counts.push((name, count));
        }
    }
    Ok(SqliteFacts { integrity, schema_version, master_key_check, counts })
}
