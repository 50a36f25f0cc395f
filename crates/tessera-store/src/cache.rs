//! Short-lived copies of the three reads every sign-on makes (the app a URL names, the session
//! and its user, the access decision), for the SQLite store only.
//!
//! CONTRACT.md lets a running server see a management command's effect up to a second late, so
//! an entry lives at most [`TTL_MS`] by the store's clock. Writes made through this process invalidate every entry at
//! once (a generation counter), so the server's own changes (a sign-out, a revoked grant, a
//! disabled user) take effect on the next request. PostgreSQL gets no cache: there other nodes
//! write too, and a session signed out on one node must be dead on all of them at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tessera_core::{AccessDecision, AppId, Application, Clock, UnixMillis, User, UserId};

use crate::Session;

pub(crate) const TTL_MS: i64 = 1000;

/// Entries per shelf before it is emptied: a bound on memory, far above the sign-ons one
/// second can hold.
const MAX_ENTRIES: usize = 8192;

pub(crate) struct ReadCache {
    enabled: bool,
    clock: Arc<dyn Clock>,
    generation: AtomicU64,
    pub(crate) apps_by_path: Shelf<String, Application>,
    pub(crate) sessions: Shelf<String, (Session, User)>,
    pub(crate) access: Shelf<(UserId, AppId), AccessDecision>,
}

impl ReadCache {
    pub(crate) fn enabled(clock: Arc<dyn Clock>) -> Self {
        Self::new(true, clock)
    }

    pub(crate) fn disabled(clock: Arc<dyn Clock>) -> Self {
        Self::new(false, clock)
    }

    fn new(enabled: bool, clock: Arc<dyn Clock>) -> Self {
        ReadCache {
            enabled,
            clock,
            generation: AtomicU64::new(0),
            apps_by_path: Shelf::default(),
            sessions: Shelf::default(),
            access: Shelf::default(),
        }
    }

    /// Taken before a read: an entry is stored only under the generation it was read in, so a
    /// write that lands while the read is in flight leaves nothing stale behind.
    pub(crate) fn ticket(&self) -> Option<u64> {
        self.enabled.then(|| self.generation.load(Ordering::Acquire))
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

    /// Called by every write that could change what an entry holds.
    pub(crate) fn invalidate(&self) {
        if self.enabled {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
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

impl<K, V> Default for Shelf<K, V> {
    fn default() -> Self {
        Shelf { entries: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash, V> Shelf<K, V> {
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
        let shelf: Shelf<&str, u32> = Shelf::default();
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
        let shelf: Shelf<&str, u32> = Shelf::default();
        cache.put(&shelf, cache.ticket(), "k", 1);
        clock.advance(TTL_MS - 1);
        assert_eq!(cache.get(&shelf, &"k"), Some(1));
        clock.advance(1);
        assert_eq!(cache.get(&shelf, &"k"), None);
        clock.set(0);
        assert_eq!(cache.get(&shelf, &"k"), None, "a clock set back does not revive it");
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = ReadCache::disabled(clock());
        let shelf: Shelf<&str, u32> = Shelf::default();
        cache.put(&shelf, cache.ticket(), "k", 1);
        assert_eq!(cache.get(&shelf, &"k"), None);
    }
}
