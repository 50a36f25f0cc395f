//! One error type at the web edge. [`Failure`] says what went wrong, whatever the request; the
//! channel (a type parameter: an HTML page, the REST API's JSON, a WS-Trust SOAP fault, plain
//! text) says how it is answered, so a handler picks its channel once, by its return type, and
//! uses `?` everywhere. A failure on our side is logged once, where it becomes a response, with
//! the reference a page shows the user.
//!
//! SAML status answers (`NoPassive`, `RequestDenied`, …) are not errors: they are signed replies
//! to a relying party whose request was valid, audited like tokens, and built by the SAML module.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_admin::AdminError;
use tessera_protocols::wstrust::fault::TrustFault;
use tessera_protocols::wstrust::{SoapVersion, TrustVersion};
use tessera_store::StoreError;
use utoipa::ToSchema;

use crate::shell::pages;

/// What went wrong.
#[derive(Debug)]
pub enum Failure {
    /// A fault on our side (the store, a key, a template): logged with a reference; whoever
    /// asked is told to retry. `unavailable` when the store did not answer.
    Internal { cause: String, unavailable: bool },
    /// The request is refused: its status, a stable code, and words for whoever sent it.
    Refused { status: StatusCode, code: &'static str, title: &'static str, message: String, field: Option<String> },
    /// A WS-Trust request refused in the protocol's own words.
    Fault(TrustFault),
}

/// How a failure is answered.
pub trait Channel: Default {
    fn render(&self, failure: Failure, reference: Option<String>) -> Response;
}

/// An error, answered on channel `C` (a page unless said otherwise).
#[derive(Debug)]
pub struct AppError<C: Channel = Page> {
    pub failure: Failure,
    channel: C,
}

/// The REST API's errors: `{"error": {"code": "conflict", "message": "…", "field": "email"}}`.
pub type ApiError = AppError<Json>;

impl<C: Channel> AppError<C> {
    pub fn new(failure: Failure) -> Self {
        AppError { failure, channel: C::default() }
    }

    /// The same failure, answered on `channel`.
    pub fn on<D: Channel>(self, channel: D) -> AppError<D> {
        AppError { failure: self.failure, channel }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::new(Failure::Internal { cause: cause.to_string(), unavailable: false })
    }

    /// A refusal with the page title `title`.
    pub fn refused(status: StatusCode, code: &'static str, title: &'static str, message: impl Into<String>) -> Self {
        Self::new(Failure::Refused { status, code, title, message: message.into(), field: None })
    }

    /// Input that breaks a rule; `field` names it.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(Failure::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            title: "Request refused",
            message: message.into(),
            field: Some(field.to_string()),
        })
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::refused(StatusCode::NOT_FOUND, "not_found", "Not found", message)
    }

    pub fn unauthorized() -> Self {
        Self::refused(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Sign in first",
            "a valid API token is required (Authorization: Bearer …)",
        )
    }

    /// The page every protocol shows for an application that is not there.
    pub fn no_such_app() -> Self {
        Self::refused(StatusCode::NOT_FOUND, "not_found", "Application not found", "There is no such application.")
    }
}

impl<C: Channel> IntoResponse for AppError<C> {
    fn into_response(self) -> Response {
        let reference = match &self.failure {
            Failure::Internal { cause, unavailable } => {
                let reference = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(%reference, error = %cause, unavailable, "request failed");
                Some(reference)
            }
            _ => None,
        };
        self.channel.render(self.failure, reference)
    }
}

/// An HTML page in words a user understands.
#[derive(Debug, Default)]
pub struct Page;

impl Channel for Page {
    fn render(&self, failure: Failure, reference: Option<String>) -> Response {
        match failure {
            Failure::Refused { status, title, message, .. } => pages::message(status, title, &message),
            Failure::Internal { .. } | Failure::Fault(_) => pages::failure_page(reference.as_deref()),
        }
    }
}

#[derive(Debug, Default)]
pub struct Json;

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

