//! Operating a deployment rather than administering it: backups, restores and schema
//! migrations. These work on the database's files and schema, below the admin service, and
//! run before any store is opened (opening one would migrate it).

mod archive;
mod backup;
mod migrate;
mod restore;

pub use backup::backup;
pub use migrate::{migrate_run, migrate_status};
pub use restore::restore;

/// The guidance for PostgreSQL, whose own tools take and restore a consistent dump.
const POSTGRES_BACKUP: &str = "on PostgreSQL, back up with `pg_dump --format=custom` and restore with \
     `pg_restore` (README \"Backup and restore\")";
