//! SQLite's group commit: a batch of message IDs and audit records in one transaction, on a
//! connection the writer keeps, in one round trip to that connection's thread.
//!
//! The records' links are MACs made here, under the chain's head. So the writer keeps the head
//! its last batch left and links the next batch under it before the trip, which writes the
//! records only if the head is still that one, every message ID was new and every session
//! lives. Otherwise the IDs commit alone and the records take the records' own path, which
//! reads the head and the sessions in its transaction; and a writer without a head (its first
//! batch, or the first after a miss or a failure) reads it in a trip before the records'.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column as _, QueryBuilder, Row as _, Sqlite, SqliteConnection, SqlitePool};

use super::{SqliteStore, WriteTurn};
use crate::StoreError;
use crate::audit_chain::{AuditKey, AuditKeySlot, ChainHead};
use crate::batch::{HEAD_MOVED, SplitBatch, Together, Written};

/// What the SQLite writer keeps from one batch to the next.
pub(super) struct WriterState {
    /// Whose turn it is to write (`SqliteStore::turns`).
    turns: Arc<tokio::sync::Mutex<()>>,
    /// Its own connection of the writer pool's two, taken once: one given back to the pool is
    /// pinged on its way, a round trip after every batch that the next batch's acquire waited
    /// for (bench/README.md, tenth look). Closed when dropped (after a failure), never given
    /// back.
    connection: Option<PoolConnection<Sqlite>>,
    /// The chain's head as the last batch left it.
    head: Option<ChainHead>,
}

impl WriterState {
    pub(super) fn new(turns: Arc<tokio::sync::Mutex<()>>) -> Self {
        WriterState { turns, connection: None, head: None }
    }

    /// The batch's turn to write, after the writes that asked before it.
    pub(super) async fn turn(&self) -> Result<WriteTurn, StoreError> {
        super::take_turn(&self.turns).await
    }
}

/// How a batch's transaction failed.
#[derive(Debug)]
enum Failed {
    /// Nothing of it committed: the database refused a statement, or no trip reached COMMIT.
    Refused(StoreError),
    /// The trip that carried COMMIT got no usable answer (the connection's thread gone, say):
    /// what it wrote may have committed. Its writes fail, and none is written again (no token
    /// without its record, no record twice).
    Unknown(String),
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Failed::Refused(e)
    }
}

/// A trip that carried COMMIT and failed: the database's own refusal means its transaction did
/// not commit; any other error may have come after the commit.
fn committing(e: sqlx::Error) -> Failed {
    match e {
        sqlx::Error::Database(_) => Failed::Refused(e.into()),
        other => Failed::Unknown(format!("the batch writer got no usable answer from the database: {other}")),
    }
}

/// What the one trip read, besides what it wrote.
struct Trip {
    new_ids: HashSet<(String, String)>,
    head: ChainHead,
    moved: bool,
}

impl SqliteStore {
    /// The batch in one transaction on the writer's own connection: one trip when the writer
    /// keeps the head, two when it reads it first. An error means nothing was written; the
    /// connection is rolled back, or closed and replaced next time. A commit whose outcome is
    /// unknown fails every write of the batch, and its connection is closed.
    pub(super) async fn write_together(
        writer: &SqlitePool,
        key: &AuditKeySlot,
        state: &mut WriterState,
        split: &SplitBatch,
        count: usize,
    ) -> Result<Together, StoreError> {
        // A store without its chain key writes no record: refused before the connection.
        let key = if split.has_records() { Some(key.get()?) } else { None };
        let mut connection = match state.connection.take() {
            Some(connection) => connection,
            None => {
                let mut connection = writer.acquire().await?;
                connection.close_on_drop();
                connection
            }
        };
        let written = match (key, state.head.take()) {
            (Some(key), Some(kept)) => Self::in_one_trip(&mut connection, key, kept, split, count).await,
            (key, _) => Self::in_two_trips(&mut connection, key, split, count).await,
        };
        match written {
            Ok((together, head)) => {
                state.connection = Some(connection);
                state.head = head;
                Ok(together)
            }
            // A ROLLBACK that fails found no transaction open (SQLite ended it itself, as on a
            // full disk) or a connection in trouble: dropped here, it is closed.
            Err(Failed::Refused(e)) => {
                if sqlx::query("ROLLBACK").execute(&mut *connection).await.is_ok() {
                    state.connection = Some(connection);
                }
                Err(e)
            }
            // The connection, mid-answer or gone, is dropped here, which closes it.
            Err(Failed::Unknown(message)) => Ok(Together::Written(vec![Err(message); count])),
        }
    }

