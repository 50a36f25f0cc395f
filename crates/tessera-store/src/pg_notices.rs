//! How a PostgreSQL node hears the other nodes' writes, so that it may keep the reads each
//! sign-on makes (`cache.rs`) without serving one that another node has changed.
//!
//! Migration 0016 puts triggers on the tables those reads come from (apps, users, memberships,
//! grants; sessions are not kept, see `cache.rs`), which notify the channel [`CHANNEL`] when a
//! write commits, whoever wrote it. A task of each store listens on a
//! connection of its own, and every notice invalidates the whole cache. The cache is on only
//! while that connection listens: off until it first does, off from the moment it is lost
//! until it listens again (whatever was kept is dropped then, since the notices in between are
//! gone). A connection that dies silently is the one case a notice can be missed while the
//! cache is on; an entry's second of life (`cache::TTL_MS`, the bound CONTRACT.md sets for a
//! management command's effect) is the limit then.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};

use crate::cache::ReadCache;

/// The channel the triggers notify.
pub(crate) const CHANNEL: &str = "tessera_reads";

/// 1 while the store hears other nodes' writes (and so keeps reads), 0 while it does not.
const LISTENING_METRIC: &str = "tessera_store_read_cache_listening";

/// How long the task waits before it listens again after losing its connection.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// How long it waits before it looks again for triggers that a database without migration 0016
/// lacks (a node that may not migrate, before the schema's owner runs `tessera migrate run`).
const RECHECK_TRIGGERS_AFTER: Duration = Duration::from_secs(30);

/// The listening task; stopped with the store.
pub(crate) struct Listener(tokio::task::JoinHandle<()>);

impl Listener {
    pub(crate) fn start(pool: PgPool, cache: Arc<ReadCache>) -> Self {
        Listener(tokio::spawn(listen(pool, cache)))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why the cache went off.
enum Deaf {
    Lost(sqlx::Error),
    NoTriggers,
}

async fn listen(pool: PgPool, cache: Arc<ReadCache>) {
    // Said once when hearing stops and once when it starts again, not at every retry.
    let mut said_deaf = false;
    loop {
        let deaf = hear(&pool, &cache, &mut said_deaf).await;
        cache.pause();
        metrics::gauge!(LISTENING_METRIC).set(0.0);
        if pool.is_closed() {
            return;
        }
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
                    "the database lacks migration 0016's triggers: every sign-on reads the database \
                     until `tessera migrate run` adds them"
                ),
            }
        }
        tokio::time::sleep(wait).await;
    }
}

/// Listens, turns the cache on, and invalidates it at every notice; returns when it cannot
/// listen (any more).
async fn hear(pool: &PgPool, cache: &ReadCache, said_deaf: &mut bool) -> Deaf {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(e) => return Deaf::Lost(e),
    };
    // A lost connection is reported at once (the cache goes off), not after a reconnection
    // that would hide how long notices were missed.
    listener.eager_reconnect(false);
    match sqlx::query_scalar::<_, bool>("SELECT to_regproc('tessera_reads_changed') IS NOT NULL")
        .fetch_one(&mut listener)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Deaf::NoTriggers,
        Err(e) => return Deaf::Lost(e),
    }
    if let Err(e) = listener.listen(CHANNEL).await {
        return Deaf::Lost(e);
    }
    cache.resume();
    metrics::gauge!(LISTENING_METRIC).set(1.0);
    if std::mem::take(said_deaf) {
        tracing::info!("hearing other nodes' writes again: sign-on reads are kept again");
    }
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => cache.invalidate(),
            Ok(None) => return Deaf::Lost(sqlx::Error::Protocol("the listening connection was closed".into())),
            Err(e) => return Deaf::Lost(e),
        }
    }
}
