//! HTTP: the protocol endpoints (SAML, WS-Federation, WS-Trust), the user's pages, the admin
//! REST API under `/api/v1`, health and metrics.
//!
//! Handlers hold no business rules: they parse, call (the sign-on flow, `tessera-auth`, the
//! admin service) and render. Protocol modules stand on [`shell`] and [`sign_on`] and never on
//! each other; this file composes their routers and sends a resumed sign-on back to its
//! protocol.

pub mod api;
mod error;
mod extract;
mod launch;
mod ops;
mod saml;
pub mod shell;
mod sign_on;
mod signin;
pub mod views;
mod wsfed;
mod wstrust;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tessera_admin::AdminService;
use tessera_core::Clock;
use tessera_keys::KeyService;
use tessera_store::Store;

pub use error::{ApiError, AppError};
pub use shell::SignInConfig;
pub use shell::pages::metadata_document;

use shell::context::RequestContext;
use sign_on::{Reply, Resumed};

/// The request body cap for the REST API. SP metadata travels inside a JSON body, and its own
/// cap is 1 MiB, so the body may be a little larger.
pub const MAX_BODY_BYTES: usize = 1024 * 1024 + 64 * 1024;

/// What every handler receives.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Where "now" comes from, for every rule and every record.
    pub clock: Arc<dyn Clock>,
    /// The base of every URL Tessera publishes (no trailing slash).
    pub public_url: String,
    pub keys: Arc<KeyService>,
    pub admin: AdminService,
    pub signin: SignInConfig,
    pub metrics: Option<PrometheusHandle>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        keys: Arc<KeyService>,
        public_url: &str,
        signin: SignInConfig,
        metrics: Option<PrometheusHandle>,
    ) -> Result<AppState, tessera_admin::AdminError> {
        let admin = AdminService::new(store.clone(), keys.clone(), public_url)?;
        Ok(AppState { store, clock, public_url: admin.public_url().to_string(), keys, admin, signin, metrics })
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .merge(shell::router())
        .merge(signin::router())
        .merge(launch::router())
        .merge(saml::router())
        .merge(wsfed::router())
        .merge(wstrust::router())
        .route("/resume/{id}", get(resume))
        .layer(axum::middleware::from_fn_with_state(state.clone(), shell::security_headers));
    Router::new()
        .merge(ops::router())
        .merge(pages)
        .nest("/api/v1", api::router(state.clone()))
        .route_layer(axum::middleware::from_fn(ops::record_metrics))
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
        Reply::Launch => launch::continue_launch(&state, &ctx, &app, pending).await,
        Reply::Saml(reply) => saml::continue_sign_on(&state, &ctx, &app, pending.with_reply(reply)).await,
        Reply::WsFed(reply) => wsfed::continue_sign_on(&state, &ctx, &app, pending.with_reply(reply)).await,
    }
}
