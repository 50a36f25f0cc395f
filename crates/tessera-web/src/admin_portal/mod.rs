//! The admin portal under `/admin`: administrators sign in with their own session cookie
//! (`tessera_admin`, `Path=/admin`, `SameSite=Strict`) and work through the admin service, as
//! the CLI and the REST API do. Screens use the seed document's words ("SSO Applications",
//! "+ Add New Application", "Save Application", "Export Metadata", "User Groups", "Delete
//! Application"). Every page but the sign-in needs a live admin session; a one-time password
//! must be changed before anything else.

mod administrators;
mod application;
mod applications;
mod audit;
mod branding;
mod catalog;
mod certificate;
mod chart;
mod dashboard;
mod doctor;
mod entra_users;
mod federation;
mod form;
mod groups;
mod import;
mod mfa;
mod pages;
mod sign_ins;
mod signin;
mod sso;
mod users;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use tessera_core::{Actor, Refusal};
use tessera_store::AdminSession;

use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages::{html, redirect};
use crate::shell::reach;
use crate::shell::session::{csrf_token, require_our_form};
use crate::state::AppState;
use form::Fields;

/// Every route of the portal, in one table: the router is built from it, and the tests sweep it
/// (so no route can be added without its refusal being tested).
fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/admin", get(home)),
        ("/admin/login", get(signin::page).post(signin::submit)),
        ("/admin/mfa", get(mfa::code_page).post(mfa::submit_code)),
        ("/admin/mfa/enrol", get(mfa::enrol).post(mfa::confirm_enrolment)),
        ("/admin/mfa/passkey", post(mfa::submit_passkey)),
        ("/admin/passkeys/new", post(mfa::begin_passkey)),
        ("/admin/passkeys/add", post(mfa::add_passkey)),
        ("/admin/password", get(signin::password_page).post(signin::change_password)),
        ("/admin/logout", post(signin::sign_out)),
        ("/admin/applications", get(applications::list)),
        ("/admin/applications/delete", post(applications::confirm_delete)),
        ("/admin/applications/delete/confirm", post(applications::delete)),
        ("/admin/applications/new", get(catalog::catalog)),
        ("/admin/applications/new/{kind}", get(catalog::form).post(catalog::save).layer(uploads())),
        ("/admin/applications/{app}", get(application::open)),
        (
            "/admin/applications/{app}/general",
            get(application::general).post(application::save_general).layer(uploads()),
        ),
        ("/admin/applications/{app}/sso", get(sso::sso).post(sso::save_sso)),
        ("/admin/applications/{app}/metadata", get(sso::export_metadata)),
        ("/admin/applications/{app}/regenerate", get(certificate::show).post(certificate::change)),
        ("/admin/applications/{app}/federation", get(federation::show).post(federation::change)),
        ("/admin/applications/{app}/entra-users", get(entra_users::show)),
        ("/admin/applications/{app}/doctor", get(doctor::show).post(doctor::run)),
        ("/admin/applications/{app}/groups", get(application::groups).post(application::save_groups)),
        ("/admin/applications/{app}/policy", get(application::policy).post(application::save_policy)),
        ("/admin/applications/{app}/sign-ins", get(sign_ins::sign_ins)),
        ("/admin/applications/{app}/sign-ins/{trace}", get(sign_ins::trace)),
        ("/admin/applications/{app}/tracing", post(sign_ins::set_tracing)),
        ("/admin/users", get(users::list)),
        ("/admin/users/new", get(users::new_form).post(users::create)),
        ("/admin/users/import", get(import::form).post(import::submit).layer(uploads())),
        ("/admin/users/{user}", get(users::show)),
        ("/admin/users/{user}/{action}", post(users::act)),
        ("/admin/administrators", get(administrators::list)),
        ("/admin/administrators/{admin}/role", post(administrators::set_role)),
        ("/admin/audit", get(audit::list)),
        ("/admin/microsoft-365", get(federation::credentials).post(federation::save_credentials)),
        ("/admin/dashboard", get(dashboard::show)),
        ("/admin/branding", get(branding::show).post(branding::save).layer(uploads())),
        ("/admin/groups", get(groups::list)),
        ("/admin/groups/new", post(groups::create)),
        ("/admin/groups/{group}", get(groups::show)),
        ("/admin/groups/{group}/apps", post(groups::save_apps)),
        ("/admin/groups/{group}/members", post(groups::add_member)),
        ("/admin/groups/{group}/members/remove", post(groups::remove_member)),
    ]
}

pub fn router(state: AppState) -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| router.route(path, methods))
        .route_layer(axum::middleware::from_fn_with_state(state, within_reach))
        .layer(axum::extract::DefaultBodyLimit::max(form::MAX_TEXT_FORM_BYTES))
}

