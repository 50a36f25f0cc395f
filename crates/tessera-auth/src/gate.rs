//! How many argon2id verifications run at once. Each one takes ~19 MiB and tens of
//! milliseconds of a core; without a bound, a flood of passwords (wrong ones cost as much as
//! right ones) takes every thread and all memory. A few run, a bounded queue waits in turn for
//! a bounded time, and the rest are told at once to come back: 503 with `Retry-After`.
//!
//! A turn is taken before a sign-in writes anything (its lockout count, a WS-Trust replay
//! record), so that a request refused as busy has changed nothing; those writes wait for the
//! database. A few turns more than the cores are given out (`ahead`), so that while one sign-in
//! waits for its writes another verifies on that core: the verifications themselves are still
//! one a core, which is what bounds memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::AuthError;

/// Seconds a refused client is asked to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 2;

#[derive(Debug, Clone)]
pub struct PasswordGate {
    turns: Arc<Semaphore>,
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    limits: GateLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateLimits {
    /// Verifications at once.
    pub concurrent: usize,
    /// Turns given out beyond `concurrent`: sign-ins that read and write before their
    /// verification while others verify.
    pub ahead: usize,
    /// Requests that may wait for a turn; more are refused without waiting.
    pub queue: usize,
    /// How long a request waits for its turn before it is refused.
    pub wait: Duration,
}

impl GateLimits {
    /// One verification per core, one sign-in a core getting ready beside it, and as many
    /// waiting as can run within `wait`.
    pub fn for_this_machine() -> GateLimits {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        GateLimits { concurrent: cores, ahead: cores, queue: cores * 32, wait: Duration::from_secs(2) }
    }
}

impl Default for PasswordGate {
    fn default() -> Self {
        PasswordGate::new(GateLimits::for_this_machine())
    }
}

/// A turn to verify passwords; the next request gets it when this is dropped. The
/// verification itself owns it (it runs on a blocking thread that outlives a cancelled
/// request), so a client that hangs up mid-verification frees no turn early.
#[derive(Debug)]
pub struct PasswordTurn {
    // `None` only if the semaphore were closed, which the gate never does.
    _permit: Option<OwnedSemaphorePermit>,
    running: Arc<Semaphore>,
}

/// A turn with a core to verify (or hash) on: at most `concurrent` exist at once.
#[derive(Debug)]
pub struct Verifying {
    _turn: PasswordTurn,
    _core: Option<OwnedSemaphorePermit>,
}

impl PasswordTurn {
    /// Waits for a core to verify on. Not bounded by `wait`: only `concurrent + ahead` turns
    /// exist, so at most `ahead` wait here, each for a verification already running, and a
    /// turn that has written its lockout count is never refused as busy after all.
    pub async fn verifying(self) -> Verifying {
        // `acquire_owned` fails only on a closed semaphore, and the gate never closes it.
        let core = self.running.clone().acquire_owned().await.ok();
        Verifying { _turn: self, _core: core }
    }
}

/// One place in the queue, given back however the wait ends (a cancelled request included:
/// a leaked place would shrink the queue for good).
struct InQueue(Arc<AtomicUsize>);

impl Drop for InQueue {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordGate {
    pub fn new(limits: GateLimits) -> PasswordGate {
        let limits = GateLimits { concurrent: limits.concurrent.max(1), ..limits };
        PasswordGate {
            turns: Arc::new(Semaphore::new(limits.concurrent + limits.ahead)),
            running: Arc::new(Semaphore::new(limits.concurrent)),
            waiting: Arc::default(),
            limits,
        }
    }

    pub fn limits(&self) -> GateLimits {
        self.limits
    }

