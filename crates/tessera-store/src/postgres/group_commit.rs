//! PostgreSQL's group commit: a batch of message IDs and audit records in one statement (its
//! own transaction) on a connection the writer keeps, in one round trip where a transaction
//! took six (bench/README.md, eighth look).
//!
//! The records' links are MACs made here, under the chain's head; the head is read in the
//! database. So the writer keeps the head its last batch left and links the next batch under
//! it, and the statement writes the records only if the head is still that one, every message
//! ID was new and every session lives. When something else moved the head (another node, a
//! change on this one) or a record must be left out, the statement still records the IDs and
//! reads the head and the sessions, and the next trip links the records under what it read.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row as _};

use super::PgStore;
use crate::StoreError;
use crate::audit_chain::{AuditKey, AuditKeySlot, ChainHead};
use crate::batch::{HEAD_MOVED, Outcome, Record, SplitBatch, Together, Written};

/// What the PostgreSQL writer keeps from one batch to the next.
#[derive(Default)]
pub(super) struct WriterState {
    /// Its own connection, taken from the pool once: the pool pings a connection before each
    /// use and after, two round trips of every batch. Its statements end sooner than the
    /// pool's ([`WRITER_STATEMENT_TIMEOUT`]); it is closed when dropped, never back in the pool.
    connection: Option<PoolConnection<Postgres>>,
    /// The chain's head as the last trip left it or read it.
    head: Option<ChainHead>,
}

impl WriterState {
    /// A batch waits for no other write of this process (`super::WriteTurn`).
    pub(super) async fn turn(&self) -> Result<super::WriteTurn, StoreError> {
        Ok(())
    }
}

/// Trips one batch takes at most before its records go to the records' own path: the first
/// under the head the writer kept, the next under the head the one before read.
const TRIPS: usize = 3;

/// How long a statement may run on the writer's own connection. One that waits longer (on a
/// row another transaction holds: a directory sync's users, another node's head) is ended by
/// the server, nothing of it committed, and the batch goes on through the pool, whose
/// statements have their 5 s.
const WRITER_STATEMENT_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long one trip may take before the writer takes the route for silent: past
/// [`WRITER_STATEMENT_TIMEOUT`], so that the server has ended any statement of its own by then,
/// and within the 2 s in which SECURITY.md §5 wants an outage answered. The pool's ping bounded
/// that before each batch; now nothing else would.
const TRIP_DEADLINE: Duration = Duration::from_secs(2);

/// One trip's answer: the IDs that were new, the sessions that live, the head as the trip
/// found it, and where the records moved it if it wrote them.
struct Trip {
    new_ids: HashSet<(String, String)>,
    live: HashSet<String>,
    head: ChainHead,
    moved_to: Option<ChainHead>,
}

/// How a trip on the writer's connection ended without an answer to go on with.
enum TripError {
    /// The database refused it (or it wrote nothing): nothing of it committed.
    Refused(StoreError),
    /// No answer to go on with: none within [`TRIP_DEADLINE`], the connection lost on the
    /// way, or an answer that could not be read. What it wrote may have committed, or may yet.
    Unknown(String),
}

impl TripError {
    /// A database's error is a refusal: the statement, its own transaction, rolled back. Any
    /// other (the connection lost, a protocol error) may have come after its commit.
    fn of(e: sqlx::Error) -> TripError {
        match e {
            sqlx::Error::Database(_) => TripError::Refused(e.into()),
            other => TripError::Unknown(format!("the batch writer got no usable answer from the database: {other}")),
        }
    }

    /// For a trip that wrote nothing (a read, a SET): whatever became of it, nothing committed.
    fn nothing_written(self) -> StoreError {
        match self {
            TripError::Refused(e) => e,
            TripError::Unknown(message) => StoreError::Database(message),
        }
    }
}

/// A failed trip: how, whether the IDs had committed (the first trip carries them), and the
/// outcomes known by then.
type Stopped = (TripError, bool, Vec<Outcome>);

