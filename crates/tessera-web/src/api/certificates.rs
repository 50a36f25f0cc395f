//! An application's signing certificates through the API: the rollover timeline, and the
//! staged rollover (stage, promote with a grace period, stop publishing the old certificate),
//! as `tessera app cert` and the portal's certificate page do it.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tessera_admin::KeyOptions;
use tessera_core::Actor;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::ApiJson;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::AppView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(timeline))
        .routes(routes!(stage))
        .routes(routes!(promote))
        .routes(routes!(clear_previous))
}

/// The certificates an application publishes and what comes next: `current`, `staged` and
/// `previous` (each `{sha256, not_after}`), when the previous one stops being published, when
/// the automatic rollover stages and promotes, and its last failed step.
#[derive(Debug, Serialize, ToSchema)]
struct TimelineBody {
    #[schema(value_type = Object)]
    timeline: serde_json::Value,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StageCertificate {
    key_bits: Option<u32>,
    certificate_validity_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PromoteCertificate {
    /// Days the old certificate stays published as next (0 to 90; 14 when left out).
    grace_days: Option<u32>,
    /// Promote even when Graph does not hold the staged certificate (or cannot be asked).
    #[serde(default)]
    force: bool,
}

#[utoipa::path(get, path = "/apps/{app}/certificate", tag = "apps",
    params(("app" = String, Path, description = "id or label")),
    responses((status = 200, body = TimelineBody), (status = 404, body = crate::error::ErrorBody)))]
async fn timeline(State(state): State<AppState>, Path(app): Path<String>) -> Result<Json<TimelineBody>, ApiError> {
    let timeline = state.admin.certificate_timeline(&app).await?;
    let timeline = serde_json::to_value(timeline).unwrap_or_default();
    Ok(Json(TimelineBody { timeline }))
}

/// Stages a next key and certificate: published (metadata, `next_signing_certificate`), not
/// signing until promoted.
#[utoipa::path(post, path = "/apps/{app}/certificate/stage", tag = "apps", request_body = StageCertificate,
    params(("app" = String, Path, description = "id or label")),
    responses((status = 200, body = AppView), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn stage(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<StageCertificate>,
) -> Result<Json<AppView>, ApiError> {
    let options = KeyOptions { bits: body.key_bits, validity_days: body.certificate_validity_days };
    let app = state.admin.stage_certificate(&actor, &app, options).await?;
    Ok(Json(AppView::new(&app, &state.public_url)))
}

/// The staged certificate signs from now on; the old one stays published as next for the grace
/// period. Refused (422), unless `force`, while a domain federated to the app does not hold the
/// staged certificate as far as the stored Graph credentials tell.
#[utoipa::path(post, path = "/apps/{app}/certificate/promote", tag = "apps", request_body = PromoteCertificate,
    params(("app" = String, Path, description = "id or label")),
    responses((status = 200, body = AppView), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
async fn promote(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<PromoteCertificate>,
) -> Result<Json<AppView>, ApiError> {
    // Forced, nothing is asked of Graph (it may be what is broken).
    let graph = if body.force { None } else { state.admin.m365_graph().await? };
    let app = state.admin.promote_certificate(&actor, &app, body.grace_days, body.force, graph.as_ref()).await?;
    Ok(Json(AppView::new(&app, &state.public_url)))
}

/// Stops publishing the certificate a promotion replaced, before its grace period ends.
#[utoipa::path(post, path = "/apps/{app}/certificate/clear-previous", tag = "apps",
    params(("app" = String, Path, description = "id or label")),
    responses((status = 200, body = AppView), (status = 404, body = crate::error::ErrorBody)))]
async fn clear_previous(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    let (app, _) = state.admin.clear_previous_certificate(&actor, &app).await?;
    Ok(Json(AppView::new(&app, &state.public_url)))
}
