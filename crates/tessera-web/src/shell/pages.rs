//! The pages every part of the web edge shows (a message, the auto-POST form to a relying
//! party, the signed-out page), as askama templates (auto-escaped), and how pages, redirects
//! and documents become responses.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ui::{Arg, Ui};

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message<'a> {
    pub ui: Ui,
    pub title: &'a str,
    pub message: &'a str,
    pub reference: Option<&'a str>,
}

/// A form the browser posts to a relying party: submitted by script where scripts run, by a
/// visible Continue button otherwise.
#[derive(Template)]
#[template(path = "post_form.html")]
pub struct PostForm<'a> {
    pub ui: Ui,
    pub label: &'a str,
    pub action: &'a str,
    pub fields: Vec<(&'a str, FieldValue<'a>)>,
}

/// A hidden field's value: text, escaped as always; markup this server wrote; or base64, which
/// needs no escaping.
pub enum FieldValue<'a> {
    Text(&'a str),
    /// XML this server wrote (a WS-Federation `wresult`), escaped only as a double-quoted
    /// attribute value must be (`escape_markup`): its `<` and `>` stand. That is safe for any
    /// text (the template writes this value in double quotes), and what it writes holds no
    /// `<script` for a filter to find: text from elsewhere is XML-escaped in it (`&lt;`).
    Markup(&'a str),
    Base64(&'a Base64),
}

/// Base64 of some bytes. Its alphabet (`A–Z a–z 0–9 + / =`) holds nothing HTML must escape,
/// so pages write it as it is: escaping a SAMLResponse byte by byte was about 1 % of a
/// sign-on's CPU (bench/README.md "Where the time goes").
pub struct Base64(String);

impl Base64 {
    pub fn encode(bytes: impl AsRef<[u8]>) -> Base64 {
        use base64::Engine;
        Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

impl std::fmt::Display for Base64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl askama::filters::HtmlSafe for Base64 {}

impl FieldValue<'_> {
    /// The value as a hidden field's attribute holds it.
    pub fn html(&self) -> FieldHtml<'_> {
        FieldHtml(self)
    }
}

/// A field's value written for HTML: base64 as it is, text escaped here, into one buffer,
/// rather than by the template's escaper, a write through the formatter for every run between
/// two characters it replaces (a WS-Federation `wresult` is several kilobytes of markup, and
/// that was 1.3–1.6 % of a token's CPU: bench/README.md, tenth look).
pub struct FieldHtml<'a>(&'a FieldValue<'a>);

impl std::fmt::Display for FieldHtml<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            FieldValue::Base64(encoded) => f.write_str(&encoded.0),
            FieldValue::Text(text) => f.write_str(&escape_html(text)),
            FieldValue::Markup(markup) => f.write_str(&escape_markup(markup)),
        }
    }
}

impl askama::filters::HtmlSafe for FieldHtml<'_> {}

/// `text` with `& < > " '` as character references (the ones askama's escaper writes).
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    tessera_xml::escape_into(
        &mut out,
        text,
        &[(b'&', "&#38;"), (b'<', "&#60;"), (b'>', "&#62;"), (b'"', "&#34;"), (b'\'', "&#39;")],
    );
    out
}

/// `markup` as a double-quoted attribute's value: `&` and `"` as character references. There
/// HTML ends the value only at `"` and reads a reference only from `&`, so the markup's own `<`
/// and `>` stand as they are: a `wresult` holds three times as many of them as of `"`, and
/// each one replaced cost a visit and four bytes more of the page (bench/README.md,
/// thirteenth look).
fn escape_markup(markup: &str) -> String {
    let mut out = String::with_capacity(markup.len() + markup.len() / 8);
    tessera_xml::escape_into(&mut out, markup, &[(b'&', "&#38;"), (b'"', "&#34;")]);
    out
}

/// A page that opens an application on another site itself (a refresh, and a link).
#[derive(Template)]
#[template(path = "opening.html")]
pub struct Opening<'a> {
    pub ui: Ui,
    pub label: &'a str,
    pub url: &'a str,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOut {
    pub ui: Ui,
}

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
/// Lets a page run our own scripts (`/static/…`) and nothing else: no inline script, no other
/// origin. Pages without a script keep the default policy, which runs none.
pub fn allow_own_scripts(response: &mut Response) {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}

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

