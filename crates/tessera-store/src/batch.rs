//! Group commit for the two writes every sign-on makes: its audit record and the replay check of
//! its request ID. Requests that arrive while one batch is being written join the next, which
//! goes to the database as one statement per table. Each caller still waits until its own row
//! has committed and learns whether it did, so issuance fails closed (SECURITY.md §0.7); what
//! is shared is the hand-off to the database, which is most of the cost of a one-row insert.

use std::future::Future;
use std::time::Instant;

use tessera_core::NewAuditEvent;
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

/// Writes waiting beyond this many hold their callers back (back-pressure), and one batch
/// takes at most this many (well inside either backend's limit on bound parameters).
const MAX_BATCH: usize = 256;

pub(crate) enum BatchedWrite {
    /// An audit record; with `session`, written only while that session lives (`SplitBatch`).
    Audit { at: i64, actor: String, event: NewAuditEvent, session: Option<String> },
    /// Remember a message ID until `expires_at`; the outcome says whether it was new. A row
    /// that expired before `now` is taken over.
    Replay { issuer: String, message_id: String, expires_at: i64, now: i64 },
    /// A message ID as `Replay`, then, only if it was new, an audit record as `Audit`: the
    /// outcome is the audit's, `Replayed` for a replay (and no audit record).
    ReplayThenAudit {
        issuer: String,
        message_id: String,
        expires_at: i64,
        now: i64,
        at: i64,
        actor: String,
        event: NewAuditEvent,
        session: Option<String>,
    },
}

/// What became of one write that committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// The audit record committed; for a message ID alone, it was new.
    Yes,
    /// The message ID was seen before: its record (if any) not written.
    Replayed,
    /// The record's session is gone or its user not active: the record not written (its
    /// message ID, new, recorded all the same).
    SessionEnded,
}

/// `Err` with the database's message when the statement that carried the write failed.
pub(crate) type Outcome = Result<Written, String>;

/// What a backend's attempt at a whole batch in one transaction wrote, when it did not fail
/// whole.
pub(crate) enum Together {
    /// Everything: each write's outcome.
    Written(Vec<Outcome>),
    /// The message IDs, committed and their outcomes marked; none of the audit records, which
    /// are left to the records' own path.
    IdsOnly(Vec<Outcome>),
}

struct Job {
    write: BatchedWrite,
    done: oneshot::Sender<Outcome>,
    queued_at: Instant,
}

/// What the writer reports on `/metrics` (bench/README.md reads them): how long each write
/// waited for its batch to start, how many writes a batch carried and how long it took from
/// its start to its commit (a wait for the writer connection included: a write outside the
/// batches, or another process, may hold it), and how long its caller waited in all, from
/// queuing the write to resuming with its outcome (the wake-up after the commit included). A
/// write should wait at most about one commit: the batch before it.
const QUEUE_SECONDS: &str = "tessera_store_write_queue_seconds";
const WAIT_SECONDS: &str = "tessera_store_write_wait_seconds";
const BATCH_WRITES: &str = "tessera_store_write_batch_writes";
const BATCH_SECONDS: &str = "tessera_store_write_batch_seconds";
/// How many batches found the audit chain's head moved by somebody else since their writer's
/// last batch (a change's records, another node or process), so that their records were not
/// written in their first trip.
pub(crate) const HEAD_MOVED: &str = "tessera_store_write_head_moved_total";

pub(crate) struct WriteBatcher {
    jobs: mpsc::Sender<Job>,
}

impl WriteBatcher {
    /// Starts the writer task on the current Tokio runtime. `execute` gets each batch and
    /// returns one outcome per write, in order.
    pub(crate) fn spawn<F, Fut>(execute: F) -> Self
    where
        F: Fn(Vec<BatchedWrite>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Outcome>> + Send,
    {
        let (jobs, mut queue) = mpsc::channel::<Job>(MAX_BATCH * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
                // The first write wakes this task at once: on the multi-thread runtime a task
                // woken from a worker runs next on that worker. Stepping back behind the tasks already ready lets the sign-ons in
                // flight reach their own writes and join this batch: under load that cut the
                // context switches and lock calls per sign-on by about 45% (bench/saml, perf
                // stat); when idle there is nobody to wait for and the batch goes at once.
                if batch.len() < MAX_BATCH {
                    tokio::task::yield_now().await;
                }
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let started = Instant::now();
                let queue_seconds = metrics::histogram!(QUEUE_SECONDS);
                let (writes, waiting): (Vec<_>, Vec<_>) = batch
                    .drain(..)
                    .map(|job| {
                        queue_seconds.record(started.duration_since(job.queued_at).as_secs_f64());
                        (job.write, job.done)
                    })
                    .unzip();
                let count = writes.len();
                metrics::histogram!(BATCH_WRITES).record(count as f64);
                let mut outcomes = execute(writes).await;
                metrics::histogram!(BATCH_SECONDS).record(started.elapsed().as_secs_f64());
                outcomes.resize_with(count, || Err("the batch writer returned too few outcomes".into()));
                for (done, outcome) in waiting.into_iter().zip(outcomes) {
                    // A caller that has gone away (its request was cancelled) needs no answer.
                    let _ = done.send(outcome);
                }
            }
        });
        WriteBatcher { jobs }
    }

    /// Queues one write and waits for the batch that carries it to commit.
    pub(crate) async fn submit(&self, write: BatchedWrite) -> Result<Written, StoreError> {
        let (done, outcome) = oneshot::channel();
        let queued_at = Instant::now();
        self.jobs.send(Job { write, done, queued_at }).await.map_err(|_| StoreError::WriteFailed(STOPPED.into()))?;
        let outcome = outcome.await;
        metrics::histogram!(WAIT_SECONDS).record(queued_at.elapsed().as_secs_f64());
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(StoreError::WriteFailed(message)),
            Err(_) => Err(StoreError::WriteFailed(STOPPED.into())),
        }
    }
}

