//! The admin portal under `/admin`: administrators sign in with their own session cookie
//! (`tessera_admin`, `Path=/admin`, `SameSite=Strict`) and work through the admin service, as
//! the CLI and the REST API do. Screens use the seed document's words ("SSO Applications").
//! Every page but the sign-in needs a live admin session; a one-time password must be changed
//! before anything else.

mod applications;
mod pages;
mod signin;

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};
use tessera_store::AdminSession;

use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages::redirect;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { redirect("/admin/applications", &[]) }))
        .route("/admin/login", get(signin::page).post(signin::submit))
        .route("/admin/password", get(signin::password_page).post(signin::change_password))
        .route("/admin/logout", post(signin::sign_out))
        .route("/admin/applications", get(applications::list))
}

/// Where a request that needs an administrator goes instead.
enum Gate {
    /// No live admin session: to the sign-in page.
    SignIn,
    /// Signed in with the one-time password: to the page that changes it.
    ChangePassword,
}

impl Gate {
    fn response(self) -> Response {
        match self {
            Gate::SignIn => redirect("/admin/login", &[]),
            Gate::ChangePassword => redirect("/admin/password", &[]),
        }
    }
}

/// The signed-in administrator of this request, whatever their password.
async fn session(state: &AppState, ctx: &RequestContext) -> Result<Option<(AdminSession, String)>, AppError> {
    let Some(id) = &ctx.admin_session_id else { return Ok(None) };
    Ok(state.admin_sign_in().current(id).await?.map(|session| (session, id.clone())))
}

/// The signed-in administrator with a password of their own, or where to go instead.
async fn administrator(state: &AppState, ctx: &RequestContext) -> Result<Result<AdminSession, Gate>, AppError> {
    Ok(match session(state, ctx).await? {
        None => Err(Gate::SignIn),
        Some((session, _)) if session.admin.must_change_password => Err(Gate::ChangePassword),
        Some((session, _)) => Ok(session),
    })
}
