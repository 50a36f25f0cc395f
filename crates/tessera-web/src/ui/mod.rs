//! What every page a user sees speaks and looks like: the language the request gets, the
//! organization's brand, and the catalog of their words. A middleware settles both once per
//! request and keeps them beside the request's task, so a page (an error page included) is
//! rendered in the user's language without every handler passing them along.

pub mod brand;
pub mod catalog;
pub mod language;

use std::borrow::Borrow;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, Method, Request, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use tessera_core::branding::Branding;

pub use catalog::Arg;
pub use language::Language;

use crate::shell::cookies::{self, Site};
use crate::shell::pages;
use crate::shell::session::cookie_policy;
use crate::state::AppState;

/// The cookie that keeps the user's own choice of language.
pub const LANGUAGE_COOKIE: &str = "tessera_lang";

tokio::task_local! {
    static PAGE: Ui;
}

/// A page's language and brand.
#[derive(Debug, Clone, Default)]
pub struct Ui {
    pub language: Language,
    brand: Arc<Branding>,
    /// Where the language switch comes back to: the page itself when it was asked for by a
    /// GET of one of the user's pages; else what the page says (`back_to`), or the portal.
    here: String,
    /// An admin portal page (English only, its messages its own).
    admin: bool,
}

/// The user's pages a language switch may come back to as they were asked for (a protocol
/// endpoint is not: its request would be sent again).
const PAGES: [&str; 6] = ["/", "/login", "/login/mfa", "/notice", "/account", "/mfa/totp"];

/// One entry of the language switch.
pub struct LanguageLink {
    pub code: &'static str,
    pub name: &'static str,
    pub href: String,
    pub current: bool,
}

impl Ui {
    /// This request's: set by [`localize`]; English and the default brand outside a request.
    pub fn current() -> Ui {
        PAGE.try_with(Ui::clone).unwrap_or_default()
    }

    /// The same page, its language switch coming back to `path` (a page answering a form post
    /// names the page to come back to).
    pub fn back_to(mut self, path: &str) -> Ui {
        self.here = path.to_string();
        self
    }

    pub fn is_admin(&self) -> bool {
        self.admin
    }

    pub fn t(&self, key: &str) -> String {
        catalog::text(self.language, key, &[])
    }

    /// A message with one text variable.
    pub fn t1(&self, key: &str, name: &str, value: &str) -> String {
        catalog::text(self.language, key, &[(name, Arg::Text(value))])
    }

    /// A message with one count.
    pub fn tn(&self, key: &str, name: &str, count: impl Borrow<i64>) -> String {
        catalog::text(self.language, key, &[(name, Arg::Number(*count.borrow()))])
    }

    pub fn text(&self, key: &str, args: &[(&str, Arg<'_>)]) -> String {
        catalog::text(self.language, key, args)
    }

    pub fn lang(&self) -> &'static str {
        self.language.code()
    }

    pub fn date_time(&self, millis: impl Borrow<i64>) -> String {
        self.language.date_time(*millis.borrow())
    }

    pub fn date(&self, millis: impl Borrow<i64>) -> String {
        self.language.date(*millis.borrow())
    }

    pub fn organization(&self) -> &str {
        self.brand.organization_name()
    }

    pub fn logo_url(&self) -> Option<String> {
        self.brand.logo.as_ref().map(|_| format!("/branding/logo?v={}", self.brand.updated_at))
    }

    pub fn help_url(&self) -> Option<&str> {
        self.brand.help_url.as_deref()
    }

    /// The brand's stylesheet (its accent colour), versioned so a change shows at once.
    pub fn style_url(&self) -> String {
        format!("/branding/style.css?v={}", self.brand.updated_at)
    }

    pub fn languages(&self) -> Vec<LanguageLink> {
        let back = percent_encode(&self.here);
        Language::ALL
            .into_iter()
            .map(|language| LanguageLink {
                code: language.code(),
                name: language.native_name(),
                href: format!("/language/{}?back={back}", language.code()),
                current: language == self.language,
            })
            .collect()
    }
}

/// Settles the request's language and brand, and answers in that language.
pub async fn localize(State(state): State<AppState>, request: Request<axum::body::Body>, next: Next) -> Response {
    let headers = request.headers();
    let chosen = cookies::read(headers, LANGUAGE_COOKIE);
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    // The admin portal speaks English only (its catalog is the code); its error pages too.
    let admin = request.uri().path().starts_with("/admin");
    let language = if admin { Language::English } else { Language::negotiate(chosen.as_deref(), accept) };
    let page = matches!(*request.method(), Method::GET | Method::HEAD) && PAGES.contains(&request.uri().path());
    let here = match request.uri().path_and_query() {
        Some(asked) if page && asked.as_str().len() <= 2048 => asked.as_str(),
        _ => "/",
    };
    let brand = state.brand.current(&state.admin, state.clock.now_millis()).await;
    let ui = Ui { language, brand, here: here.to_string(), admin };
    let mut response = PAGE.scope(ui, next.run(request)).await;
    let headers = response.headers_mut();
    if headers.get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html")) {
        headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(language.code()));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Language, Cookie"));
    }
    response
}

#[derive(Deserialize)]
pub struct Back {
    #[serde(default)]
    back: String,
}

/// The language switch: keeps the choice for a year and goes back to the page it was made
/// on (only a path of ours: never another site).
pub async fn choose_language(
    State(state): State<AppState>,
    axum::extract::Path(code): axum::extract::Path<String>,
    Query(query): Query<Back>,
) -> Response {
    let back = local_path(&query.back).unwrap_or("/");
    let Some(language) = Language::from_tag(&code).filter(|l| l.code() == code) else {
        return pages::redirect(back, &[]);
    };
    let cookie = cookie_policy(&state).set(LANGUAGE_COOKIE, language.code(), Site::CrossSite, Some(365 * 86_400));
    pages::redirect(back, &[cookie])
}

/// `text` if it is a path on this site: one leading slash, no scheme, no backslash, no
/// control characters.
fn local_path(text: &str) -> Option<&str> {
    let ok = text.starts_with('/')
        && !text.starts_with("//")
        && !text.contains('\\')
        && !text.chars().any(|c| c.is_control() || c.is_whitespace())
        && text.len() <= 2048;
    ok.then_some(text)
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_goes_back_only_to_our_own_paths() {
        assert_eq!(local_path("/login?continue=abc"), Some("/login?continue=abc"));
        for bad in ["", "https://evil.example/", "//evil.example/", "/\\evil.example", "/a b", "javascript:x", "/\n"] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
        assert_eq!(percent_encode("/login?continue=a&b"), "/login%3Fcontinue%3Da%26b");
    }
}