const STOPPED: &str = "the store's batch writer has stopped";

/// An audit record of a batch, at its write's position.
pub(crate) struct Record {
    pub position: usize,
    pub at: i64,
    pub actor: String,
    pub event: NewAuditEvent,
    /// Written only while this session (its id hash) exists and its user is active.
    pub session: Option<String>,
}

/// Splits a batch by table, keeping each write's position. Within one batch only the first
/// write of a message ID goes to the database; a repeat is a replay of it.
pub(crate) struct SplitBatch {
    pub audits: Vec<Record>,
    pub replays: Vec<(usize, String, String, i64)>,
    pub repeated: Vec<usize>,
    /// Audit records to write only if the message ID at the same position was new.
    pub after_replay: Vec<Record>,
    /// The latest `now` of the batch's message IDs: one statement takes over rows expired by
    /// then (the callers' clocks differ by the moments between their requests).
    pub now: i64,
}

impl SplitBatch {
    pub(crate) fn of(writes: Vec<BatchedWrite>) -> Self {
        let mut split = SplitBatch {
            audits: Vec::new(),
            replays: Vec::new(),
            repeated: Vec::new(),
            after_replay: Vec::new(),
            now: i64::MIN,
        };
        let mut seen = std::collections::HashSet::new();
        for (position, write) in writes.into_iter().enumerate() {
            let (issuer, message_id, expires_at, now) = match write {
                BatchedWrite::Audit { at, actor, event, session } => {
                    split.audits.push(Record { position, at, actor, event, session });
                    continue;
                }
                BatchedWrite::Replay { issuer, message_id, expires_at, now } => (issuer, message_id, expires_at, now),
                BatchedWrite::ReplayThenAudit { issuer, message_id, expires_at, now, at, actor, event, session } => {
                    split.after_replay.push(Record { position, at, actor, event, session });
                    (issuer, message_id, expires_at, now)
                }
            };
            split.now = split.now.max(now);
            if seen.insert((issuer.clone(), message_id.clone())) {
                split.replays.push((position, issuer, message_id, expires_at));
            } else {
                split.repeated.push(position);
            }
        }
        split
    }
}

impl SplitBatch {
    /// Whether the batch carries an audit record, plain or waiting on its ID: one without
    /// has nothing to link to the chain.
    pub(crate) fn has_records(&self) -> bool {
        !self.audits.is_empty() || !self.after_replay.is_empty()
    }

    /// The sessions (id hashes) some record is written only with, each once, in order.
    pub(crate) fn sessions(&self) -> Vec<&str> {
        sessions_of(self.audits.iter().chain(&self.after_replay))
    }

    /// Outcomes before anything is known: a write no step marks is a repeat of an ID earlier
    /// in the batch, a replay.
    pub(crate) fn outcomes(count: usize) -> Vec<Outcome> {
        vec![Ok(Written::Replayed); count]
    }

    /// Each message ID's outcome: whether it was among the `new` ones.
    pub(crate) fn mark_new_ids(&self, outcomes: &mut [Outcome], new: &std::collections::HashSet<(String, String)>) {
        for (position, issuer, id, _) in &self.replays {
            outcomes[*position] =
                Ok(if new.contains(&(issuer.clone(), id.clone())) { Written::Yes } else { Written::Replayed });
        }
    }

    /// The audit records to write once the IDs are known: every plain one, and those that
    /// wait on an ID only where it was new.
    pub(crate) fn records_after_ids(&self, outcomes: &[Outcome]) -> Vec<&Record> {
        let waiting = self.after_replay.iter().filter(|record| matches!(outcomes[record.position], Ok(Written::Yes)));
        self.audits.iter().chain(waiting).collect()
    }

    /// As [`records_after_ids`](Self::records_after_ids), and of those, one tied to a session
    /// only where that session is among the `live` ones (the others marked `SessionEnded`).
    pub(crate) fn audits_to_write(
        &self,
        outcomes: &mut [Outcome],
        live: &std::collections::HashSet<String>,
    ) -> Vec<&Record> {
        let candidates = self.records_after_ids(outcomes);
        let (to_write, ended) = keep_live(&candidates, live);
        for (record, ended) in candidates.iter().zip(ended) {
            if ended {
                outcomes[record.position] = Ok(Written::SessionEnded);
            }
        }
        to_write
    }
}

