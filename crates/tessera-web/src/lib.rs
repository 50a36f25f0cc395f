//! HTTP: the protocol endpoints (SAML, WS-Federation, WS-Trust), the user's pages, the admin
//! REST API under `/api/v1`, health and metrics.
//!
//! Handlers hold no business rules: they parse, call (the sign-on flow, `tessera-auth`, the
//! admin service) and render. Protocol modules stand on [`shell`] and [`sign_on`] and never on
//! each other; this file composes their routers and sends a resumed sign-on back to its
//! protocol.

mod admin_portal;
pub mod api;
mod breaker;
mod error;
mod launch;
mod ops;
mod saml;
pub mod shell;
mod sign_on;
mod signin;
mod state;
pub mod ui;
pub mod views;
mod wsfed;
mod wstrust;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

pub use admin_portal::paths as admin_portal_paths;
pub use error::{ApiError, AppError};
pub use ops::{REQUEST_DURATION, REQUEST_DURATION_BUCKETS};
pub use shell::pages::metadata_document;
pub use state::{AppState, SharedState, SignInConfig};

use shell::context::RequestContext;
use sign_on::{Reply, Resumed};

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .merge(shell::router())
        .merge(signin::router())
        .merge(admin_portal::router(state.clone()))
        .merge(launch::router())
        .merge(saml::router())
        .merge(wsfed::router())
        .merge(wstrust::router())
        .route("/resume/{id}", get(resume))
        .layer(axum::middleware::from_fn_with_state(state.clone(), shell::around_pages));
    // Everything that needs the store answers at once while it is down; health and metrics
    // (`ops`) still tell.
    let guarded = Router::new()
        .merge(pages)
        .nest("/api/v1", api::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state.breaker.clone(), breaker::guard));
    Router::new()
        .merge(ops::router())
        .merge(guarded)
        // The deadline inside the metrics: a request cut short is counted, as its 503.
        .route_layer(axum::middleware::from_fn(ops::observe))
        .with_state(state)
}

/// A parked sign-on, back from the sign-in pages, answered by the protocol that parked it.
async fn resume(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (app, pending) = match sign_on::resume(&state, &ctx, &id).await? {
        Resumed::Ready(ready) => *ready,
        Resumed::Answered(response) => return Ok(response),
    };
    let (pending, reply) = pending.take_reply();
    match reply {
        Reply::Launch => launch::continue_launch(&state, &ctx, &app, pending, true).await,
        Reply::Saml(reply) => saml::continue_sign_on(&state, &ctx, &app, pending.with_reply(reply)).await,
        Reply::WsFed(reply) => wsfed::continue_sign_on(&state, &ctx, &app, pending.with_reply(reply)).await,
    }
}