    /// The batch in one trip, its records linked under `kept`: BEGIN, the IDs (those that were
    /// new come back), the head, the records and the head moved past them (both only if the
    /// head is `kept`, every ID was new and every session the records are tied to lives),
    /// COMMIT. SQLite runs the statements of one query in turn; `changes()` is what the last
    /// INSERT or UPDATE before wrote (SELECTs leave it), so the records' guard counts the
    /// IDs' INSERT, and the head's UPDATE counts the records'. When the
    /// records stayed out, the IDs committed alone and the records are left to their own
    /// path, which moves the head: none is kept.
    async fn in_one_trip(
        conn: &mut SqliteConnection,
        key: &AuditKey,
        kept: ChainHead,
        split: &SplitBatch,
        count: usize,
    ) -> Result<(Together, Option<ChainHead>), Failed> {
        let mut outcomes = SplitBatch::outcomes(count);
        // Every ID taken for new: every record goes in the trip, or none does.
        for (position, ..) in &split.replays {
            outcomes[*position] = Ok(Written::Yes);
        }
        let audits = split.records_after_ids(&outcomes);
        let rows = super::audit_rows(&audits);
        if rows.is_empty() || rows.len() > super::AUDIT_ROWS_A_STATEMENT {
            return Self::in_two_trips(conn, Some(key), split, count).await;
        }
        let replays: Vec<_> = split.replays.iter().collect();
        let sessions = crate::batch::sessions_of(audits.iter().copied());
        let mut moved_to = kept.clone();
        let links = Self::link_to_chain(key, &mut moved_to, &rows);
        // The sessions are counted in the records' guard, not read: on a miss the records'
        // own path reads them in its transaction.
        let mut trip = Self::begin_with_reads(split.now, &replays, &[]);
        trip.push(format_args!("; INSERT INTO audit_events ({}) SELECT * FROM (", super::AUDIT_COLUMNS));
        Self::push_audit_values(&mut trip, &rows, &links);
        trip.push(") WHERE EXISTS (SELECT 1 FROM audit_chain_head WHERE id = 1 AND seq = ")
            .push_bind(kept.seq)
            .push(" AND mac = ")
            .push_bind(kept.mac.as_str())
            .push(")");
        if !replays.is_empty() {
            trip.push(" AND changes() = ").push_bind(replays.len() as i64);
        }
        if !sessions.is_empty() {
            trip.push(" AND (SELECT count(*) ");
            Self::push_live_sessions(&mut trip, &sessions);
            trip.push(") = ").push_bind(sessions.len() as i64);
        }
        trip.push("; UPDATE audit_chain_head SET seq = ")
            .push_bind(moved_to.seq)
            .push(", mac = ")
            .push_bind(moved_to.mac.as_str())
            .push(" WHERE id = 1 AND changes() = ")
            .push_bind(rows.len() as i64)
            .push("; SELECT changes() AS moved; COMMIT");
        let answer = trip.build().fetch_all(&mut *conn).await.map_err(committing)?;
        drop(trip);
        // Committed: an answer that cannot be read leaves every write's outcome unknown, so
        // none is taken for written (no token without its record) or written again.
        let trip = match read_answer(&answer).and_then(Answer::of_one_trip) {
            Ok(trip) => trip,
            Err(e) => {
                let unknown = format!("the batch writer could not read the database's answer: {e}");
                return Ok((Together::Written(vec![Err(unknown); count]), None));
            }
        };
        if trip.moved {
            for record in audits {
                outcomes[record.position] = Ok(Written::Yes);
            }
            return Ok((Together::Written(outcomes), Some(moved_to)));
        }
        if trip.head != kept {
            metrics::counter!(HEAD_MOVED).increment(1);
        }
        let mut outcomes = SplitBatch::outcomes(count);
        split.mark_new_ids(&mut outcomes, &trip.new_ids);
        Ok((Together::IdsOnly(outcomes), None))
    }