/// The sessions (id hashes) some of `records` is written only with, each once, in order.
pub(crate) fn sessions_of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<&'a str> {
    let mut sessions: Vec<&str> = records.into_iter().filter_map(|record| record.session.as_deref()).collect();
    sessions.sort_unstable();
    sessions.dedup();
    sessions
}

/// Of `records`, those to write (untied to a session, or tied to a `live` one), and for each
/// record whether its session ended.
pub(crate) fn keep_live<'a>(
    records: &[&'a Record],
    live: &std::collections::HashSet<String>,
) -> (Vec<&'a Record>, Vec<bool>) {
    let ended: Vec<bool> =
        records.iter().map(|record| record.session.as_ref().is_some_and(|session| !live.contains(session))).collect();
    let to_write = records.iter().zip(&ended).filter(|(_, ended)| !**ended).map(|(record, _)| *record).collect();
    (to_write, ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten sign-ons ready at once on one worker thread share one commit: without the step back,
    /// each would wake the writer first and go alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn writes_ready_together_share_one_batch() {
        let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = std::sync::Arc::new(WriteBatcher::spawn(move |writes: Vec<BatchedWrite>| {
            let count = writes.len();
            if let Ok(mut sizes) = seen.lock() {
                sizes.push(count);
            }
            async move { vec![Ok(Written::Yes); count] }
        }));
        // Spawned from the worker itself, so all ten wait in its queue before any runs (the
        // test body runs on another thread, which would hand them over one by one).
        let writers = tokio::spawn(async move {
            (0..10)
                .map(|i| {
                    let batcher = batcher.clone();
                    tokio::spawn(async move {
                        let event =
                            NewAuditEvent::new(tessera_core::AuditAction::AppUpdate, "app", i, serde_json::json!({}));
                        batcher.submit(BatchedWrite::Audit { at: 0, actor: "test".into(), event, session: None }).await
                    })
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        for writer in writers {
            assert!(matches!(writer.await, Ok(Ok(Written::Yes))));
        }
        assert_eq!(*sizes.lock().unwrap(), vec![10]);
    }

    #[test]
    fn a_repeated_message_id_in_one_batch_is_a_replay() {
        let replay =
            |id: &str| BatchedWrite::Replay { issuer: "sp".into(), message_id: id.into(), expires_at: 9, now: 1 };
        let split = SplitBatch::of(vec![replay("a"), replay("b"), replay("a")]);
        assert_eq!(split.replays.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(split.repeated, vec![2]);
    }

    /// A sign-on's write: the request's ID `id`, then its record (tied to `session`, if any).
    fn issued(id: &str, session: Option<&str>) -> BatchedWrite {
        BatchedWrite::ReplayThenAudit {
            issuer: "sp".into(),
            message_id: id.into(),
            expires_at: 9,
            now: 1,
            at: 1,
            actor: "user".into(),
            event: NewAuditEvent::new(tessera_core::AuditAction::SamlIssued, "app", id, serde_json::json!({})),
            session: session.map(str::to_string),
        }
    }

    /// A sign-on's ID and audit record split into a replay row and a record that waits on it;
    /// a repeat of the ID in the batch is a replay (its outcome stays "not new").
    #[test]
    fn an_audit_record_after_a_replay_check_waits_on_its_position() {
        let split = SplitBatch::of(vec![issued("a", None), issued("a", None), issued("b", None)]);
        assert_eq!(split.replays.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(split.repeated, vec![1]);
        assert_eq!(split.after_replay.iter().map(|a| a.position).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(split.audits.is_empty(), "no record goes before its ID is known to be new");
    }

    /// A record tied to a session goes only where that session lives; its ID, new, still
    /// counts as used. A replayed ID's record is not written whatever its session.
    #[test]
    fn a_record_tied_to_an_ended_session_is_not_written() {
        let event = || NewAuditEvent::new(tessera_core::AuditAction::SamlIssued, "app", "a", serde_json::json!({}));
        let plain = |session: Option<&str>| BatchedWrite::Audit {
            at: 1,
            actor: "user".into(),
            event: event(),
            session: session.map(str::to_string),
        };
        let split = SplitBatch::of(vec![
            plain(Some("live")),
            plain(Some("gone")),
            plain(None),
            issued("new-1", Some("gone")),
            issued("new-2", Some("live")),
            issued("old", Some("live")),
        ]);
        assert_eq!(split.sessions(), vec!["gone", "live"]);
        let mut outcomes = SplitBatch::outcomes(6);
        let new = [("sp", "new-1"), ("sp", "new-2")].map(|(i, m)| (i.to_string(), m.to_string())).into();
        split.mark_new_ids(&mut outcomes, &new);
        let live = ["live".to_string()].into();
        let written: Vec<usize> = split.audits_to_write(&mut outcomes, &live).iter().map(|r| r.position).collect();
        assert_eq!(written, vec![0, 2, 4]);
        assert_eq!(outcomes[1], Ok(Written::SessionEnded));
        assert_eq!(outcomes[3], Ok(Written::SessionEnded), "a new ID's record for an ended session");
        assert_eq!(outcomes[5], Ok(Written::Replayed));
    }
}
