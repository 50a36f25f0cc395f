//! The usernamemixed endpoints: a user name and password in the RST's security header.

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use tessera_auth::authenticate::{PasswordAccepted, PasswordOutcome};
use tessera_core::Application;
use tessera_core::app::ENTRA_RELYING_PARTY;
use tessera_core::policy::{AuthnContext, Factor};
use tessera_protocols::wstrust::TrustVersion;
use tessera_protocols::wstrust::fault::TrustFault;
use tessera_protocols::wstrust::request::{TokenRequest, parse_request};

use super::{Answering, Refusal, connector, issue_for_user, refuse, refuse_unread, transport_action, version_of};
use crate::error::{AppError, Soap, Text};
use crate::shell::context::RequestContext;
use crate::sign_on::Trace;
use crate::state::AppState;

/// A usernamemixed endpoint; which WS-Trust it speaks is in its path.
pub(super) async fn usernamemixed(
    State(state): State<AppState>,
    ctx: RequestContext,
    matched: MatchedPath,
    Path(idp_path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError<Text>> {
    let version = version_of(matched.as_str());
    let app = connector(&state, &idp_path).await?;
    let request = match parse_request(&body, version, transport_action(&headers).as_deref()) {
        Ok(request) => request,
        Err(fault) => return Ok(refuse_unread(&state, &ctx, &app, &body, version, fault).await),
    };
    let channel = Soap { soap: request.soap, trust: version, relates_to: request.message_id.clone() };
    Ok(match answer(&state, &ctx, &app, &request, &body).await {
        Ok(response) => response,
        Err(refusal) => refuse(&state, &ctx, &app, channel, Some(&request.username), refusal).await,
    })
}

async fn answer(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    request: &TokenRequest,
    body: &[u8],
) -> Result<Response, Refusal> {
    let endpoints = app.endpoints(&state.public_url);
    let endpoint_url = match request.trust {
        TrustVersion::V13 => endpoints.wstrust_13_usernamemixed,
        TrustVersion::Feb2005 => endpoints.wstrust_2005_usernamemixed,
    }
    .unwrap_or_default();
    let now = state.clock.now_millis();
    let skew = state.signin.clock_skew_ms;
    request.check(now, skew, &endpoint_url, &[ENTRA_RELYING_PARTY])?;

    // A turn at the password gate before anything is written: a request refused as busy
    // leaves no replay record behind, so the client's retry is not taken for a replay.
    let turn = state.signin.password_gate.turn().await?;
    // Replay: a message is accepted once, by its MessageID, or by its bytes when it has none.
    let replay_scope = format!("wstrust:{}", app.id);
    if !state
        .replay
        .remember_message_id(&replay_scope, &request.replay_key(body), request.remember_until(now, skew), now)
        .await?
    {
        return Err(TrustFault::MessageExpired("this message was received before".into()).into());
    }

    let Ok(from) = ctx.client() else {
        return Err(TrustFault::InvalidRequest("the forwarding header could not be read".into()).into());
    };
    // The RST as it was read, never its password, for the sign-in's trace.
    let trace = Trace::of(json!({
        "protocol": "wstrust", "trust": request.trust.name(), "soap": request.soap.name(),
        "username": request.username, "applies_to": request.applies_to, "message_id": request.message_id,
    }));
    let mut authenticator = state.authenticator();
    authenticator.trace = Some(trace.id.clone());
    let PasswordAccepted { user, has_second_factor } = match authenticator
        .check_password_in_turn(turn, from, &request.username, &request.password, "wstrust")
        .await?
    {
        PasswordOutcome::Accepted(accepted) => *accepted,
        PasswordOutcome::Failed => {
            return Err(Refusal::audited(TrustFault::FailedAuthentication(
                "The user name or password is incorrect, or the account cannot sign in now.".into(),
            )));
        }
        PasswordOutcome::ChangeAtSource(_) => {
            return Err(Refusal::audited(TrustFault::FailedAuthentication(
                "The password must be changed in the organization's directory before signing in.".into(),
            )));
        }
        PasswordOutcome::Throttled => {
            return Err(Refusal::audited(TrustFault::FailedAuthentication(
                "There have been too many failed sign-ins from this network; wait a few minutes.".into(),
            )));
        }
    };
    let authn = AuthnContext::default().with(Factor::Password, now);
    let answering = Answering {
        soap: request.soap,
        trust: request.trust,
        message_id: request.message_id.as_deref(),
        applies_to: &request.applies_to,
    };
    let how = json!({"second_factor_enrolled": has_second_factor});
    issue_for_user(state, app, &user, &authn, from, &answering, &trace, how).await
}