/// Opens `url` (the application `label`) from a page rather than a redirect.
pub fn opening(label: &str, url: &str) -> Response {
    html(StatusCode::OK, &Opening { ui: Ui::current(), label, url }, &[])
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

/// A refusal or failure page, its words given as they are.
pub fn message(status: StatusCode, title: &str, message: &str) -> Response {
    html(status, &Message { ui: Ui::current(), title, message, reference: None }, &[])
}

/// A page that says the catalog's message `key` (its title: `{key}-title`) in the user's
/// language.
pub fn say(status: StatusCode, key: &str) -> Response {
    say_with(status, &format!("{key}-title"), key, &[])
}

/// A page titled by the catalog's `title_key`, saying `key` with `args`.
pub fn say_with(status: StatusCode, title_key: &str, key: &str, args: &[(&str, Arg<'_>)]) -> Response {
    let ui = Ui::current();
    let (title, text) = (ui.t(title_key), ui.text(key, args));
    html(status, &Message { ui, title: &title, message: &text, reference: None }, &[])
}

/// The answer to a sign-out the browser is not showing as a page (an image or script on
/// another site): nobody is signed out by that, so it only says how.
pub fn sign_out_elsewhere() -> Response {
    say(StatusCode::OK, "sign-out-elsewhere")
}

/// A failure on our side: the user gets a retryable message and the reference the log has.
pub fn failure_page(reference: Option<&str>) -> Response {
    let ui = Ui::current();
    let (title, message) = (ui.t("failure-title"), ui.t("failure"));
    html(StatusCode::SERVICE_UNAVAILABLE, &Message { ui, title: &title, message: &message, reference }, &[])
}

/// A metadata document, as a download when `file_name` is given.
pub fn metadata_document(xml: String, file_name: Option<&str>) -> Response {
    let mut response = (StatusCode::OK, xml).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(value) =
        file_name.and_then(|name| HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).ok())
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Adds a Set-Cookie header.
pub fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// An otpauth URL as an inline SVG QR code (no script, no image request: the CSP stays strict),
/// named `label` for screen readers.
pub fn qr_svg(text: &str, label: &str) -> String {
    use qrcodegen::{QrCode, QrCodeEcc};
    let Ok(qr) = QrCode::encode_text(text, QrCodeEcc::Medium) else { return String::new() };
    let label = label.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;");
    let border = 4;
    let size = qr.size() + border * 2;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" role=\"img\" aria-label=\"{label}\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    )
}

/// An application takes a passkey only, and the user has none: where to add one.
#[derive(Template)]
#[template(path = "passkey_required.html")]
struct PasskeyRequired {
    ui: Ui,
    /// Passkeys can be added on this server (its public URL is a host name).
    available: bool,
}

/// The page for a user whose application takes a passkey only and who has none: where to add
/// one (`available`: the server is a WebAuthn relying party), or that none can be added here.
pub fn passkey_required(available: bool) -> Response {
    html(StatusCode::FORBIDDEN, &PasskeyRequired { ui: Ui::current(), available }, &[])
}

#[cfg(test)]
mod tests {
    use super::{escape_html, escape_markup};

    /// Strings of 101 characters around the 32-byte blocks the escaping works in, each with
    /// one character to escape or not at one place, and a name for it.
    fn one_special_each() -> impl Iterator<Item = (String, String)> {
        [0, 1, 31, 32, 33, 64, 90].into_iter().flat_map(|at| {
            ['&', '<', '>', '"', '\''].into_iter().map(move |special| {
                let mut text = "ß".to_string() + &"x".repeat(100);
                text.insert(at + 2, special);
                (format!("{special:?} at {at}"), text)
            })
        })
    }

    /// Markup cannot end its attribute or start a reference of its own, reads back as it was,
    /// and keeps its tags.
    #[test]
    fn field_markup_is_escaped_for_a_double_quoted_attribute() {
        for (case, markup) in one_special_each() {
            let escaped = escape_markup(&markup);
            assert_eq!(escaped, markup.replace('&', "&#38;").replace('"', "&#34;"), "{case}");
            assert!(!escaped.contains('"'), "{case}");
            assert_eq!(escaped.replace("&#34;", "\"").replace("&#38;", "&"), markup, "{case}");
        }
        assert_eq!(escape_markup("<a b=\"&lt;\"/>"), "<a b=&#34;&#38;lt;&#34;/>");
    }

    #[test]
    fn field_text_is_escaped_as_the_template_escaper_would() {
        for (case, text) in one_special_each() {
            let askama = askama::filters::escape(&text, askama::filters::Html).unwrap().to_string();
            assert_eq!(escape_html(&text), askama, "{case}");
        }
    }
}
