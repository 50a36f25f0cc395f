//! What the user pages look like and speak, as routes: the brand's logo and stylesheet, and the
//! language switch.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_core::branding::{Branding, accent_colour};

use crate::shell::cookies::Site;
use crate::shell::pages;
use crate::shell::session::cookie_policy;
use crate::state::AppState;
use crate::ui::{LANGUAGE_COOKIE, Language};

#[derive(Deserialize, Default)]
pub struct Version {
    #[serde(default)]
    v: Option<i64>,
}

/// Cached for a day only when the URL names the brand this node serves (a page from a node
/// with a newer brand may ask a node that has not read it yet): otherwise, not kept.
fn cache_control(brand: &Branding, version: &Version) -> &'static str {
    if version.v == Some(brand.updated_at) { "public, max-age=86400" } else { "no-cache" }
}

/// The logo: the admin service's own PNG re-encoding, served as what it is.
pub async fn logo(State(state): State<AppState>, Query(version): Query<Version>) -> Response {
    let brand = state.brand.current(&state.admin, state.clock.now_millis()).await;
    let Some(png) = brand.logo.as_deref().and_then(tessera_admin::portal_image::stored_png) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, cache_control(&brand, &version)),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"),
        ],
        png,
    )
        .into_response()
}

/// The brand's stylesheet: the accent colour as a CSS variable the page stylesheet uses. The
/// colour is checked again as it is written out, so nothing but a colour reaches the CSS.
pub async fn stylesheet(State(state): State<AppState>, Query(version): Query<Version>) -> Response {
    let brand = state.brand.current(&state.admin, state.clock.now_millis()).await;
    let accent = accent_colour(brand.accent_colour()).unwrap_or_else(|_| Branding::default().accent_colour().into());
    let mut response = format!(":root {{ --accent: {accent}; }}\n").into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control(&brand, &version)));
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
    Path(code): Path<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_goes_back_only_to_our_own_paths() {
        assert_eq!(local_path("/login?continue=abc"), Some("/login?continue=abc"));
        for bad in ["", "https://evil.example/", "//evil.example/", "/\\evil.example", "/a b", "javascript:x", "/\n"] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
