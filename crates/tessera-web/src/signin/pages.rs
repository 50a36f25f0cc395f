//! The pages, as askama templates (auto-escaped), and how they become responses.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "login.html")]
pub struct Login<'a> {
    pub csrf: &'a str,
    pub continue_id: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mfa.html")]
pub struct Mfa<'a> {
    pub csrf: &'a str,
    pub continue_id: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "notice.html")]
pub struct Notice<'a> {
    pub csrf: &'a str,
    pub continue_id: &'a str,
}

pub struct Tile {
    pub id: String,
    pub label: String,
    pub description: String,
    pub image: Option<String>,
}

#[derive(Template)]
#[template(path = "portal.html")]
pub struct Portal<'a> {
    pub csrf: &'a str,
    pub user: &'a str,
    pub has_totp: bool,
    pub tiles: Vec<Tile>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub reference: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "totp_enroll.html")]
pub struct TotpEnroll<'a> {
    pub csrf: &'a str,
    pub continue_id: &'a str,
    pub qr_svg: &'a str,
    pub secret: &'a str,
    pub otpauth_url: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodes<'a> {
    pub codes: &'a [String],
    pub next: &'a str,
}

/// A form the browser posts to a relying party: submitted by script where scripts run, by a
/// visible Continue button otherwise.
#[derive(Template)]
#[template(path = "post_form.html")]
pub struct PostForm<'a> {
    pub label: &'a str,
    pub action: &'a str,
    pub fields: Vec<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOut;

/// The auto-POST page, with a CSP that runs only our own script and lets its form go only to
/// the relying party's origin or https.
pub fn post_form(page: &PostForm<'_>, cookies: &[String]) -> Response {
    let origin = origin_of(page.action).unwrap_or_else(|| "'none'".into());
    let mut response = html(StatusCode::OK, page, cookies);
    // Browsers apply form-action to the redirects after the submission too, and many ACS
    // endpoints redirect to another https origin once they have the response: so the relying
    // party's origin, and https beyond it (never plain http elsewhere, never script URLs).
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action {origin} https:; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// `scheme://host[:port]` of an absolute URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == '\'') {
        return None;
    }
    Some(format!("{}://{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase()))
}

/// A rendered page with its status and cookies.
pub fn html(status: StatusCode, page: &impl Template, cookies: &[String]) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A 303 to a path of ours, with cookies.
pub fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A refusal or failure page in words a user understands.
pub fn message(status: StatusCode, title: &str, message: &str) -> Response {
    html(status, &Message { title, message, reference: None }, &[])
}

/// A form that did not carry this browser's CSRF token, or came from another site.
pub fn form_refused() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form expired or did not come from this site. Open the page again and retry.",
    )
}

/// A server-side failure: the user gets a retryable message and a reference to quote.
/// The answer to a sign-out the browser is not showing as a page (an image or script on
/// another site): nobody is signed out by that, so it only says how.
pub fn sign_out_elsewhere() -> Response {
    message(StatusCode::OK, "Sign out", "To sign out of Tessera, open your applications page and choose Sign out.")
}

pub fn failure(error: impl std::fmt::Display) -> Response {
    let reference = uuid::Uuid::new_v4().simple().to_string();
    tracing::error!(%reference, error = %error, "sign-in failed");
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        &Message {
            title: "Something went wrong",
            message: "Sign-in is unavailable right now. Please try again in a moment.",
            reference: Some(&reference),
        },
        &[],
    )
}
