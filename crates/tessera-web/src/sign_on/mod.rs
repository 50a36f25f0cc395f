//! One sign-on flow for every protocol. A protocol module validates its request and describes
//! it as a [`PendingSignOn`]: which application, what the relying party demands (a fresh
//! password, a maximum age, a second factor, no page at all), and how to answer (its
//! [`Reply`]). [`proceed`] decides with the session: authorization, then the application's
//! policy, then freshness; it answers with a denial page, parks the request while the user signs
//! in or shows a second factor, or hands back to the protocol to issue its token. A parked
//! request resumes here, typed, and the router sends it back to its protocol by its reply.

mod parking;
pub mod tokens;
pub mod tracing_cache;

pub use parking::peek;

use std::net::IpAddr;

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_auth::session::Current;
use tessera_core::policy::{Demand, PolicyOutcome, decide, fresh_enough};
use tessera_core::{Actor, AppId, Application, AuditAction, AuditSummary, NewAuditEvent, SummaryWriter, UnixMillis};
use tessera_protocols::saml2::sso::SamlReply;
use tessera_protocols::wsfed::WsFedReply;
use tessera_store::StoreError;

use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::refusal::{Refusal, refuse};
use crate::shell::{pages, session};
use crate::state::AppState;

/// A token built for a session that ended (a sign-out on another node, say) or whose user was
/// suspended while the token was being made: not sent. The audit trail records the refusal
/// (`session_ended`) under the protocol's `action`, and the page says to sign in again.
pub async fn session_ended(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    action: AuditAction,
) -> Result<Response, AppError> {
    let refusal = Refusal { action, page: "session-ended" };
    let detail = "the session ended (signed out, or the account suspended) while the token was being made";
    refuse(state, ctx, app, &refusal, "session_ended", detail).await
}

/// A validated sign-on waiting to be answered; `R` is how it is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignOn<R = Reply> {
    pub app: AppId,
    pub demand: Demand,
    /// A name to pre-fill the sign-in form with (WS-Federation `username`).
    pub login_hint: Option<String>,
    /// When the request arrived: a fresh password must be shown after it.
    pub received_at: UnixMillis,
    /// What ties this sign-on's audit events together, and the request as it was read.
    #[serde(default)]
    pub trace: Trace,
    pub reply: R,
}

/// A sign-on's trace: an id every audit event of the sign-on carries (the admin portal shows
/// them as one trace), and the request as it was read (never a password), which the event that
/// ends the sign-on carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Trace {
    pub id: String,
    pub request: serde_json::Value,
}

impl Trace {
    /// A new trace of a request read as `request`. Without a random source (never seen) it has
    /// no id, as a request parked by an older release: its events are then not tied together.
    pub fn of(request: serde_json::Value) -> Trace {
        Trace { id: tessera_auth::secret::unique_id().unwrap_or_default(), request }
    }

    /// The trace's id, where it has one (requests parked by an older release may not).
    pub fn known_id(&self) -> Option<String> {
        (!self.id.is_empty()).then(|| self.id.clone())
    }

    /// What an event's summary carries of the trace: its id, where it has one, and for an
    /// `ending` event the request too.
    fn carried(&self, ending: bool) -> Option<(&str, Option<&serde_json::Value>)> {
        (!self.id.is_empty()).then(|| (self.id.as_str(), (ending && !self.request.is_null()).then_some(&self.request)))
    }

    /// Adds the trace id to an event's summary; `ending` events carry the request too.
    pub fn mark(&self, summary: &mut serde_json::Value, ending: bool) {
        let (Some((id, request)), Some(summary)) = (self.carried(ending), summary.as_object_mut()) else { return };
        summary.insert("trace".into(), json!(id));
        if let Some(request) = request {
            summary.insert("request".into(), request.clone());
        }
    }

    /// As [`mark`](Self::mark), for a summary written member by member.
    pub fn mark_written(&self, summary: &mut SummaryWriter, ending: bool) {
        if let Some((id, request)) = self.carried(ending) {
            summary.field("trace", id);
            if let Some(request) = request {
                summary.field("request", request);
            }
        }
    }
}

/// How a sign-on is answered, by protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
pub enum Reply {
    /// The user portal opens the application.
    Launch,
    Saml(SamlReply),
    WsFed(WsFedReply),
}

impl From<()> for Reply {
    fn from((): ()) -> Self {
        Reply::Launch
    }
}

impl From<SamlReply> for Reply {
    fn from(reply: SamlReply) -> Self {
        Reply::Saml(reply)
    }
}

impl From<WsFedReply> for Reply {
    fn from(reply: WsFedReply) -> Self {
        Reply::WsFed(reply)
    }
}

