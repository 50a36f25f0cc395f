//! The audit trail: appended (in groups), read with filters, counted per hour; traces and kept
//! tokens. The SQL serves SQLite and PostgreSQL alike: the macro expands it once per backend, into
//! a module of its own beside the store type (see `sql::common`).

macro_rules! impl_audit {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod audit {
        use super::*;

        #[async_trait]
        impl AuditLog for $store {
            async fn append_audit(&self, actor: &Actor, event: NewAuditEvent) -> Result<(), StoreError> {
                self.batcher
                    .submit(crate::batch::BatchedWrite::Audit {
                        at: self.clock.now_millis(),
                        actor: actor.0.clone(),
                        event,
                        session: None,
                    })
                    .await
                    .map(|_| ())
            }
        }

        #[async_trait]
        impl crate::traits::AuditChain for $store {
            fn seal_audit_with(&self, key: crate::AuditKey) -> Result<(), StoreError> {
                self.audit_key.set(key)
            }

            async fn verify_audit_chain(&self, since: Option<i64>) -> Result<crate::ChainReport, StoreError> {
                use crate::audit_chain::{ChainHead, ChainWalk, ChainedRecord};
                const PAGE: i64 = 1000;
                let key = self.audit_key.get()?;
                // Records appended while the walk goes on lie beyond this head and are left out.
                let head = self.chain_head().await?;
                // From the record before the first at or after `since`: a record whose own time
                // was moved back before `since` is then still checked.
                let start: i64 = match since {
                    None => 1,
                    Some(since) => sqlx::query_scalar::<_, Option<i64>>(
                        "SELECT MIN(chain_seq) FROM audit_events WHERE chain_seq >= 1 AND at >= $1",
                    )
                    .bind(since)
                    .fetch_one(&self.pool)
                    .await?
                    .map_or(head.seq, |first| first - 1)
                    .max(1),
                };
                let mut walk = if start <= 1 {
                    ChainWalk::from(key, 1, String::new())
                } else {
                    let previous: Option<String> = sqlx::query_scalar("SELECT chain_mac FROM audit_events WHERE chain_seq = $1")
                        .bind(start - 1)
                        .fetch_optional(&self.pool)
                        .await?;
                    match previous {
                        Some(mac) => ChainWalk::from(key, start, mac),
                        // The record the walk would start after is gone: it finds it missing.
                        None => ChainWalk::from(key, start - 1, String::new()),
                    }
                };
                let mut from = start;
                while from <= head.seq && !walk.broken() {
                    let rows = sqlx::query(
                        "SELECT id, at, actor, action, target_kind, target_id, summary, chain_seq, chain_mac FROM audit_events \
                         WHERE chain_seq >= $1 AND chain_seq <= $2 ORDER BY chain_seq LIMIT $3",
                    )
                    .bind(from)
                    .bind(head.seq)
                    .bind(PAGE)
                    .fetch_all(&self.pool)
                    .await?;
                    for row in &rows {
                        let record = ChainedRecord {
                            id: row.try_get("id")?,
                            seq: row.try_get("chain_seq")?,
                            mac: row.try_get("chain_mac")?,
                            at: row.try_get("at")?,
                            actor: row.try_get("actor")?,
                            action: row.try_get("action")?,
                            target_kind: row.try_get("target_kind")?,
                            target_id: row.try_get("target_id")?,
                            summary: row.try_get("summary")?,
                        };
                        from = record.seq + 1;
                        walk.step(&record);
                    }
                    if (rows.len() as i64) < PAGE {
                        break;
                    }
                }
                // A place below 1 is none: such a record was slipped in past the triggers. A
                // record without a link after the chain began is one too, unless a node of the
                // release before the chain wrote it during a rolling upgrade: while the upgrade
                // is open, or up to the last record when `migrate finish` closed it.
                let first_chained = "(SELECT COALESCE(MIN(id), 9223372036854775807) FROM audit_events WHERE chain_seq >= 1)";
                let (upgrade_open, closed_at_id): (bool, Option<i64>) =
                    sqlx::query_as("SELECT open, closed_at_id FROM audit_chain_upgrade WHERE id = 1")
                        .fetch_optional(&self.pool)
                        .await?
                        .unwrap_or((false, None));
                let tolerated = match (upgrade_open, closed_at_id) {
                    (true, _) => i64::MAX,
                    (false, Some(closed)) => closed,
                    (false, None) => 0,
                };
                let outside = sqlx::query(&format!(
                    "SELECT id, at FROM audit_events WHERE (chain_seq IS NULL AND id > {first_chained} AND id > $1) \
                     OR chain_seq < 1 ORDER BY id LIMIT 1"
                ))
                .bind(tolerated)
                .fetch_optional(&self.pool)
                .await?;
                if let Some(row) = outside {
                    walk.outside(row.try_get("id")?, row.try_get("at")?);
                }
                let before_chain: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM audit_events WHERE chain_seq IS NULL AND id < {first_chained}"
                ))
                .fetch_one(&self.pool)
                .await?;
                let during_upgrade: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM audit_events WHERE chain_seq IS NULL AND id > {first_chained} AND id <= $1"
                ))
                .bind(tolerated)
                .fetch_one(&self.pool)
                .await?;
                // The highest place first, then the head: a record committed in between moves
                // both, so only a head left behind its records shows.
                let highest: Option<i64> = sqlx::query_scalar("SELECT MAX(chain_seq) FROM audit_events").fetch_one(&self.pool).await?;
                let head_after: ChainHead = self.chain_head().await?;
                let unlinked = crate::audit_chain::Unlinked {
                    before_chain: u64::try_from(before_chain).unwrap_or(0),
                    during_upgrade: u64::try_from(during_upgrade).unwrap_or(0),
                    upgrade_open,
                };
                Ok(walk.finish(&head, highest.unwrap_or(0), &head_after, unlinked))
            }
        }

        impl $store {
            async fn chain_head(&self) -> Result<crate::audit_chain::ChainHead, StoreError> {
                let mut conn = self.pool.acquire().await?;
                Self::read_chain_head(&mut conn, false).await
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
        }
    };
}

pub(crate) use impl_audit;