impl PgStore {
    /// The batch in one statement, on the writer's own connection (a trip more when the head
    /// moved, an ID was replayed or a session ended). An error means nothing was written.
    /// After a trip fails the connection is closed, and the next batch takes a fresh one.
    pub(super) async fn write_together(
        writer: &PgPool,
        key: &AuditKeySlot,
        state: &mut WriterState,
        split: &SplitBatch,
        count: usize,
    ) -> Result<Together, StoreError> {
        // A store without its chain key writes no record: refused before the connection.
        let key = if split.has_records() { Some(key.get()?) } else { None };
        let mut connection = match state.connection.take() {
            Some(connection) => connection,
            None => Self::writer_connection(writer).await?,
        };
        match Self::in_trips(&mut connection, key, &mut state.head, split, count).await {
            Ok(together) => {
                state.connection = Some(connection);
                Ok(together)
            }
            Err((e, ids_known, outcomes)) => {
                // A trip cut short by its deadline leaves the connection mid-answer; any
                // other error may mean the same. So it is dropped here, which closes it
                // (`writer_connection`), and the head is read afresh next time.
                drop(connection);
                state.head = None;
                match e {
                    TripError::Unknown(message) => Ok(Together::Written(unknown(split, ids_known, outcomes, &message))),
                    TripError::Refused(e) if ids_known => {
                        tracing::debug!(error = %e, "a batch's records failed after its IDs; writing them alone");
                        Ok(Together::IdsOnly(outcomes))
                    }
                    TripError::Refused(e) => Err(e),
                }
            }
        }
    }

    /// A connection of the pool's for the writer alone, its statements bounded shorter. It is
    /// closed whenever it is dropped (a failed trip, a panic, the store's end), so that the
    /// shorter bound never reaches the pool's other users.
    async fn writer_connection(writer: &PgPool) -> Result<PoolConnection<Postgres>, StoreError> {
        let mut connection = writer.acquire().await?;
        connection.close_on_drop();
        let bounded = format!("SET statement_timeout = {}", WRITER_STATEMENT_TIMEOUT.as_millis());
        within_deadline(async { sqlx::query(&bounded).execute(&mut *connection).await.map_err(TripError::of) })
            .await
            .map_err(TripError::nothing_written)?;
        Ok(connection)
    }

    /// The batch's trips; `key` is the chain's when the batch holds records.
    async fn in_trips(
        connection: &mut PgConnection,
        key: Option<&AuditKey>,
        kept_head: &mut Option<ChainHead>,
        split: &SplitBatch,
        count: usize,
    ) -> Result<Together, Stopped> {
        let mut outcomes = SplitBatch::outcomes(count);
        let Some(key) = key else {
            // No record to chain: the IDs alone, and the head (which every node's records
            // wait on) left unlocked.
            if !split.replays.is_empty() {
                match within_deadline(Self::ids_alone(connection, split)).await {
                    Ok(new) => split.mark_new_ids(&mut outcomes, &new),
                    Err(e) => return Err((e, false, outcomes)),
                }
            }
            return Ok(Together::Written(outcomes));
        };
        // A writer without a head (its first batch, or the first after an error) reads it
        // first: so that the IDs and the records still commit together.
        let mut kept = match kept_head.take() {
            Some(head) => head,
            None => {
                let read = async { Self::read_chain_head(connection, false).await.map_err(TripError::Refused) };
                match within_deadline(read).await {
                    Ok(head) => head,
                    Err(e) => return Err((TripError::Refused(e.nothing_written()), false, outcomes)),
                }
            }
        };
        // The first trip takes every ID for new and every session for live.
        for (position, ..) in &split.replays {
            outcomes[*position] = Ok(Written::Yes);
        }
        let mut ids_pending = !split.replays.is_empty();
        let mut live: Option<HashSet<String>> = None;
        for _ in 0..TRIPS {
            let audits = match &live {
                None => split.records_after_ids(&outcomes),
                Some(live) => split.audits_to_write(&mut outcomes, live),
            };
            if !ids_pending && audits.is_empty() {
                *kept_head = Some(kept);
                return Ok(Together::Written(outcomes));
            }
            let replays: Vec<_> = if ids_pending { split.replays.iter().collect() } else { Vec::new() };
            let trip = match within_deadline(Self::one_trip(connection, key, &kept, split.now, &replays, &audits)).await
            {
                Ok(trip) => trip,
                Err(e) => return Err((e, !ids_pending, outcomes)),
            };
            if ids_pending {
                split.mark_new_ids(&mut outcomes, &trip.new_ids);
                ids_pending = false;
            }
            if let Some(moved_to) = trip.moved_to {
                *kept_head = Some(moved_to);
                for record in audits {
                    outcomes[record.position] = Ok(Written::Yes);
                }
                return Ok(Together::Written(outcomes));
            }
            if kept != trip.head {
                metrics::counter!(HEAD_MOVED).increment(1);
            }
            kept = trip.head;
            live = Some(trip.live);
        }
        // The records' own path moves the head next: a head kept now would be a miss.
        *kept_head = None;
        Ok(Together::IdsOnly(outcomes))
    }

