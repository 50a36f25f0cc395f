//! How a PostgreSQL node hears the other nodes' writes, so that it may keep the reads each
//! sign-on makes (`cache.rs`) without serving one that another node has changed.
//!
//! Migrations 0016 and 0017 put triggers on the tables those reads come from (apps and their
//! signing keys and previous certificates, users, memberships, grants; sessions, when one
//! ends), which notify the channel [`CHANNEL`] when a write commits, whoever wrote it. A
//! task of each store listens on a connection of its own (not one of the requests' pool), and
//! every notice invalidates the whole cache. The cache is on only
//! while that connection listens: off until it first does, off from the moment it is lost
//! until it listens again (whatever was kept is dropped then, since the notices in between are
//! gone). A connection that goes silent (no reset reaches it; a pooler that takes LISTEN but
//! passes nothing on) is found by a heartbeat: every [`HEARTBEAT_EVERY`] the task notifies the
//! channel from another connection and expects to hear itself within [`HEARD_WITHIN`], or it
//! turns the cache off and listens afresh. Until then an entry's second of life
//! (`cache::TTL_MS`, the bound CONTRACT.md sets for a management command's effect) is the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::Notify;

use crate::cache::ReadCache;

/// The channel the triggers notify.
pub(crate) const CHANNEL: &str = "tessera_reads";

/// 1 while the store hears other nodes' writes (and so keeps reads), 0 while it does not.
const LISTENING_METRIC: &str = "tessera_store_read_cache_listening";

/// How long the task waits before it listens again after losing its connection.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// How long it waits before it looks again for triggers that a database without migration 0017
/// lacks (a node that may not migrate, before the schema's owner runs `tessera migrate run`),
/// or on which someone disabled one.
const RECHECK_TRIGGERS_AFTER: Duration = Duration::from_secs(30);

/// The triggers 0016 and 0017 add; the cache is on only while every one of them is there and
/// enabled.
const TRIGGERS: [&str; 8] = [
    "apps_read_cache",
    "signing_keys_read_cache",
    "previous_certificates_read_cache",
    "users_read_cache",
    "memberships_read_cache",
    "grants_read_cache",
    "sessions_read_cache",
    "sessions_truncated_read_cache",
];

/// The listening task; stopped with the store.
pub(crate) struct Listener {
    task: tokio::task::JoinHandle<()>,
    listened: Arc<AtomicU64>,
}

impl Listener {
    /// Listens on a connection of its own, made with `options` when it is first needed (and
    /// made afresh after one is lost), and sends its heartbeats on another.
    pub(crate) fn start(options: PgConnectOptions, cache: Arc<ReadCache>) -> Self {
        let listened = Arc::new(AtomicU64::new(0));
        Listener { task: tokio::spawn(listen(options, cache, listened.clone())), listened }
    }

