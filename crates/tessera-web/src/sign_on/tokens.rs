//! A token's making beside its audit record's write, and keeping the token a sign-in sent while
//! tracing is on for its application or user (`tracing_cache` says whether it is); a failure to
//! keep a token is logged and never fails the sign-in.

use tessera_core::{Application, UserId};
use tessera_store::{KeptToken, StoreError, TokenRecord, TokenRecorded};

use super::Trace;
use crate::error::{AppError, Failure};
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

/// Writes `record` (the token's audit record, and its request ID against replay) while `make`
/// builds and signs the token, and returns both outcomes. The caller sends the token only when
/// the record is `Written`, as before: what runs side by side is the signature and the wait for
/// the commit, which took one after the other about 0.3 ms and 1 ms of each answer
/// (bench/README.md, tenth look). A record whose token then fails to be made, or turns out to be
/// a replay, has cost a signature for nothing; one that fails to be made after its record
/// committed is answered as an error that says so ([`unmade`]), like an answer lost on the way.
pub async fn made_while_recorded<T, E>(
    state: &AppState,
    record: TokenRecord<'_>,
    make: impl FnOnce() -> Result<T, E>,
) -> (Result<TokenRecorded, StoreError>, Result<T, E>) {
    tokio::join!(state.replay.record_token(record), async {
        // The record's first poll queued it and woke the store's writer task into this
        // worker's LIFO slot, which no other worker may take: it would run after the signature.
        // Yielding puts this task in that slot instead, moves the writer to the worker's queue
        // and wakes an idle worker to take it, so the batch goes to the database while this
        // worker signs. Under full load no worker is idle and the two take turns, as before.
        tokio::task::yield_now().await;
        make()
    })
}

/// A token that could not be made after its record committed: the error, its cause saying so
/// (the audit trail shows it issued; this log line is where it is said that it was not).
pub fn unmade(error: AppError) -> AppError {
    match error.failure {
        Failure::Internal { cause, unavailable } => AppError::new(Failure::Internal {
            cause: format!("the token's audit record committed, but the token could not be made: {cause}"),
            unavailable,
        }),
        failure => AppError::new(failure),
    }
}

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