impl Channel for Json {
    fn render(&self, failure: Failure, _reference: Option<String>) -> Response {
        let (status, code, message, field) = match failure {
            Failure::Refused { status, code, message, field, .. } => (status, code, message, field),
            Failure::Internal { unavailable: true, .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the directory is unavailable; retry shortly".to_string(),
                None,
            ),
            Failure::Internal { .. } | Failure::Fault(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".to_string(), None)
            }
        };
        let body = ErrorBody { error: ErrorDetail { code: code.to_string(), message, field } };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Plain text, for documents fetched by machines (metadata).
#[derive(Debug, Default)]
pub struct Text;

impl Channel for Text {
    fn render(&self, failure: Failure, _reference: Option<String>) -> Response {
        match failure {
            Failure::Refused { status, message, .. } => (status, message).into_response(),
            Failure::Internal { .. } | Failure::Fault(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable; retry shortly").into_response()
            }
        }
    }
}

/// A SOAP fault of a WS-Trust endpoint, in the envelope the request came in.
#[derive(Debug)]
pub struct Soap {
    pub soap: SoapVersion,
    pub trust: TrustVersion,
    pub relates_to: Option<String>,
}

impl Default for Soap {
    fn default() -> Self {
        Soap { soap: SoapVersion::Soap12, trust: TrustVersion::V13, relates_to: None }
    }
}

impl Channel for Soap {
    fn render(&self, failure: Failure, _reference: Option<String>) -> Response {
        let fault = match failure {
            Failure::Fault(fault) => fault,
            Failure::Refused { message, .. } => TrustFault::InvalidRequest(message),
            Failure::Internal { .. } => {
                TrustFault::Unavailable("Tessera could not answer now; try again shortly".into())
            }
        };
        let status = StatusCode::from_u16(fault.http_status(self.soap)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, fault.envelope(self.soap, self.trust, self.relates_to.as_deref())).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(self.soap.content_type()));
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let refused = |status, code, field: Option<String>, message: String| Failure::Refused {
            status,
            code,
            title: "Request refused",
            message,
            field,
        };
        match e {
            StoreError::NotFound { .. } => refused(StatusCode::NOT_FOUND, "not_found", None, e.to_string()),
            StoreError::Conflict { field, message } => {
                refused(StatusCode::CONFLICT, "conflict", Some(field.to_string()), message)
            }
            StoreError::Invalid(core) => Failure::from(core),
            StoreError::ConfirmCount { .. } => refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "confirm_count_mismatch",
                Some("confirm_count".into()),
                e.to_string(),
            ),
            StoreError::Database(_) => Failure::Internal { cause: e.to_string(), unavailable: true },
            other => Failure::Internal { cause: other.to_string(), unavailable: false },
        }
    }
}

impl From<tessera_core::CoreError> for Failure {
    fn from(e: tessera_core::CoreError) -> Self {
        Failure::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            title: "Request refused",
            message: e.to_string(),
            field: Some(e.field().to_string()),
        }
    }
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid { field, message } => Failure::Refused {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid",
                title: "Request refused",
                message,
                field: Some(field),
            },
            AdminError::Missing(message) => Failure::Refused {
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                title: "Not found",
                message,
                field: None,
            },
            AdminError::Store(store) => store.into(),
            other => Failure::Internal { cause: other.to_string(), unavailable: false },
        }
    }
}

impl From<tessera_auth::AuthError> for Failure {
    fn from(e: tessera_auth::AuthError) -> Self {
        match e {
            tessera_auth::AuthError::Store(store) => store.into(),
            other => Failure::Internal { cause: other.to_string(), unavailable: false },
        }
    }
}

impl From<tessera_keys::KeyError> for Failure {
    fn from(e: tessera_keys::KeyError) -> Self {
        match e {
            tessera_keys::KeyError::Store(store) => store.into(),
            other => Failure::Internal { cause: other.to_string(), unavailable: false },
        }
    }
}

/// Faults on our side that carry no more than their words.
macro_rules! internal_failure {
    ($($error:ty),*) => {$(
        impl From<$error> for Failure {
            fn from(e: $error) -> Self {
                Failure::Internal { cause: e.to_string(), unavailable: false }
            }
        }
    )*};
}

internal_failure!(tessera_protocols::ProtocolError, tessera_xml::XmlError, serde_json::Error);

/// Every failure converts into an error on any channel, so `?` works in every handler.
macro_rules! app_error_from {
    ($($error:ty),*) => {$(
        impl<C: Channel> From<$error> for AppError<C> {
            fn from(e: $error) -> Self {
                AppError::new(Failure::from(e))
            }
        }
    )*};
}

app_error_from!(
    StoreError,
    AdminError,
    tessera_core::CoreError,
    tessera_auth::AuthError,
    tessera_keys::KeyError,
    tessera_protocols::ProtocolError,
    tessera_xml::XmlError,
    serde_json::Error
);
