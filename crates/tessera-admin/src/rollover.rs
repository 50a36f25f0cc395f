//! Signing-certificate rollover without an outage (M365-PROTOCOLS.md §7.1): a next key is
//! staged (published, not signing), pushed to Graph as `nextSigningCertificate`, promoted once
//! Entra holds it, and the certificate it replaced stays published as next for a grace period.
//! The same steps run by themselves in `serve` (see [`AdminService::rollover_tick`]).

use base64::Engine;
use serde::Serialize;
use serde_json::json;
use tessera_core::{Actor, AppKind, Application, AuditAction, NewAuditEvent, UnixMillis, format_millis};
use tessera_keys::KeySize;
use tessera_m365::M365Error;
use tessera_m365::certificates::{self, Held, Pushed};
use tessera_m365::graph::Graph;
use tessera_store::{KeySlot, PageRequest};

use crate::{AdminError, AdminService, KeyOptions};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// How long the replaced certificate stays published unless the administrator says.
pub const DEFAULT_GRACE_DAYS: u32 = 14;
pub const MAX_GRACE_DAYS: u32 = 90;
/// The automatic rollover stages this many days before the certificate in use expires...
pub const STAGE_BEFORE_DAYS: i64 = 60;
/// ...and promotes this many days before (Entra looks for a new certificate 30 to 35 days
/// before expiry; by then Tessera has pushed it already).
pub const PROMOTE_BEFORE_DAYS: i64 = 30;
/// The automatic rollover promotes a staged certificate only once it has been published this
/// long (so that Entra, and anyone reading metadata, has had it for a while), unless the
/// current one expires sooner than that.
pub const MIN_STAGED_DAYS: i64 = 7;
/// The lease that keeps the automatic rollover to one node at a time.
const ROLLOVER_LEASE: &str = "certificate-rollover";
const ROLLOVER_LEASE_MS: i64 = 10 * 60 * 1000;
/// Where the last failed automatic step is kept for the portal, per application.
const WARNING_SETTING: &str = "rollover_warning:";

/// One certificate on the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateFacts {
    pub sha256: String,
    pub not_after: String,
}

impl CertificateFacts {
    fn of(der: &[u8], not_after: UnixMillis) -> Self {
        CertificateFacts {
            sha256: tessera_keys::certificate_thumbprint_sha256(der),
            not_after: format_millis(not_after),
        }
    }
}

/// An application's certificates and what comes next, as the portal and `app show` tell it.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub current: Option<CertificateFacts>,
    /// Staged: published, signing once promoted.
    pub staged: Option<CertificateFacts>,
    /// Replaced: still published as next until `previous_published_until`.
    pub previous: Option<CertificateFacts>,
    pub previous_published_until: Option<String>,
    /// When the automatic rollover stages and promotes (Microsoft 365 connectors only).
    pub automatic_stage_at: Option<String>,
    pub automatic_promote_at: Option<String>,
    /// The last automatic step that failed, not yet done since.
    pub warning: Option<RolloverWarning>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RolloverWarning {
    pub step: String,
    pub error: String,
    pub at: String,
}

/// What one automatic step did, for the log and the tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub app: String,
    pub step: &'static str,
    pub outcome: String,
}

impl AdminService {
    fn signing_app(app: &Application) -> Result<(), AdminError> {
        if app.kind.signs() {
            return Ok(());
        }
        Err(AdminError::invalid("app", format!("{} is a bookmark: it signs nothing and has no certificate", app.label)))
    }

    /// Stages a next key and certificate: published in metadata and as
    /// `next_signing_certificate`, not signing until promoted.
    pub async fn stage_certificate(
        &self,
        actor: &Actor,
        app: &str,
        options: KeyOptions,
    ) -> Result<Application, AdminError> {
        let app = self.store.find_app(app).await?;
        Self::signing_app(&app)?;
        self.clear_due_previous(actor, &app).await?;
        // The next key is as strong as the current one unless the administrator says.
        let bits = match options.bits {
            Some(bits) => Some(bits),
            None => self.store.signing_key(app.id, KeySlot::Current).await?.map(|k| k.bits),
        };
        let (size, validity_days) = KeyOptions { bits, ..options }.resolve()?;
        self.keys.key_service().await?.stage(actor, app.id, &app.label, size, validity_days).await?;
        Ok(self.store.find_app(&app.id.to_string()).await?)
    }

