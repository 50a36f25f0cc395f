use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use serde::{Deserialize, Serialize};
use tessera_admin::{AppSpec, KeyOptions, MetadataProtocol, NewApp, PolicyChange};
use tessera_core::policy::MfaRequirement;
use tessera_core::{Actor, AppId, Authority};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiQuery};
use super::{PageParams, PageView};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{AccessView, AppView, GroupView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, create_app))
        .routes(routes!(get_app))
        .routes(routes!(delete_apps))
        .routes(routes!(app_groups))
        .routes(routes!(grant_from_app, revoke_from_app))
        .routes(routes!(check_access))
        .routes(routes!(rotate_certificate))
        .routes(routes!(set_policy))
        .routes(routes!(download_metadata))
        .routes(routes!(update_settings))
        .routes(routes!(federation_command))
        .routes(routes!(application_federation_command))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FederationCommandQuery {
    /// `wsfed` (default) or `saml`
    protocol: Option<String>,
    /// `graph` (default) or `msonline`
    style: Option<String>,
}

/// The PowerShell that federates a Microsoft 365 connector's domain, as plain text.
#[utoipa::path(get, path = "/apps/{app}/federation-command", tag = "apps",
    params(("app" = String, Path, description = "id or label"), FederationCommandQuery),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn federation_command(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(query): ApiQuery<FederationCommandQuery>,
) -> Result<Response, ApiError> {
    let protocol = query.protocol.as_deref().unwrap_or("wsfed").parse::<tessera_m365::Protocol>();
    let protocol = protocol.map_err(|e| ApiError::invalid("protocol", e.to_string()))?;
    let style = query.style.as_deref().unwrap_or("graph").parse::<tessera_m365::Style>();
    let style = style.map_err(|e| ApiError::invalid("style", e.to_string()))?;
    let (_, powershell) = state.admin.federation_command(&key, protocol, style).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], powershell).into_response())
}

/// The same, at the address the seed product documents (`/applications/{id}/…`).
#[utoipa::path(get, path = "/applications/{app}/federation-command", tag = "apps",
    params(("app" = String, Path, description = "id or label"), FederationCommandQuery),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn application_federation_command(
    state: State<AppState>,
    key: Path<String>,
    query: ApiQuery<FederationCommandQuery>,
) -> Result<Response, ApiError> {
    federation_command(state, key, query).await
}

