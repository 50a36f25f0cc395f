//! HTTP: the admin REST API under `/api/v1`, health and metrics. Protocol endpoints, the user
//! portal and the admin portal join this router in later work.
//!
//! Handlers hold no business rules: they parse, call the store and the domain, and render.

pub mod api;
mod error;
mod extract;
mod ops;
mod saml;
pub mod signin;
pub mod views;
mod wsfed;
mod wstrust;

use std::sync::Arc;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tessera_store::Store;

pub use error::ApiError;
pub use saml::metadata_document;

/// The request body cap for the REST API. SP metadata travels inside a JSON body, and its own
/// cap is 1 MiB, so the body may be a little larger.
pub const MAX_BODY_BYTES: usize = 1024 * 1024 + 64 * 1024;

/// What every handler receives.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The base of every URL Tessera publishes (no trailing slash).
    pub public_url: String,
    pub keys: Arc<tessera_keys::KeyService>,
    pub signin: signin::SignInConfig,
    pub metrics: Option<PrometheusHandle>,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(ops::router())
        .merge(signin::router(state.clone()))
        .nest("/api/v1", api::router(state.clone()))
        .route_layer(axum::middleware::from_fn(ops::record_metrics))
        .with_state(state)
}