    /// Makes the staged certificate current; the old one stays published as next for
    /// `grace_days`. Unless `force`, refused while a domain federated to this app (as far as
    /// `graph` tells) does not hold the staged certificate: Entra would refuse every token.
    pub async fn promote_certificate(
        &self,
        actor: &Actor,
        app: &str,
        grace_days: Option<u32>,
        force: bool,
        graph: Option<&Graph>,
    ) -> Result<Application, AdminError> {
        let grace_days = grace_days.unwrap_or(DEFAULT_GRACE_DAYS);
        if grace_days > MAX_GRACE_DAYS {
            return Err(AdminError::invalid(
                "grace_days",
                format!("keep the old certificate published for at most {MAX_GRACE_DAYS} days"),
            ));
        }
        let app = self.store.find_app(app).await?;
        Self::signing_app(&app)?;
        let Some(staged) = self.store.signing_key(app.id, KeySlot::Next).await? else {
            return Err(AdminError::invalid(
                "app",
                format!("{} has no staged certificate: run `tessera app cert stage` first", app.label),
            ));
        };
        if !force && let (Some(graph), Some(domain)) = (graph, app.kind.m365_domain()) {
            let staged = base64::engine::general_purpose::STANDARD.encode(&staged.certificate_der);
            let issuer = app.issuer.clone().unwrap_or_default();
            match certificates::held(graph, domain, &issuer).await {
                Ok(held @ Held::Federated { .. }) if !held.accepts(&staged) => {
                    return Err(M365Error::Refused(format!(
                        "Graph's configuration of {domain} does not hold the staged certificate yet, so Entra would \
                         refuse every token signed with it: push it with `tessera m365 enable --domain {domain}` \
                         first (or promote with --force)"
                    ))
                    .into());
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(M365Error::Refused(format!(
                        "cannot tell whether {domain} holds the staged certificate ({e}); promote with --force to \
                         go ahead anyway"
                    ))
                    .into());
                }
            }
        }
        self.clear_due_previous(actor, &app).await?;
        let until = self.clock_now() + i64::from(grace_days) * DAY_MS;
        self.keys.key_service().await?.promote(actor, app.id, until).await?;
        Ok(self.store.find_app(&app.id.to_string()).await?)
    }

    /// Stops publishing the previous certificate now, grace period or not (audited).
    pub async fn clear_previous_certificate(
        &self,
        actor: &Actor,
        app: &str,
    ) -> Result<(Application, bool), AdminError> {
        let app = self.store.find_app(app).await?;
        let cleared = self.store.clear_previous_certificate(actor, app.id, false).await?;
        Ok((self.store.find_app(&app.id.to_string()).await?, cleared))
    }

    /// Stops publishing a previous certificate whose grace period is over (audited).
    pub(crate) async fn clear_due_previous(&self, actor: &Actor, app: &Application) -> Result<bool, AdminError> {
        Ok(self.store.clear_previous_certificate(actor, app.id, true).await?)
    }

    /// The application's rollover timeline.
    pub async fn certificate_timeline(&self, app: &str) -> Result<Timeline, AdminError> {
        let app = self.store.find_app(app).await?;
        let now = self.clock_now();
        let current_key = self.store.signing_key(app.id, KeySlot::Current).await?;
        let staged_key = self.store.signing_key(app.id, KeySlot::Next).await?;
        // Past its grace period a previous certificate is no longer published, cleared or not.
        let previous = self.store.previous_certificate(app.id).await?.filter(|p| p.published_until > now);
        let automatic = matches!(app.kind, AppKind::M365(_));
        let expires = current_key.as_ref().filter(|_| automatic).map(|k| k.not_after);
        // When the automatic pass would promote: 30 days before expiry, once the staged one has
        // been published for a week (sooner only when expiry is nearer than that).
        let promote_at = expires.map(|not_after| {
            let aged = staged_key.as_ref().map_or(i64::MIN, |s| s.created_at + MIN_STAGED_DAYS * DAY_MS);
            (not_after - PROMOTE_BEFORE_DAYS * DAY_MS).max(aged.min(not_after - MIN_STAGED_DAYS * DAY_MS))
        });
        let facts = |key: &Option<tessera_store::StoredKey>| {
            key.as_ref().map(|k| CertificateFacts::of(&k.certificate_der, k.not_after))
        };
        Ok(Timeline {
            automatic_stage_at: expires
                .filter(|_| staged_key.is_none())
                .map(|not_after| format_millis(not_after - STAGE_BEFORE_DAYS * DAY_MS)),
            automatic_promote_at: promote_at.map(format_millis),
            current: facts(&current_key),
            staged: facts(&staged_key),
            previous_published_until: previous.as_ref().map(|p| format_millis(p.published_until)),
            previous: previous.map(|p| CertificateFacts::of(&p.certificate_der, p.not_after)),
            warning: self.rollover_warning(&app).await?,
        })
    }

