//! SSO Applications: the configured applications, searchable.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_core::{AppKind, Application, format_millis};
use tessera_store::PageRequest;

use super::pages::{AppRow, Applications, DeleteApplications};
use super::{Fields, administrator_or_gate, changing_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
    /// How many applications were just deleted (the confirmation notice).
    deleted: Option<u32>,
}

/// The longest search the list accepts; longer input is cut, not refused.
const MAX_QUERY: usize = 200;

pub async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(search): Query<Search>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let authority = state.admin.admin_authority(&session.admin).await?;
    let query: String = search.q.trim().chars().take(MAX_QUERY).collect();
    let needle = query.to_lowercase();
    let mut rows = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = state.admin.list_apps(&page).await?;
        rows.extend(got.items.iter().filter(|app| authority.sees_app(app.id)).map(row).filter(|r| {
            needle.is_empty()
                || [r.label.as_str(), r.detail.as_str(), r.kind].iter().any(|f| f.to_lowercase().contains(&needle))
        }));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let notice = search.deleted.map(|n| match n {
        1 => "1 application was deleted.".to_string(),
        n => format!("{n} applications were deleted."),
    });
    // A failed step of the automatic rollover is the first thing an administrator sees.
    let warnings = state
        .admin
        .rollover_warnings()
        .await?
        .into_iter()
        .filter(|(app, _)| authority.sees_app(app.id))
        .map(|(app, w)| {
            (
                app.id.to_string(),
                format!(
                    "The automatic certificate rollover of {} failed at its {} step: {}",
                    app.label, w.step, w.error
                ),
            )
        })
        .collect();
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| Applications {
        frame,
        query: &query,
        rows,
        notice,
        warnings,
    }))
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
    AppRow { id: app.id.to_string(), label: app.label.clone(), detail, kind, shown: app.show_in_portal, expires }
}

fn labelled(apps: &[Application]) -> Vec<(String, String)> {
    apps.iter().map(|a| (a.id.to_string(), a.label.clone())).collect()
}

/// The applications a delete form names: each must exist.
async fn named(state: &AppState, fields: &Fields) -> Result<Vec<Application>, AppError> {
    let ids = fields.all("id");
    if ids.is_empty() {
        return Err(AppError::invalid("id", "Select at least one application to delete."));
    }
    let mut apps = Vec::new();
    for id in ids {
        let app = state.admin.find_app(id).await?;
        if !apps.iter().any(|a: &Application| a.id == app.id) {
            apps.push(app);
        }
    }
    Ok(apps)
}

/// Delete: the selected applications, and the count to type.
pub async fn confirm_delete(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, _) = changing_or_gate!(state, ctx, fields);
    let apps = labelled(&named(&state, &fields).await?);
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| DeleteApplications { frame, apps, error: None }))
}

/// Delete Application: only when the typed number is the number selected.
pub async fn delete(State(state): State<AppState>, ctx: RequestContext, body: String) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let apps = named(&state, &fields).await?;
    let typed = fields.one("count").trim().parse::<usize>().ok();
    let ids: Vec<_> = apps.iter().map(|a| a.id).collect();
    let Some(count) = typed.filter(|n| *n == ids.len()) else {
        let these = if ids.len() == 1 { "this application" } else { "these applications" };
        let error = format!("Type {} to delete {these}.", ids.len());
        let apps = labelled(&apps);
        return Ok(render(&state, &ctx, StatusCode::UNPROCESSABLE_ENTITY, &session, |frame| DeleteApplications {
            frame,
            apps,
            error: Some(&error),
        }));
    };
    let deleted = state.admin.delete_apps(&actor, &ids, count).await?;
    Ok(pages::redirect(&format!("/admin/applications?deleted={deleted}"), &[]))
}