    /// One statement: the message IDs (those that were new come back), the sessions of the
    /// records that live (their rows locked as they are read, `push_live_sessions`), the
    /// chain's head (locked after them, as every writer locks it), and, when the writer has
    /// a head to link under, the records and the head moved past them, written only if the
    /// head is that one, every ID was new and every session lives.
    async fn one_trip(
        connection: &mut PgConnection,
        key: &AuditKey,
        kept: &ChainHead,
        now: i64,
        replays: &[&(usize, String, String, i64)],
        audits: &[&Record],
    ) -> Result<Trip, TripError> {
        let sessions = crate::batch::sessions_of(audits.iter().copied());
        let rows = super::audit_rows(audits);
        let mut moved_to = kept.clone();
        let links = Self::link_to_chain(key, &mut moved_to, &rows);
        let mut statement = QueryBuilder::<Postgres>::new("WITH ");
        if replays.is_empty() {
            statement.push("claimed AS (SELECT NULL::text AS ids, 0::bigint AS n), ");
        } else {
            statement.push("inserted AS (");
            Self::push_replay_insert(&mut statement, now, replays);
            statement.push(
                "), claimed AS (SELECT json_agg(json_build_array(issuer, message_id))::text AS ids, count(*) AS n \
                 FROM inserted), ",
            );
        }
        if sessions.is_empty() {
            statement.push("live AS (SELECT NULL::text AS ids, 0::bigint AS n), ");
        } else {
            // In a subquery: an aggregate takes no locks.
            statement.push("live AS (SELECT json_agg(l.id_hash)::text AS ids, count(*) AS n FROM (SELECT s.id_hash ");
            Self::push_live_sessions(&mut statement, &sessions);
            statement.push(") l), ");
        }
        // The head is locked only once every ID and session is: the aggregates yield their
        // rows after the whole INSERT and the whole read, and the lock is taken on the row
        // the join yields. So every node locks IDs in key order, then sessions, then the head.
        statement.push(
            "head AS (SELECT h.seq, h.mac FROM claimed, live, audit_chain_head h WHERE h.id = 1 FOR UPDATE OF h)",
        );
        // The head moves only once every record is in: the UPDATE's condition counts them,
        // so the INSERTs run (and their trigger checks each place against the head not yet
        // moved) before it, and a count short of the batch moves nothing. The records go in
        // only under the head they were linked under, with every ID new and every session
        // live; else none does, and the IDs commit alone.
        let mut counted = String::new();
        for (n, (chunk, links)) in super::in_statements(&rows, &links).enumerate() {
            if n > 0 {
                counted.push_str(" + ");
            }
            statement.push(format_args!(
                ", records_{n} AS (INSERT INTO audit_events ({cols}) SELECT v.* FROM (",
                cols = super::AUDIT_COLUMNS
            ));
            Self::push_audit_values(&mut statement, chunk, links);
            statement
                .push(format_args!(") AS v ({cols}), head WHERE head.seq = ", cols = super::AUDIT_COLUMNS))
                .push_bind(kept.seq)
                .push(" AND head.mac = ")
                .push_bind(kept.mac.as_str())
                .push(" AND (SELECT n FROM claimed) = ")
                .push_bind(replays.len() as i64)
                .push(" AND (SELECT n FROM live) = ")
                .push_bind(sessions.len() as i64)
                .push(" RETURNING 1)");
            counted.push_str(&format!("(SELECT count(*) FROM records_{n})"));
        }
        if rows.is_empty() {
            counted.push('0');
        }
        statement
            .push(", moved AS (UPDATE audit_chain_head SET seq = ")
            .push_bind(moved_to.seq)
            .push(", mac = ")
            .push_bind(moved_to.mac.as_str())
            .push(" WHERE id = 1 AND ")
            .push(counted)
            .push(" = ")
            .push_bind(rows.len() as i64)
            .push(" RETURNING 1) ");
        statement.push("SELECT head.seq, head.mac, claimed.ids AS claimed, live.ids AS live, (SELECT count(*) FROM moved) AS moved ");
        statement.push("FROM claimed, live, head");
        let row = statement.build().fetch_optional(&mut *connection).await.map_err(TripError::of)?;
        drop(statement);
        // The statement committed (the IDs at least) before any of this is read: an answer
        // that cannot be read leaves its outcome unknown, not refused.
        Self::read_trip(row, moved_to)
            .map_err(|e| TripError::Unknown(format!("the batch writer could not read the database's answer: {e}")))
    }

