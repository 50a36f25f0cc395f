//! One error type at the web edge. [`Failure`] says what went wrong, whatever the request; the
//! channel (a type parameter: an HTML page, the REST API's JSON, a WS-Trust or SAML ECP SOAP
//! fault, plain text) says how it is answered, so a handler picks its channel once, by its
//! return type, and uses `?` everywhere. A failure on our side is logged once, where it becomes
//! a response, with the reference a page shows the user.
//!
//! SAML status answers (`NoPassive`, `RequestDenied`, …) are not errors: they are signed replies
//! to a relying party whose request was valid, audited like tokens, and built by the SAML module.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_admin::AdminError;
use tessera_protocols::saml2::ecp::{FaultCode, fault_envelope};
use tessera_protocols::wstrust::fault::TrustFault;
use tessera_protocols::wstrust::{SoapVersion, TrustVersion};
use tessera_store::StoreError;
use utoipa::ToSchema;

use crate::shell::pages;
use crate::ui::catalog;

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
    /// Too much of a bounded kind of work at once (password checks): answered at once with
    /// 503 and `Retry-After`, having changed nothing.
    Busy { retry_after_secs: u32 },
}

/// 503 with `Retry-After`, on any channel's response.
fn retry_after(mut response: Response, secs: u32) -> Response {
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

const BUSY_MESSAGE: &str = "Too many people are signing in at this moment. Try again in a few seconds.";

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
        let message = crate::ui::Ui::current().t("error-app_not_found");
        Self::refused(StatusCode::NOT_FOUND, "not_found", "Application not found", message)
    }
}

impl<C: Channel> IntoResponse for AppError<C> {
    fn into_response(self) -> Response {
        let unavailable = matches!(self.failure, Failure::Internal { unavailable: true, .. });
        let reference = match &self.failure {
            Failure::Internal { cause, unavailable } => {
                let reference = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(%reference, error = %cause, unavailable, "request failed");
                Some(reference)
            }
            _ => None,
        };
        let mut response = self.channel.render(self.failure, reference);
        if unavailable {
            // The store did not answer: retry shortly, on whichever channel; and the breaker
            // answers the next ones at once.
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            response.extensions_mut().insert(crate::breaker::StoreUnavailable);
        }
        response
    }
}

/// An HTML page in words a user understands.
#[derive(Debug, Default)]
pub struct Page;

impl Channel for Page {
    fn render(&self, failure: Failure, reference: Option<String>) -> Response {
        match failure {
            Failure::Refused { status, code, title, message, .. } => {
                // A user's page says a refusal in their language: the catalog's words for its
                // code where it has them, else its own (the detail of what was refused) under a
                // translated title. The admin portal keeps its own words.
                let ui = crate::ui::Ui::current();
                if ui.is_admin() {
                    return pages::message(status, title, &message);
                }
                let (title_key, message_key) = (format!("error-{code}-title"), format!("error-{code}"));
                let message = if catalog::has(&message_key) { ui.t(&message_key) } else { message };
                let title = if catalog::has(&title_key) { ui.t(&title_key) } else { ui.t("error-title") };
                pages::message(status, &title, &message)
            }
            Failure::Busy { retry_after_secs } => {
                retry_after(pages::say(StatusCode::SERVICE_UNAVAILABLE, "busy"), retry_after_secs)
            }
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
        if let Failure::Busy { retry_after_secs } = failure {
            let body =
                ErrorBody { error: ErrorDetail { code: "busy".into(), message: BUSY_MESSAGE.into(), field: None } };
            return retry_after(axum::Json(body).into_response(), retry_after_secs);
        }
        let (status, code, message, field) = match failure {
            Failure::Refused { status, code, message, field, .. } => (status, code, message, field),
            Failure::Internal { unavailable: true, .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the directory is unavailable; retry shortly".to_string(),
                None,
            ),
            Failure::Internal { .. } | Failure::Fault(_) | Failure::Busy { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".to_string(), None)
            }
        };
        let body = ErrorBody { error: ErrorDetail { code: code.to_string(), message, field } };
        // An unavailable store's Retry-After is added with every channel's (`into_response`).
        let mut response = (status, axum::Json(body)).into_response();
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
            Failure::Busy { retry_after_secs } => retry_after(BUSY_MESSAGE.into_response(), retry_after_secs),
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
        let busy = match failure {
            Failure::Busy { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        let fault = match failure {
            Failure::Fault(fault) => fault,
            Failure::Busy { .. } => TrustFault::Unavailable(BUSY_MESSAGE.into()),
            Failure::Refused { message, .. } => TrustFault::InvalidRequest(message),
            Failure::Internal { .. } => {
                TrustFault::Unavailable("Tessera could not answer now; try again shortly".into())
            }
        };
        let status = StatusCode::from_u16(fault.http_status(self.soap)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, fault.envelope(self.soap, self.trust, self.relates_to.as_deref())).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(self.soap.content_type()));
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match busy {
            Some(secs) => retry_after(response, secs),
            None => response,
        }
    }
}

/// A SOAP 1.1 fault of the SAML ECP endpoint: an ECP client reads faults, not pages.
#[derive(Debug, Default)]
pub struct EcpFault;

impl Channel for EcpFault {
    fn render(&self, failure: Failure, _reference: Option<String>) -> Response {
        let (status, code, reason) = match failure {
            Failure::Refused { status, message, .. } => (status, FaultCode::Client, message),
            Failure::Busy { retry_after_secs } => {
                let fault = fault_envelope(FaultCode::Server, BUSY_MESSAGE);
                return retry_after(soap11(StatusCode::SERVICE_UNAVAILABLE, fault), retry_after_secs);
            }
            Failure::Internal { .. } | Failure::Fault(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                FaultCode::Server,
                "Tessera could not answer now; try again shortly".to_string(),
            ),
        };
        soap11(status, fault_envelope(code, &reason))
    }
}

/// SOAP 1.1 over HTTP: `text/xml`, never cached.
pub(crate) fn soap11(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A store failure met while serving a request is ours: the request named nothing that is not
/// there (what an administrator names goes through the admin service, below). The database
/// failing a read, or a batched write (an audit record, a request's ID) that did not commit,
/// means the store is unavailable for now: 503 with `Retry-After`, and the breaker opens. A
/// batch fails when the database is down, unreachable or silent past the writer's deadline.
impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let unavailable = matches!(e, StoreError::Database(_) | StoreError::WriteFailed(_));
        Failure::Internal { cause: e.to_string(), unavailable }
    }
}

/// What the store refuses in an administrator's request: the thing named is not there, taken
/// already, or breaks a rule.
fn refused_by_store(e: StoreError) -> Failure {
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
        other => Failure::from(other),
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
            AdminError::Store(store) => refused_by_store(store),
            AdminError::M365(e) => m365_refusal(e),
            other => Failure::Internal { cause: other.to_string(), unavailable: false },
        }
    }
}

