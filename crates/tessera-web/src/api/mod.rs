//! The admin REST API, `/api/v1`: bearer API tokens, one JSON error shape, keyset pagination,
//! and its own OpenAPI document at `/api/v1/openapi.json`. Every route parses, calls the admin
//! service and renders.

mod admins;
mod apps;
mod audit;
mod certificates;
mod extract;
mod groups;
mod users;

use axum::Router;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tessera_store::PageRequest;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

pub use extract::MAX_BODY_BYTES;

use crate::error::ApiError;
use crate::shell::reach;
use crate::state::AppState;
use tessera_core::Refusal;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera admin API", description = "Users, groups, memberships, applications, grants and audit."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The API's routes and its OpenAPI document, which is built from the same route table.
pub fn router(state: AppState) -> Router<AppState> {
    let (protected, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(users::router())
        .merge(groups::router())
        .merge(apps::router())
        .merge(certificates::router())
        .merge(audit::router())
        .merge(admins::router())
        .split_for_parts();
    let mut openapi = openapi;
    openapi.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    // Kept as its JSON text: the document's tree of values would hold several times the memory
    // for as long as the process lives, and be written out again at every request.
    let document = axum::body::Bytes::from(serde_json::to_vec(&openapi).unwrap_or_default());
    protected
        .layer(axum::middleware::from_fn_with_state(state, require_token))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route("/openapi.json", get(move || async move { ([(header::CONTENT_TYPE, "application/json")], document) }))
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API route")
}

/// Admits a request that carries a live API token whose role reaches what the route touches
/// (`shell::reach`: beyond its reach is 404 whether the object exists or not, an action the
/// role lacks is 403), and hands its actor and authority to the handler.
async fn require_token(
    State(state): State<AppState>,
    matched: MatchedPath,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    let (actor, authority) = state.admin.api_token_principal(presented).await?.ok_or_else(ApiError::unauthorized)?;
    let params: Vec<(String, String)> = params.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    if let Some(requested) = reach::requested(request.method(), matched.as_str(), &params) {
        match reach::authorize(&state, &authority, &requested).await {
            Ok(()) => {}
            Err(Refusal::Hidden) => {
                return Err(ApiError::not_found("no such object, or not within this token's reach"));
            }
            Err(Refusal::Forbidden) => {
                return Err(ApiError::refused(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "Not allowed",
                    format!("a token with the {} role may not do this", authority.role),
                ));
            }
        }
    }
    request.extensions_mut().insert(actor);
    request.extensions_mut().insert(authority);
    Ok(next.run(request).await)
}

/// `?limit=&after=`: at most `limit` items (1 to 1000, default 100) after the cursor `after`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    pub limit: Option<u32>,
    pub after: Option<String>,
}

impl PageParams {
    fn to_request(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(PageRequest::DEFAULT_LIMIT);
        if !(1..=PageRequest::MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be 1 to 1000"));
        }
        Ok(PageRequest { after: self.after.clone(), limit })
    }
}

/// One page of a list; `next` is the `after` cursor of the following page, null at the end.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageView<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}
