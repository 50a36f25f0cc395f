//! The user portal (a tile per app the user may use), the password-update notice, and signing
//! out.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::login::ContinueQuery;
use super::pages::{Notice, Portal, Tile};
use super::steps::after_sign_in;
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::cookies;
use crate::shell::pages;
use crate::shell::session::{self, continue_id, cookie_policy, csrf_token, require_our_form};
use crate::state::AppState;
use crate::ui::Ui;

pub async fn portal(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let current = match session::current(&state, &ctx).await? {
        Some(current) if current.is_signed_in() => current,
        Some(current) => return Ok(after_sign_in(&current.user, current.session.complete, "")),
        None => return Ok(pages::redirect("/login", &[])),
    };
    let tiles = state
        .access
        .apps_of_user(current.user.id)
        .await?
        .into_iter()
        .filter(|a| a.show_in_portal)
        .map(|a| Tile { id: a.id.to_string(), image: image_url(&a), label: a.label, description: a.description })
        .collect();
    let has_totp = state.second_factors.totp_credential(current.user.id).await?.is_some_and(|c| c.confirmed);
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let page = Portal { ui: Ui::current(), csrf: &csrf, user: &current.user.email, has_totp, tiles };
    Ok(pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>()))
}

/// Where an application's User Portal Image is served (the query changes with each save, so a
/// cached copy is never shown for a new image).
pub fn image_url(app: &tessera_core::Application) -> Option<String> {
    let served = app.portal_image.as_deref().is_some_and(|i| tessera_core::app::validate_portal_image(i).is_ok());
    served.then(|| format!("/apps/{}/image?v={}", app.id, app.updated_at))
}

/// An application's User Portal Image: the admin service's own PNG re-encoding of the upload,
/// served as what it is (`image/png`, never sniffed, never run as a document). Tile images are
/// not secret; they are served to anyone who has the application's id.
pub async fn image(
    State(state): State<AppState>,
    axum::extract::Path(app): axum::extract::Path<String>,
) -> Result<Response, AppError> {
    let not_found = || AppError::not_found("There is no such image.");
    let id: tessera_core::AppId = app.parse().map_err(|_| not_found())?;
    let app = match state.apps.find_app(&id.to_string()).await {
        Ok(app) => app,
        Err(tessera_store::StoreError::NotFound { .. }) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    let png = app.portal_image.as_deref().and_then(tessera_admin::portal_image::stored_png).ok_or_else(not_found)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/png"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
            (axum::http::header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"),
        ],
        png,
    )
        .into_response())
}

pub async fn notice_page(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<ContinueQuery>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&query.continue_id);
    match session::current(&state, &ctx).await? {
        Some(current) if current.session.complete => {
            if current.user.notice_acknowledged_at.is_some() {
                return Ok(after_sign_in(&current.user, true, &continue_id));
            }
        }
        _ => return Ok(pages::redirect("/login", &[])),
    }
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let page = Notice { ui: Ui::current(), csrf: &csrf, continue_id: &continue_id };
    Ok(pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>()))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "continue")]
    continue_id: String,
}

pub async fn notice_submit(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    require_our_form(&state, &ctx, &form.csrf)?;
    let mut current = match session::current(&state, &ctx).await? {
        Some(current) if current.session.complete => current,
        _ => return Ok(pages::redirect("/login", &[])),
    };
    session::acknowledge_notice(&state, &mut current).await?;
    Ok(after_sign_in(&current.user, true, &continue_id(&form.continue_id)))
}

pub async fn logout(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    require_our_form(&state, &ctx, &form.csrf)?;
    session::sign_out(&state, &ctx, json!({"ip": ctx.audit_ip()})).await?;
    // Signed out on purpose: the sign-in page does not sign this browser straight back in with
    // Windows sign-in (in this browser session).
    let not_again = super::windows_sign_in::not_again(&state);
    Ok(pages::redirect("/login", &[cookie_policy(&state).clear(cookies::SESSION), not_again]))
}