/// Microsoft 365's refusals are the administrator's to read: a check, a setting, a permission
/// or a credential to fix is 422; Graph failing or not answering is 502.
fn m365_refusal(e: tessera_m365::M365Error) -> Failure {
    use tessera_m365::M365Error as E;
    let status = match &e {
        E::Refused(_)
        | E::Config(_)
        | E::Credential(_)
        | E::Unknown { .. }
        | E::NotM365(_)
        | E::NoCertificate(_)
        | E::ControlCharacter(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_GATEWAY,
    };
    Failure::Refused { status, code: "m365", title: "Microsoft 365 refused", message: e.to_string(), field: None }
}

impl From<tessera_auth::AuthError> for Failure {
    fn from(e: tessera_auth::AuthError) -> Self {
        match e {
            tessera_auth::AuthError::Store(store) => store.into(),
            tessera_auth::AuthError::Busy { retry_after_secs } => Failure::Busy { retry_after_secs },
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_store_failure_while_serving_a_page_is_ours_and_says_retry_with_a_reference() {
        let missing = StoreError::NotFound { kind: "user", key: "0190-secret-id".into() };
        let response = AppError::<Page>::from(missing).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let page = body(response).await;
        assert!(page.contains("Something went wrong") && !page.contains("0190-secret-id"), "{page}");
    }

    #[tokio::test]
    async fn what_the_store_refuses_an_administrator_is_the_administrators_to_mend() {
        let missing = AdminError::Store(StoreError::NotFound { kind: "group", key: "Staff".into() });
        let response = ApiError::from(missing).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(body(response).await.contains(r#""code":"not_found""#));
        let taken = AdminError::Store(StoreError::Conflict { field: "email", message: "already used".into() });
        let response = ApiError::from(taken).into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert!(body(response).await.contains(r#""field":"email""#));
        let down =
            ApiError::new(Failure::Internal { cause: "pool timed out".into(), unavailable: true }).into_response();
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(down.headers()[header::RETRY_AFTER], "2");
        let unwritten = ApiError::from(StoreError::WriteFailed("the database did not answer".into())).into_response();
        assert_eq!(unwritten.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unwritten.headers()[header::RETRY_AFTER], "2");
        let broken = ApiError::from(StoreError::Corrupt("bad row".into())).into_response();
        assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body(broken).await.contains("bad row"), "internals stay in the log");
    }

    #[tokio::test]
    async fn a_soap_channel_answers_every_failure_as_a_fault() {
        let channel = Soap { soap: SoapVersion::Soap11, trust: TrustVersion::Feb2005, relates_to: None };
        let response = AppError::<Soap>::internal("keys unreadable").on(channel).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], SoapVersion::Soap11.content_type());
        let fault = body(response).await;
        assert!(fault.contains("try again shortly") && !fault.contains("keys unreadable"), "{fault}");
    }
}
