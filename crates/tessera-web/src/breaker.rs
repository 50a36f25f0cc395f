//! When the database is down, answer at once. A request that met the store unavailable opens
//! the breaker: for the next second every request that needs the store is answered 503 with
//! `Retry-After: 1` without waiting for a connection (PostgreSQL's pool would keep each for its
//! 3 s acquire timeout). Then one request at a time probes; the first that gets through closes
//! it. Health and metrics are outside it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How long the breaker stays open after the store failed a request.
const OPEN_MS: i64 = 1000;

/// Marks a response whose request met the store unavailable.
#[derive(Debug, Clone, Copy)]
pub struct StoreUnavailable;

#[derive(Debug)]
pub struct StoreBreaker {
    /// What `open_until` counts from: the breaker's own monotonic time (an operational
    /// matter, not a rule for the test clock).
    since: Instant,
    /// Until when requests are answered at once, in ms since `since`; 0 when closed.
    open_until: AtomicI64,
    /// A request is finding out whether the store is back.
    probing: AtomicBool,
}

impl Default for StoreBreaker {
    fn default() -> Self {
        StoreBreaker { since: Instant::now(), open_until: AtomicI64::new(0), probing: AtomicBool::new(false) }
    }
}

impl StoreBreaker {
    /// Now, in ms since `since` (at least 1: 0 means closed).
    fn now(&self) -> i64 {
        i64::try_from(self.since.elapsed().as_millis()).unwrap_or(i64::MAX).max(1)
    }
}

fn answered_at_once() -> Response {
    let mut response =
        (StatusCode::SERVICE_UNAVAILABLE, "Tessera's database is unavailable right now; try again in a moment.")
            .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn guard(State(breaker): State<Arc<StoreBreaker>>, request: Request, next: Next) -> Response {
    let now = breaker.now();
    let open_until = breaker.open_until.load(Ordering::Acquire);
    if open_until != 0 && now < open_until {
        return answered_at_once();
    }
    // Half-open: one request finds out; the others are still answered at once.
    let probe = open_until != 0;
    if probe && breaker.probing.swap(true, Ordering::AcqRel) {
        return answered_at_once();
    }
    let response = next.run(request).await;
    let failed = response.extensions().get::<StoreUnavailable>().is_some();
    if failed {
        breaker.open_until.store(breaker.now() + OPEN_MS, Ordering::Release);
    } else if probe {
        breaker.open_until.store(0, Ordering::Release);
    }
    if probe {
        breaker.probing.store(false, Ordering::Release);
    }
    response
}
