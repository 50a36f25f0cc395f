//! In-memory stand-ins for store roles, for unit tests that need no database. Each one runs its
//! role's conformance tests beside SQLite and PostgreSQL (`tests/conformance`), so it cannot drift
//! from them. Only under the `test-support` feature: nothing here serves.

mod lockout;
mod mfa;

pub use lockout::MemoryLockout;
pub use mfa::MemoryMfa;

use std::sync::{Mutex, MutexGuard};

use crate::StoreError;

/// The state behind a lock; a test that panicked while holding it poisons it, which the next
/// caller hears as an error rather than a second panic.
fn locked<T>(state: &Mutex<T>) -> Result<MutexGuard<'_, T>, StoreError> {
    state.lock().map_err(|_| StoreError::WriteFailed("an in-memory store's lock is poisoned".into()))
}
