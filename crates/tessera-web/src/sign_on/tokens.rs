//! Keeping the token a sign-in sent, while tracing is on for its application or user
//! (`tracing_cache` says whether it is); a failure to keep a token is logged and never fails
//! the sign-in.

use tessera_core::{Application, UserId};
use tessera_store::KeptToken;

use super::Trace;
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

/// Keeps `token` (without its signature values) when tracing is on for `app` or `user`.
pub async fn keep(state: &AppState, app: &Application, user: UserId, trace: &Trace, token: &str) {
    if trace.id.is_empty() {
        return;
    }
    let now = state.clock.now_millis();
    let (app_id, user_id) = (app.id.to_string(), user.to_string());
    let Some(days) = state.tracing.keeping(&state.admin, &app_id, &user_id, now).await else { return };
    let kept = KeptToken {
        trace: trace.id.clone(),
        app_id,
        user_id,
        token: tessera_xml::without_signature_values(token),
        created_at: now,
        expires_at: now + i64::from(days) * DAY_MS,
    };
    if let Err(e) = state.traces.keep_sign_in_token(&kept).await {
        tracing::warn!(error = %e, trace = %trace.id, "could not keep a traced token");
    }
}
