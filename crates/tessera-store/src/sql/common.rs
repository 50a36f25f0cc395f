//! What every role's SQL stands on, expanded once per backend beside the store type: the
//! imports, the write transaction and commit, the group-commit writer, and the row mappers.
//! The role files (`users`, `groups`, …) each expand into a child module of the same place, so
//! they reach these private helpers.

macro_rules! impl_sql_common {
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
            AdminSession, AdminSignInStore, AdminStore, Administrator, ApiToken, AppStore, AuditQuery, AuditStore, GrantStore, GroupStore, KeySlot, KeyStore, Location,
            LockoutCounter, LockoutStore, MessageClaim, MfaStore, NewSigningKey, Page, PageRequest, ParkedRequest, ParkingStore, PasskeyCredential, AdminPasskey, PasskeyStore, PreviousCertificate, ReplayStore,
            Session, SessionStore, SettingsStore, StoredKey, TotpCredential, UserStore, AuditLog,
        };
        use tessera_core::policy::AccessPolicy;
        use crate::StoreError;

        type Conn = <$db as sqlx::Database>::Connection;

        /// A write transaction and the audit records it will append. The records join the
        /// chain when it commits: the chain's head is locked only for the commit's last
        /// statements, not while a long change (a directory sync) is under way, so sign-on
        /// records on every node keep flowing meanwhile. It reads as the connection itself.
        struct Tx {
            inner: sqlx::Transaction<'static, $db>,
            audits: Vec<(String, i64, NewAuditEvent)>,
            /// This process's turn to write (`write_turn`, beside the store type), given back
            /// when the transaction is dropped: fields drop in order, so after its commit; one
            /// dropped uncommitted has its rollback queued by then, not yet run, and the next
            /// writer may meet SQLite's lock for that moment (its busy handler waits it out).
            _turn: WriteTurn,
        }

        impl std::ops::Deref for Tx {
            type Target = Conn;
            fn deref(&self) -> &Conn {
                &self.inner
            }
        }

        impl std::ops::DerefMut for Tx {
            fn deref_mut(&mut self) -> &mut Conn {
                &mut self.inner
            }
        }

        /// The columns of a linked audit record, as the chain's INSERTs write them.
        const AUDIT_COLUMNS: &str = "at, actor, action, target_kind, target_id, summary, chain_seq, chain_mac";

        /// Rows a single INSERT carries (well inside either backend's limit on bound
        /// parameters: 8 a row).
        const AUDIT_ROWS_A_STATEMENT: usize = 256;
        /// How many stuck writer connections `begin_write` closes before it gives up (more than
        /// either backend's writer pool holds).
        const MAX_STUCK_WRITERS: usize = 20;

        /// A batch's audit records as the chain's INSERTs take them: actor, time, event.
        fn audit_rows<'a>(audits: &[&'a crate::batch::Record]) -> Vec<(&'a str, i64, &'a NewAuditEvent)> {
            audits.iter().map(|record| (record.actor.as_str(), record.at, &record.event)).collect()
        }

        /// Linked records split into INSERTs of at most `AUDIT_ROWS_A_STATEMENT` rows each.
        fn in_statements<'a>(
            rows: &'a [(&'a str, i64, &'a NewAuditEvent)],
            links: &'a [(i64, String)],
        ) -> impl Iterator<Item = (&'a [(&'a str, i64, &'a NewAuditEvent)], &'a [(i64, String)])> {
            rows.chunks(AUDIT_ROWS_A_STATEMENT).zip(links.chunks(AUDIT_ROWS_A_STATEMENT))
        }

        impl $store {
            async fn write_tx(&self) -> Result<Tx, StoreError> {
                // Invalidated before the write as well as by it: a read that races this
                // transaction must not be cached under the new generation.
                self.cache.invalidate();
                let turn = self.write_turn().await?;
                Ok(Tx { inner: Self::begin_write(&self.writer).await?, audits: Vec::new(), _turn: turn })
            }

            /// A write transaction on `writer`. A commit that failed (a full disk: SQLite rolls
            /// the transaction back itself) can leave a connection that sqlx still counts as
            /// inside a transaction, and every later BEGIN on it fails. Such a connection is
            /// closed, the pool opens a fresh one, and the write goes on: the store recovers
            /// when space returns.
            async fn begin_write(writer: &sqlx::Pool<$db>) -> Result<sqlx::Transaction<'static, $db>, StoreError> {
                for _ in 0..MAX_STUCK_WRITERS {
                    match writer.begin_with($begin_write).await {
                        Err(sqlx::Error::InvalidSavePointStatement) => {
                            let mut stuck = writer.acquire().await?;
                            stuck.close_on_drop();
                        }
                        begun => return Ok(begun?),
                    }
                }
                Ok(writer.begin_with($begin_write).await?)
            }

            /// Appends the transaction's audit records to the chain, then commits.
            async fn commit(&self, mut tx: Tx) -> Result<(), StoreError> {
                if !tx.audits.is_empty() {
                    let key = self.audit_key.get()?;
                    let audits: Vec<(&str, i64, &NewAuditEvent)> =
                        tx.audits.iter().map(|(actor, at, event)| (actor.as_str(), *at, event)).collect();
                    Self::insert_chained(&mut tx.inner, key, &audits).await?;
                }
                tx.inner.commit().await?;
                self.cache.invalidate();
                Ok(())
            }

            /// The group-commit writer for audit records and message IDs, on `writer`, starting
            /// from `state`: what the backend's writer keeps from one batch to the next
            /// (`WriterState`, beside the store type).
            fn start_batcher(
                writer: sqlx::Pool<$db>,
                key: crate::audit_chain::AuditKeySlot,
                state: WriterState,
            ) -> crate::batch::WriteBatcher {
                let remembered = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
                // Batches run one at a time, so nobody waits on it.
                let state = std::sync::Arc::new(tokio::sync::Mutex::new(state));
                crate::batch::WriteBatcher::spawn(move |writes| {
                    let writer = writer.clone();
                    let remembered = remembered.clone();
                    let key = key.clone();
                    let state = state.clone();
                    async move {
                        let mut state = state.lock().await;
                        Self::write_batch(&writer, &key, &remembered, &mut state, writes).await
                    }
                })
            }

            async fn write_batch(
                writer: &sqlx::Pool<$db>,
                key: &crate::audit_chain::AuditKeySlot,
                remembered: &std::sync::atomic::AtomicU32,
                state: &mut WriterState,
                writes: Vec<crate::batch::BatchedWrite>,
            ) -> Vec<crate::batch::Outcome> {
                // The whole batch in the writer's turn, its fallbacks on the pool included. A
                // turn that does not come (a change holding it too long) fails the batch.
                let _turn = match state.turn().await {
                    Ok(turn) => turn,
                    Err(e) => return vec![Err(e.to_string()); writes.len()],
                };
                let count = writes.len();
                let mut split = crate::batch::SplitBatch::of(writes);
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
                    // order (and the chain's head after them), so they cannot deadlock.
                    split.replays.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
                }
                // The whole batch in one transaction: one commit (one fsync) and the fewest
                // round trips to the database, whatever kinds of write it holds. Each backend
                // has its own way (`write_together`, beside the store type).
                let mut outcomes = match Self::write_together(writer, key, state, &split, count).await {
                    Ok(crate::batch::Together::Written(outcomes)) => return outcomes,
                    Ok(crate::batch::Together::IdsOnly(outcomes)) => outcomes,
                    Err(e) => {
                        tracing::debug!(error = %e, "a batch failed whole; writing its parts alone");
                        Self::write_ids_alone(writer, &split, count).await
                    }
                };
                // The records: one transaction for them all (each record's session read in
                // it); if it fails, each row alone, so that one bad row fails only its own caller.
                let audits = split.records_after_ids(&outcomes);
                if !audits.is_empty() {
                    let results = match Self::insert_audits(writer, key, &audits).await {
                        Ok(written) => written.into_iter().map(Ok).collect(),
                        Err(_) if audits.len() > 1 => {
                            let mut results = Vec::with_capacity(audits.len());
                            for audit in &audits {
                                let written = Self::insert_audits(writer, key, &[*audit]).await;
                                results.push(written.and_then(|written| written.into_iter().next().ok_or_else(|| "no outcome".to_string())));
                            }
                            results
                        }
                        Err(e) => vec![Err(e)],
                    };
                    for (record, result) in audits.iter().zip(results) {
                        outcomes[record.position] = result;
                    }
                }
                outcomes
            }

            /// A batch's message IDs after the batch failed whole: all in one statement, and if
            /// that fails, each alone, so that one bad ID fails only its own caller.
            async fn write_ids_alone(
                writer: &sqlx::Pool<$db>,
                split: &crate::batch::SplitBatch,
                count: usize,
            ) -> Vec<crate::batch::Outcome> {
                let mut outcomes = crate::batch::SplitBatch::outcomes(count);
                if split.replays.is_empty() {
                    return outcomes;
                }
                let now = split.now;
                let all: Vec<_> = split.replays.iter().collect();
                let new_or_not = |new: bool| if new { crate::batch::Written::Yes } else { crate::batch::Written::Replayed };
                let results: Vec<crate::batch::Outcome> = match Self::insert_replays_alone(writer, now, &all).await {
                    Ok(new) => all.iter().map(|(_, issuer, id, _)| Ok(new_or_not(new.contains(&(issuer.clone(), id.clone()))))).collect(),
                    Err(_) if all.len() > 1 => {
                        let mut results = Vec::with_capacity(all.len());
                        for replay in &all {
                            results.push(Self::insert_replays_alone(writer, now, &[*replay]).await.map(|new| new_or_not(!new.is_empty())));
                        }
                        results
                    }
                    Err(e) => vec![Err(e)],
                };
                for ((position, ..), result) in split.replays.iter().zip(results) {
                    outcomes[*position] = result;
                }
                outcomes
            }

            /// Which of `sessions` (id hashes) exist with an active user, read in `conn`'s
            /// transaction (on PostgreSQL the rows locked until it ends: a sign-out or a
            /// suspension that commits meanwhile is waited for and seen, and one that comes
            /// after waits for this transaction).
            async fn live_sessions(conn: &mut Conn, sessions: &[&str]) -> Result<std::collections::HashSet<String>, StoreError> {
                if sessions.is_empty() {
                    return Ok(std::collections::HashSet::new());
                }
                let mut select = sqlx::QueryBuilder::<$db>::new("SELECT s.id_hash ");
                Self::push_live_sessions(&mut select, sessions);
                let rows = select.build().fetch_all(&mut *conn).await?;
                Ok(rows.iter().map(|row| row.try_get::<String, _>(0)).collect::<Result<_, _>>()?)
            }

            /// `FROM … WHERE …` of the sessions among `sessions` that exist and whose user is
            /// active, appended to `select` (whose columns name `s`, the session). On
            /// PostgreSQL the rows are locked as they are read, so that the read sees a delete or
            /// an update that commits while it waits, not the statement's older snapshot
            /// (READ COMMITTED re-reads a locked row), and so that a later sign-out or
            /// suspension waits for the transaction; SQLite's write transaction holds the whole
            /// database already. Locked in the order every writer takes them: users in id order
            /// (a directory sync suspends in that order), each before its sessions (a
            /// suspension, a user's deletion and its cascade), sessions in id order ("sign out
            /// everywhere"); the locks are taken after the sort.
            fn push_live_sessions<'a>(select: &mut sqlx::QueryBuilder<'a, $db>, sessions: &[&'a str]) {
                select.push("FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.state = 'active' AND s.id_hash IN (");
                let mut each = select.separated(", ");
                for session in sessions {
                    each.push_bind(*session);
                }
                select.push(")");
                if $backend == "postgres" {
                    select.push(" ORDER BY u.id, s.id_hash FOR SHARE OF u FOR KEY SHARE OF s");
                }
            }

            /// The batch's audit records in one transaction of their own, those tied to a
            /// session only where it lives (read in the transaction): what became of each.
            async fn insert_audits(
                writer: &sqlx::Pool<$db>,
                key: &crate::audit_chain::AuditKeySlot,
                audits: &[&crate::batch::Record],
            ) -> Result<Vec<crate::batch::Written>, String> {
                let failed = |e: StoreError| e.to_string();
                let key = key.get().map_err(failed)?;
                let mut tx = Self::begin_write(writer).await.map_err(failed)?;
                let sessions = crate::batch::sessions_of(audits.iter().copied());
                let live = Self::live_sessions(&mut tx, &sessions).await.map_err(failed)?;
                let (written, ended) = crate::batch::keep_live(audits, &live);
                if !written.is_empty() {
                    Self::insert_chained(&mut tx, key, &audit_rows(&written)).await.map_err(failed)?;
                }
                tx.commit().await.map_err(|e| e.to_string())?;
                Ok(ended.into_iter().map(|ended| if ended { crate::batch::Written::SessionEnded } else { crate::batch::Written::Yes }).collect())
            }

            /// The chain's head; with `lock`, held until the transaction ends on PostgreSQL
            /// (SQLite's write transaction holds the whole database already).
            async fn read_chain_head(conn: &mut Conn, lock: bool) -> Result<crate::audit_chain::ChainHead, StoreError> {
                let statement = if lock && $backend == "postgres" {
                    "SELECT seq, mac FROM audit_chain_head WHERE id = 1 FOR UPDATE"
                } else {
                    "SELECT seq, mac FROM audit_chain_head WHERE id = 1"
                };
                let row = sqlx::query(statement)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("the audit chain's head row is missing".into()))?;
                Ok(crate::audit_chain::ChainHead { seq: row.try_get("seq")?, mac: row.try_get("mac")? })
            }

            /// Audit records linked to the chain under its head, locked here until the
            /// transaction ends (SQLite's write transaction holds the whole database already),
            /// inserted and the head moved past them.
            async fn insert_chained(
                conn: &mut Conn,
                key: &crate::audit_chain::AuditKey,
                audits: &[(&str, i64, &NewAuditEvent)],
            ) -> Result<(), StoreError> {
                let mut head = Self::read_chain_head(conn, true).await?;
                let links = Self::link_to_chain(key, &mut head, audits);
                for (chunk, links) in in_statements(audits, &links) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new("");
                    Self::push_audit_insert(&mut insert, chunk, links);
                    insert.build().execute(&mut *conn).await?;
                }
                sqlx::query("UPDATE audit_chain_head SET seq = $1, mac = $2 WHERE id = 1")
                    .bind(head.seq)
                    .bind(&head.mac)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// Each record's link under `head`, which moves past them. The summary as stored (and
            /// as its MAC covers it) is the event's text.
            fn link_to_chain(
                key: &crate::audit_chain::AuditKey,
                head: &mut crate::audit_chain::ChainHead,
                audits: &[(&str, i64, &NewAuditEvent)],
            ) -> Vec<(i64, String)> {
                audits
                    .iter()
                    .map(|(actor, at, event)| {
                        head.link(key, &crate::audit_chain::LinkFields::of(*at, actor, event, event.summary.as_str()))
                    })
                    .collect()
            }

            /// One INSERT of linked audit records, appended to `insert`.
            fn push_audit_insert<'a>(
                insert: &mut sqlx::QueryBuilder<'a, $db>,
                audits: &'a [(&'a str, i64, &'a NewAuditEvent)],
                links: &'a [(i64, String)],
            ) {
                insert.push("INSERT INTO audit_events (");
                insert.push(AUDIT_COLUMNS);
                insert.push(") ");
                Self::push_audit_values(insert, audits, links);
            }

            /// `VALUES` of linked audit records, in [`AUDIT_COLUMNS`]' order, appended to `insert`.
            fn push_audit_values<'a>(
                insert: &mut sqlx::QueryBuilder<'a, $db>,
                audits: &'a [(&'a str, i64, &'a NewAuditEvent)],
                links: &'a [(i64, String)],
            ) {
                let rows = audits.iter().zip(links);
                insert.push_values(rows, |mut row, ((actor, at, event), (seq, mac))| {
                    row.push_bind(*at)
                        .push_bind(*actor)
                        .push_bind(event.action.as_str())
                        .push_bind(event.target_kind)
                        .push_bind(event.target_id.as_str())
                        .push_bind(event.summary.as_str())
                        .push_bind(*seq)
                        .push_bind(mac.as_str());
                });
            }

            /// One statement decides, so two nodes racing on one ID cannot both win; an expired
            /// row is taken over. Returns the (issuer, ID) pairs that were new.
            async fn insert_replays_alone(
                writer: &sqlx::Pool<$db>,
                now: i64,
                replays: &[&(usize, String, String, i64)],
            ) -> Result<std::collections::HashSet<(String, String)>, String> {
                let mut conn = writer.acquire().await.map_err(|e| e.to_string())?;
                Self::insert_replays(&mut conn, now, replays).await.map_err(|e| StoreError::from(e).to_string())
            }

            /// The driver's own error, so that a caller can tell the database's refusal from a
            /// lost answer (PostgreSQL's writer, `postgres/group_commit.rs`).
            async fn insert_replays(
                conn: &mut Conn,
                now: i64,
                replays: &[&(usize, String, String, i64)],
            ) -> Result<std::collections::HashSet<(String, String)>, sqlx::Error> {
                let mut insert = sqlx::QueryBuilder::<$db>::new("");
                Self::push_replay_insert(&mut insert, now, replays);
                let rows = insert.build().fetch_all(&mut *conn).await?;
                let mut new = std::collections::HashSet::new();
                for row in &rows {
                    new.insert((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?));
                }
                Ok(new)
            }

            /// One INSERT of message IDs that returns those that were new, appended to `insert`.
            fn push_replay_insert<'a>(
                insert: &mut sqlx::QueryBuilder<'a, $db>,
                now: i64,
                replays: &[&'a (usize, String, String, i64)],
            ) {
                insert.push("INSERT INTO message_replay (issuer, message_id, expires_at) ");
                insert.push_values(replays, |mut row, (_, issuer, message_id, expires_at)| {
                    row.push_bind(issuer.as_str()).push_bind(message_id.as_str()).push_bind(*expires_at);
                });
                insert
                    .push(" ON CONFLICT (issuer, message_id) DO UPDATE SET expires_at = excluded.expires_at WHERE message_replay.expires_at < ")
                    .push_bind(now)
                    .push(" RETURNING issuer, message_id");
            }

            /// Appends an audit record to a change's transaction; it joins the chain when the
            /// change commits. Refused at once when the chain's key is not loaded.
            async fn append_audit(&self, tx: &mut Tx, actor: &Actor, at: i64, event: NewAuditEvent) -> Result<(), StoreError> {
                self.audit_key.get()?;
                tx.audits.push((actor.0.clone(), at, event));
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
                        phishing_resistant: row.try_get("phishing_resistant")?,
                        passwordless: row.try_get("passwordless")?,
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

        }
    };
}

pub(crate) use impl_sql_common;