/// Changes the app's sign-in settings. Fields left out stay as they are; fields that do not
/// apply to the app's kind are refused. `attributes` is a list of `{"name", "source"}` with
/// `source` one of id, email, upn, first_name, last_name, display_name, immutable_id.
#[utoipa::path(patch, path = "/apps/{app}/settings", tag = "apps",
    request_body(content = Object, description = "attributes, login_url, require_signed_requests, entra_certificate, device_realms (m365); attributes, name_id_format, name_id_source, sign_assertion, sign_response, allow_sha1 (saml)"),
    params(("app" = String, Path, description = "id or label")),
    responses((status = 200, body = AppView), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn update_settings(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
    ApiJson(change): ApiJson<tessera_core::SettingsChange>,
) -> Result<Json<AppView>, ApiError> {
    let app = state.admin.change_settings(&actor, &key, &change).await?;
    Ok(Json(AppView::new(&app, &state.public_url)))
}

/// The app's SAML IdP metadata as a file (the seed product's "Export Metadata").
#[utoipa::path(get, path = "/apps/{app}/metadata", tag = "apps", params(("app" = String, Path, description = "id or label")),
    responses((status = 200, content_type = "application/samlmetadata+xml", body = String), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn download_metadata(State(state): State<AppState>, Path(key): Path<String>) -> Result<Response, ApiError> {
    let metadata = state.admin.metadata(&key, MetadataProtocol::Saml).await?;
    Ok(crate::shell::pages::metadata_document(metadata.xml, Some(&metadata.file_name)))
}

/// The policy: `require_mfa`, `phishing_resistant` (a passkey the only second factor taken;
/// implies `require_mfa`), `passwordless` (a passkey alone signs in) and `allowed_networks`
/// (CIDR strings; empty for anywhere). The passkey settings, left out, stay as they are (a
/// client written before them does not turn them off); `require_mfa: false` turns every second
/// factor off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPolicy {
    pub require_mfa: bool,
    #[serde(default)]
    pub phishing_resistant: Option<bool>,
    #[serde(default)]
    pub passwordless: Option<bool>,
    #[serde(default)]
    pub allowed_networks: Vec<String>,
}

#[utoipa::path(put, path = "/apps/{app}/policy", tag = "apps", request_body = SetPolicy,
    params(("app" = String, Path, description = "id or label")),
    responses((status = 200, body = AppView), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_policy(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<SetPolicy>,
) -> Result<Json<AppView>, ApiError> {
    let current = state.admin.find_app(&key).await?.policy.mfa_requirement();
    let require_mfa = match (body.phishing_resistant, body.require_mfa) {
        (Some(true), _) => MfaRequirement::PhishingResistant,
        (_, false) => MfaRequirement::No,
        (None, true) if current == MfaRequirement::PhishingResistant => current,
        (_, true) => MfaRequirement::Yes,
    };
    let change = PolicyChange {
        require_mfa: Some(require_mfa),
        passwordless: body.passwordless,
        allowed_networks: Some(body.allowed_networks),
    };
    let app = state.admin.set_policy(&actor, &key, &change).await?;
    Ok(Json(AppView::new(&app, &state.public_url)))
}

/// The kind decides which of `domain` (m365), `sp_metadata` (saml) or `url` (bookmark) is needed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// `m365`, `saml`, `wsfed` or `bookmark`.
    pub kind: String,
    /// Required except for m365, which defaults to "Microsoft 365 (domain)".
    pub label: Option<String>,
    pub description: Option<String>,
    pub show_in_portal: Option<bool>,
    /// The User Portal image: a `data:` URI of a PNG, JPEG or WebP (base64), at most 1 MiB
    /// decoded. It is checked by decoding and kept as Tessera's own PNG re-encoding.
    pub portal_image: Option<String>,
    pub domain: Option<String>,
    /// m365: the path segment of the connector's endpoints (default: the domain), fixed once
    /// created.
    pub idp_path: Option<String>,
    /// Sign-in settings, as `PATCH /apps/{app}/settings` takes them.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<tessera_core::SettingsChange>,
    /// The service provider's SAML 2.0 metadata XML.
    pub sp_metadata: Option<String>,
    /// wsfed: the relying party's realm.
    pub realm: Option<String>,
    /// wsfed: where tokens may be posted (https), the first the default.
    pub reply_urls: Option<Vec<String>>,
    pub url: Option<String>,
    /// RSA key size for apps that sign: 2048 (default), 3072 or 4096.
    pub key_bits: Option<u32>,
    /// Certificate validity in days (default 1095, three years).
    pub certificate_validity_days: Option<u32>,
}

/// Options for a new signing key.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateCertificate {
    pub key_bits: Option<u32>,
    pub certificate_validity_days: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteApps {
    pub ids: Vec<String>,
    /// Must equal the number of ids: the admin confirms how many applications go.
    pub confirm_count: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedApps {
    pub deleted: usize,
}

fn required(value: Option<String>, field: &str, kind: &str) -> Result<String, ApiError> {
    value.ok_or_else(|| ApiError::invalid(field, format!("{field} is required for a {kind} application")))
}

/// The bytes of a `data:image/…;base64,…` URI; what they are is the admin service's to check.
fn data_uri_bytes(uri: &str) -> Result<Vec<u8>, ApiError> {
    let malformed = || ApiError::invalid("portal_image", "must be a data: URI of a PNG, JPEG or WebP image, in base64");
    let rest = uri.strip_prefix("data:image/").ok_or_else(malformed)?;
    let (_, encoded) = rest.split_once(";base64,").ok_or_else(malformed)?;
    base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| malformed())
}

/// The request as the admin service takes it: which fields a kind needs is decided here, the
/// rules about their values there.
fn new_app(body: CreateApp) -> Result<NewApp, ApiError> {
    if body.idp_path.is_some() && body.kind != "m365" {
        return Err(ApiError::invalid("idp_path", "only a Microsoft 365 connector has an IdP URL path"));
    }
    let spec = match body.kind.as_str() {
        "m365" => AppSpec::M365 { domain: required(body.domain, "domain", "m365")?, idp_path: body.idp_path },
        "saml" => AppSpec::Saml { sp_metadata: required(body.sp_metadata, "sp_metadata", "saml")?.into_bytes() },
        "wsfed" => AppSpec::WsFed {
            realm: required(body.realm, "realm", "wsfed")?,
            reply_urls: body.reply_urls.unwrap_or_default(),
        },
        "bookmark" => AppSpec::Bookmark { url: required(body.url, "url", "bookmark")? },
        other => {
            return Err(ApiError::invalid(
                "kind",
                format!("unknown kind {other:?}: use m365, saml, wsfed or bookmark"),
            ));
        }
    };
    Ok(NewApp {
        spec,
        label: body.label,
        description: body.description,
        portal_image: body.portal_image.as_deref().map(data_uri_bytes).transpose()?,
        show_in_portal: body.show_in_portal.unwrap_or(true),
        settings: body.settings.unwrap_or_default(),
        key: KeyOptions { bits: body.key_bits, validity_days: body.certificate_validity_days },
    })
}

#[utoipa::path(get, path = "/apps", tag = "apps", params(PageParams), responses((status = 200, body = PageView<AppView>)))]
async fn list_apps(
    State(state): State<AppState>,
    Extension(authority): Extension<Authority>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageView<AppView>>, ApiError> {
    let page = state.admin.list_apps(&page.to_request()?).await?;
    // An application administrator's page holds only their applications (it may come out
    // shorter than the limit, or empty, with a cursor to go on).
    Ok(Json(PageView {
        items: page
            .items
            .iter()
            .filter(|a| authority.sees_app(a.id))
            .map(|a| AppView::new(a, &state.public_url))
            .collect(),
        next: page.next,
    }))
}

#[utoipa::path(post, path = "/apps", tag = "apps", request_body = CreateApp,
    responses((status = 201, body = AppView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_app(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(body): ApiJson<CreateApp>,
) -> Result<(StatusCode, Json<AppView>), ApiError> {
    let app = state.admin.create_app(&actor, new_app(body)?).await?;
    Ok((StatusCode::CREATED, Json(AppView::new(&app, &state.public_url))))
}

#[utoipa::path(get, path = "/apps/{app}", tag = "apps", params(("app" = String, Path, description = "id or label")),
    responses((status = 200, body = AppView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_app(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<AppView>, ApiError> {
    Ok(Json(AppView::new(&state.admin.find_app(&key).await?, &state.public_url)))
}

/// Deletes every application named, or none: `confirm_count` must equal the number of ids.
#[utoipa::path(post, path = "/apps/delete", tag = "apps", request_body = DeleteApps,
    responses((status = 200, body = DeletedApps), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn delete_apps(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(body): ApiJson<DeleteApps>,
) -> Result<Json<DeletedApps>, ApiError> {
    let ids = body
        .ids
        .iter()
        .map(|id| id.parse::<AppId>().map_err(|_| ApiError::invalid("ids", format!("{id:?} is not an application id"))))
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = state.admin.delete_apps(&actor, &ids, body.confirm_count).await?;
    Ok(Json(DeletedApps { deleted }))
}

#[utoipa::path(get, path = "/apps/{app}/groups", tag = "apps", params(("app" = String, Path, description = "id or label")),
    responses((status = 200, body = Vec<GroupView>), (status = 404, body = crate::error::ErrorBody)))]
async fn app_groups(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<Vec<GroupView>>, ApiError> {
    let (_, groups) = state.admin.granted_groups(&key).await?;
    Ok(Json(groups.iter().map(GroupView::from).collect()))
}

pub(super) async fn grant(state: &AppState, actor: &Actor, app: &str, group: &str) -> Result<StatusCode, ApiError> {
    let (_, _, created) = state.admin.grant(actor, app, group).await?;
    Ok(if created { StatusCode::CREATED } else { StatusCode::NO_CONTENT })
}

pub(super) async fn revoke(state: &AppState, actor: &Actor, app: &str, group: &str) -> Result<StatusCode, ApiError> {
    state.admin.revoke(actor, app, group).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Authorizes the group's users for the app. 201 when granted now, 204 when it was already.
#[utoipa::path(put, path = "/apps/{app}/groups/{group}", tag = "apps",
    params(("app" = String, Path, description = "id or label"), ("group" = String, Path, description = "id or name")),
    responses((status = 201), (status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn grant_from_app(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    grant(&state, &actor, &app, &group).await
}

#[utoipa::path(delete, path = "/apps/{app}/groups/{group}", tag = "apps",
    params(("app" = String, Path, description = "id or label"), ("group" = String, Path, description = "id or name")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_from_app(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    revoke(&state, &actor, &app, &group).await
}

/// Whether the user may use the app now, and why.
#[utoipa::path(get, path = "/apps/{app}/access/{user}", tag = "apps",
    params(("app" = String, Path, description = "id or label"), ("user" = String, Path, description = "id, email or UPN")),
    responses((status = 200, body = AccessView), (status = 404, body = crate::error::ErrorBody)))]
async fn check_access(
    State(state): State<AppState>,
    Path((app, user)): Path<(String, String)>,
) -> Result<Json<AccessView>, ApiError> {
    let (app, user, decision) = state.admin.check_access(&app, &user).await?;
    Ok(Json(AccessView::new(&user, &app, &decision)))
}

/// Replaces the app's signing key and certificate, in use at once (the old key is destroyed):
/// sign-ins break until the relying party has the new certificate.
#[utoipa::path(post, path = "/apps/{app}/certificate/rotate", tag = "apps", request_body = RotateCertificate,
    params(("app" = String, Path, description = "id or label")),
    responses((status = 200, body = AppView), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn rotate_certificate(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<RotateCertificate>,
) -> Result<Json<AppView>, ApiError> {
    let options = KeyOptions { bits: body.key_bits, validity_days: body.certificate_validity_days };
    let app = state.admin.rotate_key(&actor, &key, options).await?;
    Ok(Json(AppView::new(&app, &state.public_url)))
}
