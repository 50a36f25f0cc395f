//! A Microsoft 365 connector's Federation tab: the domain as Graph has it now, the preflight
//! table, Enable / Disable / Take over (each shown as its dry run first, then confirmed), and
//! the certificate rollover timeline; and the page that stores the Graph credentials (sealed,
//! never shown again). Every Graph call goes through the admin service with the stored
//! credentials, as `tessera m365` does.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use tessera_admin::{AdminError, CredentialInput, EnableRequest, StoredCredentials};
use tessera_core::{Actor, AdminRole, Application};
use tessera_m365::Protocol;
use tessera_m365::federation::MfaBehavior;
use tessera_m365::graph::Graph;
use tessera_m365::preflight::Check;

use super::application::{refusal, said};
use super::certificate::TimelineView;
use super::form::Fields;
use super::pages::{Frame, Panel};
use super::{FORBIDDEN, administrator_or_gate, changing_or_gate, render, render_message};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::state::AppState;

/// A long value (a certificate) shortened for a table cell.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) if s.is_empty() => "—".into(),
        Value::String(s) if s.chars().count() > 48 => format!("{}…", s.chars().take(45).collect::<String>()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What an Enable or Disable would do, shown before it is confirmed.
pub struct Preview {
    /// `enable` or `disable`: what the confirm button does.
    pub action: &'static str,
    pub summary: String,
    /// Field, from, to.
    pub changes: Vec<(String, String, String)>,
    pub protocol: String,
    pub mfa: String,
    pub take_over: bool,
    /// Nothing would change: no confirm button.
    pub nothing: bool,
}

/// What Graph says about the connector's domain.
#[derive(Default)]
pub struct Live {
    pub authentication: String,
    /// Field and value of the federation configuration Graph holds.
    pub fields: Vec<(String, String)>,
    /// Field, Graph's value, the connector's.
    pub differences: Vec<(String, String, String)>,
    /// The issuer the domain is federated to when it is not this connector.
    pub foreign: Option<String>,
    pub checks: Vec<Check>,
    pub ready: bool,
    /// The protocol and MFA behaviour Graph has now (the form's defaults).
    pub protocol: String,
    pub mfa: String,
}

#[derive(Template)]
#[template(path = "admin_app_federation.html")]
pub struct FederationTab {
    pub frame: Frame,
    pub panel: Panel,
    pub domain: String,
    pub credentials: Option<StoredCredentials>,
    /// Graph could not be asked (or refused): why.
    pub graph_error: Option<String>,
    pub live: Live,
    pub preview: Option<Preview>,
    pub timeline: TimelineView,
}

/// The connector's domain; a page of any other application is not there.
pub(super) fn domain_of(app: &Application) -> Result<String, AppError> {
    app.kind
        .m365_domain()
        .map(str::to_string)
        .ok_or_else(|| AppError::not_found("Only a Microsoft 365 connector has this page."))
}

/// The domain's state and the preflight, read from Graph (read-only).
async fn live(state: &AppState, graph: &Graph, app: &Application, domain: &str) -> Result<Live, AdminError> {
    let id = app.id.to_string();
    let report = state.admin.m365_preflight(graph, domain, Some(&id), false).await?;
    let found = state.admin.m365_show(graph, domain, Some(&id)).await?;
    let config = found["federationConfiguration"].as_object();
    let field = |name: &str| config.and_then(|c| c.get(name)).and_then(Value::as_str).unwrap_or("").to_string();
    let authentication = found["authenticationType"].as_str().unwrap_or("Managed").to_string();
    let issuer = field("issuerUri");
    let foreign =
        (authentication == "Federated" && !issuer.is_empty() && Some(issuer.as_str()) != app.issuer.as_deref())
            .then_some(issuer);
    Ok(Live {
        fields: tessera_m365::federation::FIELDS
            .iter()
            .map(|f| (f.to_string(), shown(config.and_then(|c| c.get(*f)).unwrap_or(&Value::Null))))
            .collect(),
        differences: found["differences"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (d["field"].as_str().unwrap_or("").to_string(), shown(&d["graph"]), shown(&d["app"])))
            .collect(),
        protocol: if field("preferredAuthenticationProtocol") == "saml" { "saml" } else { "wsfed" }.into(),
        mfa: match MfaBehavior::from_graph(&field("federatedIdpMfaBehavior")) {
            Some(MfaBehavior::Enforce) => "enforce",
            Some(MfaBehavior::Reject) => "reject",
            _ => "accept",
        }
        .into(),
        ready: report.ok,
        checks: report.checks,
        authentication,
        foreign,
    })
}

/// The whole tab: what Graph says (or why it could not), the preview if any, the timeline.
async fn tab(
    state: &AppState,
    app: &Application,
    panel: Panel,
    preview: Option<Preview>,
) -> Result<impl FnOnce(Frame) -> FederationTab + use<>, AppError> {
    let domain = domain_of(app)?;
    let credentials = state.admin.m365_stored_credentials().await?;
    let (mut live_state, mut graph_error) = (Live::default(), None);
    if credentials.is_some() {
        let asked = match state.admin.m365_graph().await {
            Ok(Some(graph)) => live(state, &graph, app, &domain).await,
            Ok(None) => Ok(Live::default()),
            Err(e) => Err(e),
        };
        match asked {
            Ok(found) => live_state = found,
            Err(e) => graph_error = Some(refusal(e)?.1),
        }
    }
    let timeline = TimelineView::new(app, state.admin.certificate_timeline(&app.id.to_string()).await?);
    Ok(move |frame| FederationTab {
        frame,
        panel,
        domain,
        credentials,
        graph_error,
        live: live_state,
        preview,
        timeline,
    })
}

pub async fn show(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    domain_of(&app)?;
    let panel = Panel::new(&app, "federation");
    Ok(render(&state, &ctx, StatusCode::OK, &session, tab(&state, &app, panel, None).await?))
}

fn enable_request(
    domain: &str,
    app: &Application,
    fields: &Fields,
    dry_run: bool,
) -> Result<EnableRequest, AdminError> {
    Ok(EnableRequest {
        domain: domain.to_string(),
        app: Some(app.id.to_string()),
        protocol: fields.one("protocol").parse::<Protocol>()?,
        mfa: fields.one("mfa").parse::<MfaBehavior>()?,
        take_over: fields.one("take_over") == "on",
        dry_run,
    })
}

/// A dry run, as a preview to confirm.
async fn preview(
    state: &AppState,
    actor: &Actor,
    graph: &Graph,
    app: &Application,
    domain: &str,
    fields: &Fields,
) -> Result<Preview, AdminError> {
    if fields.one("action") == "preview-disable" {
        let done = state.admin.m365_disable_connector(actor, graph, &app.id.to_string(), true).await?;
        let nothing = done.action == "managed";
        let summary = match (nothing, &done.removed_issuer) {
            (true, _) => format!("{domain} is Managed already: nothing to change."),
            (false, Some(issuer)) => format!(
                "{domain} would go back to Managed: its federation configuration (issuer {issuer}) is deleted, and its \
                 users then need cloud passwords (or password hash sync). Microsoft documents up to 2 hours for the \
                 change to reach every sign-in."
            ),
            (false, None) => format!("{domain} would go back to Managed."),
        };
        return Ok(Preview {
            action: "disable",
            summary,
            changes: Vec::new(),
            protocol: String::new(),
            mfa: String::new(),
            take_over: false,
            nothing,
        });
    }
    let request = enable_request(domain, app, fields, true)?;
    let plan = state.admin.m365_enable(actor, graph, &request).await?;
    let summary = match (plan.action, &plan.taken_over_from) {
        ("none", _) => format!("{domain} is federated with this connector already: nothing to change."),
        ("create", _) => format!("{domain} would be federated with this connector:"),
        (_, Some(from)) => format!("{domain} would be taken over from {from}, in place (never Managed in between):"),
        _ => format!("{domain} would change:"),
    };
    Ok(Preview {
        action: "enable",
        summary,
        changes: plan.changes.iter().map(|c| (c.field.clone(), shown(&c.from), shown(&c.to))).collect(),
        protocol: fields.one("protocol").to_string(),
        mfa: fields.one("mfa").to_string(),
        take_over: request.take_over,
        nothing: plan.action == "none",
    })
}

pub async fn change(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    // Federating a domain changes the whole tenant's sign-in, with the tenant's credentials:
    // full administrators only, whoever else administers the connector.
    if session.admin.role != AdminRole::Admin {
        return Ok(render_message(&state, &ctx, StatusCode::FORBIDDEN, &session, "Not allowed", FORBIDDEN));
    }
    let app = state.admin.find_app(&app).await?;
    let domain = domain_of(&app)?;
    let graph = match state.admin.m365_graph().await {
        Ok(Some(graph)) => Ok(graph),
        Ok(None) => Err(AdminError::invalid("credentials", "store the Graph credentials first (Microsoft 365 page)")),
        Err(e) => Err(e),
    };
    let mut shown_preview = None;
    let outcome = match (graph, fields.one("action")) {
        (Err(e), _) => Err(e),
        (Ok(graph), "preview-enable" | "preview-disable") => {
            preview(&state, &actor, &graph, &app, &domain, &fields).await.map(|p| {
                shown_preview = Some(p);
                String::new()
            })
        }
        (Ok(graph), "enable") => match enable_request(&domain, &app, &fields, false) {
            Ok(request) => state.admin.m365_enable(&actor, &graph, &request).await.map(|plan| match plan.action {
                "none" => format!("{domain} is federated with this connector already: nothing changed."),
                _ => format!("{domain} is federated with this connector ({} field(s) written).", plan.changes.len()),
            }),
            Err(e) => Err(e),
        },
        (Ok(graph), "disable") => state
            .admin
            .m365_disable_connector(&actor, &graph, &app.id.to_string(), false)
            .await
            .map(|_| format!("{domain} is Managed: its users now need cloud passwords (or password hash sync).")),
        _ => Err(AdminError::invalid("action", "choose preview-enable, enable, preview-disable or disable")),
    };
    let (status, notice, error) = said(outcome)?;
    let panel = Panel::new(&app, "federation").telling(notice.filter(|n| !n.is_empty()), error);
    Ok(render(&state, &ctx, status, &session, tab(&state, &app, panel, shown_preview).await?))
}

#[derive(Template)]
#[template(path = "admin_m365.html")]
pub struct CredentialsPage {
    pub frame: Frame,
    pub stored: Option<StoredCredentials>,
    pub tenant: String,
    pub client_id: String,
    pub notice: Option<String>,
    pub error: Option<String>,
}

pub async fn credentials(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let stored = state.admin.m365_stored_credentials().await?;
    let (tenant, client_id) = stored.as_ref().map(|s| (s.tenant.clone(), s.client_id.clone())).unwrap_or_default();
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| CredentialsPage {
        frame,
        stored,
        tenant,
        client_id,
        notice: None,
        error: None,
    }))
}

