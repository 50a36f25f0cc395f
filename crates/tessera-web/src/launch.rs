//! Opening an application from the user portal (`/launch/{app}`): a sign-on like any other,
//! decided by the authorization rule and the app's policy, then a redirect to where the app
//! starts: its URL (a bookmark), Microsoft's sign-in page for the domain (a connector, since
//! Entra takes no unsolicited response), or the IdP-initiated endpoint of its protocol.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;
use tessera_core::policy::Demand;
use tessera_core::{Actor, AppId, AppKind, Application, AuditAction, NewAuditEvent};
use tessera_store::{StoreError, TokenRecord, TokenRecorded};

use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::sign_on::{self, Denial, PendingSignOn, Step, Trace};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/launch/{app}", get(launch))
}

async fn launch(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let Ok(app_id) = app.parse::<AppId>() else { return Err(AppError::no_such_app()) };
    // The app must exist before anything is parked for it: no writes for made-up ids.
    let app = match state.apps.find_app(&app_id.to_string()).await {
        Ok(app) => app,
        Err(StoreError::NotFound { .. }) => return Err(AppError::no_such_app()),
        Err(e) => return Err(e.into()),
    };
    let pending = PendingSignOn {
        app: app.id,
        demand: Demand::default(),
        login_hint: None,
        received_at: state.clock.now_millis(),
        trace: Trace::of(json!({"protocol": "launch", "from": "user portal"})),
        reply: (),
    };
    continue_launch(&state, &ctx, &app, pending, false).await
}

/// Opens `app` for the browser's user, or sends them to sign in first. `after_form`: the
/// browser comes from one of our forms (a sign-in resumed), whose CSP (`form-action 'self'`)
/// browsers apply to the redirects that follow it: an application on another site is then
/// opened by a page that goes there itself.
pub async fn continue_launch(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    pending: PendingSignOn<()>,
    after_form: bool,
) -> Result<Response, AppError> {
    let denial = Denial { action: AuditAction::SigninDenied, extra: json!({}) };
    let go = match sign_on::proceed(state, ctx, app, &pending, &denial).await? {
        Step::Issue(go) => *go,
        Step::Answered(response) => return Ok(response),
        Step::CannotBePassive | Step::DeniedPassively => return Err(AppError::internal("a launch is never passive")),
    };
    // Recorded as a token is: the session may be what this node read a moment ago.
    let event = NewAuditEvent::new(AuditAction::SigninLaunch, "app", app.id, go.issued_summary(|_| {}));
    let actor = Actor::user(go.current.user.id);
    let launch = TokenRecord { session: &go.current.session.id_hash, claim: None, actor: &actor, event };
    match state.replay.record_token(launch).await? {
        TokenRecorded::Written => {}
        TokenRecorded::Replayed => {
            return Err(AppError::internal("a launch without a request ID came back as a replay"));
        }
        TokenRecorded::SessionEnded => {
            return sign_on::session_ended(state, ctx, app, AuditAction::SigninDenied).await;
        }
    }
    let endpoints = app.endpoints(&state.public_url);
    let away = |url: &str| match after_form {
        true => pages::opening(&app.label, url),
        false => pages::redirect(url, &[]),
    };
    match (&app.kind, endpoints.saml_sso) {
        (AppKind::Bookmark { url }, _) => Ok(away(url)),
        // Entra takes no unsolicited response: its sign-in page for the domain (the Login URL)
        // starts an SP-initiated sign-in that passes straight through.
        (AppKind::M365(c), _) => Ok(away(&c.login_url())),
        // IdP-initiated WS-Federation: a sign-in for the relying party's realm, answered at its
        // default reply URL.
        (AppKind::WsFed(c), _) => match endpoints.wsfed_passive {
            Some(passive) => Ok(pages::redirect(
                &format!("{passive}?wa=wsignin1.0&wtrealm={}", tessera_protocols::percent::encode(&c.realm)),
                &[],
            )),
            None => Err(AppError::no_such_app()),
        },
        // IdP-initiated SAML: the SSO endpoint posts an unsolicited response.
        (_, Some(sso)) => Ok(pages::redirect(&sso, &[])),
        (_, None) => Err(AppError::no_such_app()),
    }
}