    fn read_trip(row: Option<sqlx::postgres::PgRow>, moved_to: ChainHead) -> Result<Trip, StoreError> {
        let row = row.ok_or_else(|| StoreError::Corrupt("the audit chain's head row is missing".into()))?;
        let new_ids = match row.try_get::<Option<String>, _>("claimed")? {
            Some(ids) => serde_json::from_str::<Vec<(String, String)>>(&ids)
                .map_err(|e| StoreError::Corrupt(format!("the new message IDs came back unreadable: {e}")))?
                .into_iter()
                .collect(),
            None => HashSet::new(),
        };
        let live = match row.try_get::<Option<String>, _>("live")? {
            Some(ids) => serde_json::from_str(&ids)
                .map_err(|e| StoreError::Corrupt(format!("the live sessions came back unreadable: {e}")))?,
            None => HashSet::new(),
        };
        let head = ChainHead { seq: row.try_get("seq")?, mac: row.try_get("mac")? };
        let moved_to = match row.try_get::<i64, _>("moved")? {
            0 => None,
            1 => Some(moved_to),
            moved => {
                return Err(StoreError::Corrupt(format!("the audit chain's head moved {moved} times in one batch")));
            }
        };
        Ok(Trip { new_ids, live, head, moved_to })
    }

    /// A batch's message IDs alone, one statement: those that were new.
    async fn ids_alone(
        connection: &mut PgConnection,
        split: &SplitBatch,
    ) -> Result<HashSet<(String, String)>, TripError> {
        let replays: Vec<_> = split.replays.iter().collect();
        Self::insert_replays(connection, split.now, &replays).await.map_err(TripError::of)
    }
}

const UNANSWERED: &str =
    "the database did not answer the batch writer within 2 s; the write may still commit, so it is not tried again";

/// A trip on the writer's connection, cut short after [`TRIP_DEADLINE`].
async fn within_deadline<T>(trip: impl Future<Output = Result<T, TripError>>) -> Result<T, TripError> {
    tokio::time::timeout(TRIP_DEADLINE, trip).await.unwrap_or_else(|_| Err(TripError::Unknown(UNANSWERED.into())))
}

/// The outcomes of a batch whose trip's outcome is unknown: what it may have written is
/// neither taken for written (no token without its record) nor written again (no record twice,
/// no new ID taken for a replay). Each write not settled by then fails with `message`; one
/// settled (an ID known replayed, a session known ended) keeps its answer.
fn unknown(split: &SplitBatch, ids_known: bool, mut outcomes: Vec<Outcome>, message: &str) -> Vec<Outcome> {
    let unsettled = || Err(message.to_string());
    if !ids_known {
        for (position, ..) in &split.replays {
            outcomes[*position] = unsettled();
        }
    }
    for record in &split.audits {
        if !matches!(outcomes[record.position], Ok(Written::SessionEnded)) {
            outcomes[record.position] = unsettled();
        }
    }
    for record in &split.after_replay {
        if matches!(outcomes[record.position], Ok(Written::Yes)) {
            outcomes[record.position] = unsettled();
        }
    }
    outcomes
}
