//! Short-lived copies of the reads every sign-on makes (the app a URL names, the session and its
//! user, the access decision, and for a WS-Federation or WS-Trust token the directory source
//! that keeps the user's password, whose expiry the token may carry).
//!
//! CONTRACT.md lets a running server see a management command's effect up to a second late, so
//! an entry lives at most [`TTL_MS`] by the store's clock. Writes made through this process
//! invalidate every entry at once (a generation counter), so the server's own changes (a
//! sign-out, a revoked grant, a disabled user) take effect on the next request.
//!
//! On PostgreSQL other nodes write too: there the cache is on only while the store hears
//! PostgreSQL's notices of those writes (`pg_notices.rs`), and each notice invalidates every
//! entry as well. A notice reaches the other nodes a little after the write commits, so a kept
//! session may have been signed out elsewhere a moment ago: there only a token's read of a
//! session uses what was kept (`SessionStore::find_session_for_token`), and the token's audit
//! record is written only while its session still exists and its user is active, checked in
//! the transaction that writes it (`ReplayStore::record_token`). Every other read of a session
//! (pages, enrolment, sign-out) goes to the database.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tessera_core::{AccessDecision, AppId, Application, Clock, SourceId, UnixMillis, User, UserId};

use crate::Session;

pub(crate) const TTL_MS: i64 = 1000;

/// Entries per shelf before it is emptied: a bound on memory, far above the sign-ons one
/// second can hold.
const MAX_ENTRIES: usize = 8192;

pub(crate) struct ReadCache {
    /// Off while nothing would tell this process of another's writes (PostgreSQL before its
    /// listener is up, or after it lost its connection).
    on: AtomicBool,
    /// Whether every read of a session may be served from here, or only a token's
    /// (`SessionStore::find_session_for_token`): one of several nodes hears another's sign-out
    /// a moment after it, and its pages must not outlive it by that moment.
    every_session_read: bool,
    clock: Arc<dyn Clock>,
    generation: AtomicU64,
    pub(crate) apps_by_path: Shelf<String, Application>,
    pub(crate) sessions: Shelf<String, (Session, User)>,
    pub(crate) access: Shelf<(UserId, AppId), AccessDecision>,
    /// The directory source a user came from and their anchor there; `None` for a local user.
    /// Every caller of `user_source` reads it through here, not only tokens. A second-old answer
    /// fails closed for each: a removed source's link finds no source (the password check and
    /// change say the directory is unavailable, the claims are left out), and a link not yet seen
    /// leaves a user without a local password refused; Kerberos takes its sources from
    /// `list_sources`, which is not kept.
    pub(crate) user_sources: Shelf<UserId, Option<(SourceId, String)>>,
}

impl ReadCache {
    /// For the one process that serves a SQLite store: on, and keeping every read it holds.
    pub(crate) fn enabled(clock: Arc<dyn Clock>) -> Self {
        Self::new(true, true, clock)
    }

    /// For one of several nodes: off until [`ReadCache::resume`].
    pub(crate) fn for_one_of_several_nodes(clock: Arc<dyn Clock>) -> Self {
        Self::new(false, false, clock)
    }

    fn new(on: bool, every_session_read: bool, clock: Arc<dyn Clock>) -> Self {
        ReadCache {
            on: AtomicBool::new(on),
            every_session_read,
            clock,
            generation: AtomicU64::new(0),
            apps_by_path: Shelf::new(),
            sessions: Shelf::new(),
            access: Shelf::new(),
            user_sources: Shelf::new(),
        }
    }

    /// Taken before a read: an entry is stored only under the generation it was read in, so a
    /// write that lands while the read is in flight leaves nothing stale behind.
    pub(crate) fn ticket(&self) -> Option<u64> {
        self.on.load(Ordering::Acquire).then(|| self.generation.load(Ordering::Acquire))
    }

    pub(crate) fn get<K: Eq + Hash, V: Clone>(&self, shelf: &Shelf<K, V>, key: &K) -> Option<V> {
        let generation = self.ticket()?;
        shelf.get(key, generation, self.clock.now_millis())
    }

    pub(crate) fn put<K: Eq + Hash, V>(&self, shelf: &Shelf<K, V>, ticket: Option<u64>, key: K, value: V) {
        if let Some(generation) = ticket
            && generation == self.generation.load(Ordering::Acquire)
        {
            shelf.put(key, generation, self.clock.now_millis(), value);
        }
    }

    /// Drops one entry: a write changed it in a way no other entry depends on (a session's
    /// last use), and its next read should see that.
    pub(crate) fn forget<K: Eq + Hash, V>(&self, shelf: &Shelf<K, V>, key: &K) {
        shelf.forget(key);
    }

