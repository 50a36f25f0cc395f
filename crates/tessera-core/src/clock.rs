//! Where "now" comes from. Rules that depend on time take a [`Clock`], so that tests move time
//! instead of sleeping; only the binary (and tests that want the wall clock) make a
//! [`SystemClock`].

use std::sync::atomic::{AtomicI64, Ordering};

use crate::UnixMillis;

pub trait Clock: Send + Sync {
    fn now_millis(&self) -> UnixMillis;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> UnixMillis {
        // A sign-on asks a dozen times; the calendar date `OffsetDateTime` works out is not needed.
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

/// A clock that stands still until told to move: for tests of expiry, windows and TTLs.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn at(now: UnixMillis) -> Self {
        ManualClock { now: AtomicI64::new(now) }
    }

    pub fn advance(&self, millis: i64) {
        self.now.fetch_add(millis, Ordering::SeqCst);
    }

    pub fn set(&self, now: UnixMillis) {
        self.now.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> UnixMillis {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(1_000);
        assert_eq!(clock.now_millis(), 1_000);
        clock.advance(500);
        assert_eq!(clock.now_millis(), 1_500);
        clock.set(7);
        assert_eq!(clock.now_millis(), 7);
    }
}
