//! The SQL both backends share. SQLite and PostgreSQL accept the same statements here (`$n`
//! parameters, `RETURNING`, `ON CONFLICT`, expression indexes), so one body of code, expanded
//! once per backend by [`impl_sql_store!`], serves both; only the migrations differ.

mod admin_sign_in;
mod admins;
mod apps;
mod audit;
mod common;
mod grants;
mod groups;
mod keys;
mod lockout;
mod mfa;
mod parking;
mod passkeys;
mod replay;
mod sessions;
mod settings;
mod source_sync;
mod sources;
mod users;

pub(crate) use admin_sign_in::impl_admin_sign_in;
pub(crate) use admins::impl_admins;
pub(crate) use apps::impl_apps;
pub(crate) use audit::impl_audit;
pub(crate) use common::impl_sql_common;
pub(crate) use grants::{ACCESS_OF_USER, impl_grants};
pub(crate) use groups::impl_groups;
pub(crate) use keys::impl_keys;
pub(crate) use lockout::impl_lockout;
pub(crate) use mfa::impl_mfa;
pub(crate) use parking::impl_parking;
pub(crate) use passkeys::impl_passkeys;
pub(crate) use replay::impl_replay;
pub(crate) use sessions::impl_sessions;
pub(crate) use settings::impl_settings;
pub(crate) use source_sync::impl_source_sync;
pub(crate) use sources::impl_sources;
pub(crate) use users::impl_users;

use std::str::FromStr;

use tessera_core::AppKind;

use crate::StoreError;

/// Message IDs longer than this are remembered by their SHA-256.
pub(crate) const MAX_STORED_MESSAGE_ID: usize = 128;

/// A message ID as the store keeps it: long IDs by their digest, so a key of any size fits the
/// index.
pub(crate) fn stored_message_id(message_id: &str) -> String {
    if message_id.len() > MAX_STORED_MESSAGE_ID {
        format!("sha256:{}", sha256_hex(message_id.as_bytes()))
    } else {
        message_id.to_string()
    }
}

/// How many message IDs are remembered between sweeps of expired replay rows.
pub(crate) const REPLAY_SWEEP_EVERY: u32 = 256;

/// Maps a unique-constraint violation to a conflict naming the field. A rule matches by the
/// index name of the migrations (`users_email_key`; what PostgreSQL reports, and SQLite for
/// expression indexes) or by `table.column` (what SQLite reports for a plain column index).
pub(crate) fn map_unique(err: sqlx::Error, rules: &[(&str, &'static str, String)]) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            let text = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
            for (index, field, message) in rules {
                if text.contains(index) || text.contains(&sqlite_column(index)) {
                    return StoreError::Conflict { field, message: message.clone() };
                }
            }
            return StoreError::Conflict { field: "unknown", message: "that record already exists".into() };
        }
        if db.is_foreign_key_violation() {
            return StoreError::not_found("referenced record", "");
        }
    }
    StoreError::from(err)
}

/// What a synced user's write may clash with, named as `create_user` names it.
pub(crate) fn sync_clash_rules(email: &str) -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("users_email_key", "email", format!("{email}: the email is another user's")),
        ("users_upn_key", "upn", format!("{email}: the UPN is another user's")),
        ("users_immutable_id_key", "immutable_id", format!("{email}: the ImmutableID is another user's")),
        ("users_source_anchor_key", "anchor", format!("{email}: the source anchor is another user's")),
    ]
}

/// `users_immutable_id_key` → `users.immutable_id`, how SQLite names a plain column index
/// (the tables with such indexes have one-word names).
fn sqlite_column(index: &str) -> String {
    let trimmed = index.strip_suffix("_key").unwrap_or(index);
    trimmed.replacen('_', ".", 1)
}

pub(crate) fn parse_id<T: FromStr>(text: &str) -> Result<T, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("bad id {text:?}")))
}

pub(crate) fn parse_role(text: &str) -> Result<tessera_core::AdminRole, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("bad role {text:?}")))
}

pub(crate) fn parse_kind(config: &str) -> Result<AppKind, StoreError> {
    serde_json::from_str(config).map_err(|e| StoreError::Corrupt(format!("app config: {e}")))
}

pub(crate) fn next_cursor<T>(items: &mut Vec<T>, limit: i64, id_of: impl Fn(&T) -> String) -> Option<String> {
    if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(id_of)
    } else {
        None
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    tessera_core::lower_hex(&sha2::Sha256::digest(bytes))
}

/// The columns a `User` is read from, as a literal for `concat!` (so every statement stays static).
macro_rules! user_columns {
    () => {
        "id, email, upn, first_name, last_name, immutable_id, state, password_hash, notice_acknowledged_at, \
         created_at, updated_at"
    };
}

/// An image in the audit trail: a short digest, so that a change shows without the bytes.
pub(crate) fn image_fingerprint(image: Option<&str>) -> Option<String> {
    use sha2::Digest;
    image.map(|image| tessera_core::lower_hex(&sha2::Sha256::digest(image.as_bytes())[..8]))
}

/// One administrator by id or name: an id wins over a name that happens to equal it.
pub(crate) const ADMIN_BY_KEY: &str = "SELECT id, username, password_hash, must_change_password, role, created_at FROM admins \
     WHERE id = $1 OR lower(username) = lower($1) ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1";

