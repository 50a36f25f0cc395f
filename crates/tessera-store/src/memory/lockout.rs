//! [`LockoutStore`] in memory: the same counters, spray counts and familiar addresses as the SQL
//! in `sql/lockout.rs`, one lock making each call atomic as its transaction does.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use tessera_core::{UnixMillis, UserId};

use super::MemoryStore;
use crate::StoreError;
use crate::traits::{Location, LockoutCounter, LockoutStore, MAX_FAMILIAR_IPS};

/// A day of failures is kept, as the SQL store keeps it.
const FAILURE_HISTORY_MS: i64 = 86_400_000;

#[derive(Default)]
pub(super) struct Tables {
    counters: HashMap<(UserId, Location), LockoutCounter>,
    /// Address, name key, when.
    failures: Vec<(String, String, UnixMillis)>,
    /// Per user: address and when it was last learnt.
    familiar: HashMap<UserId, Vec<(String, UnixMillis)>>,
}

impl Tables {
    pub(super) fn forget(&mut self, user: UserId) {
        self.counters.retain(|(holder, _), _| *holder != user);
        self.familiar.remove(&user);
    }
}

#[async_trait]
impl LockoutStore for MemoryStore {
    async fn lockout_counter(&self, user: UserId, location: Location) -> Result<Option<LockoutCounter>, StoreError> {
        Ok(self.tables()?.lockout.counters.get(&(user, location)).copied())
    }

    async fn reserve_attempt(
        &self,
        user: UserId,
        location: Location,
        threshold: u32,
        window_ms: i64,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables()?;
        let state = &mut tables.lockout;
        match state.counters.get_mut(&(user, location)) {
            None => {
                state.counters.insert((user, location), LockoutCounter { failures: 1, last_failure_at: now });
                Ok(true)
            }
            Some(counter) if counter.failures < threshold || counter.last_failure_at <= now - window_ms => {
                counter.failures = counter.failures.saturating_add(1);
                counter.last_failure_at = now;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    async fn release_attempt(&self, user: UserId, location: Location) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        if let Some(counter) = tables.lockout.counters.get_mut(&(user, location)) {
            counter.failures = counter.failures.saturating_sub(1);
        }
        Ok(())
    }

    async fn record_failed_attempt(&self, ip_key: &str, user_key: &str, now: UnixMillis) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        let state = &mut tables.lockout;
        state.failures.push((ip_key.to_string(), user_key.to_string(), now));
        state.failures.retain(|(_, _, at)| *at >= now - FAILURE_HISTORY_MS);
        Ok(())
    }

    async fn record_password_success(&self, user: UserId) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        let state = &mut tables.lockout;
        state.counters.remove(&(user, Location::Familiar));
        state.counters.remove(&(user, Location::Unknown));
        Ok(())
    }

    async fn learn_familiar_ip(&self, user: UserId, ip: &str, now: UnixMillis) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        let state = &mut tables.lockout;
        let known = state.familiar.entry(user).or_default();
        match known.iter_mut().find(|(address, _)| address == ip) {
            Some(entry) => entry.1 = now,
            None => known.push((ip.to_string(), now)),
        }
        known.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        known.truncate(MAX_FAMILIAR_IPS);
        Ok(())
    }

    async fn clear_second_factor_failures(&self, user: UserId) -> Result<(), StoreError> {
        self.tables()?.lockout.counters.remove(&(user, Location::SecondFactor));
        Ok(())
    }

    async fn familiar_ips(&self, user: UserId) -> Result<Vec<String>, StoreError> {
        let tables = self.tables()?;
        let state = &tables.lockout;
        Ok(state.familiar.get(&user).map(|known| known.iter().map(|(ip, _)| ip.clone()).collect()).unwrap_or_default())
    }

    async fn failed_names_from_ip(&self, ip: &str, since: UnixMillis) -> Result<u32, StoreError> {
        let tables = self.tables()?;
        let state = &tables.lockout;
        let names: HashSet<&str> = state
            .failures
            .iter()
            .filter(|(address, _, at)| address == ip && *at >= since)
            .map(|(_, name, _)| name.as_str())
            .collect();
        Ok(u32::try_from(names.len()).unwrap_or(u32::MAX))
    }
}