    /// How many times the task has begun to listen: 1 once it first does, one more after each
    /// connection lost and listened on again.
    pub(crate) fn times_listened(&self) -> u64 {
        self.listened.load(Ordering::Acquire)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long the task waits for its connection.
const LISTEN_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the task checks that it still hears the channel.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// How long a heartbeat may take to come back before the listening connection is given up.
const HEARD_WITHIN: Duration = Duration::from_secs(3);

/// What a heartbeat's notice begins with; the rest names the node that sent it. No table's
/// name does.
const HEARTBEAT: &str = "heartbeat ";

/// A pool of one connection, made when first used.
fn one_connection(options: &PgConnectOptions) -> PgPool {
    PgPoolOptions::new().max_connections(1).acquire_timeout(LISTEN_ACQUIRE_TIMEOUT).connect_lazy_with(options.clone())
}

/// Turns the cache off however the task ends (aborted, or a panic), so that it never stays on
/// with nobody listening.
struct PauseWhenDone(Arc<ReadCache>);

impl Drop for PauseWhenDone {
    fn drop(&mut self) {
        self.0.pause();
        metrics::gauge!(LISTENING_METRIC).set(0.0);
    }
}

/// Why the cache went off.
enum Deaf {
    Lost(sqlx::Error),
    NoTriggers,
}

async fn listen(options: PgConnectOptions, cache: Arc<ReadCache>, listened: Arc<AtomicU64>) {
    let _pause = PauseWhenDone(cache.clone());
    let beats = one_connection(&options);
    let mine = format!("{HEARTBEAT}{}", uuid::Uuid::new_v4().simple());
    // Said once when hearing stops and once when it starts again, not at every retry.
    let mut said_deaf = false;
    loop {
        // A connection of its own each time: one given up on may still be held by its pool.
        let pool = one_connection(&options);
        let heard = Notify::new();
        let deaf = tokio::select! {
            deaf = hear(&pool, &cache, &listened, &heard, &mine, &mut said_deaf) => deaf,
            deaf = watch(&beats, &cache, &heard, &mine) => deaf,
        };
        cache.pause();
        metrics::gauge!(LISTENING_METRIC).set(0.0);
        let wait = match &deaf {
            Deaf::Lost(_) => RETRY_AFTER,
            Deaf::NoTriggers => RECHECK_TRIGGERS_AFTER,
        };
        if !said_deaf {
            said_deaf = true;
            match deaf {
                Deaf::Lost(e) => tracing::warn!(
                    error = %e,
                    "not hearing other nodes' writes: every sign-on reads the database until this node listens again"
                ),
                Deaf::NoTriggers => tracing::warn!(
                    "the database lacks the triggers of migrations 0016 and 0017, or one is disabled: every sign-on \
                     reads the database until `tessera migrate run` adds them (or they are enabled again)"
                ),
            }
        }
        tokio::time::sleep(wait).await;
    }
}

/// Listens, turns the cache on, and invalidates it at every notice; returns when it cannot
/// listen (any more).
async fn hear(
    pool: &PgPool,
    cache: &ReadCache,
    listened: &AtomicU64,
    heard: &Notify,
    mine: &str,
    said_deaf: &mut bool,
) -> Deaf {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(e) => return Deaf::Lost(e),
    };
    // A lost connection is reported at once (the cache goes off), not after a reconnection
    // that would hide how long notices were missed.
    listener.eager_reconnect(false);
    let enabled = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM pg_trigger WHERE tgname = ANY($1) AND tgenabled <> 'D' AND NOT tgisinternal \
         AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace)",
    )
    .bind(&TRIGGERS[..])
    .fetch_one(&mut listener)
    .await;
    match enabled {
        Ok(count) if count == TRIGGERS.len() as i64 => {}
        Ok(_) => return Deaf::NoTriggers,
        Err(e) => return Deaf::Lost(e),
    }
    if let Err(e) = listener.listen(CHANNEL).await {
        return Deaf::Lost(e);
    }
    cache.resume();
    listened.fetch_add(1, Ordering::AcqRel);
    metrics::gauge!(LISTENING_METRIC).set(1.0);
    if std::mem::take(said_deaf) {
        tracing::info!("hearing other nodes' writes again: sign-on reads are kept again");
    }
    loop {
        match listener.try_recv().await {
            Ok(Some(notice)) if notice.payload() == mine => heard.notify_one(),
            // Another node's heartbeat says nothing about the data.
            Ok(Some(notice)) if notice.payload().starts_with(HEARTBEAT) => {}
            Ok(Some(_)) => cache.invalidate(),
            Ok(None) => return Deaf::Lost(sqlx::Error::Protocol("the listening connection was closed".into())),
            Err(e) => return Deaf::Lost(e),
        }
    }
}

/// Returns when a heartbeat sent while the cache is on does not come back within
/// [`HEARD_WITHIN`]: the listening connection has gone silent.
async fn watch(beats: &PgPool, cache: &ReadCache, heard: &Notify, mine: &str) -> Deaf {
    loop {
        tokio::time::sleep(HEARTBEAT_EVERY).await;
        if !cache.is_on() {
            continue;
        }
        // Sent and heard back within the bound, or the connection is given up. One heartbeat
        // is out at a time and each is heard once, so a permit `heard` holds is this one's.
        let round_trip = async {
            sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(mine).execute(beats).await?;
            heard.notified().await;
            Ok::<(), sqlx::Error>(())
        };
        match tokio::time::timeout(HEARD_WITHIN, round_trip).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Deaf::Lost(e),
            Err(_) => {
                return Deaf::Lost(sqlx::Error::Protocol(format!(
                    "this node's heartbeat did not come back on the listening connection within {HEARD_WITHIN:?}"
                )));
            }
        }
    }
}