/// Before any page or change: whether the signed-in administrator's role reaches what the
/// route touches (`shell::reach`). Beyond their reach is "not found" (whether it exists or
/// not); an action their role lacks on what they may see is 403. Without a finished sign-in
/// the handler sends the browser where it must go first.
async fn within_reach(
    axum::extract::State(state): axum::extract::State<AppState>,
    ctx: RequestContext,
    matched: axum::extract::MatchedPath,
    params: axum::extract::RawPathParams,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, AppError> {
    let params: Vec<(String, String)> = params.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    if let Some(requested) = reach::requested(request.method(), matched.as_str(), &params)
        && let Ok(session) = administrator(&state, &ctx).await?
    {
        let authority = state.admin.admin_authority(&session.admin).await?;
        match reach::authorize(&state, &authority, &requested).await {
            Ok(()) => {}
            Err(Refusal::Hidden) => {
                return Ok(render_message(&state, &ctx, StatusCode::NOT_FOUND, &session, "Not found", NOT_FOUND));
            }
            Err(Refusal::Forbidden) => {
                return Ok(render_message(&state, &ctx, StatusCode::FORBIDDEN, &session, "Not allowed", FORBIDDEN));
            }
        }
    }
    Ok(next.run(request).await)
}

const NOT_FOUND: &str = "There is nothing here, or it is not among what you administer.";
const FORBIDDEN: &str =
    "Your administrator role does not allow this. A full administrator can do it, or change your role.";

fn render_message(
    state: &AppState,
    ctx: &RequestContext,
    status: StatusCode,
    session: &AdminSession,
    title: &'static str,
    message: &'static str,
) -> Response {
    render(state, ctx, status, session, |frame| pages::MessagePage { frame, title, message })
}

/// The two forms that carry files take a larger body (and read it only after the session is
/// settled); every other form is text.
fn uploads() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(form::MAX_FORM_BYTES)
}

/// The portal's route templates, for the tests' sweep.
pub fn paths() -> Vec<&'static str> {
    routes().into_iter().map(|(path, _)| path).collect()
}

/// `/admin`: the SSO Applications list, or what must come first.
async fn home(
    axum::extract::State(state): axum::extract::State<AppState>,
    ctx: RequestContext,
) -> Result<Response, AppError> {
    Ok(match administrator(&state, &ctx).await? {
        Ok(_) => redirect("/admin/applications", &[]),
        Err(gate) => gate.response(),
    })
}

/// Where a request that needs an administrator goes instead.
enum Gate {
    /// No live admin session: to the sign-in page.
    SignIn,
    /// The password was right; the second factor is still to be shown (or enrolled).
    SecondFactor,
    /// Signed in with the one-time password: to the page that changes it.
    ChangePassword,
}

impl Gate {
    fn response(self) -> Response {
        match self {
            Gate::SignIn => redirect("/admin/login", &[]),
            Gate::SecondFactor => redirect("/admin/mfa", &[]),
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
        Some((session, _)) if !session.complete => Err(Gate::SecondFactor),
        Some((session, _)) if session.admin.must_change_password => Err(Gate::ChangePassword),
        Some((session, _)) => Ok(session),
    })
}

/// The signed-in administrator of a page, or the response that sends the browser where it must
/// go first (the sign-in, or the one-time password's replacement).
macro_rules! administrator_or_gate {
    ($state:expr, $ctx:expr) => {
        match $crate::admin_portal::administrator(&$state, &$ctx).await? {
            Ok(session) => session,
            Err(gate) => return Ok(gate.response()),
        }
    };
}

/// For a change: our form, and its administrator and actor, or where to go instead.
macro_rules! changing_or_gate {
    ($state:expr, $ctx:expr, $fields:expr) => {
        match $crate::admin_portal::changing(&$state, &$ctx, &$fields).await? {
            Ok(changing) => changing,
            Err(gate) => return Ok(gate.response()),
        }
    };
}

use {administrator_or_gate, changing_or_gate};

/// Renders a page behind the sign-in with this browser's form token (and its cookie, when the
/// browser has none yet).
fn render<P: askama::Template>(
    state: &AppState,
    ctx: &RequestContext,
    status: StatusCode,
    admin: &AdminSession,
    page: impl FnOnce(pages::Frame) -> P,
) -> Response {
    let (csrf, cookie) = csrf_token(state, ctx);
    let page = page(pages::Frame { csrf, admin: admin.admin.username.clone(), role: admin.admin.role });
    let mut response = html(status, &page, &cookie.into_iter().collect::<Vec<_>>());
    // The Copy buttons.
    crate::shell::pages::allow_own_scripts(&mut response);
    response
}

/// A change from the portal: our form (CSRF), by a signed-in administrator with a password of
/// their own, who is the change's actor.
async fn changing(
    state: &AppState,
    ctx: &RequestContext,
    fields: &Fields,
) -> Result<Result<(AdminSession, Actor), Gate>, AppError> {
    require_our_form(state, ctx, fields.one("csrf"))?;
    Ok(administrator(state, ctx).await?.map(|session| {
        let actor = Actor::admin(&session.admin.id);
        (session, actor)
    }))
}
