//! Whether sign-ins keep their tokens now: the tracing switches, read from the store at most
//! every few seconds (a copy lives in memory), so a sign-in with tracing off costs a lock and a
//! comparison.

use std::sync::{Mutex, PoisonError};

use tessera_admin::AdminService;
use tessera_core::UnixMillis;
use tessera_core::tracing::TracingSwitches;

/// How long the in-memory copy of the switches serves before it is read again.
const REFRESH_MS: i64 = 5_000;

/// The tracing switches, as last read.
#[derive(Debug, Default)]
pub struct TracingCache {
    read: Mutex<Option<(UnixMillis, TracingSwitches)>>,
}

impl TracingCache {
    /// For how many days this sign-in's token is kept, if tracing is on for it.
    pub async fn keeping(&self, admin: &AdminService, app: &str, user: &str, now: UnixMillis) -> Option<u32> {
        let fresh = {
            let read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
            match &*read {
                Some((at, switches)) if now - *at < REFRESH_MS => Some(switches.keeping(app, user, now)),
                _ => None,
            }
        };
        if let Some(keeping) = fresh {
            return keeping;
        }
        let switches = match admin.tracing_switches().await {
            Ok(switches) => switches,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the sign-in tracing switches");
                TracingSwitches::default()
            }
        };
        let keeping = switches.keeping(app, user, now);
        *self.read.lock().unwrap_or_else(PoisonError::into_inner) = Some((now, switches));
        keeping
    }

    /// Forgets the copy: a change made through this node applies at its next sign-in.
    pub fn forget(&self) {
        *self.read.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
