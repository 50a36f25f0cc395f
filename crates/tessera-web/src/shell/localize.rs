//! Every page's language and brand, settled once per request (`ui`): the user's choice (the
//! language cookie), else the browser's `Accept-Language`, else English; the admin portal in
//! English. HTML answers say their language.

use axum::extract::State;
use axum::http::{HeaderValue, Method, Request, header};
use axum::middleware::Next;
use axum::response::Response;

use super::cookies;
use crate::state::AppState;
use crate::ui::{LANGUAGE_COOKIE, Language, PAGES, Ui};

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
    let ui = Ui::for_request(language, brand, here, admin);
    let mut response = ui.scope(next.run(request)).await;
    let headers = response.headers_mut();
    if headers.get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html")) {
        headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(language.code()));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Language, Cookie"));
    }
    response
}