    /// Waits for a turn (first come, first served), or refuses with [`AuthError::Busy`] when
    /// the queue is full or the wait runs out.
    pub async fn turn(&self) -> Result<PasswordTurn, AuthError> {
        if let Ok(permit) = self.turns.clone().try_acquire_owned() {
            return Ok(self.handing(Some(permit)));
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let place = InQueue(self.waiting.clone());
        if ahead >= self.limits.queue {
            return Err(AuthError::Busy { retry_after_secs: RETRY_AFTER_SECS });
        }
        let acquired = tokio::time::timeout(self.limits.wait, self.turns.clone().acquire_owned()).await;
        drop(place);
        match acquired {
            Ok(Ok(permit)) => Ok(self.handing(Some(permit))),
            _ => Err(AuthError::Busy { retry_after_secs: RETRY_AFTER_SECS }),
        }
    }

    /// A turn for a sign-in whose attempt is already counted (it gave its turn back while a
    /// directory was asked, and the directory did not decide): it waits, past the queue's
    /// bound and deadline, because refusing it as busy now would leave its count behind.
    pub async fn turn_already_counted(&self) -> PasswordTurn {
        // `acquire_owned` fails only on a closed semaphore, and the gate never closes it.
        self.handing(self.turns.clone().acquire_owned().await.ok())
    }

    fn handing(&self, permit: Option<OwnedSemaphorePermit>) -> PasswordTurn {
        PasswordTurn { _permit: permit, running: self.running.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_turn_waits_only_so_long() {
        let gate = PasswordGate::new(GateLimits { concurrent: 1, ahead: 0, queue: 4, wait: Duration::from_millis(50) });
        let _taken = gate.turn().await.unwrap();
        assert!(matches!(gate.turn().await, Err(AuthError::Busy { retry_after_secs: RETRY_AFTER_SECS })));
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_request_cancelled_while_it_waits_gives_its_place_back() {
        let gate = PasswordGate::new(GateLimits { concurrent: 1, ahead: 0, queue: 1, wait: Duration::from_secs(60) });
        let taken = gate.turn().await.unwrap();
        for _ in 0..3 {
            let waiter = {
                let gate = gate.clone();
                tokio::spawn(async move { gate.turn().await.map(|_| ()) })
            };
            while gate.waiting.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            waiter.abort();
            assert!(waiter.await.unwrap_err().is_cancelled());
            assert_eq!(gate.waiting.load(Ordering::SeqCst), 0, "the place is given back");
        }
        drop(taken);
        assert!(gate.turn().await.is_ok());
    }

    #[tokio::test]
    async fn past_a_full_queue_the_refusal_is_immediate_and_a_released_turn_goes_to_the_one_waiting() {
        let gate = PasswordGate::new(GateLimits { concurrent: 1, ahead: 0, queue: 1, wait: Duration::from_secs(60) });
        let taken = gate.turn().await.unwrap();
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.turn().await.map(|_| ()) })
        };
        while gate.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Had it queued, this would wait a minute.
        let refused = tokio::time::timeout(Duration::from_secs(10), gate.turn()).await;
        assert!(matches!(refused, Ok(Err(AuthError::Busy { .. }))));
        drop(taken);
        assert!(waiter.await.unwrap().is_ok());
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn turns_ahead_get_ready_while_verifications_stay_one_a_core() {
        let gate = PasswordGate::new(GateLimits { concurrent: 1, ahead: 1, queue: 0, wait: Duration::from_secs(60) });
        let first = gate.turn().await.unwrap();
        let second = gate.turn().await.unwrap();
        let refused = tokio::time::timeout(Duration::from_secs(10), gate.turn()).await;
        assert!(matches!(refused, Ok(Err(AuthError::Busy { .. }))), "two turns, and no queue");
        let verifying = first.verifying().await;
        let mut waiting = tokio::spawn(second.verifying());
        assert!(tokio::time::timeout(Duration::from_millis(50), &mut waiting).await.is_err(), "one core, one at once");
        drop(verifying);
        let second = waiting.await.unwrap();
        assert!(gate.turn().await.is_ok(), "the first turn is free again");
        drop(second);
    }

    #[tokio::test]
    async fn a_sign_in_already_counted_waits_for_its_turn_past_a_full_queue() {
        let gate = PasswordGate::new(GateLimits { concurrent: 1, ahead: 0, queue: 0, wait: Duration::from_millis(1) });
        let taken = gate.turn().await.unwrap();
        assert!(matches!(gate.turn().await, Err(AuthError::Busy { .. })), "a new sign-in is refused");
        let mut counted = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.turn_already_counted().await })
        };
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut counted).await.is_err(),
            "it waits for the turn in use"
        );
        drop(taken);
        let turn = counted.await.unwrap();
        drop(turn.verifying().await);
    }
}
