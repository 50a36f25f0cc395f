//! Extractors that turn malformed input into the API's error shape instead of axum's text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The request body cap for the REST API. SP metadata travels inside a JSON body, and its own
/// cap is 1 MiB, so the body may be a little larger.
pub const MAX_BODY_BYTES: usize = 1024 * 1024 + 64 * 1024;

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::refused(status, code, "Request refused", message)
}

/// A JSON body: 400 when malformed, 413 when over the cap, 415 without a JSON content type.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is larger than {} bytes", MAX_BODY_BYTES),
            )),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            )),
            Err(e) => Err(refused(StatusCode::BAD_REQUEST, "malformed_json", e.body_text())),
        }
    }
}

/// Query parameters, with errors in the API's shape.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| refused(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))
    }
}
