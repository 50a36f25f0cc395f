//! Liveness, readiness and Prometheus metrics.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// Up and serving; says nothing about the store.
async fn healthz() -> &'static str {
    "ok"
}

/// Beyond this, nodes' clocks disagree enough to matter: replay and lockout windows are
/// compared across nodes, and assertions' validity is read by relying parties.
const CLOCK_OFFSET_REPORTED_MS: i64 = 2_000;

/// Serving and the store answers; on PostgreSQL also how far this node's clock is from the
/// database's (`tessera_clock_offset_seconds`), said in the answer and logged when over 2 s.
/// Readiness does not fail on it: a database whose own clock drifted would take every node
/// out at once.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store_answers().await {
        Ok(None) => "ready".into_response(),
        Ok(Some(offset)) => {
            metrics::gauge!("tessera_clock_offset_seconds").set(offset as f64 / 1000.0);
            if offset.abs() <= CLOCK_OFFSET_REPORTED_MS {
                return "ready".into_response();
            }
            let direction = if offset > 0 { "ahead of" } else { "behind" };
            let said = format!(
                "ready; this node's clock is {:.1} s {direction} the database's (over 2 s: check its time sync)",
                offset.abs() as f64 / 1000.0
            );
            tracing::warn!(offset_ms = offset, "{said}");
            said.into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => {
            ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}

/// Request latency is a histogram, not a summary (the exporter is told so where it is
/// installed): several nodes' histograms add up into one fleet-wide distribution, which
/// summaries' quantiles cannot, and a benchmark reads any interval's distribution from the
/// difference of two scrapes.
pub const REQUEST_DURATION: &str = "tessera_http_request_duration_seconds";
/// Sign-ons take milliseconds. The deadline ([`REQUEST_DEADLINE`]) runs inside the layer that
/// times requests, so a request it cut off lands just past the 20 s bucket: `+Inf` less
/// `le="20"` counts the deadline's 503s.
pub const REQUEST_DURATION_BUCKETS: [f64; 18] =
    [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 20.0];

/// The longest any request may take, whatever it waits on (a store that stopped answering
/// mid-query, a queue): then it is answered 503 with `Retry-After`, logged, and its work is
/// dropped. Store calls have their own shorter bounds; this is the one that always holds.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(20);

/// Holds every request to [`REQUEST_DEADLINE`], and counts requests and their latency by route
/// template and method, the deadline's 503s among them. Every label value comes from a fixed set
/// (our routes, the standard methods, status codes), never from what a client sent: a made-up
/// path is `unmatched` and a made-up method `OTHER`, so no client can grow the label sets, and
/// with them the memory and every scrape. One layer, not two: each `from_fn` layer costs every
/// request its boxed future and a clone of the service inside it (bench/README.md, twelfth look).
pub async fn observe(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = within_deadline(request, next).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("tessera_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(REQUEST_DURATION, "method" => method, "route" => route).record(started.elapsed().as_secs_f64());
    response
}

async fn within_deadline(request: Request, next: Next) -> Response {
    // The URI is kept for the log line (a reference count, not a copy of the path).
    let uri = request.uri().clone();
    match tokio::time::timeout(REQUEST_DEADLINE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let path = uri.path();
            tracing::error!(%path, deadline_s = REQUEST_DEADLINE.as_secs(), "request ran past its deadline; answered 503");
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, "unavailable; retry shortly").into_response();
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