impl Reply {
    /// What the parked row says is waiting, for whoever reads the table.
    fn name(&self) -> &'static str {
        match self {
            Reply::Launch => "launch",
            Reply::Saml(_) => "saml",
            Reply::WsFed(_) => "wsfed",
        }
    }
}

impl<R> PendingSignOn<R> {
    /// The same sign-on, answered by `reply`.
    pub fn with_reply<T>(self, reply: T) -> PendingSignOn<T> {
        PendingSignOn {
            app: self.app,
            demand: self.demand,
            login_hint: self.login_hint,
            received_at: self.received_at,
            trace: self.trace,
            reply,
        }
    }

    /// Its reply, and the sign-on without it.
    pub fn take_reply(self) -> (PendingSignOn<()>, R) {
        let PendingSignOn { app, demand, login_hint, received_at, trace, reply } = self;
        (PendingSignOn { app, demand, login_hint, received_at, trace, reply: () }, reply)
    }
}

/// How a protocol's denials are audited: its action, and what its rows carry besides the user,
/// the address and the reason (a SAML request's ID, say).
pub struct Denial {
    pub action: AuditAction,
    pub extra: serde_json::Value,
}

/// The session serves and the application may be opened.
pub struct Go {
    pub current: Current,
    pub client: IpAddr,
    pub trace: Trace,
}

impl Go {
    /// The summary of the event that ends the sign-on with a token: the user, the address,
    /// whether a second factor was shown, the session's age, the trace with its request, and
    /// what the protocol adds (`extra`). Written member by member, not built as a `Value` first
    /// (`tessera_core::audit_summary`): every token writes one.
    pub fn issued_summary(&self, extra: impl FnOnce(&mut SummaryWriter)) -> AuditSummary {
        let mut summary = SummaryWriter::new();
        summary
            .field("user_id", &format_args!("{}", self.current.user.id))
            .field("ip", &format_args!("{}", self.client))
            .field("mfa", &self.current.session.authn.mfa_done())
            .field("session_since", &self.current.session.created_at);
        // Before the protocol's members, which cannot then hide the trace (a key keeps its
        // first value).
        self.trace.mark_written(&mut summary, true);
        extra(&mut summary);
        summary.finish()
    }
}

/// What the protocol does next.
pub enum Step {
    /// Issue the token.
    Issue(Box<Go>),
    /// A request that must show no page cannot be answered without one: the protocol says so
    /// (SAML `NoPassive`).
    CannotBePassive,
    /// Denied where no page may be shown (audited already): the protocol says so (SAML
    /// `RequestDenied`).
    DeniedPassively,
    /// Answered already: the sign-in form, enrolment of a second factor, or a denial page.
    Answered(Response),
}

/// Decides `pending` with the browser's session: answers it, parks it while the user signs in
/// or shows a second factor, or says to issue.
pub async fn proceed<R: Clone + Into<Reply>>(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    pending: &PendingSignOn<R>,
    denial: &Denial,
) -> Result<Step, AppError> {
    // What the session allows here ends in a token, whose record checks the session again; a
    // denial, a parked request or a launch's redirect shows nothing the session protects.
    let current = session::current_for_token(state, ctx).await?;
    let now = state.clock.now_millis();
    let demand = &pending.demand;
    match current {
        Some(current)
            if current.is_signed_in() && fresh_enough(demand, &current.session.authn, pending.received_at, now) =>
        {
            decide_for(state, ctx, app, pending, denial, current).await
        }
        _ if demand.passive => Ok(Step::CannotBePassive),
        current => {
            // A session that is live but too old (or a request demanding a fresh sign-in)
            // needs the form, not just a resume.
            let form = demand.wants_the_form(current.is_some_and(|c| c.session.complete));
            let (id, cookies) = parking::park(state, ctx, pending).await?;
            let mut target = format!("/login?continue={id}");
            if form {
                target.push_str("&fresh=1");
            }
            if let Some(hint) = &pending.login_hint {
                target.push_str("&username=");
                target.push_str(&tessera_protocols::percent::encode(hint));
            }
            Ok(Step::Answered(pages::redirect(&target, &cookies)))
        }
    }
}