    /// The batch in two trips: BEGIN, the IDs, the sessions that live and the chain's head,
    /// read under the write lock; then the records linked under that head (those that wait on
    /// an ID only where it was new, those tied to a session only where it lives), the head
    /// moved past them, COMMIT. The head it leaves is kept.
    async fn in_two_trips(
        conn: &mut SqliteConnection,
        key: Option<&AuditKey>,
        split: &SplitBatch,
        count: usize,
    ) -> Result<(Together, Option<ChainHead>), Failed> {
        let mut outcomes = SplitBatch::outcomes(count);
        let replays: Vec<_> = split.replays.iter().collect();
        let sessions = split.sessions();
        let mut first = Self::begin_with_reads(split.now, &replays, &sessions);
        let answer = read_answer(&first.build().fetch_all(&mut *conn).await.map_err(StoreError::from)?)?;
        let mut head = answer.head()?;
        split.mark_new_ids(&mut outcomes, &answer.new_ids);
        let audits = split.audits_to_write(&mut outcomes, &answer.live);
        let rows = super::audit_rows(&audits);
        let links = match key {
            Some(key) if !rows.is_empty() => Self::link_to_chain(key, &mut head, &rows),
            None if !rows.is_empty() => {
                return Err(StoreError::Corrupt("a batch's records came without the chain's key".into()).into());
            }
            _ => Vec::new(),
        };
        let mut second = QueryBuilder::<Sqlite>::new("");
        if !rows.is_empty() {
            for (chunk, links) in super::in_statements(&rows, &links) {
                Self::push_audit_insert(&mut second, chunk, links);
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
        second.build().execute(&mut *conn).await.map_err(committing)?;
        for record in audits {
            outcomes[record.position] = Ok(Written::Yes);
        }
        Ok((Together::Written(outcomes), Some(head)))
    }
}

impl SqliteStore {
    /// A batch's first statements: the write lock, the message IDs (those that were new come
    /// back), the sessions its records are tied to that live, and the chain's head, read under
    /// that lock. Each statement's rows are told apart by their first column's name.
    fn begin_with_reads<'a>(
        now: i64,
        replays: &[&'a (usize, String, String, i64)],
        sessions: &[&'a str],
    ) -> QueryBuilder<'a, Sqlite> {
        let mut trip = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE; ");
        if !replays.is_empty() {
            Self::push_replay_insert(&mut trip, now, replays);
            trip.push("; ");
        }
        if !sessions.is_empty() {
            trip.push("SELECT s.id_hash AS live ");
            Self::push_live_sessions(&mut trip, sessions);
            trip.push("; ");
        }
        trip.push("SELECT seq, mac FROM audit_chain_head WHERE id = 1");
        trip
    }
}

/// A trip's rows, told apart by their first column's name.
#[derive(Default)]
struct Answer {
    /// The message IDs that were new.
    new_ids: HashSet<(String, String)>,
    /// The sessions that live.
    live: HashSet<String>,
    /// The chain's head as the trip read it.
    head: Option<ChainHead>,
    /// Whether the head moved past the records (the one trip's last statement).
    moved: Option<i64>,
}

fn read_answer(rows: &[SqliteRow]) -> Result<Answer, StoreError> {
    let mut answer = Answer::default();
    for row in rows {
        match row.columns().first().map(|column| column.name()) {
            Some("seq") => answer.head = Some(ChainHead { seq: row.try_get("seq")?, mac: row.try_get("mac")? }),
            Some("live") => {
                answer.live.insert(row.try_get::<String, _>(0)?);
            }
            Some("issuer") => {
                answer.new_ids.insert((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?));
            }
            Some("moved") => answer.moved = Some(row.try_get::<i64, _>(0)?),
            other => return Err(StoreError::Corrupt(format!("the batch writer read an unexpected row: {other:?}"))),
        }
    }
    Ok(answer)
}

impl Answer {
    fn head(&self) -> Result<ChainHead, StoreError> {
        self.head.clone().ok_or_else(|| StoreError::Corrupt("the audit chain's head row is missing".into()))
    }

    /// The one trip's answer: what it read, and whether it wrote the records.
    fn of_one_trip(self) -> Result<Trip, StoreError> {
        let head = self.head()?;
        let moved = match self.moved {
            Some(0) => false,
            Some(1) => true,
            Some(moved) => {
                return Err(StoreError::Corrupt(format!("the audit chain's head moved {moved} times in one batch")));
            }
            None => return Err(StoreError::Corrupt("the batch writer's answer did not say whether it wrote".into())),
        };
        Ok(Trip { new_ids: self.new_ids, head, moved })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchedWrite;
    use tessera_core::{AuditAction, NewAuditEvent};

    /// A sign-on's write: its request's ID, then its record.
    fn issued(id: &str) -> BatchedWrite {
        BatchedWrite::ReplayThenAudit {
            issuer: "sp".into(),
            message_id: id.into(),
            expires_at: i64::MAX,
            now: 1,
            at: 1,
            actor: "user".into(),
            event: NewAuditEvent::new(AuditAction::SamlIssued, "app", id, serde_json::json!({})),
            session: None,
        }
    }

    async fn written(store: &SqliteStore, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&store.pool).await.unwrap()
    }

    /// Under the head it kept, a batch writes its IDs, its records and the head moved past them
    /// in one trip. Under a head somebody else has moved since, its records stay out (linked
    /// there, they would break the chain) and its IDs commit alone, for the records' own path:
    /// not an error that would roll the IDs back and write them again.
    #[tokio::test]
    async fn a_batch_writes_its_records_only_under_the_head_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open_file(&dir.path().join("t.db"), Arc::new(tessera_core::SystemClock)).await.unwrap();
        let key = AuditKey::for_tests();
        let mut conn = store.writer.acquire().await.unwrap();
        let head =
            read_answer(&sqlx::query("SELECT seq, mac FROM audit_chain_head").fetch_all(&mut *conn).await.unwrap())
                .unwrap()
                .head()
                .unwrap();
        let (before_ids, before_records) =
            (written(&store, "message_replay").await, written(&store, "audit_events").await);

        let split = SplitBatch::of(vec![issued("_1"), issued("_2")]);
        let (together, kept) = SqliteStore::in_one_trip(&mut conn, &key, head.clone(), &split, 2).await.unwrap();
        assert!(matches!(together, Together::Written(ref outcomes) if outcomes == &vec![Ok(Written::Yes); 2]));
        let kept = kept.unwrap();
        assert_eq!(kept.seq, head.seq + 2, "the head moved past both records");
        assert_eq!(written(&store, "audit_events").await, before_records + 2);

        let split = SplitBatch::of(vec![issued("_3")]);
        let (together, kept_now) = SqliteStore::in_one_trip(&mut conn, &key, head, &split, 1).await.unwrap();
        assert!(matches!(together, Together::IdsOnly(ref outcomes) if outcomes == &vec![Ok(Written::Yes)]));
        assert_eq!(kept_now, None, "the records' own path moves the head next");
        assert_eq!(written(&store, "message_replay").await, before_ids + 3);
        assert_eq!(written(&store, "audit_events").await, before_records + 2, "no record under a stale head");

        // The same head still kept: the connection holds no transaction, the batch goes on.
        let split = SplitBatch::of(vec![issued("_4"), issued("_1")]);
        let (together, _) = SqliteStore::in_one_trip(&mut conn, &key, kept, &split, 2).await.unwrap();
        let Together::IdsOnly(outcomes) = together else { panic!("a replayed ID keeps the records out") };
        assert_eq!(outcomes, vec![Ok(Written::Yes), Ok(Written::Replayed)]);
        assert_eq!(written(&store, "audit_events").await, before_records + 2);
    }
}