    async fn rollover_warning(&self, app: &Application) -> Result<Option<RolloverWarning>, AdminError> {
        let value = self.store.get_setting(&format!("{WARNING_SETTING}{}", app.id)).await?;
        Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Every application with a failed automatic step, for the portal's warning.
    pub async fn rollover_warnings(&self) -> Result<Vec<(Application, RolloverWarning)>, AdminError> {
        let mut found = Vec::new();
        for app in self.m365_connectors().await? {
            if let Some(warning) = self.rollover_warning(&app).await? {
                found.push((app, warning));
            }
        }
        Ok(found)
    }

    /// One pass of the automatic rollover over every Microsoft 365 connector, on one node at a
    /// time (`node` names this one for the lease): clear a previous certificate whose grace
    /// period is over, stage [`STAGE_BEFORE_DAYS`] before expiry, push to Graph, promote
    /// [`PROMOTE_BEFORE_DAYS`] before expiry once Graph holds the staged certificate, push
    /// again. Each step is audited; a failed step is audited and kept as the app's warning.
    /// Returns what was done (nothing when another node holds the lease).
    pub async fn rollover_tick(&self, actor: &Actor, graph: &Graph, node: &str) -> Result<Vec<Step>, AdminError> {
        if !self.store.take_lease(ROLLOVER_LEASE, node, ROLLOVER_LEASE_MS).await? {
            return Ok(Vec::new());
        }
        let mut steps = Vec::new();
        let result = self.rollover_pass(actor, graph, node, &mut steps).await;
        self.store.release_lease(ROLLOVER_LEASE, node).await?;
        result.map(|()| steps)
    }

    async fn rollover_pass(
        &self,
        actor: &Actor,
        graph: &Graph,
        node: &str,
        steps: &mut Vec<Step>,
    ) -> Result<(), AdminError> {
        for app in self.m365_connectors().await? {
            // A slow pass keeps its lease; one that lost it (its node stalled past the lease)
            // stops, and the node now holding it carries on.
            if !self.store.take_lease(ROLLOVER_LEASE, node, ROLLOVER_LEASE_MS).await? {
                return Ok(());
            }
            let mut failed = None;
            let mut pushed = false;
            for step in ["clear", "stage", "push", "promote", "push"] {
                // Never promote in the pass whose push just gave Graph the staged certificate.
                if step == "promote" && pushed {
                    continue;
                }
                match self.rollover_step(actor, graph, &app.id.to_string(), step).await {
                    Ok(Some(outcome)) => {
                        pushed |= step == "push";
                        steps.push(Step { app: app.label.clone(), step, outcome });
                    }
                    Ok(None) => {}
                    Err(e) => {
                        failed = Some((step, e.to_string()));
                        break;
                    }
                }
            }
            let setting = format!("{WARNING_SETTING}{}", app.id);
            match failed {
                Some((step, error)) => {
                    steps.push(Step { app: app.label.clone(), step, outcome: format!("failed: {error}") });
                    let warning = RolloverWarning {
                        step: step.into(),
                        error: error.clone(),
                        at: format_millis(self.clock_now()),
                    };
                    let value = serde_json::to_string(&warning).unwrap_or_default();
                    let event = NewAuditEvent::new(
                        AuditAction::M365RolloverFailed,
                        "app",
                        app.id,
                        json!({"step": step, "error": error}),
                    );
                    self.store.change_setting(actor, &setting, Some(&value), event).await?;
                }
                // Done since: the warning goes (not an administrative change, so not audited).
                None => {
                    if self.store.get_setting(&setting).await?.is_some_and(|v| !v.is_empty()) {
                        self.store.set_setting(&setting, "").await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// One step for one connector, on its state as stored now: `Some` with what it did, `None`
    /// when there was nothing to do.
    async fn rollover_step(
        &self,
        actor: &Actor,
        graph: &Graph,
        app: &str,
        step: &str,
    ) -> Result<Option<String>, AdminError> {
        let app = self.store.find_app(app).await?;
        let now = self.clock_now();
        let Some(current) = self.store.signing_key(app.id, KeySlot::Current).await? else { return Ok(None) };
        let staged = self.store.signing_key(app.id, KeySlot::Next).await?;
        let left = current.not_after - now;
        match step {
            "clear" => Ok(self.clear_due_previous(actor, &app).await?.then(|| "previous certificate cleared".into())),
            "stage" => {
                let previous = self.store.previous_certificate(app.id).await?;
                if staged.is_some() || previous.is_some() || left > STAGE_BEFORE_DAYS * DAY_MS {
                    return Ok(None);
                }
                let size = KeySize::from_bits(current.bits)?;
                let options = KeyOptions { bits: Some(size.bits()), validity_days: None };
                let staged = self.stage_certificate(actor, &app.id.to_string(), options).await?;
                let der = staged.certificates.next.unwrap_or_default();
                Ok(Some(format!("staged {}", tessera_keys::certificate_thumbprint_sha256(&der))))
            }
            "push" => self.push_certificates(actor, graph, &app).await,
            "promote" => {
                let Some(staged) = staged else { return Ok(None) };
                let young = now - staged.created_at < MIN_STAGED_DAYS * DAY_MS;
                if left > PROMOTE_BEFORE_DAYS * DAY_MS || (young && left > MIN_STAGED_DAYS * DAY_MS) {
                    return Ok(None);
                }
                self.promote_certificate(actor, &app.id.to_string(), None, false, Some(graph)).await?;
                Ok(Some(format!("promoted; the old certificate stays published for {DEFAULT_GRACE_DAYS} days")))
            }
            _ => Ok(None),
        }
    }

    /// Pushes the connector's certificates (current, and published next) to its domain when
    /// the domain is federated to it. Audited when Graph was written.
    async fn push_certificates(
        &self,
        actor: &Actor,
        graph: &Graph,
        app: &Application,
    ) -> Result<Option<String>, AdminError> {
        let (Some(domain), Some(issuer), Some(current)) =
            (app.kind.m365_domain(), app.issuer.as_deref(), app.certificates.current.as_deref())
        else {
            return Ok(None);
        };
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let next = app.certificates.next.as_deref().map(b64);
        match certificates::push(graph, domain, issuer, &b64(current), next.as_deref()).await? {
            Pushed::Pushed => {
                let summary = json!({
                    "domain": domain,
                    "signing_certificate_sha256": tessera_keys::certificate_thumbprint_sha256(current),
                    "next_signing_certificate_sha256": app.certificates.next.as_deref().map(tessera_keys::certificate_thumbprint_sha256),
                });
                let event = NewAuditEvent::new(AuditAction::M365CertificatesPushed, "app", app.id, summary);
                self.store.append_audit(actor, event).await?;
                Ok(Some(format!("pushed to {domain}")))
            }
            Pushed::Unchanged | Pushed::NotFederatedHere => Ok(None),
        }
    }

    /// Every Microsoft 365 connector.
    pub(crate) async fn m365_connectors(&self) -> Result<Vec<Application>, AdminError> {
        let mut connectors = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let got = self.store.list_apps(&page).await?;
            connectors.extend(got.items.into_iter().filter(|a| matches!(a.kind, AppKind::M365(_))));
            match got.next {
                Some(next) => page.after = Some(next),
                None => return Ok(connectors),
            }
        }
    }
}
