//! SQLite's group commit: a batch of message IDs and audit records in one transaction, in two
//! round trips to the connection's thread.

use sqlx::Row as _;

use super::SqliteStore;
use crate::StoreError;

/// The SQLite writer keeps nothing between batches: its one connection is the pool's.
pub(super) type WriterState = ();

impl SqliteStore {
    /// The batch in one transaction (`write_together_in_two_trips`).
    pub(super) async fn write_together(
        writer: &sqlx::SqlitePool,
        key: &crate::audit_chain::AuditKeySlot,
        _state: &mut WriterState,
        split: &crate::batch::SplitBatch,
        count: usize,
    ) -> Result<crate::batch::Together, StoreError> {
        Self::write_together_in_two_trips(writer, key, split, count).await.map(crate::batch::Together::Written)
    }

    /// The batch in two round trips to the connection's thread where one statement a step
    /// took seven (the pool's check, BEGIN, the IDs, the head, the records, the head, COMMIT),
    /// besides the pool's check when the connection goes back, after the callers have their
    /// answers. Each trip wakes that thread and then this task, which under load waits behind
    /// the sign-ons being signed: the trips, not the statements, were the batch's time at the
    /// p99 (bench/README.md, fifth look). SQLite runs the statements of one query in turn,
    /// each with its own bound values (sqlx's `?`s are numbered across them). The statements
    /// open and close the transaction themselves, so a failure rolls it back here before the
    /// connection goes back to the pool.
    async fn write_together_in_two_trips(
        writer: &sqlx::SqlitePool,
        key: &crate::audit_chain::AuditKeySlot,
        split: &crate::batch::SplitBatch,
        count: usize,
    ) -> Result<Vec<crate::batch::Outcome>, StoreError> {
        let mut conn = writer.acquire().await?;
        let written = Self::two_trips(&mut conn, key, split, count).await;
        // A ROLLBACK that fails found no transaction open (SQLite ended it itself, as
        // on a full disk) or a connection in trouble: a fresh one then replaces it.
        if written.is_err() && sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
            conn.close_on_drop();
        }
        written
    }

    async fn two_trips(
        conn: &mut sqlx::SqliteConnection,
        key: &crate::audit_chain::AuditKeySlot,
        split: &crate::batch::SplitBatch,
        count: usize,
    ) -> Result<Vec<crate::batch::Outcome>, StoreError> {
        use sqlx::Column as _;
        let mut outcomes = crate::batch::SplitBatch::outcomes(count);
        // First: the write lock, the message IDs (those that were new come back), the
        // sessions the records are tied to that live, and the chain's head, read under
        // that lock. Each statement's rows are told apart by their first column's name.
        let replays: Vec<_> = split.replays.iter().collect();
        let sessions = split.sessions();
        let mut first = sqlx::QueryBuilder::<sqlx::Sqlite>::new("BEGIN IMMEDIATE; ");
        if !replays.is_empty() {
            Self::push_replay_insert(&mut first, split.now, &replays);
            first.push("; ");
        }
        if !sessions.is_empty() {
            first.push("SELECT s.id_hash AS live ");
            Self::push_live_sessions(&mut first, &sessions);
            first.push("; ");
        }
        first.push("SELECT seq, mac FROM audit_chain_head WHERE id = 1");
        let rows = first.build().fetch_all(&mut *conn).await?;
        let mut head = None;
        let mut new = std::collections::HashSet::new();
        let mut live = std::collections::HashSet::new();
        for row in &rows {
            match row.columns().first().map(|column| column.name()) {
                Some("seq") => {
                    head = Some(crate::audit_chain::ChainHead { seq: row.try_get("seq")?, mac: row.try_get("mac")? })
                }
                Some("live") => {
                    live.insert(row.try_get::<String, _>(0)?);
                }
                _ => {
                    new.insert((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?));
                }
            }
        }
        let mut head = head.ok_or_else(|| StoreError::Corrupt("the audit chain's head row is missing".into()))?;
        split.mark_new_ids(&mut outcomes, &new);
        // Second: the records (those that wait on an ID only where it was new, those
        // tied to a session only where it lives), the head moved past them, COMMIT.
        let audits = split.audits_to_write(&mut outcomes, &live);
        let rows = super::audit_rows(&audits);
        let (summaries, links) =
            if rows.is_empty() { (Vec::new(), Vec::new()) } else { Self::link_to_chain(key.get()?, &mut head, &rows) };
        let mut second = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
        if !rows.is_empty() {
            for (chunk, summaries, links) in super::in_statements(&rows, &summaries, &links) {
                Self::push_audit_insert(&mut second, chunk, summaries, links);
                second.push("; ");
            }
            second
                .push("UPDATE audit_chain_head SET seq = ")
                .push_bind(head.seq)
                .push(", mac = ")
                .push_bind(head.mac.as_str())
                .push(" WHERE id = 1; ");
        }
        second.push("COMMIT");
        second.build().execute(&mut *conn).await?;
        for record in audits {
            outcomes[record.position] = Ok(crate::batch::Written::Yes);
        }
        Ok(outcomes)
    }
}
