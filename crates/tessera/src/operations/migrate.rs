//! `tessera migrate status | run`: the schema's migrations, listed or applied on purpose (for
//! operators who migrate before they start the new release's nodes; `serve` applies them too).

use serde::Serialize;
use tessera_store::maintenance::{self, MigrationRow, MigrationState};

use crate::config::Settings;

#[derive(Serialize)]
struct Status {
    /// The newest migration the database has; `null` for a database not created yet.
    database_version: Option<i64>,
    /// The newest migration this binary knows.
    binary_version: i64,
    pending: usize,
    migrations: Vec<MigrationRow>,
}

async fn status(settings: &Settings) -> anyhow::Result<Status> {
    let url = settings.database_url.as_deref();
    let migrations = maintenance::migration_status(url, &settings.data_dir).await?;
    Ok(Status {
        database_version: migrations.iter().filter(|m| m.state != MigrationState::Pending).map(|m| m.version).max(),
        binary_version: maintenance::binary_schema_version(maintenance::is_postgres_url(url)),
        pending: migrations.iter().filter(|m| m.state == MigrationState::Pending).count(),
        migrations,
    })
}

fn print(status: &Status) {
    let rows = status
        .migrations
        .iter()
        .map(|m| {
            vec![
                format!("{:04}", m.version),
                m.state.name().to_string(),
                m.upgrade.to_string(),
                m.applied_at.clone().unwrap_or_else(|| "-".into()),
                m.description.clone(),
            ]
        })
        .collect();
    crate::output::table(&["VERSION", "STATE", "UPGRADE", "APPLIED (UTC)", "DESCRIPTION"], rows);
    let database = status.database_version.map_or("none (no database yet)".to_string(), |v| v.to_string());
    println!(
        "database at version {database}; this binary writes version {}; {} pending",
        status.binary_version, status.pending
    );
}

/// Lists every migration and where the database stands; refuses nothing (a newer database is
/// shown with the migrations this binary does not know).
pub async fn migrate_status(settings: &Settings) -> anyhow::Result<()> {
    let status = status(settings).await?;
    if settings.json {
        crate::output::json(&status)
    } else {
        print(&status);
        Ok(())
    }
}

/// Applies the pending migrations (a database newer than this binary is refused, as at
/// start). On PostgreSQL only the compatible ones, up to the first finishing one, unless
/// `finish`: nodes of the release before may still be running.
pub async fn migrate_run(settings: &Settings, finish: bool) -> anyhow::Result<()> {
    let before = status(settings).await?;
    let newer: Vec<i64> =
        before.migrations.iter().filter(|m| m.state == MigrationState::Unknown).map(|m| m.version).collect();
    if !newer.is_empty() {
        anyhow::bail!(
            "the database has migrations this binary does not know ({newer:?}): run the Tessera release that \
             wrote them, or a newer one"
        );
    }
    match settings.database_url.as_deref() {
        Some(url) if maintenance::is_postgres_url(Some(url)) => {
            maintenance::migrate_postgres(url, finish).await?;
        }
        // SQLite is one node: opening the store applies every migration, as `serve` does.
        _ => {
            let clock: std::sync::Arc<dyn tessera_core::Clock> = std::sync::Arc::new(tessera_core::SystemClock);
            crate::commands::open_store(settings, clock).await?;
        }
    }
    let after = status(settings).await?;
    let applied: Vec<i64> = before
        .migrations
        .iter()
        .filter(|m| m.state == MigrationState::Pending)
        .map(|m| m.version)
        .filter(|v| after.migrations.iter().any(|m| m.version == *v && m.state == MigrationState::Applied))
        .collect();
    let deferred: Vec<i64> =
        after.migrations.iter().filter(|m| m.state == MigrationState::Pending).map(|m| m.version).collect();
    if settings.json {
        return crate::output::json(&serde_json::json!({ "applied": applied, "deferred": deferred, "status": after }));
    }
    let versions = |list: &[i64]| list.iter().map(|v| format!("{v:04}")).collect::<Vec<_>>().join(", ");
    let at = after.database_version.unwrap_or(0);
    match applied.as_slice() {
        [] => println!("nothing to apply: the database is at version {at}"),
        _ => {
            println!("applied {} migration(s) ({}); the database is at version {at}", applied.len(), versions(&applied))
        }
    }
    if !deferred.is_empty() {
        println!(
            "deferred: {} (finishing: nodes of the release before stop working once applied); run `tessera migrate \
             finish` once every node runs this release",
            versions(&deferred)
        );
    }
    Ok(())
}