/// One side of the grants table, held fixed while the other is made exactly so.
pub(crate) struct GrantSide {
    pub fixed_is_app: bool,
    pub fixed_kind: &'static str,
    pub other_kind: &'static str,
    pub fixed_exists: &'static str,
    pub other_exists: &'static str,
    /// The other side's ids the fixed one holds now.
    pub held: &'static str,
}

pub(crate) const GRANTS_OF_APP: GrantSide = GrantSide {
    fixed_is_app: true,
    fixed_kind: "application",
    other_kind: "group",
    fixed_exists: "SELECT id FROM apps WHERE id = $1",
    other_exists: "SELECT id FROM user_groups WHERE id = $1",
    held: "SELECT group_id FROM grants WHERE app_id = $1",
};

pub(crate) const GRANTS_OF_GROUP: GrantSide = GrantSide {
    fixed_is_app: false,
    fixed_kind: "group",
    other_kind: "application",
    fixed_exists: "SELECT id FROM user_groups WHERE id = $1",
    other_exists: "SELECT id FROM apps WHERE id = $1",
    held: "SELECT app_id FROM grants WHERE group_id = $1",
};

pub(crate) const INSERT_ADMIN_APP: &str = "INSERT INTO admin_apps (admin_id, app_id) VALUES ($1, $2)";
pub(crate) const INSERT_TOKEN_APP: &str = "INSERT INTO api_token_apps (token_id, app_id) VALUES ($1, $2)";

/// The audit events a query's filters select ($1 since, $2 until, $5 actor, $6 action, $7 an
/// action prefix pattern, $8 app, $9 to $11 a user as actor, target and named in the summary);
/// the caller adds the cursor ($3) and limit ($4).
macro_rules! audit_filter {
    () => {
        "SELECT id, at, actor, action, target_kind, target_id, summary FROM audit_events \
         WHERE at >= $1 AND at < $2 \
         AND ($5 IS NULL OR actor = $5) \
         AND ($6 IS NULL OR action = $6) \
         AND ($7 IS NULL OR action LIKE $7) \
         AND ($8 IS NULL OR (target_kind = 'app' AND target_id = $8)) \
         AND ($9 IS NULL OR actor = $9 OR (target_kind = 'user' AND target_id = $10) OR summary LIKE $11)"
    };
}
pub(crate) use audit_filter;

macro_rules! app_columns {
    () => {
        "id, kind, label, description, portal_image, show_in_portal, issuer, config, require_mfa, phishing_resistant, passwordless, allowed_networks, \
         created_at, updated_at, \
         (SELECT certificate FROM signing_keys k WHERE k.app_id = apps.id AND k.slot = 'current') AS current_certificate, \
         (SELECT certificate FROM signing_keys k WHERE k.app_id = apps.id AND k.slot = 'next') AS next_certificate, \
         (SELECT certificate FROM previous_certificates p WHERE p.app_id = apps.id) AS previous_certificate, \
         (SELECT published_until FROM previous_certificates p WHERE p.app_id = apps.id) AS previous_until"
    };
}

macro_rules! key_columns {
    () => {
        "id, app_id, slot, bits, sealed_private_key, certificate, not_after, created_at"
    };
}

pub(crate) use {app_columns, key_columns, user_columns};

/// Refuses a database whose schema is newer than this binary's migrations: an older binary
/// must not write to it.
pub(crate) fn check_schema_version(applied: Option<i64>, migrator: &sqlx::migrate::Migrator) -> Result<(), StoreError> {
    let binary = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    match applied {
        Some(database) if database > binary => Err(StoreError::SchemaTooNew { database, binary }),
        _ => Ok(()),
    }
}

/// Expands to the role-trait implementations for a store type with a `pool` of backend `$db`.
/// `$begin_write` opens a write transaction (SQLite takes its write lock up front, so two
/// writers queue instead of failing on a lock upgrade).
macro_rules! impl_sql_store {
    ($store:ident, $db:ty, $row:ty, $begin_write:expr, $backend:expr) => {
        crate::sql::impl_sql_common!($store, $db, $row, $begin_write, $backend);
        crate::sql::impl_users!($store, $db, $row, $backend);
        crate::sql::impl_groups!($store, $db, $row, $backend);
        crate::sql::impl_apps!($store, $db, $row, $backend);
        crate::sql::impl_grants!($store, $db, $row, $backend);
        crate::sql::impl_keys!($store, $db, $row, $backend);
        crate::sql::impl_sessions!($store, $db, $row, $backend);
        crate::sql::impl_replay!($store, $db, $row, $backend);
        crate::sql::impl_parking!($store, $db, $row, $backend);
        crate::sql::impl_mfa!($store, $db, $row, $backend);
        crate::sql::impl_passkeys!($store, $db, $row, $backend);
        crate::sql::impl_lockout!($store, $db, $row, $backend);
        crate::sql::impl_audit!($store, $db, $row, $backend);
        crate::sql::impl_admins!($store, $db, $row, $backend);
        crate::sql::impl_admin_sign_in!($store, $db, $row, $backend);
        crate::sql::impl_settings!($store, $db, $row, $backend);
        crate::sql::impl_sources!($store, $db, $row, $backend);
        crate::sql::impl_source_sync!($store, $db, $row, $backend);
    };
}

pub(crate) use impl_sql_store;
