//! SSO Applications: the configured applications, searchable.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_core::{AppKind, Application, format_millis};
use tessera_store::PageRequest;

use super::administrator;
use super::pages::{AppRow, Applications};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::session::csrf_token;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// The longest search the list accepts; longer input is cut, not refused.
const MAX_QUERY: usize = 200;

pub async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(search): Query<Search>,
) -> Result<Response, AppError> {
    let session = match administrator(&state, &ctx).await? {
        Ok(session) => session,
        Err(gate) => return Ok(gate.response()),
    };
    let query: String = search.q.trim().chars().take(MAX_QUERY).collect();
    let needle = query.to_lowercase();
    let mut rows = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = state.admin.list_apps(&page).await?;
        rows.extend(got.items.iter().map(row).filter(|r| {
            needle.is_empty()
                || [r.label.as_str(), r.detail.as_str(), r.kind].iter().any(|f| f.to_lowercase().contains(&needle))
        }));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let page = Applications { csrf: &csrf, admin: &session.admin.username, query: &query, rows };
    Ok(pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>()))
}

fn row(app: &Application) -> AppRow {
    let (kind, detail) = match &app.kind {
        AppKind::M365(config) => ("Microsoft 365", config.domain.clone()),
        AppKind::Saml(config) => ("SAML 2.0", config.entity_id.clone()),
        AppKind::WsFed(config) => ("WS-Federation", config.realm.clone()),
        AppKind::Bookmark { url } => ("Bookmark", url.clone()),
    };
    let expires = app
        .certificates
        .current
        .as_deref()
        .and_then(tessera_keys::certificate_not_after)
        .map(|at| format_millis(at).chars().take(10).collect())
        .unwrap_or_else(|| "—".to_string());
    AppRow { label: app.label.clone(), detail, kind, shown: app.show_in_portal, expires }
}
