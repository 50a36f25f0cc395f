//! The one JSON error shape of the REST API:
//! `{"error": {"code": "conflict", "message": "…", "field": "email"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::CoreError;
use tessera_protocols::ProtocolError;
use tessera_store::StoreError;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `not_found`, `conflict`, `invalid`, `malformed_json`,
    /// `payload_too_large`, `unauthorized`, `confirm_count_mismatch`, `unavailable`, `internal`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError { field: Some(field.to_string()), ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message) }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid API token is required (Authorization: Bearer …)")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            StoreError::Conflict { field, message } => {
                ApiError { field: Some(field.to_string()), ..ApiError::new(StatusCode::CONFLICT, "conflict", message) }
            }
            StoreError::Invalid(core) => core.into(),
            StoreError::ConfirmCount { .. } => ApiError {
                field: Some("confirm_count".into()),
                ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "confirm_count_mismatch", e.to_string())
            },
            StoreError::Database(_) => {
                tracing::error!(error = %e, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the directory is unavailable; retry shortly",
                )
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::invalid(e.field(), e.to_string())
    }
}

impl From<ProtocolError> for ApiError {
    fn from(e: ProtocolError) -> Self {
        ApiError::invalid("sp_metadata", e.to_string())
    }
}

impl From<tessera_keys::KeyError> for ApiError {
    fn from(e: tessera_keys::KeyError) -> Self {
        match e {
            tessera_keys::KeyError::Store(store) => store.into(),
            tessera_keys::KeyError::Invalid(message) => ApiError::invalid("key", message),
            other => {
                tracing::error!(error = %other, "key failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

impl From<tessera_auth::AuthError> for ApiError {
    fn from(e: tessera_auth::AuthError) -> Self {
        match e {
            tessera_auth::AuthError::PasswordLength { .. } | tessera_auth::AuthError::PasswordControl => {
                ApiError::invalid("password", e.to_string())
            }
            other => {
                tracing::error!(error = %other, "auth failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.status == StatusCode::SERVICE_UNAVAILABLE;
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let body =
            ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message, field: self.field } };
        let mut response = (self.status, axum::Json(body)).into_response();
        if retry {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        if unauthorized {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
