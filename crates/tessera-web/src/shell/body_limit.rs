//! Bodies over an endpoint's cap are refused before they are read (SECURITY.md §5 item 6): one
//! whose Content-Length says so gets 413 at once, without a byte of it taken off the wire; one
//! without a length is capped as it is read (`DefaultBodyLimit`), and refused at the cap.

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The 413 for a body announced over `LIMIT` bytes; anything else goes on.
pub async fn refuse_announced_over<const LIMIT: usize>(request: Request, next: Next) -> Response {
    let announced =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    if announced.is_some_and(|length: u64| length > LIMIT as u64) {
        let mut refused =
            (StatusCode::PAYLOAD_TOO_LARGE, format!("The request body is larger than {LIMIT} bytes.")).into_response();
        // The rest of the body is never read: the connection cannot carry another request.
        refused.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        return refused;
    }
    next.run(request).await
}

/// Both caps for a router: the announced length checked first, then the length read.
pub fn layers<S: Clone + Send + Sync + 'static, const LIMIT: usize>(router: axum::Router<S>) -> axum::Router<S> {
    router.layer(DefaultBodyLimit::max(LIMIT)).layer(axum::middleware::from_fn(refuse_announced_over::<LIMIT>))
}