    /// Called by every write that could change what an entry holds.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Nothing is kept or served until [`ReadCache::resume`]; what was kept is dropped.
    pub(crate) fn pause(&self) {
        self.on.store(false, Ordering::Release);
        self.invalidate();
    }

    /// Called once writes made elsewhere are heard again: what was kept before may have missed
    /// some, so it is dropped first.
    pub(crate) fn resume(&self) {
        self.invalidate();
        self.on.store(true, Ordering::Release);
    }

    /// Whether every read of a session may come from here (one serving process), or only a
    /// token's (one of several nodes).
    pub(crate) fn serves_every_session_read(&self) -> bool {
        self.every_session_read
    }

    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }
}

pub(crate) struct Shelf<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
}

struct Entry<V> {
    generation: u64,
    stored: UnixMillis,
    value: V,
}

impl<K: Eq + Hash, V> Shelf<K, V> {
    fn new() -> Self {
        Shelf { entries: Mutex::new(HashMap::new()) }
    }

    fn get(&self, key: &K, generation: u64, now: UnixMillis) -> Option<V>
    where
        V: Clone,
    {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // A clock set back makes an entry look younger than it is: only ages 0 to TTL count.
        entries
            .get(key)
            .filter(|entry| entry.generation == generation && (0..TTL_MS).contains(&(now - entry.stored)))
            .map(|entry| entry.value.clone())
    }

    fn put(&self, key: K, generation: u64, now: UnixMillis, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, Entry { generation, stored: now, value });
    }

    fn forget(&self, key: &K) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> Arc<tessera_core::ManualClock> {
        Arc::new(tessera_core::ManualClock::at(10_000))
    }

    #[test]
    fn an_entry_read_before_a_write_is_not_kept() {
        let cache = ReadCache::enabled(clock());
        let shelf: Shelf<&str, u32> = Shelf::new();
        let ticket = cache.ticket();
        cache.invalidate();
        cache.put(&shelf, ticket, "k", 1);
        assert_eq!(cache.get(&shelf, &"k"), None);
        let ticket = cache.ticket();
        cache.put(&shelf, ticket, "k", 2);
        assert_eq!(cache.get(&shelf, &"k"), Some(2));
        cache.invalidate();
        assert_eq!(cache.get(&shelf, &"k"), None);
    }

    #[test]
    fn an_entry_lives_one_second_by_the_store_clock() {
        let clock = clock();
        let cache = ReadCache::enabled(clock.clone());
        let shelf: Shelf<&str, u32> = Shelf::new();
        cache.put(&shelf, cache.ticket(), "k", 1);
        clock.advance(TTL_MS - 1);
        assert_eq!(cache.get(&shelf, &"k"), Some(1));
        clock.advance(1);
        assert_eq!(cache.get(&shelf, &"k"), None);
        clock.set(0);
        assert_eq!(cache.get(&shelf, &"k"), None, "a clock set back does not revive it");
    }

    #[test]
    fn one_of_several_nodes_keeps_nothing_until_it_hears_the_others() {
        let cache = ReadCache::for_one_of_several_nodes(clock());
        assert_eq!(cache.ticket(), None, "off until it hears the other nodes");
        let shelf: Shelf<&str, u32> = Shelf::new();
        cache.put(&shelf, cache.ticket(), "k", 1);
        assert_eq!(cache.get(&shelf, &"k"), None);
        cache.resume();
        cache.put(&shelf, cache.ticket(), "k", 2);
        assert_eq!(cache.get(&shelf, &"k"), Some(2));
    }

    #[test]
    fn a_forgotten_entry_is_read_again_and_the_others_stay() {
        let cache = ReadCache::enabled(clock());
        let shelf: Shelf<&str, u32> = Shelf::new();
        cache.put(&shelf, cache.ticket(), "a", 1);
        cache.put(&shelf, cache.ticket(), "b", 2);
        cache.forget(&shelf, &"a");
        assert_eq!((cache.get(&shelf, &"a"), cache.get(&shelf, &"b")), (None, Some(2)));
    }

    #[test]
    fn a_paused_cache_keeps_nothing_and_forgets_what_it_kept() {
        let cache = ReadCache::for_one_of_several_nodes(clock());
        let shelf: Shelf<&str, u32> = Shelf::new();
        cache.put(&shelf, cache.ticket(), "k", 1);
        assert_eq!(cache.get(&shelf, &"k"), None);
        cache.resume();
        cache.put(&shelf, cache.ticket(), "k", 2);
        assert_eq!(cache.get(&shelf, &"k"), Some(2));
        let ticket = cache.ticket();
        cache.pause();
        assert_eq!(cache.get(&shelf, &"k"), None);
        cache.put(&shelf, ticket, "k", 3);
        cache.resume();
        assert_eq!(cache.get(&shelf, &"k"), None, "neither what was kept nor a read from before the pause");
    }
}
