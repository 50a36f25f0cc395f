//! Keeping the token a sign-in sent, while tracing is on for its application or user. The
//! switches are read from the store at most every few seconds (a copy lives in memory), so a
//! sign-in with tracing off costs a lock and a comparison; a failure to keep a token is logged
//! and never fails the sign-in.

use std::sync::{Mutex, PoisonError};

use tessera_core::tracing::TracingSwitches;
use tessera_core::{Application, UnixMillis, UserId};
use tessera_store::KeptToken;

use super::Trace;
use crate::state::AppState;

/// How long the in-memory copy of the switches serves before it is read again.
const REFRESH_MS: i64 = 5_000;
const DAY_MS: i64 = 86_400_000;

/// The tracing switches, as last read.
#[derive(Debug, Default)]
pub struct TracingCache {
    read: Mutex<Option<(UnixMillis, TracingSwitches)>>,
}

impl TracingCache {
    /// For how many days this sign-in's token is kept, if tracing is on for it.
    async fn keeping(&self, state: &AppState, app: &str, user: &str, now: UnixMillis) -> Option<u32> {
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
        let switches = match state.admin.tracing_switches().await {
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

/// Keeps `token` (without its signature values) when tracing is on for `app` or `user`.
pub async fn keep(state: &AppState, app: &Application, user: UserId, trace: &Trace, token: &str) {
    if trace.id.is_empty() {
        return;
    }
    let now = state.clock.now_millis();
    let (app_id, user_id) = (app.id.to_string(), user.to_string());
    let Some(days) = state.tracing.keeping(state, &app_id, &user_id, now).await else { return };
    let kept = KeptToken {
        trace: trace.id.clone(),
        app_id,
        user_id,
        token: tessera_xml::without_signature_values(token),
        created_at: now,
        expires_at: now + i64::from(days) * DAY_MS,
    };
    if let Err(e) = state.store.keep_sign_in_token(&kept).await {
        tracing::warn!(error = %e, trace = %trace.id, "could not keep a traced token");
    }
}
