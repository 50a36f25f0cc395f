//! The SQL both backends share. SQLite and PostgreSQL accept the same statements here (`$n`
//! parameters, `RETURNING`, `ON CONFLICT`, expression indexes), so one body of code, expanded
//! once per backend by [`impl_sql_store!`], serves both; only the migrations differ.

use std::str::FromStr;

use tessera_core::AppKind;

use crate::StoreError;

/// Message IDs longer than this are remembered by their SHA-256.
pub(crate) const MAX_STORED_MESSAGE_ID: usize = 128;

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
    StoreError::Database(err)
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
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
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
    image.map(|image| sha2::Sha256::digest(image.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect())
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
        "id, kind, label, description, portal_image, show_in_portal, issuer, config, require_mfa, allowed_networks, \
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

/// Expands to the role-trait implementations for a store type with a `pool` of backend `$db`.
/// `$begin_write` opens a write transaction (SQLite takes its write lock up front, so two
/// writers queue instead of failing on a lock upgrade).
macro_rules! impl_sql_store {
    ($store:ident, $db:ty, $row:ty, $begin_write:expr, $backend:expr) => {
        use async_trait::async_trait;
        use serde_json::json;
        use sqlx::Row as _;
        use tessera_core::{
            AccessDecision, Actor, AdminRole, AppId, Application, AuditAction, AuditEvent, Group, GroupId, NewApplication, NewAuditEvent,
            NewGroup, NewUser, User, UserId, UserState, evaluate_access,
        };

        use crate::sql::{map_unique, next_cursor, parse_id, parse_kind, parse_role};
        use crate::traits::{
            AdminSession, AdminSignInStore, AdminStore, Administrator, ApiToken, AppStore, AuditQuery, AuditStore, GroupStore, KeySlot, KeyStore, Location,
            LockoutCounter, LockoutStore, MfaStore, NewSigningKey, Page, PageRequest, ParkedRequest, ParkingStore, PreviousCertificate, ReplayStore,
            Session, SessionStore, SettingsStore, StoredKey, TotpCredential, UserStore, AuditLog,
        };
        use tessera_core::policy::AccessPolicy;
        use crate::StoreError;

        type Tx = sqlx::Transaction<'static, $db>;

        impl $store {
            async fn write_tx(&self) -> Result<Tx, StoreError> {
                // Invalidated before the write as well as by it: a read that races this
                // transaction must not be cached under the new generation.
                self.cache.invalidate();
                let tx = self.writer.begin_with($begin_write).await?;
                Ok(tx)
            }

            async fn commit(&self, tx: Tx) -> Result<(), StoreError> {
                tx.commit().await?;
                self.cache.invalidate();
                Ok(())
            }

            /// The group-commit writer for audit records and message IDs, on `writer`.
            fn start_batcher(writer: sqlx::Pool<$db>) -> crate::batch::WriteBatcher {
                let remembered = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
                crate::batch::WriteBatcher::spawn(move |writes| {
                    let writer = writer.clone();
                    let remembered = remembered.clone();
                    async move { Self::write_batch(&writer, &remembered, writes).await }
                })
            }

            async fn write_batch(
                writer: &sqlx::Pool<$db>,
                remembered: &std::sync::atomic::AtomicU32,
                writes: Vec<crate::batch::BatchedWrite>,
            ) -> Vec<crate::batch::Outcome> {
                let mut outcomes: Vec<crate::batch::Outcome> = vec![Ok(false); writes.len()];
                let mut split = crate::batch::SplitBatch::of(writes);
                if !split.audits.is_empty() {
                    // One statement for the batch; if it fails, each row alone, so that one bad
                    // row fails only its own caller.
                    let all: Vec<_> = split.audits.iter().collect();
                    let results = match Self::insert_audits(writer, &all).await {
                        Ok(()) => vec![Ok(true); all.len()],
                        Err(_) if all.len() > 1 => {
                            let mut results = Vec::with_capacity(all.len());
                            for audit in &all {
                                results.push(Self::insert_audits(writer, &[*audit]).await.map(|()| true));
                            }
                            results
                        }
                        Err(e) => vec![Err(e)],
                    };
                    for ((position, ..), result) in split.audits.iter().zip(results) {
                        outcomes[*position] = result;
                    }
                }
                if !split.replays.is_empty() {
                    let now = split.now;
                    // Expired rows are swept now and then rather than on every batch. A failed
                    // sweep costs only table size: expired rows are taken over by the insert.
                    let before = remembered.fetch_add(split.replays.len() as u32, std::sync::atomic::Ordering::Relaxed);
                    if before / crate::sql::REPLAY_SWEEP_EVERY
                        != (before + split.replays.len() as u32) / crate::sql::REPLAY_SWEEP_EVERY
                    {
                        if let Err(e) = sqlx::query("DELETE FROM message_replay WHERE expires_at < $1").bind(now).execute(writer).await {
                            tracing::warn!(error = %e, "sweeping expired message IDs failed");
                        }
                    }
                    // Rows in key order: two nodes inserting overlapping IDs lock them in the same
                    // order, so they cannot deadlock.
                    split.replays.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
                    let all: Vec<_> = split.replays.iter().collect();
                    let results: Vec<crate::batch::Outcome> = match Self::insert_replays(writer, now, &all).await {
                        Ok(new) => all.iter().map(|(_, issuer, id, _)| Ok(new.contains(&(issuer.clone(), id.clone())))).collect(),
                        Err(_) if all.len() > 1 => {
                            let mut results = Vec::with_capacity(all.len());
                            for replay in &all {
                                results.push(Self::insert_replays(writer, now, &[*replay]).await.map(|new| !new.is_empty()));
                            }
                            results
                        }
                        Err(e) => vec![Err(e)],
                    };
                    for ((position, ..), result) in split.replays.iter().zip(results) {
                        outcomes[*position] = result;
                    }
                }
                outcomes
            }

            async fn insert_audits(
                writer: &sqlx::Pool<$db>,
                audits: &[&(usize, i64, String, NewAuditEvent)],
            ) -> Result<(), String> {
                let mut insert = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO audit_events (at, actor, action, target_kind, target_id, summary) ",
                );
                insert.push_values(audits, |mut row, (_, at, actor, event)| {
                    row.push_bind(*at)
                        .push_bind(actor.as_str())
                        .push_bind(event.action.as_str())
                        .push_bind(event.target_kind)
                        .push_bind(event.target_id.as_str())
                        .push_bind(event.summary.to_string());
                });
                insert.build().execute(writer).await.map(|_| ()).map_err(|e| e.to_string())
            }

            /// One statement decides, so two nodes racing on one ID cannot both win; an expired
            /// row is taken over. Returns the (issuer, ID) pairs that were new.
            async fn insert_replays(
                writer: &sqlx::Pool<$db>,
                now: i64,
                replays: &[&(usize, String, String, i64)],
            ) -> Result<std::collections::HashSet<(String, String)>, String> {
                let mut insert = sqlx::QueryBuilder::<$db>::new("INSERT INTO message_replay (issuer, message_id, expires_at) ");
                insert.push_values(replays, |mut row, (_, issuer, message_id, expires_at)| {
                    row.push_bind(issuer.as_str()).push_bind(message_id.as_str()).push_bind(*expires_at);
                });
                insert
                    .push(" ON CONFLICT (issuer, message_id) DO UPDATE SET expires_at = excluded.expires_at WHERE message_replay.expires_at < ")
                    .push_bind(now)
                    .push(" RETURNING issuer, message_id");
                let rows = insert.build().fetch_all(writer).await.map_err(|e| e.to_string())?;
                let mut new = std::collections::HashSet::new();
                for row in &rows {
                    new.insert((row.try_get::<String, _>(0).map_err(|e| e.to_string())?, row.try_get::<String, _>(1).map_err(|e| e.to_string())?));
                }
                Ok(new)
            }

            async fn append_audit(tx: &mut Tx, actor: &Actor, at: i64, event: NewAuditEvent) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO audit_events (at, actor, action, target_kind, target_id, summary) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(at)
                .bind(&actor.0)
                .bind(event.action.as_str())
                .bind(event.target_kind)
                .bind(&event.target_id)
                .bind(event.summary.to_string())
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            fn user_from_row(row: &$row) -> Result<User, StoreError> {
                let state: String = row.try_get("state")?;
                Ok(User {
                    id: parse_id(&row.try_get::<String, _>("id")?)?,
                    email: row.try_get("email")?,
                    upn: row.try_get("upn")?,
                    first_name: row.try_get("first_name")?,
                    last_name: row.try_get("last_name")?,
                    immutable_id: row.try_get("immutable_id")?,
                    state: UserState::parse(&state).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    password_hash: row.try_get("password_hash")?,
                    notice_acknowledged_at: row.try_get("notice_acknowledged_at")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn group_from_row(row: &$row) -> Result<Group, StoreError> {
                Ok(Group {
                    id: parse_id(&row.try_get::<String, _>("id")?)?,
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            /// An application as read now: a previous certificate is published as next only
            /// until its grace period ends (whether or not anything cleared it yet), and only
            /// when no certificate is staged.
            fn app_from_row(&self, row: &$row) -> Result<Application, StoreError> {
                let staged: Option<Vec<u8>> = row.try_get("next_certificate")?;
                let previous: Option<Vec<u8>> = row.try_get("previous_certificate")?;
                let until: Option<i64> = row.try_get("previous_until")?;
                let now = self.clock.now_millis();
                let published_previous = previous.filter(|_| until.is_some_and(|until| until > now));
                Ok(Application {
                    id: parse_id(&row.try_get::<String, _>("id")?)?,
                    label: row.try_get("label")?,
                    description: row.try_get("description")?,
                    portal_image: row.try_get("portal_image")?,
                    show_in_portal: row.try_get("show_in_portal")?,
                    issuer: row.try_get("issuer")?,
                    kind: parse_kind(&row.try_get::<String, _>("config")?)?,
                    policy: tessera_core::policy::AccessPolicy {
                        require_mfa: row.try_get("require_mfa")?,
                        allowed_networks: serde_json::from_str(&row.try_get::<String, _>("allowed_networks")?)
                            .map_err(|e| StoreError::Corrupt(format!("allowed networks: {e}")))?,
                    },
                    certificates: tessera_core::SigningCertificates {
                        current: row.try_get("current_certificate")?,
                        next: staged.or(published_previous),
                    },
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn key_from_row(row: &$row) -> Result<StoredKey, StoreError> {
                let bits: i64 = row.try_get("bits")?;
                Ok(StoredKey {
                    id: row.try_get("id")?,
                    app_id: parse_id(&row.try_get::<String, _>("app_id")?)?,
                    slot: KeySlot::parse(&row.try_get::<String, _>("slot")?)?,
                    bits: u32::try_from(bits).map_err(|_| StoreError::Corrupt(format!("key size {bits}")))?,
                    sealed_private_key: row.try_get("sealed_private_key")?,
                    certificate_der: row.try_get("certificate")?,
                    not_after: row.try_get("not_after")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            async fn insert_key(tx: &mut Tx, app: AppId, slot: KeySlot, key: &NewSigningKey, at: i64) -> Result<StoredKey, StoreError> {
                let row = sqlx::query(concat!(
                    "INSERT INTO signing_keys (id, app_id, slot, bits, sealed_private_key, certificate, not_after, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
                    crate::sql::key_columns!()
                ))
                .bind(&key.id)
                .bind(app.to_string())
                .bind(slot.as_str())
                .bind(i64::from(key.bits))
                .bind(&key.sealed_private_key)
                .bind(&key.certificate_der)
                .bind(key.not_after)
                .bind(at)
                .fetch_one(&mut **tx)
                .await
                .map_err(|e| map_unique(e, &[("signing_keys_slot_key", "slot", format!("the app already has a {} key", slot.as_str()))]))?;
                Self::key_from_row(&row)
            }

            fn session_from_row(row: &$row) -> Result<Session, StoreError> {
                Self::session_from_columns(row, "created_at")
            }

            /// A session from a row whose creation time is in column `created_at` (a join with
            /// `users` renames it, the user having its own).
            fn session_from_columns(row: &$row, created_at: &str) -> Result<Session, StoreError> {
                Ok(Session {
                    id_hash: row.try_get("id_hash")?,
                    user_id: parse_id(&row.try_get::<String, _>("user_id")?)?,
                    authn: serde_json::from_str(&row.try_get::<String, _>("factors")?)
                        .map_err(|e| StoreError::Corrupt(format!("session factors: {e}")))?,
                    complete: row.try_get("complete")?,
                    created_at: row.try_get(created_at)?,
                    last_seen_at: row.try_get("last_seen_at")?,
                    expires_at: row.try_get("expires_at")?,
                })
            }

            async fn insert_session(tx: &mut Tx, session: &Session) -> Result<(), StoreError> {
                let factors = serde_json::to_string(&session.authn).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO sessions (id_hash, user_id, factors, complete, created_at, last_seen_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&session.id_hash)
                .bind(session.user_id.to_string())
                .bind(factors)
                .bind(session.complete)
                .bind(session.created_at)
                .bind(session.last_seen_at)
                .bind(session.expires_at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            fn admin_from_row(row: &$row) -> Result<Administrator, StoreError> {
                Ok(Administrator {
                    id: row.try_get("id")?,
                    username: row.try_get("username")?,
                    password_hash: row.try_get("password_hash")?,
                    must_change_password: row.try_get("must_change_password")?,
                    role: parse_role(&row.try_get::<String, _>("role")?)?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn token_from_row(row: &$row) -> Result<ApiToken, StoreError> {
                Ok(ApiToken {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                    role: parse_role(&row.try_get::<String, _>("role")?)?,
                })
            }

            /// Makes the grants held on one side (`side.fixed`: an application's groups, or a
            /// group's applications) exactly `wanted`, in one transaction: both sides must exist,
            /// each grant and revoke is audited as the application's (from whichever side).
            async fn replace_grants(
                &self,
                actor: &Actor,
                side: &crate::sql::GrantSide,
                fixed: &str,
                wanted: std::collections::BTreeSet<String>,
            ) -> Result<(usize, usize), StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                if sqlx::query(side.fixed_exists).bind(fixed).fetch_optional(&mut *tx).await?.is_none() {
                    return Err(StoreError::not_found(side.fixed_kind, fixed));
                }
                for other in &wanted {
                    if sqlx::query(side.other_exists).bind(other).fetch_optional(&mut *tx).await?.is_none() {
                        return Err(StoreError::not_found(side.other_kind, other.clone()));
                    }
                }
                let rows = sqlx::query(side.held).bind(fixed).fetch_all(&mut *tx).await?;
                let held: std::collections::BTreeSet<String> =
                    rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<_, _>>()?;
                let pair = |other: &str| if side.fixed_is_app { (fixed.to_string(), other.to_string()) } else { (other.to_string(), fixed.to_string()) };
                let (mut granted, mut revoked) = (0, 0);
                for other in wanted.difference(&held) {
                    let (app, group) = pair(other);
                    sqlx::query("INSERT INTO grants (app_id, group_id, created_at) VALUES ($1, $2, $3)")
                        .bind(&app)
                        .bind(&group)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    let event = NewAuditEvent::new(AuditAction::AppGrant, "app", &app, json!({"group_id": group}));
                    Self::append_audit(&mut tx, actor, at, event).await?;
                    granted += 1;
                }
                for other in held.difference(&wanted) {
                    let (app, group) = pair(other);
                    sqlx::query("DELETE FROM grants WHERE app_id = $1 AND group_id = $2")
                        .bind(&app)
                        .bind(&group)
                        .execute(&mut *tx)
                        .await?;
                    let event = NewAuditEvent::new(AuditAction::AppRevoke, "app", &app, json!({"group_id": group}));
                    Self::append_audit(&mut tx, actor, at, event).await?;
                    revoked += 1;
                }
                self.commit(tx).await?;
                Ok((granted, revoked))
            }

            /// An application administrator's applications, written by `insert` (into
            /// `admin_apps` or `api_token_apps`); other roles keep none. An application that is
            /// not there is `NotFound`. Returns the ids written, for the audit record.
            async fn put_scope(
                tx: &mut Tx,
                insert: &'static str,
                principal: &str,
                role: AdminRole,
                apps: &[AppId],
            ) -> Result<Vec<String>, StoreError> {
                if role != AdminRole::AppAdmin {
                    return Ok(Vec::new());
                }
                let mut written: Vec<String> = apps.iter().map(ToString::to_string).collect();
                written.sort();
                written.dedup();
                for app in &written {
                    let exists: i64 = sqlx::query("SELECT COUNT(*) FROM apps WHERE id = $1")
                        .bind(app)
                        .fetch_one(&mut **tx)
                        .await?
                        .try_get(0)?;
                    if exists == 0 {
                        return Err(StoreError::not_found("application", app));
                    }
                    sqlx::query(insert).bind(principal).bind(app).execute(&mut **tx).await?;
                }
                Ok(written)
            }
        }

        #[async_trait]
        impl UserStore for $store {
            async fn create_user(&self, actor: &Actor, user: NewUser) -> Result<User, StoreError> {
                let id = UserId::new();
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                // The email and UPN name one user each, across both columns, so that a lookup
                // by either is never ambiguous.
                let taken = sqlx::query(
                    "SELECT email FROM users WHERE lower(email) IN (lower($1), lower($2)) \
                     OR lower(upn) IN (lower($1), lower($2)) LIMIT 1",
                )
                .bind(&user.email)
                .bind(&user.upn)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = taken {
                    let other: String = row.try_get(0)?;
                    return Err(StoreError::Conflict {
                        field: "email",
                        message: format!("email or UPN already used by user {other}"),
                    });
                }
                let row = sqlx::query(concat!(
                    "INSERT INTO users (id, email, upn, first_name, last_name, immutable_id, state, password_hash, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $8) RETURNING ",
                    crate::sql::user_columns!()
                ))
                    .bind(id.to_string())
                    .bind(&user.email)
                    .bind(&user.upn)
                    .bind(&user.first_name)
                    .bind(&user.last_name)
                    .bind(&user.immutable_id)
                    .bind(&user.password_hash)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| {
                        map_unique(e, &[
                            ("users_email_key", "email", format!("a user with email {} exists already", user.email)),
                            ("users_upn_key", "upn", format!("a user with UPN {} exists already", user.upn)),
                            (
                                "users_immutable_id_key",
                                "immutable_id",
                                format!("a user with immutable ID {} exists already", user.immutable_id),
                            ),
                        ])
                    })?;
                let created = Self::user_from_row(&row)?;
                let summary = json!({
                    "email": created.email, "upn": created.upn, "first_name": created.first_name,
                    "last_name": created.last_name, "immutable_id": created.immutable_id,
                    "password_set": created.password_hash.is_some(),
                });
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserCreate, "user", id, summary)).await?;
                self.commit(tx).await?;
                Ok(created)
            }

            async fn import_users(&self, actor: &Actor, rows: &[tessera_core::import::ImportRow], dry_run: bool) -> Result<crate::traits::ImportOutcome, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let mut outcome = crate::traits::ImportOutcome::default();
                for row in rows {
                    let user = &row.user;
                    let taken = sqlx::query(
                        "SELECT email, immutable_id = $3 AS anchor FROM users WHERE lower(email) IN (lower($1), lower($2)) \
                         OR lower(upn) IN (lower($1), lower($2)) OR immutable_id = $3 LIMIT 1",
                    )
                    .bind(&user.email)
                    .bind(&user.upn)
                    .bind(&user.immutable_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(taken) = taken {
                        let other: String = taken.try_get(0)?;
                        let message = match taken.try_get::<bool, _>(1)? {
                            true => format!("immutable ID {} is already user {other}'s", user.immutable_id),
                            false => format!("{} or {} is already used by user {other}", user.email, user.upn),
                        };
                        outcome.clashes.push((row.line, message));
                    }
                }
                // Each group once, in the order the file first names it.
                let mut groups: Vec<(String, Option<String>)> = Vec::new();
                for name in rows.iter().flat_map(|r| r.groups.iter()) {
                    if groups.iter().any(|(g, _)| g.eq_ignore_ascii_case(name)) {
                        continue;
                    }
                    let found = sqlx::query("SELECT id FROM user_groups WHERE lower(name) = lower($1)")
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let id = found.map(|row| row.try_get::<String, _>(0)).transpose()?;
                    if id.is_none() {
                        outcome.new_groups.push(name.clone());
                    }
                    groups.push((name.clone(), id));
                }
                outcome.users = rows.len();
                outcome.memberships = rows.iter().map(|r| r.groups.len()).sum();
                if dry_run || !outcome.clashes.is_empty() {
                    return Ok(outcome);
                }
                for (name, id) in &mut groups {
                    if id.is_some() {
                        continue;
                    }
                    let group = GroupId::new();
                    let new = tessera_core::NewGroup::new(name, None)?;
                    sqlx::query("INSERT INTO user_groups (id, name, description, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(group.to_string())
                        .bind(&new.name)
                        .bind(&new.description)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    let summary = json!({"name": new.name, "description": new.description, "import": true});
                    Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::GroupCreate, "group", group, summary)).await?;
                    *id = Some(group.to_string());
                }
                for row in rows {
                    let user = &row.user;
                    let id = UserId::new();
                    sqlx::query(
                        "INSERT INTO users (id, email, upn, first_name, last_name, immutable_id, state, password_hash, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $8)",
                    )
                    .bind(id.to_string())
                    .bind(&user.email)
                    .bind(&user.upn)
                    .bind(&user.first_name)
                    .bind(&user.last_name)
                    .bind(&user.immutable_id)
                    .bind(&user.password_hash)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, &[("users_", "email", format!("line {}: {} clashes with a user created meanwhile", row.line, user.email))]))?;
                    let summary = json!({
                        "email": user.email, "upn": user.upn, "first_name": user.first_name,
                        "last_name": user.last_name, "immutable_id": user.immutable_id,
                        "password_set": user.password_hash.is_some(), "import": true,
                    });
                    Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserCreate, "user", id, summary)).await?;
                    for name in &row.groups {
                        let Some((_, Some(group))) = groups.iter().find(|(g, _)| g.eq_ignore_ascii_case(name)) else {
                            continue;
                        };
                        sqlx::query("INSERT INTO memberships (group_id, user_id, created_at) VALUES ($1, $2, $3)")
                            .bind(group)
                            .bind(id.to_string())
                            .bind(at)
                            .execute(&mut *tx)
                            .await?;
                        let event = NewAuditEvent::new(AuditAction::GroupAddMember, "group", group.as_str(), json!({"user_id": id.to_string()}));
                        Self::append_audit(&mut tx, actor, at, event).await?;
                    }
                }
                self.commit(tx).await?;
                outcome.written = true;
                Ok(outcome)
            }

            async fn find_user(&self, key: &str) -> Result<User, StoreError> {
                let row = if let Ok(id) = key.parse::<UserId>() {
                    sqlx::query(concat!("SELECT ", crate::sql::user_columns!(), " FROM users ", "WHERE id = $1"))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?
                } else {
                    sqlx::query(concat!(
                        "SELECT ",
                        crate::sql::user_columns!(),
                        " FROM users WHERE lower(email) = lower($1) OR lower(upn) = lower($1) \
                         ORDER BY CASE WHEN lower(email) = lower($1) THEN 0 ELSE 1 END LIMIT 1"
                    ))
                    .bind(key.trim())
                    .fetch_optional(&self.pool)
                    .await?
                };
                match row {
                    Some(row) => Self::user_from_row(&row),
                    None => Err(StoreError::not_found("user", key)),
                }
            }

            async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
                let limit = page.effective_limit();
                let rows = sqlx::query(concat!("SELECT ", crate::sql::user_columns!(), " FROM users ", "WHERE id > $1 ORDER BY id LIMIT $2"))
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(limit + 1)
                    .fetch_all(&self.pool)
                    .await?;
                let mut items = rows.iter().map(Self::user_from_row).collect::<Result<Vec<_>, _>>()?;
                let next = next_cursor(&mut items, limit, |u| u.id.to_string());
                Ok(Page { items, next })
            }

            async fn set_password(&self, actor: &Actor, user: UserId, password_hash: &str) -> Result<(), StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                    .bind(password_hash)
                    .bind(at)
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found("user", user.to_string()));
                }
                let event = NewAuditEvent::new(AuditAction::UserSetPassword, "user", user, json!({"password_set": true}));
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn set_user_state(&self, actor: &Actor, user: UserId, state: UserState) -> Result<User, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(concat!(
                    "UPDATE users SET state = $1, updated_at = $2 WHERE id = $3 RETURNING ",
                    crate::sql::user_columns!()
                ))
                .bind(state.as_str())
                .bind(at)
                .bind(user.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::not_found("user", user.to_string()));
                };
                let updated = Self::user_from_row(&row)?;
                let event = NewAuditEvent::new(AuditAction::UserSetState, "user", user, json!({"state": state.as_str()}));
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn delete_user(&self, actor: &Actor, user: UserId) -> Result<(), StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query("DELETE FROM users WHERE id = $1 RETURNING email")
                    .bind(user.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err(StoreError::not_found("user", user.to_string()));
                };
                let email: String = row.try_get(0)?;
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserDelete, "user", user, json!({"email": email}))).await?;
                self.commit(tx).await?;
                Ok(())
            }
        }

        #[async_trait]
        impl GroupStore for $store {
            async fn create_group(&self, actor: &Actor, group: NewGroup) -> Result<Group, StoreError> {
                let id = GroupId::new();
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO user_groups (id, name, description, created_at) VALUES ($1, $2, $3, $4) \
                     RETURNING id, name, description, created_at",
                )
                .bind(id.to_string())
                .bind(&group.name)
                .bind(&group.description)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[("user_groups_name_key", "name", format!("a group named {:?} exists already", group.name))]))?;
                let created = Self::group_from_row(&row)?;
                let summary = json!({"name": created.name, "description": created.description});
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::GroupCreate, "group", id, summary)).await?;
                self.commit(tx).await?;
                Ok(created)
            }

            async fn find_group(&self, key: &str) -> Result<Group, StoreError> {
                let row = if let Ok(id) = key.parse::<GroupId>() {
                    sqlx::query("SELECT id, name, description, created_at FROM user_groups WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?
                } else {
                    sqlx::query("SELECT id, name, description, created_at FROM user_groups WHERE lower(name) = lower($1)")
                        .bind(key.trim())
                        .fetch_optional(&self.pool)
                        .await?
                };
                match row {
                    Some(row) => Self::group_from_row(&row),
                    None => Err(StoreError::not_found("group", key)),
                }
            }

            async fn list_groups(&self, page: &PageRequest) -> Result<Page<Group>, StoreError> {
                let limit = page.effective_limit();
                let rows = sqlx::query(
                    "SELECT id, name, description, created_at FROM user_groups WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(page.after.clone().unwrap_or_default())
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?;
                let mut items = rows.iter().map(Self::group_from_row).collect::<Result<Vec<_>, _>>()?;
                let next = next_cursor(&mut items, limit, |g| g.id.to_string());
                Ok(Page { items, next })
            }

            async fn delete_group(&self, actor: &Actor, group: GroupId) -> Result<(), StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query("DELETE FROM user_groups WHERE id = $1 RETURNING name")
                    .bind(group.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err(StoreError::not_found("group", group.to_string()));
                };
                let name: String = row.try_get(0)?;
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::GroupDelete, "group", group, json!({"name": name}))).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn add_member(&self, actor: &Actor, group: GroupId, user: UserId) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "INSERT INTO memberships (group_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(group.to_string())
                .bind(user.to_string())
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[]))?;
                let added = done.rows_affected() == 1;
                if added {
                    let event = NewAuditEvent::new(AuditAction::GroupAddMember, "group", group, json!({"user_id": user.to_string()}));
                    Self::append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(added)
            }

            async fn remove_member(&self, actor: &Actor, group: GroupId, user: UserId) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("DELETE FROM memberships WHERE group_id = $1 AND user_id = $2")
                    .bind(group.to_string())
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
                let removed = done.rows_affected() == 1;
                if removed {
                    let event = NewAuditEvent::new(AuditAction::GroupRemoveMember, "group", group, json!({"user_id": user.to_string()}));
                    Self::append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(removed)
            }

            async fn group_members(&self, group: GroupId) -> Result<Vec<User>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", crate::sql::user_columns!(), " FROM users ", "WHERE id IN (SELECT user_id FROM memberships WHERE group_id = $1) ORDER BY id"))
                .bind(group.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::user_from_row).collect()
            }

            async fn groups_of_user(&self, user: UserId) -> Result<Vec<Group>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, name, description, created_at FROM user_groups \
                     WHERE id IN (SELECT group_id FROM memberships WHERE user_id = $1) ORDER BY id",
                )
                .bind(user.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::group_from_row).collect()
            }
        }

        #[async_trait]
        impl AppStore for $store {
            async fn create_app(
                &self,
                actor: &Actor,
                app: NewApplication,
                signing_key: Option<NewSigningKey>,
            ) -> Result<Application, StoreError> {
                let at = self.clock.now_millis();
                let config = serde_json::to_string(&app.kind).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO apps (id, kind, label, description, portal_image, show_in_portal, issuer, domain, \
                     sp_entity_id, config, created_at, updated_at, idp_path) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
                )
                    .bind(app.id.to_string())
                    .bind(app.kind.name())
                    .bind(&app.label)
                    .bind(&app.description)
                    .bind(&app.portal_image)
                    .bind(app.show_in_portal)
                    .bind(&app.issuer)
                    .bind(app.kind.m365_domain())
                    .bind(app.kind.sp_entity_id())
                    .bind(&config)
                    .bind(at)
                    .bind(app.kind.m365_idp_path())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        map_unique(e, &[
                            // The IdP path defaults to the domain, so a domain clash may surface
                            // through the path's index.
                            if app.kind.m365_idp_path() == app.kind.m365_domain() {
                                (
                                    "apps_idp_path_key",
                                    "domain",
                                    format!(
                                        "domain {} belongs to another Microsoft 365 application already",
                                        app.kind.m365_domain().unwrap_or_default()
                                    ),
                                )
                            } else {
                                (
                                    "apps_idp_path_key",
                                    "idp_path",
                                    format!(
                                        "the IdP URL {} belongs to another Microsoft 365 application already",
                                        app.kind.m365_idp_path().unwrap_or_default()
                                    ),
                                )
                            },
                            ("apps_label_key", "label", format!("an application labelled {:?} exists already", app.label)),
                            (
                                "apps_domain_key",
                                "domain",
                                format!(
                                    "domain {} belongs to another Microsoft 365 application already",
                                    app.kind.m365_domain().unwrap_or_default()
                                ),
                            ),
                            (
                                "apps_sp_entity_id_key",
                                "entity_id",
                                format!(
                                    "a SAML application for entity ID {} exists already",
                                    app.kind.sp_entity_id().unwrap_or_default()
                                ),
                            ),
                            // An M365 issuer is templated from the domain, so SQLite may report
                            // a domain clash through the issuer index.
                            match app.kind.m365_domain() {
                                Some(domain) => (
                                    "apps_issuer_key",
                                    "domain",
                                    format!("domain {domain} belongs to another Microsoft 365 application already"),
                                ),
                                None => ("apps_issuer_key", "issuer", "another application signs as that issuer".to_string()),
                            },
                        ])
                    })?;
                if let Some(key) = &signing_key {
                    Self::insert_key(&mut tx, app.id, KeySlot::Current, key, at).await?;
                }
                let row = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps WHERE id = $1"))
                    .bind(app.id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                let created = self.app_from_row(&row)?;
                let summary = json!({
                    "kind": created.kind.name(), "label": created.label, "issuer": created.issuer,
                    "config": serde_json::to_value(&created.kind).unwrap_or_default(),
                    "signing_certificate_sha256": signing_key.as_ref().map(|k| k.thumbprint.clone()),
                });
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppCreate, "app", app.id, summary)).await?;
                self.commit(tx).await?;
                Ok(created)
            }

            async fn find_app(&self, key: &str) -> Result<Application, StoreError> {
                let row = if let Ok(id) = key.parse::<AppId>() {
                    sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps ", "WHERE id = $1"))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?
                } else {
                    sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps ", "WHERE lower(label) = lower($1)"))
                        .bind(key.trim())
                        .fetch_optional(&self.pool)
                        .await?
                };
                match row {
                    Some(row) => self.app_from_row(&row),
                    None => Err(StoreError::not_found("application", key)),
                }
            }

            async fn find_app_by_domain(&self, domain: &str) -> Result<Application, StoreError> {
                let row = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps WHERE domain = $1"))
                    .bind(domain.trim().to_ascii_lowercase())
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => self.app_from_row(&row),
                    None => Err(StoreError::not_found("Microsoft 365 domain", domain)),
                }
            }

            async fn find_app_by_idp_path(&self, idp_path: &str) -> Result<Application, StoreError> {
                let key = idp_path.trim().to_ascii_lowercase();
                if let Some(app) = self.cache.get(&self.cache.apps_by_path, &key) {
                    return Ok(app);
                }
                let ticket = self.cache.ticket();
                let row = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps WHERE idp_path = $1"))
                    .bind(&key)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => {
                        let app = self.app_from_row(&row)?;
                        self.cache.put(&self.cache.apps_by_path, ticket, key, app.clone());
                        Ok(app)
                    }
                    None => Err(StoreError::not_found("Microsoft 365 IdP URL", idp_path)),
                }
            }

            async fn update_app_kind(&self, actor: &Actor, app: AppId, kind: &tessera_core::AppKind) -> Result<Application, StoreError> {
                let at = self.clock.now_millis();
                let config = serde_json::to_string(kind).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.write_tx().await?;
                let before: Option<String> = sqlx::query_scalar("SELECT config FROM apps WHERE id = $1")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(before) = before else { return Err(StoreError::not_found("application", app.to_string())) };
                let before_kind = parse_kind(&before)?;
                if before_kind.name() != kind.name()
                    || before_kind.m365_domain() != kind.m365_domain()
                    || before_kind.m365_idp_path() != kind.m365_idp_path()
                    || before_kind.sp_entity_id() != kind.sp_entity_id()
                {
                    return Err(StoreError::Invalid(tessera_core::CoreError::invalid(
                        "settings",
                        "the kind, domain, IdP URL and SP entity ID of an application are fixed",
                    )));
                }
                sqlx::query("UPDATE apps SET config = $1, updated_at = $2 WHERE id = $3")
                    .bind(&config)
                    .bind(at)
                    .bind(app.to_string())
                    .execute(&mut *tx)
                    .await?;
                let summary = json!({
                    "before": serde_json::from_str::<serde_json::Value>(&before).unwrap_or_default(),
                    "after": serde_json::to_value(kind).unwrap_or_default(),
                });
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppUpdate, "app", app, summary)).await?;
                let row = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps WHERE id = $1"))
                    .bind(app.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                let updated = self.app_from_row(&row)?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn update_app_details(
                &self,
                actor: &Actor,
                app: AppId,
                details: &crate::AppDetails<'_>,
            ) -> Result<Application, StoreError> {
                let label = tessera_core::validate::label("label", details.label)?;
                let description = tessera_core::validate::description(details.description)?;
                if let Some(image) = details.portal_image {
                    tessera_core::app::validate_portal_image(image)?;
                }
                let show_in_portal = details.show_in_portal;
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let before = sqlx::query("SELECT label, description, portal_image, show_in_portal FROM apps WHERE id = $1")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(before) = before else { return Err(StoreError::not_found("application", app.to_string())) };
                let before = json!({
                    "label": before.try_get::<String, _>("label")?,
                    "description": before.try_get::<String, _>("description")?,
                    "portal_image": crate::sql::image_fingerprint(before.try_get::<Option<String>, _>("portal_image")?.as_deref()),
                    "show_in_portal": before.try_get::<bool, _>("show_in_portal")?,
                });
                sqlx::query("UPDATE apps SET label = $1, description = $2, portal_image = $3, show_in_portal = $4, updated_at = $5 WHERE id = $6")
                    .bind(&label)
                    .bind(&description)
                    .bind(details.portal_image)
                    .bind(show_in_portal)
                    .bind(at)
                    .bind(app.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, &[("apps_label_key", "label", format!("an application labelled {label:?} exists already"))]))?;
                let after = json!({
                    "label": label,
                    "description": description,
                    "portal_image": crate::sql::image_fingerprint(details.portal_image),
                    "show_in_portal": show_in_portal,
                });
                let event = NewAuditEvent::new(AuditAction::AppUpdate, "app", app, json!({"before": before, "after": after}));
                Self::append_audit(&mut tx, actor, at, event).await?;
                let row = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps WHERE id = $1"))
                    .bind(app.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                let updated = self.app_from_row(&row)?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn list_apps(&self, page: &PageRequest) -> Result<Page<Application>, StoreError> {
                let limit = page.effective_limit();
                let rows = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps ", "WHERE id > $1 ORDER BY id LIMIT $2"))
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(limit + 1)
                    .fetch_all(&self.pool)
                    .await?;
                let mut items = rows.iter().map(|row| self.app_from_row(row)).collect::<Result<Vec<_>, _>>()?;
                let next = next_cursor(&mut items, limit, |a| a.id.to_string());
                Ok(Page { items, next })
            }

            async fn delete_apps(&self, actor: &Actor, apps: &[AppId], confirm_count: usize) -> Result<usize, StoreError> {
                let mut ids: Vec<AppId> = apps.to_vec();
                ids.sort();
                ids.dedup();
                if ids.len() != apps.len() {
                    return Err(StoreError::Invalid(tessera_core::CoreError::invalid("ids", "an application is named twice")));
                }
                if confirm_count != ids.len() {
                    return Err(StoreError::ConfirmCount { expected: ids.len(), given: confirm_count });
                }
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                for id in &ids {
                    let row = sqlx::query("DELETE FROM apps WHERE id = $1 RETURNING label, kind")
                        .bind(id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    // Dropping the transaction rolls back the deletions made so far.
                    let Some(row) = row else {
                        return Err(StoreError::not_found("application", id.to_string()));
                    };
                    let label: String = row.try_get(0)?;
                    let kind: String = row.try_get(1)?;
                    let event = NewAuditEvent::new(AuditAction::AppDelete, "app", id, json!({"label": label, "kind": kind}));
                    Self::append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(ids.len())
            }

            async fn grant(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "INSERT INTO grants (app_id, group_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(app.to_string())
                .bind(group.to_string())
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[]))?;
                let granted = done.rows_affected() == 1;
                if granted {
                    let event = NewAuditEvent::new(AuditAction::AppGrant, "app", app, json!({"group_id": group.to_string()}));
                    Self::append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(granted)
            }

            async fn revoke(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("DELETE FROM grants WHERE app_id = $1 AND group_id = $2")
                    .bind(app.to_string())
                    .bind(group.to_string())
                    .execute(&mut *tx)
                    .await?;
                let revoked = done.rows_affected() == 1;
                if revoked {
                    let event = NewAuditEvent::new(AuditAction::AppRevoke, "app", app, json!({"group_id": group.to_string()}));
                    Self::append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(revoked)
            }

            async fn set_grants(&self, actor: &Actor, app: AppId, groups: &[GroupId]) -> Result<(usize, usize), StoreError> {
                let wanted = groups.iter().map(ToString::to_string).collect();
                self.replace_grants(actor, &crate::sql::GRANTS_OF_APP, &app.to_string(), wanted).await
            }

            async fn set_group_apps(&self, actor: &Actor, group: GroupId, apps: &[AppId]) -> Result<(usize, usize), StoreError> {
                let wanted = apps.iter().map(ToString::to_string).collect();
                self.replace_grants(actor, &crate::sql::GRANTS_OF_GROUP, &group.to_string(), wanted).await
            }

            async fn granted_groups(&self, app: AppId) -> Result<Vec<Group>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, name, description, created_at FROM user_groups \
                     WHERE id IN (SELECT group_id FROM grants WHERE app_id = $1) ORDER BY id",
                )
                .bind(app.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::group_from_row).collect()
            }

            async fn apps_of_group(&self, group: GroupId) -> Result<Vec<Application>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps ", "WHERE id IN (SELECT app_id FROM grants WHERE group_id = $1) ORDER BY id"))
                .bind(group.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|row| self.app_from_row(row)).collect()
            }

            async fn apps_of_user(&self, user: UserId) -> Result<Vec<Application>, StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    crate::sql::app_columns!(),
                    " FROM apps WHERE id IN (SELECT g.app_id FROM grants g JOIN memberships m ON m.group_id = g.group_id \
                     WHERE m.user_id = $1) ORDER BY lower(label), id"
                ))
                .bind(user.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|row| self.app_from_row(row)).collect()
            }

            async fn check_access(&self, user: UserId, app: AppId) -> Result<AccessDecision, StoreError> {
                if let Some(decision) = self.cache.get(&self.cache.access, &(user, app)) {
                    return Ok(decision);
                }
                let ticket = self.cache.ticket();
                // One round trip (it runs on every sign-on): the user's state, and each granted
                // group that holds the user.
                let rows = sqlx::query(
                    "SELECT u.state, held.group_id FROM users u LEFT JOIN \
                     (SELECT m.user_id, m.group_id FROM memberships m \
                      JOIN grants g ON g.group_id = m.group_id AND g.app_id = $2) held ON held.user_id = u.id \
                     WHERE u.id = $1",
                )
                .bind(user.to_string())
                .bind(app.to_string())
                .fetch_all(&self.pool)
                .await?;
                let first = rows.first().ok_or_else(|| StoreError::not_found("user", user.to_string()))?;
                let state = UserState::parse(&first.try_get::<String, _>(0)?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut via = Vec::new();
                for row in &rows {
                    if let Some(group) = row.try_get::<Option<String>, _>(1)? {
                        via.push(parse_id(&group)?);
                    }
                }
                let decision = evaluate_access(state, &via, &via);
                self.cache.put(&self.cache.access, ticket, (user, app), decision.clone());
                Ok(decision)
            }

            async fn set_app_policy(&self, actor: &Actor, app: AppId, policy: &AccessPolicy) -> Result<(), StoreError> {
                let at = self.clock.now_millis();
                let networks = serde_json::to_string(&policy.allowed_networks).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("UPDATE apps SET require_mfa = $1, allowed_networks = $2, updated_at = $3 WHERE id = $4")
                    .bind(policy.require_mfa)
                    .bind(&networks)
                    .bind(at)
                    .bind(app.to_string())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found("application", app.to_string()));
                }
                let summary = json!({"require_mfa": policy.require_mfa, "allowed_networks": policy.allowed_networks});
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppSetPolicy, "app", app, summary)).await?;
                self.commit(tx).await?;
                Ok(())
            }
        }

        #[async_trait]
        impl KeyStore for $store {
            async fn signing_key(&self, app: AppId, slot: KeySlot) -> Result<Option<StoredKey>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", crate::sql::key_columns!(), " FROM signing_keys WHERE app_id = $1 AND slot = $2"))
                    .bind(app.to_string())
                    .bind(slot.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::key_from_row).transpose()
            }

            async fn replace_current_key(&self, actor: &Actor, app: AppId, key: NewSigningKey) -> Result<StoredKey, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let exists = sqlx::query("SELECT id FROM apps WHERE id = $1").bind(app.to_string()).fetch_optional(&mut *tx).await?;
                if exists.is_none() {
                    return Err(StoreError::not_found("application", app.to_string()));
                }
                let old = sqlx::query("DELETE FROM signing_keys WHERE app_id = $1 AND slot = 'current' RETURNING certificate")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let old_certificate: Option<Vec<u8>> = old.map(|r| r.try_get(0)).transpose()?;
                // A rotation is for a key that must stop counting now: nothing older stays
                // published either.
                sqlx::query("DELETE FROM previous_certificates WHERE app_id = $1").bind(app.to_string()).execute(&mut *tx).await?;
                let stored = Self::insert_key(&mut tx, app, KeySlot::Current, &key, at).await?;
                let summary = json!({
                    "old_certificate_sha256": old_certificate.map(|der| crate::sql::sha256_hex(&der)),
                    "new_certificate_sha256": key.thumbprint,
                    "bits": key.bits,
                });
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppCertRotate, "app", app, summary)).await?;
                self.commit(tx).await?;
                Ok(stored)
            }

            async fn stage_key(&self, actor: &Actor, app: AppId, key: NewSigningKey) -> Result<StoredKey, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let exists = sqlx::query("SELECT id FROM apps WHERE id = $1").bind(app.to_string()).fetch_optional(&mut *tx).await?;
                if exists.is_none() {
                    return Err(StoreError::not_found("application", app.to_string()));
                }
                let staged = sqlx::query("SELECT id FROM signing_keys WHERE app_id = $1 AND slot = 'next'")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                if staged.is_some() {
                    return Err(StoreError::Conflict {
                        field: "next",
                        message: "a certificate is staged already: promote it with `tessera app cert promote`".into(),
                    });
                }
                // The staged certificate takes the published "next" place; a previous one still in
                // its grace period would be hidden by it, so staging waits for that to end.
                let previous = sqlx::query("SELECT published_until FROM previous_certificates WHERE app_id = $1")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = previous {
                    let until: i64 = row.try_get(0)?;
                    return Err(StoreError::Conflict {
                        field: "next",
                        message: format!(
                            "the previous certificate is published as next until {}: stage after that",
                            tessera_core::format_millis(until)
                        ),
                    });
                }
                let stored = Self::insert_key(&mut tx, app, KeySlot::Next, &key, at).await?;
                let summary = json!({"certificate_sha256": key.thumbprint, "bits": key.bits, "not_after": key.not_after});
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppCertStage, "app", app, summary)).await?;
                self.commit(tx).await?;
                Ok(stored)
            }

            async fn promote_key(&self, actor: &Actor, app: AppId, published_until: i64) -> Result<StoredKey, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let staged = sqlx::query(concat!("SELECT ", crate::sql::key_columns!(), " FROM signing_keys WHERE app_id = $1 AND slot = 'next'"))
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(staged) = staged.as_ref().map(Self::key_from_row).transpose()? else {
                    return Err(StoreError::Conflict {
                        field: "next",
                        message: "no certificate is staged: run `tessera app cert stage` first".into(),
                    });
                };
                let old = sqlx::query("DELETE FROM signing_keys WHERE app_id = $1 AND slot = 'current' RETURNING certificate, not_after")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let mut old_certificate = None;
                if let Some(old) = old {
                    let (certificate, not_after): (Vec<u8>, i64) = (old.try_get(0)?, old.try_get(1)?);
                    sqlx::query(
                        "INSERT INTO previous_certificates (app_id, certificate, not_after, published_until, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app_id) DO UPDATE SET certificate = excluded.certificate, \
                         not_after = excluded.not_after, published_until = excluded.published_until, created_at = excluded.created_at",
                    )
                    .bind(app.to_string())
                    .bind(&certificate)
                    .bind(not_after)
                    .bind(published_until)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    old_certificate = Some(certificate);
                }
                sqlx::query("UPDATE signing_keys SET slot = 'current' WHERE id = $1").bind(&staged.id).execute(&mut *tx).await?;
                let summary = json!({
                    "old_certificate_sha256": old_certificate.as_deref().map(crate::sql::sha256_hex),
                    "new_certificate_sha256": crate::sql::sha256_hex(&staged.certificate_der),
                    "old_published_until": published_until,
                });
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppCertPromote, "app", app, summary)).await?;
                self.commit(tx).await?;
                Ok(StoredKey { slot: KeySlot::Current, ..staged })
            }

            async fn previous_certificate(&self, app: AppId) -> Result<Option<PreviousCertificate>, StoreError> {
                let row = sqlx::query("SELECT certificate, not_after, published_until FROM previous_certificates WHERE app_id = $1")
                    .bind(app.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| {
                    Ok(PreviousCertificate {
                        certificate_der: row.try_get(0)?,
                        not_after: row.try_get(1)?,
                        published_until: row.try_get(2)?,
                    })
                })
                .transpose()
            }

            async fn clear_previous_certificate(&self, actor: &Actor, app: AppId, due_only: bool) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let cleared = sqlx::query(
                    "DELETE FROM previous_certificates WHERE app_id = $1 AND ($2 = 0 OR published_until <= $3) RETURNING certificate",
                )
                .bind(app.to_string())
                .bind(i64::from(due_only))
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(cleared) = cleared else { return Ok(false) };
                let certificate: Vec<u8> = cleared.try_get(0)?;
                let summary = json!({"certificate_sha256": crate::sql::sha256_hex(&certificate), "due": due_only});
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppCertClearPrevious, "app", app, summary)).await?;
                self.commit(tx).await?;
                Ok(true)
            }
        }

        #[async_trait]
        impl SessionStore for $store {
            async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                Self::insert_session(&mut tx, session).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn find_session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
                let row = sqlx::query(
                    "SELECT id_hash, user_id, factors, complete, created_at, last_seen_at, expires_at FROM sessions \
                     WHERE id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::session_from_row).transpose()
            }

            async fn find_session_with_user(&self, id_hash: &str) -> Result<Option<(Session, User)>, StoreError> {
                let key = id_hash.to_string();
                if let Some(found) = self.cache.get(&self.cache.sessions, &key) {
                    return Ok(Some(found));
                }
                let ticket = self.cache.ticket();
                // One round trip for what every signed-in request needs.
                let row = sqlx::query(
                    "SELECT s.id_hash, s.user_id, s.factors, s.complete, s.created_at AS session_created_at, \
                     s.last_seen_at, s.expires_at, u.id, u.email, u.upn, u.first_name, u.last_name, u.immutable_id, \
                     u.state, u.password_hash, u.notice_acknowledged_at, u.created_at, u.updated_at \
                     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let found = (Self::session_from_columns(&row, "session_created_at")?, Self::user_from_row(&row)?);
                self.cache.put(&self.cache.sessions, ticket, key, found.clone());
                Ok(Some(found))
            }

            async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                    .bind(now)
                    .bind(id_hash)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn rotate_session(&self, old_id_hash: &str, new: &Session) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(old_id_hash).execute(&mut *tx).await?;
                Self::insert_session(&mut tx, new).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
                self.cache.invalidate();
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&self.writer).await?;
                self.cache.invalidate();
                Ok(())
            }

            async fn end_user_sessions(&self, actor: &Actor, user: UserId) -> Result<u64, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let event = NewAuditEvent::new(AuditAction::UserSignOut, "user", user, json!({"sessions": ended}));
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(ended)
            }

            async fn acknowledge_notice(&self, actor: &Actor, user: UserId, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE users SET notice_acknowledged_at = $1 WHERE id = $2 AND notice_acknowledged_at IS NULL",
                )
                .bind(now)
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    let event = NewAuditEvent::new(AuditAction::UserNoticeAcknowledged, "user", user, json!({}));
                    Self::append_audit(&mut tx, actor, now, event).await?;
                }
                self.commit(tx).await?;
                Ok(())
            }
        }

        #[async_trait]
        impl ReplayStore for $store {
            async fn remember_message_id(
                &self,
                issuer: &str,
                message_id: &str,
                expires_at: i64,
                now: i64,
            ) -> Result<bool, StoreError> {
                // Long IDs are kept as their digest: a key of any size fits the index.
                let message_id = if message_id.len() > crate::sql::MAX_STORED_MESSAGE_ID {
                    format!("sha256:{}", crate::sql::sha256_hex(message_id.as_bytes()))
                } else {
                    message_id.to_string()
                };
                self.batcher
                    .submit(crate::batch::BatchedWrite::Replay {
                        issuer: issuer.to_string(),
                        message_id,
                        expires_at,
                        now,
                    })
                    .await
            }
        }

        #[async_trait]
        impl ParkingStore for $store {
            async fn park_request(&self, parked: &ParkedRequest) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                // Expired requests are cleared as new ones arrive, so the table stays small.
                sqlx::query("DELETE FROM parked_requests WHERE expires_at < $1")
                    .bind(parked.created_at)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO parked_requests (id, browser_hash, kind, payload, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&parked.id)
                .bind(&parked.browser_hash)
                .bind(&parked.kind)
                .bind(parked.payload.to_string())
                .bind(parked.created_at)
                .bind(parked.expires_at)
                .execute(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn parked_trace(&self, id: &str, browser_hash: &str) -> Result<Option<String>, StoreError> {
                let row = sqlx::query("SELECT payload FROM parked_requests WHERE id = $1 AND browser_hash = $2")
                    .bind(id)
                    .bind(browser_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let payload: serde_json::Value = serde_json::from_str(&row.try_get::<String, _>("payload")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(payload.pointer("/trace/id").and_then(|id| id.as_str()).filter(|id| !id.is_empty()).map(str::to_string))
            }

            async fn take_parked_request(
                &self,
                id: &str,
                browser_hash: &str,
                now: i64,
            ) -> Result<Option<ParkedRequest>, StoreError> {
                let row = sqlx::query(
                    "DELETE FROM parked_requests WHERE id = $1 AND browser_hash = $2 \
                     RETURNING id, browser_hash, kind, payload, created_at, expires_at",
                )
                .bind(id)
                .bind(browser_hash)
                .fetch_optional(&self.writer)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let expires_at: i64 = row.try_get("expires_at")?;
                if expires_at < now {
                    return Ok(None);
                }
                Ok(Some(ParkedRequest {
                    id: row.try_get("id")?,
                    browser_hash: row.try_get("browser_hash")?,
                    kind: row.try_get("kind")?,
                    payload: serde_json::from_str(&row.try_get::<String, _>("payload")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    created_at: row.try_get("created_at")?,
                    expires_at,
                }))
            }
        }

        #[async_trait]
        impl MfaStore for $store {
            async fn totp_credential(&self, user: UserId) -> Result<Option<TotpCredential>, StoreError> {
                let row = sqlx::query("SELECT sealed_secret, confirmed, last_step FROM totp_credentials WHERE user_id = $1")
                    .bind(user.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(match row {
                    Some(row) => Some(TotpCredential {
                        sealed_secret: row.try_get("sealed_secret")?,
                        confirmed: row.try_get("confirmed")?,
                        last_step: row.try_get("last_step")?,
                    }),
                    None => None,
                })
            }

            async fn put_pending_totp(&self, user: UserId, sealed_secret: &[u8], now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1 AND confirmed = $2")
                    .bind(user.to_string())
                    .bind(false)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO totp_credentials (user_id, sealed_secret, confirmed, last_step, created_at) \
                     VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
                )
                .bind(user.to_string())
                .bind(sealed_secret)
                .bind(false)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn confirm_totp(
                &self,
                actor: &Actor,
                user: UserId,
                step: i64,
                recovery_code_hashes: &[String],
            ) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE totp_credentials SET confirmed = $1, last_step = $2 WHERE user_id = $3 AND confirmed = $4",
                )
                .bind(true)
                .bind(step)
                .bind(user.to_string())
                .bind(false)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.to_string()).execute(&mut *tx).await?;
                for hash in recovery_code_hashes {
                    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                        .bind(user.to_string())
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?;
                }
                let event = NewAuditEvent::new(AuditAction::UserMfaEnroll, "user", user, json!({"factor": "totp"}));
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE totp_credentials SET last_step = $1 WHERE user_id = $2 AND confirmed = $3 AND last_step < $1",
                )
                .bind(step)
                .bind(user.to_string())
                .bind(true)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn use_recovery_code(&self, user: UserId, code_hash: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2")
                    .bind(user.to_string())
                    .bind(code_hash)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
                let count: i64 = sqlx::query("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
                    .bind(user.to_string())
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                Ok(u32::try_from(count).unwrap_or(u32::MAX))
            }

            async fn reset_mfa(&self, actor: &Actor, user: UserId) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let totp = sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1").bind(user.to_string()).execute(&mut *tx).await?;
                let codes = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.to_string()).execute(&mut *tx).await?;
                let removed = totp.rows_affected() + codes.rows_affected() > 0;
                if removed {
                    Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserMfaReset, "user", user, json!({}))).await?;
                }
                self.commit(tx).await?;
                Ok(removed)
            }
        }

        #[async_trait]
        impl LockoutStore for $store {
            async fn lockout_counter(&self, user: UserId, location: Location) -> Result<Option<LockoutCounter>, StoreError> {
                let row = sqlx::query("SELECT failures, last_failure_at FROM lockout_counters WHERE user_id = $1 AND location = $2")
                    .bind(user.to_string())
                    .bind(location.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(match row {
                    Some(row) => Some(LockoutCounter {
                        failures: u32::try_from(row.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                        last_failure_at: row.try_get("last_failure_at")?,
                    }),
                    None => None,
                })
            }

            async fn reserve_attempt(
                &self,
                user: UserId,
                location: Location,
                threshold: u32,
                window_ms: i64,
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO lockout_counters (user_id, location, failures, last_failure_at) VALUES ($1, $2, 1, $3) \
                     ON CONFLICT (user_id, location) DO UPDATE SET failures = lockout_counters.failures + 1, \
                     last_failure_at = excluded.last_failure_at \
                     WHERE lockout_counters.failures < $4 OR lockout_counters.last_failure_at <= $5 \
                     RETURNING failures",
                )
                .bind(user.to_string())
                .bind(location.as_str())
                .bind(now)
                .bind(i64::from(threshold))
                .bind(now - window_ms)
                .fetch_optional(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(row.is_some())
            }

            async fn record_failed_attempt(&self, ip_key: &str, user_key: &str, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("INSERT INTO ip_failures (ip, user_key, at) VALUES ($1, $2, $3)")
                    .bind(ip_key)
                    .bind(user_key)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                // A day of history is more than any throttling window needs.
                sqlx::query("DELETE FROM ip_failures WHERE at < $1").bind(now - 86_400_000).execute(&mut *tx).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn record_password_success(&self, user: UserId) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM lockout_counters WHERE user_id = $1 AND location IN ('familiar', 'unknown')")
                    .bind(user.to_string())
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn learn_familiar_ip(&self, user: UserId, ip: &str, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO familiar_ips (user_id, ip, added_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, ip) DO UPDATE SET added_at = excluded.added_at",
                )
                .bind(user.to_string())
                .bind(ip)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "DELETE FROM familiar_ips WHERE user_id = $1 AND ip NOT IN \
                     (SELECT ip FROM familiar_ips WHERE user_id = $1 ORDER BY added_at DESC, ip LIMIT $2)",
                )
                .bind(user.to_string())
                .bind(crate::traits::MAX_FAMILIAR_IPS as i64)
                .execute(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn clear_second_factor_failures(&self, user: UserId) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM lockout_counters WHERE user_id = $1 AND location = 'mfa'")
                    .bind(user.to_string())
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn familiar_ips(&self, user: UserId) -> Result<Vec<String>, StoreError> {
                let rows = sqlx::query("SELECT ip FROM familiar_ips WHERE user_id = $1 ORDER BY added_at DESC")
                    .bind(user.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
            }

            async fn failed_names_from_ip(&self, ip: &str, since: i64) -> Result<u32, StoreError> {
                let count: i64 = sqlx::query("SELECT COUNT(DISTINCT user_key) FROM ip_failures WHERE ip = $1 AND at >= $2")
                    .bind(ip)
                    .bind(since)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                Ok(u32::try_from(count).unwrap_or(u32::MAX))
            }
        }

        #[async_trait]
        impl AuditLog for $store {
            async fn append_audit(&self, actor: &Actor, event: NewAuditEvent) -> Result<(), StoreError> {
                self.batcher
                    .submit(crate::batch::BatchedWrite::Audit { at: self.clock.now_millis(), actor: actor.0.clone(), event })
                    .await
                    .map(|_| ())
            }
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
                // One statement for every filter: an absent one matches everything.
                let (action, action_prefix) = match query.action.as_deref() {
                    Some(prefix) if prefix.ends_with('.') => (None, Some(format!("{prefix}%"))),
                    Some(action) => (Some(action.to_string()), None),
                    None => (None, None),
                };
                let user = query.user.map(|u| u.to_string());
                let statement = if query.newest_first {
                    concat!(crate::sql::audit_filter!(), " AND id < $3 ORDER BY id DESC LIMIT $4")
                } else {
                    concat!(crate::sql::audit_filter!(), " AND id > $3 ORDER BY id LIMIT $4")
                };
                let rows = sqlx::query(statement)
                .bind(query.since.unwrap_or(i64::MIN))
                .bind(query.until.unwrap_or(i64::MAX))
                .bind(query.after_id.unwrap_or(if query.newest_first { i64::MAX } else { 0 }))
                .bind(i64::from(query.limit.clamp(1, 10_000)))
                .bind(&query.actor)
                .bind(action)
                .bind(action_prefix)
                .bind(query.app.map(|a| a.to_string()))
                .bind(user.as_ref().map(|u| format!("user:{u}")))
                .bind(&user)
                .bind(user.as_ref().map(|u| format!("%\"user_id\":\"{u}\"%")))
                .fetch_all(&self.pool)
                .await?;
                Self::audit_events(&rows)
            }

            async fn sign_in_counts(&self, since: i64) -> Result<Vec<crate::traits::HourlyCount>, StoreError> {
                let rows = sqlx::query(
                    "SELECT at / 3600000 AS hour, action, CASE WHEN target_kind = 'app' THEN target_id END AS app, \
                     COUNT(*) AS n FROM audit_events WHERE at >= $1 \
                     AND (action LIKE 'signin.%' OR action LIKE 'saml.%' OR action LIKE 'wsfed.%' OR action LIKE 'wstrust.%') \
                     GROUP BY at / 3600000, action, CASE WHEN target_kind = 'app' THEN target_id END",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(crate::traits::HourlyCount {
                            hour: row.try_get("hour")?,
                            action: row.try_get("action")?,
                            app: row.try_get("app")?,
                            count: row.try_get("n")?,
                        })
                    })
                    .collect()
            }

            async fn trace_events(&self, trace: &str) -> Result<Vec<AuditEvent>, StoreError> {
                // The id is hex (checked by the caller), so it needs no escaping in the pattern.
                let rows = sqlx::query(
                    "SELECT id, at, actor, action, target_kind, target_id, summary FROM audit_events \
                     WHERE summary LIKE $1 ORDER BY id LIMIT 200",
                )
                .bind(format!("%\"trace\":\"{trace}\"%"))
                .fetch_all(&self.pool)
                .await?;
                Self::audit_events(&rows)
            }

            async fn keep_sign_in_token(&self, token: &crate::traits::KeptToken) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM sign_in_tokens WHERE expires_at < $1").bind(token.created_at).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO sign_in_tokens (trace, app_id, user_id, token, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (trace) DO NOTHING",
                )
                .bind(&token.trace)
                .bind(&token.app_id)
                .bind(&token.user_id)
                .bind(&token.token)
                .bind(token.created_at)
                .bind(token.expires_at)
                .execute(&mut *tx)
                .await?;
                self.commit(tx).await
            }

            async fn sign_in_token(&self, trace: &str, now: i64) -> Result<Option<crate::traits::KeptToken>, StoreError> {
                let row = sqlx::query(
                    "SELECT trace, app_id, user_id, token, created_at, expires_at FROM sign_in_tokens \
                     WHERE trace = $1 AND expires_at >= $2",
                )
                .bind(trace)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(crate::traits::KeptToken {
                    trace: row.try_get("trace")?,
                    app_id: row.try_get("app_id")?,
                    user_id: row.try_get("user_id")?,
                    token: row.try_get("token")?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                }))
            }

            async fn app_sign_ins(&self, app: AppId, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, at, actor, action, target_kind, target_id, summary FROM audit_events \
                     WHERE target_kind = 'app' AND target_id = $1 AND actor LIKE 'user:%' ORDER BY id DESC LIMIT $2",
                )
                .bind(app.to_string())
                .bind(i64::from(limit.clamp(1, 500)))
                .fetch_all(&self.pool)
                .await?;
                Self::audit_events(&rows)
            }
        }

        impl $store {
            fn audit_events(rows: &[$row]) -> Result<Vec<AuditEvent>, StoreError> {
                rows.iter()
                    .map(|row| {
                        let summary: String = row.try_get("summary")?;
                        Ok(AuditEvent {
                            id: row.try_get("id")?,
                            at: row.try_get("at")?,
                            actor: row.try_get("actor")?,
                            action: row.try_get("action")?,
                            target_kind: row.try_get("target_kind")?,
                            target_id: row.try_get("target_id")?,
                            summary: serde_json::from_str(&summary).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        })
                    })
                    .collect()
            }
        }

        #[async_trait]
        impl AdminStore for $store {
            async fn create_api_token(
                &self,
                actor: &Actor,
                name: &str,
                token_hash: &str,
                role: AdminRole,
                apps: &[AppId],
            ) -> Result<ApiToken, StoreError> {
                let name = tessera_core::validate::label("name", name)?;
                let id = uuid::Uuid::now_v7().to_string();
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO api_tokens (id, name, token_hash, created_at, role) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id, name, created_at, revoked_at, role",
                )
                .bind(&id)
                .bind(&name)
                .bind(token_hash)
                .bind(at)
                .bind(role.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[("api_tokens_live_name_key", "name", format!("a live API token named {name:?} exists already"))]))?;
                let token = Self::token_from_row(&row)?;
                let apps = Self::put_scope(&mut tx, crate::sql::INSERT_TOKEN_APP, &id, role, apps).await?;
                let event = json!({"name": name, "role": role.as_str(), "apps": apps});
                Self::append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::ApiTokenCreate, "api_token", &id, event)).await?;
                self.commit(tx).await?;
                Ok(token)
            }

            async fn api_token_apps(&self, token_id: &str) -> Result<Vec<AppId>, StoreError> {
                let rows = sqlx::query("SELECT app_id FROM api_token_apps WHERE token_id = $1 ORDER BY app_id")
                    .bind(token_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|row| parse_id(&row.try_get::<String, _>(0)?)).collect()
            }

            async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, name, created_at, revoked_at, role FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::token_from_row).transpose()
            }

            async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
                let rows = sqlx::query("SELECT id, name, created_at, revoked_at, role FROM api_tokens ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::token_from_row).collect()
            }

            async fn revoke_api_token(&self, actor: &Actor, key: &str) -> Result<ApiToken, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND (id = $2 OR lower(name) = lower($2)) \
                     RETURNING id, name, created_at, revoked_at, role",
                )
                .bind(at)
                .bind(key.trim())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::not_found("live API token", key));
                };
                let token = Self::token_from_row(&row)?;
                let event = NewAuditEvent::new(AuditAction::ApiTokenRevoke, "api_token", &token.id, json!({"name": token.name}));
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(token)
            }

            async fn create_initial_admin(&self, username: &str, password_hash: &str) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let existing: i64 = sqlx::query("SELECT COUNT(*) FROM admins").fetch_one(&mut *tx).await?.try_get(0)?;
                if existing > 0 {
                    return Ok(false);
                }
                let id = uuid::Uuid::now_v7().to_string();
                let inserted = sqlx::query(
                    "INSERT INTO admins (id, username, password_hash, must_change_password, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(&id)
                .bind(username)
                .bind(password_hash)
                .bind(true)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() == 0 {
                    return Ok(false);
                }
                let event = NewAuditEvent::new(AuditAction::AdminCreate, "admin", &id, json!({"username": username, "initial": true}));
                Self::append_audit(&mut tx, &Actor::system(), at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn create_admin(
                &self,
                actor: &Actor,
                username: &str,
                password_hash: &str,
                role: AdminRole,
                apps: &[AppId],
            ) -> Result<Administrator, StoreError> {
                let username = tessera_core::validate::label("username", username)?;
                let id = uuid::Uuid::now_v7().to_string();
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO admins (id, username, password_hash, must_change_password, created_at, role) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, username, password_hash, must_change_password, role, created_at",
                )
                .bind(&id)
                .bind(&username)
                .bind(password_hash)
                .bind(false)
                .bind(at)
                .bind(role.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[("admins_username_key", "username", format!("an administrator named {username:?} exists already"))]))?;
                let admin = Self::admin_from_row(&row)?;
                let apps = Self::put_scope(&mut tx, crate::sql::INSERT_ADMIN_APP, &id, role, apps).await?;
                let event = NewAuditEvent::new(
                    AuditAction::AdminCreate,
                    "admin",
                    &id,
                    json!({"username": username, "role": role.as_str(), "apps": apps}),
                );
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(admin)
            }

            async fn set_admin_role(
                &self,
                actor: &Actor,
                key: &str,
                role: AdminRole,
                apps: &[AppId],
            ) -> Result<Administrator, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                // As for deletes: two demotions at once must not both count the other.
                if $backend == "postgres" {
                    sqlx::query("LOCK TABLE admins IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
                }
                let found = sqlx::query(crate::sql::ADMIN_BY_KEY).bind(key.trim()).fetch_optional(&mut *tx).await?;
                let found = found.as_ref().map(Self::admin_from_row).transpose()?.ok_or_else(|| StoreError::not_found("administrator", key))?;
                let row = sqlx::query(
                    "UPDATE admins SET role = $1 WHERE id = $2 \
                     AND ($1 = 'admin' OR role <> 'admin' OR (SELECT COUNT(*) FROM admins WHERE role = 'admin') > 1) \
                     RETURNING id, username, password_hash, must_change_password, role, created_at",
                )
                .bind(role.as_str())
                .bind(&found.id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::Conflict {
                        field: "role",
                        message: format!(
                            "{:?} is the last full administrator; make another one an admin first",
                            found.username
                        ),
                    });
                };
                let admin = Self::admin_from_row(&row)?;
                sqlx::query("DELETE FROM admin_apps WHERE admin_id = $1").bind(&admin.id).execute(&mut *tx).await?;
                let apps = Self::put_scope(&mut tx, crate::sql::INSERT_ADMIN_APP, &admin.id, role, apps).await?;
                let event = NewAuditEvent::new(
                    AuditAction::AdminRoleSet,
                    "admin",
                    &admin.id,
                    json!({"username": admin.username, "from": found.role.as_str(), "role": role.as_str(), "apps": apps}),
                );
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(admin)
            }

            async fn admin_apps(&self, admin_id: &str) -> Result<Vec<AppId>, StoreError> {
                let rows = sqlx::query("SELECT app_id FROM admin_apps WHERE admin_id = $1 ORDER BY app_id")
                    .bind(admin_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|row| parse_id(&row.try_get::<String, _>(0)?)).collect()
            }

            async fn find_admin(&self, key: &str) -> Result<Administrator, StoreError> {
                let row = sqlx::query(
                    crate::sql::ADMIN_BY_KEY,
                )
                .bind(key.trim())
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::admin_from_row).transpose()?.ok_or_else(|| StoreError::not_found("administrator", key))
            }

            async fn list_admins(&self) -> Result<Vec<Administrator>, StoreError> {
                let rows = sqlx::query("SELECT id, username, password_hash, must_change_password, role, created_at FROM admins ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::admin_from_row).collect()
            }

            async fn set_admin_password(
                &self,
                actor: &Actor,
                key: &str,
                password_hash: &str,
                must_change: bool,
            ) -> Result<Administrator, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let found = sqlx::query(crate::sql::ADMIN_BY_KEY).bind(key.trim()).fetch_optional(&mut *tx).await?;
                let found = found.as_ref().map(Self::admin_from_row).transpose()?.ok_or_else(|| StoreError::not_found("administrator", key))?;
                let row = sqlx::query(
                    "UPDATE admins SET password_hash = $1, must_change_password = $2 WHERE id = $3 \
                     RETURNING id, username, password_hash, must_change_password, role, created_at",
                )
                .bind(password_hash)
                .bind(must_change)
                .bind(&found.id)
                .fetch_optional(&mut *tx)
                .await?;
                let admin = row.as_ref().map(Self::admin_from_row).transpose()?.ok_or_else(|| StoreError::not_found("administrator", key))?;
                let event = NewAuditEvent::new(AuditAction::AdminPasswordSet, "admin", &admin.id, json!({"username": admin.username, "one_time": must_change}));
                // A new password ends every session made with the old one (a session left
                // waiting with a one-time password included).
                sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1").bind(&admin.id).execute(&mut *tx).await?;
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(admin)
            }

            async fn delete_admin(&self, actor: &Actor, key: &str) -> Result<Administrator, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                // SQLite's write transaction holds the database lock already; PostgreSQL's
                // deletes of two different administrators would each count the other.
                if $backend == "postgres" {
                    sqlx::query("LOCK TABLE admins IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
                }
                let row = sqlx::query(
                    crate::sql::ADMIN_BY_KEY,
                )
                .bind(key.trim())
                .fetch_optional(&mut *tx)
                .await?;
                let admin = row.as_ref().map(Self::admin_from_row).transpose()?.ok_or_else(|| StoreError::not_found("administrator", key))?;
                // In the same transaction as the count: two deletes at once cannot both pass it.
                let deleted = sqlx::query(
                    "DELETE FROM admins WHERE id = $1 \
                     AND (role <> 'admin' OR (SELECT COUNT(*) FROM admins WHERE role = 'admin') > 1)",
                )
                    .bind(&admin.id)
                    .execute(&mut *tx)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::Conflict {
                        field: "username",
                        message: format!(
                            "{:?} is the last full administrator; make another one an admin before deleting it",
                            admin.username
                        ),
                    });
                }
                let event = NewAuditEvent::new(AuditAction::AdminDelete, "admin", &admin.id, json!({"username": admin.username}));
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(admin)
            }
        }

        #[async_trait]
        impl AdminSignInStore for $store {
            async fn create_admin_session(&self, id_hash: &str, admin_id: &str, complete: bool, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO admin_sessions (id_hash, admin_id, created_at, last_seen_at, complete) VALUES ($1, $2, $3, $3, $4)",
                )
                .bind(id_hash)
                .bind(admin_id)
                .bind(now)
                .bind(complete)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[]))?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn complete_admin_session(&self, old_hash: &str, new_hash: &str) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("UPDATE admin_sessions SET id_hash = $1, complete = $2 WHERE id_hash = $3")
                    .bind(new_hash)
                    .bind(true)
                    .bind(old_hash)
                    .execute(&mut *tx)
                    .await?;
                self.commit(tx).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError> {
                let row = sqlx::query(
                    "SELECT a.id, a.username, a.password_hash, a.must_change_password, a.role, a.created_at, \
                     s.created_at AS session_created_at, s.last_seen_at, s.complete \
                     FROM admin_sessions s JOIN admins a ON a.id = s.admin_id WHERE s.id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(AdminSession {
                    admin: Self::admin_from_row(&row)?,
                    created_at: row.try_get("session_created_at")?,
                    last_seen_at: row.try_get("last_seen_at")?,
                    complete: row.try_get("complete")?,
                }))
            }

            async fn touch_admin_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("UPDATE admin_sessions SET last_seen_at = $1 WHERE id_hash = $2 AND last_seen_at < $1")
                    .bind(now)
                    .bind(id_hash)
                    .execute(&mut *tx)
                    .await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn delete_admin_session(&self, id_hash: &str) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1").bind(id_hash).execute(&mut *tx).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn reserve_admin_attempt(&self, admin_id: &str, threshold: u32, window_ms: i64, now: i64) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO admin_lockout_counters (admin_id, failures, last_failure_at) VALUES ($1, 1, $2) \
                     ON CONFLICT (admin_id) DO UPDATE SET failures = admin_lockout_counters.failures + 1, \
                     last_failure_at = excluded.last_failure_at \
                     WHERE admin_lockout_counters.failures < $3 OR admin_lockout_counters.last_failure_at <= $4 \
                     RETURNING failures",
                )
                .bind(admin_id)
                .bind(now)
                .bind(i64::from(threshold))
                .bind(now - window_ms)
                .fetch_optional(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(row.is_some())
            }

            async fn clear_admin_failures(&self, admin_id: &str) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM admin_lockout_counters WHERE admin_id = $1").bind(admin_id).execute(&mut *tx).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn admin_totp(&self, admin_id: &str) -> Result<Option<TotpCredential>, StoreError> {
                let row = sqlx::query("SELECT sealed_secret, confirmed, last_step FROM admin_totp WHERE admin_id = $1")
                    .bind(admin_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| {
                    Ok(TotpCredential {
                        sealed_secret: row.try_get("sealed_secret")?,
                        confirmed: row.try_get("confirmed")?,
                        last_step: row.try_get("last_step")?,
                    })
                })
                .transpose()
            }

            async fn put_pending_admin_totp(&self, admin_id: &str, sealed_secret: &[u8], now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM admin_totp WHERE admin_id = $1 AND confirmed = $2")
                    .bind(admin_id)
                    .bind(false)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO admin_totp (admin_id, sealed_secret, confirmed, last_step, created_at) \
                     VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
                )
                .bind(admin_id)
                .bind(sealed_secret)
                .bind(false)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[]))?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn confirm_admin_totp(&self, actor: &Actor, admin_id: &str, step: i64) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE admin_totp SET confirmed = $1, last_step = $2 WHERE admin_id = $3 AND confirmed = $4",
                )
                .bind(true)
                .bind(step)
                .bind(admin_id)
                .bind(false)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                let event = NewAuditEvent::new(AuditAction::AdminMfaEnroll, "admin", admin_id, json!({"factor": "totp"}));
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn reset_admin_totp(&self, actor: &Actor, admin_id: &str) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let removed = sqlx::query("DELETE FROM admin_totp WHERE admin_id = $1").bind(admin_id).execute(&mut *tx).await?;
                if removed.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1").bind(admin_id).execute(&mut *tx).await?;
                let event = NewAuditEvent::new(AuditAction::AdminMfaReset, "admin", admin_id, json!({"factor": "totp"}));
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn use_admin_totp_step(&self, admin_id: &str, step: i64) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE admin_totp SET last_step = $1 WHERE admin_id = $2 AND confirmed = $3 AND last_step < $1",
                )
                .bind(step)
                .bind(admin_id)
                .bind(true)
                .execute(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl SettingsStore for $store {
            async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
                let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            }

            async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn change_setting(
                &self,
                actor: &Actor,
                key: &str,
                value: Option<&str>,
                event: NewAuditEvent,
            ) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let existed = sqlx::query("SELECT key FROM settings WHERE key = $1").bind(key).fetch_optional(&mut *tx).await?.is_some();
                match value {
                    Some(value) => {
                        sqlx::query(
                            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        )
                        .bind(key)
                        .bind(value)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None if !existed => return Ok(false),
                    None => {
                        sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(&mut *tx).await?;
                    }
                }
                Self::append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(existed)
            }

            async fn take_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                // One statement: of two nodes racing, the row lets exactly one in.
                let taken = sqlx::query(
                    "INSERT INTO job_leases (name, holder, until) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                     WHERE job_leases.until <= $4 OR job_leases.holder = excluded.holder RETURNING holder",
                )
                .bind(name)
                .bind(holder)
                .bind(at + ttl_ms)
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(taken.is_some())
            }

            async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM job_leases WHERE name = $1 AND holder = $2").bind(name).bind(holder).execute(&mut *tx).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            fn backend(&self) -> &'static str {
                $backend
            }
        }
    };
}

pub(crate) use impl_sql_store;

/// Refuses a database whose schema is newer than this binary's migrations: an older binary
/// must not write to it.
pub(crate) fn check_schema_version(applied: Option<i64>, migrator: &sqlx::migrate::Migrator) -> Result<(), StoreError> {
    let binary = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    match applied {
        Some(database) if database > binary => Err(StoreError::SchemaTooNew { database, binary }),
        _ => Ok(()),
    }
}