/// Authorization, then the app's policy with the relying party's demand on top.
async fn decide_for<R: Clone + Into<Reply>>(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    pending: &PendingSignOn<R>,
    denial: &Denial,
    current: Current,
) -> Result<Step, AppError> {
    let client = ctx.client()?.client;
    let access = state.access.check_access(current.user.id, app.id).await?;
    let access = tessera_core::access::for_app(access, &app.kind, &current.user.upn);
    match decide(&access, &pending.demand.on(&app.policy), client, &current.session.authn) {
        PolicyOutcome::Deny(reason) => {
            audit_denial(state, app, pending, denial, &current, client, reason.as_str()).await?;
            Ok(match pending.demand.passive {
                // A passive request must not take over the screen: the relying party hears it.
                true => Step::DeniedPassively,
                false => Step::Answered(pages::say_with(
                    StatusCode::FORBIDDEN,
                    "denied-title",
                    &format!("denied-{}", reason.as_str()),
                    &[],
                )),
            })
        }
        PolicyOutcome::NeedSecondFactor | PolicyOutcome::NeedPasskey | PolicyOutcome::NeedPassword
            if pending.demand.passive =>
        {
            Ok(Step::CannotBePassive)
        }
        PolicyOutcome::NeedPassword => {
            // Signed in with a passkey alone, to an app that takes a password too.
            let (id, cookies) = parking::park(state, ctx, pending).await?;
            let target = format!(
                "/login?continue={id}&fresh=1&username={}",
                tessera_protocols::percent::encode(&current.user.email)
            );
            Ok(Step::Answered(pages::redirect(&target, &cookies)))
        }
        PolicyOutcome::NeedPasskey => {
            // A passkey the only second factor the app takes: show one, or learn where to add one.
            if !has_usable_passkeys(state, &current).await? {
                audit_denial(state, app, pending, denial, &current, client, "passkey_required").await?;
                return Ok(Step::Answered(pages::passkey_required(state.relying_party.is_some())));
            }
            let (id, cookies) = parking::park(state, ctx, pending).await?;
            Ok(Step::Answered(pages::redirect(&format!("/login/mfa?continue={id}&passkey=1"), &cookies)))
        }
        PolicyOutcome::NeedSecondFactor => {
            // The user has no second factor yet (those who have one show it at sign-in), or
            // signed in without one: enrol or show it (a passkey added since), then come back.
            let (id, cookies) = parking::park(state, ctx, pending).await?;
            let target = match has_usable_passkeys(state, &current).await? {
                true => format!("/login/mfa?continue={id}&again=1"),
                false => format!("/mfa/totp?continue={id}"),
            };
            Ok(Step::Answered(pages::redirect(&target, &cookies)))
        }
        PolicyOutcome::Allow => Ok(Step::Issue(Box::new(Go { current, client, trace: pending.trace.clone() }))),
    }
}

/// Whether the user can show a passkey here: they have one, and the server is a WebAuthn
/// relying party.
async fn has_usable_passkeys(state: &AppState, current: &Current) -> Result<bool, AppError> {
    Ok(state.relying_party.is_some() && !state.passkeys.passkeys(current.user.id).await?.is_empty())
}

/// The audit record of a sign-on denied by the app's policy: the user, the address, why, what
/// the protocol adds, and the trace.
async fn audit_denial<R>(
    state: &AppState,
    app: &Application,
    pending: &PendingSignOn<R>,
    denial: &Denial,
    current: &Current,
    client: IpAddr,
    reason: &str,
) -> Result<(), AppError> {
    let mut summary = json!({"user_id": current.user.id.to_string(), "ip": client.to_string(), "reason": reason});
    if let (Some(summary), Some(extra)) = (summary.as_object_mut(), denial.extra.as_object()) {
        summary.extend(extra.clone());
    }
    if pending.demand.passive {
        summary["passive"] = json!(true);
    }
    pending.trace.mark(&mut summary, true);
    let event = NewAuditEvent::new(denial.action, "app", app.id, summary);
    state.audit.append_audit(&Actor::user(current.user.id), event).await?;
    Ok(())
}

/// A parked sign-on, taken back by the browser that parked it once its user signed in.
pub enum Resumed {
    /// The application, and the sign-on to answer.
    Ready(Box<(Application, PendingSignOn)>),
    Answered(Response),
}

pub async fn resume(state: &AppState, ctx: &RequestContext, id: &str) -> Result<Resumed, AppError> {
    let id = session::continue_id(id);
    match session::current(state, ctx).await? {
        Some(current) if current.is_signed_in() => {}
        _ => return Ok(Resumed::Answered(pages::redirect(&format!("/login?continue={id}"), &[]))),
    }
    let gone = || Resumed::Answered(pages::say(StatusCode::BAD_REQUEST, "resume-gone"));
    let Some(pending) = parking::take(state, ctx, &id).await? else { return Ok(gone()) };
    let app = match state.apps.find_app(&pending.app.to_string()).await {
        Ok(app) => app,
        Err(StoreError::NotFound { .. }) => return Ok(gone()),
        Err(e) => return Err(e.into()),
    };
    Ok(Resumed::Ready(Box::new((app, pending))))
}