pub async fn save_credentials(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let (tenant, client_id) = (fields.one("tenant").trim(), fields.one("client_id").trim());
    let outcome = match fields.one("action") {
        "delete" => state.admin.m365_delete_credentials(&actor).await.map(|deleted| match deleted {
            true => "The stored Graph credentials are forgotten.".to_string(),
            false => "No Graph credentials were stored.".to_string(),
        }),
        "set" => {
            let (secret, pem) = (fields.one("client_secret"), fields.one("client_certificate").trim());
            let input = match (secret.is_empty(), pem.is_empty()) {
                (false, true) => Ok(CredentialInput::Secret(secret.to_string())),
                (true, false) => Ok(CredentialInput::CertificatePem(pem.as_bytes().to_vec())),
                _ => Err(AdminError::invalid(
                    "client_secret",
                    "give either the client secret or the certificate with its private key (PEM), not both",
                )),
            };
            match input {
                Ok(input) => state
                    .admin
                    .m365_set_credentials(&actor, tenant, client_id, input)
                    .await
                    .map(|s| format!("Stored the {} of app {} for tenant {}.", s.kind, s.client_id, s.tenant)),
                Err(e) => Err(e),
            }
        }
        _ => Err(AdminError::invalid("action", "choose set or delete")),
    };
    let (status, notice, error) = said(outcome)?;
    let stored = state.admin.m365_stored_credentials().await?;
    // What was typed comes back (never the secret), so that a refusal is corrected, not retyped.
    let (tenant, client_id) = (tenant.to_string(), client_id.to_string());
    Ok(render(&state, &ctx, status, &session, |frame| CredentialsPage {
        frame,
        stored,
        tenant,
        client_id,
        notice,
        error,
    }))
}
