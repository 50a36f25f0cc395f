//! [`AppStore`] in memory, as `sql/apps.rs` keeps applications: a label names one application
//! (case-insensitively), and a Microsoft 365 domain or IdP path, a SAML entity ID or an issuer
//! one at most; an application's certificates are read from its keys whenever it is read.

use async_trait::async_trait;
use serde_json::json;
use tessera_core::policy::AccessPolicy;
use tessera_core::{
    Actor, AppId, AppKind, Application, AuditAction, CoreError, NewApplication, NewAuditEvent, SigningCertificates,
    UnixMillis,
};

use super::{MemoryStore, State, page_after};
use crate::StoreError;
use crate::sql::{image_fingerprint, parse_kind};
use crate::traits::{AppDetails, AppStore, KeySlot, NewSigningKey, Page, PageRequest};

impl State {
    /// An application as `app_from_row` reads it at `now`: a previous certificate is published
    /// as next only until its grace period ends, and only while no certificate is staged.
    pub(super) fn app_view(&self, stored: &Application, now: UnixMillis) -> Application {
        let certificate =
            |slot: KeySlot| self.signing_keys.get(&(stored.id, slot)).map(|key| key.certificate_der.clone());
        let previous = || {
            let published = self.previous_certificates.get(&stored.id).filter(|p| p.published_until > now);
            published.map(|p| p.certificate_der.clone())
        };
        Application {
            certificates: SigningCertificates {
                current: certificate(KeySlot::Current),
                next: certificate(KeySlot::Next).or_else(previous),
            },
            ..stored.clone()
        }
    }

    pub(super) fn app(&self, id: AppId) -> Result<&Application, StoreError> {
        self.apps.get(&id.to_string()).ok_or_else(|| StoreError::not_found("application", id.to_string()))
    }

    fn app_mut(&mut self, id: AppId) -> Result<&mut Application, StoreError> {
        self.apps.get_mut(&id.to_string()).ok_or_else(|| StoreError::not_found("application", id.to_string()))
    }

    fn read_app(&self, id: AppId, now: UnixMillis) -> Result<Application, StoreError> {
        Ok(self.app_view(self.app(id)?, now))
    }

    /// Whether another application holds `value` in a uniquely indexed column (a NULL clashes
    /// with nothing, as in SQL).
    fn taken(&self, value: Option<&str>, column: impl Fn(&Application) -> Option<&str>) -> bool {
        value.is_some_and(|value| self.apps.values().any(|app| column(app) == Some(value)))
    }

    /// What the `apps` unique indexes refuse, named as `create_app`'s `map_unique` rules name
    /// it. Where several clash, the one SQLite reports: it checks the newest index first.
    fn check_new_app(&self, app: &NewApplication) -> Result<(), StoreError> {
        let kind = &app.kind;
        let conflict = |field: &'static str, message: String| Err::<(), _>(StoreError::Conflict { field, message });
        let domain_taken = || {
            let domain = kind.m365_domain().unwrap_or_default();
            conflict("domain", format!("domain {domain} belongs to another Microsoft 365 application already"))
        };
        if self.taken(kind.m365_idp_path(), |a| a.kind.m365_idp_path()) {
            // The IdP path defaults to the domain, so a domain clash surfaces through the path.
            if kind.m365_idp_path() == kind.m365_domain() {
                return domain_taken();
            }
            let path = kind.m365_idp_path().unwrap_or_default();
            let message = format!("the IdP URL {path} belongs to another Microsoft 365 application already");
            return conflict("idp_path", message);
        }
        if self.taken(app.issuer.as_deref(), |a| a.issuer.as_deref()) {
            // An M365 issuer is templated from the domain.
            return match kind.m365_domain() {
                Some(_) => domain_taken(),
                None => conflict("issuer", "another application signs as that issuer".to_string()),
            };
        }
        if self.taken(kind.sp_entity_id(), |a| a.kind.sp_entity_id()) {
            let entity_id = kind.sp_entity_id().unwrap_or_default();
            return conflict("entity_id", format!("a SAML application for entity ID {entity_id} exists already"));
        }
        if self.taken(kind.m365_domain(), |a| a.kind.m365_domain()) {
            return domain_taken();
        }
        let label = app.label.to_lowercase();
        if self.apps.values().any(|a| a.label.to_lowercase() == label) {
            return conflict("label", format!("an application labelled {:?} exists already", app.label));
        }
        if self.apps.contains_key(&app.id.to_string()) {
            return conflict("unknown", "that record already exists".to_string());
        }
        Ok(())
    }
}

/// A kind as the `config` column gives it back.
fn stored_kind(kind: &AppKind) -> Result<AppKind, StoreError> {
    parse_kind(&serde_json::to_string(kind).map_err(|e| StoreError::Corrupt(e.to_string()))?)
}

#[async_trait]
impl AppStore for MemoryStore {
    async fn create_app(
        &self,
        actor: &Actor,
        app: NewApplication,
        signing_key: Option<NewSigningKey>,
    ) -> Result<Application, StoreError> {
        let at = self.clock.now_millis();
        let kind = stored_kind(&app.kind)?;
        let mut tables = self.tables()?;
        tables.check_new_app(&app)?;
        if let Some(key) = &signing_key {
            tables.check_key_id(key, None)?;
        }
        let stored = Application {
            id: app.id,
            label: app.label,
            description: app.description,
            portal_image: app.portal_image,
            show_in_portal: app.show_in_portal,
            issuer: app.issuer,
            kind,
            certificates: SigningCertificates::default(),
            policy: AccessPolicy::default(),
            created_at: at,
            updated_at: at,
        };
        tables.apps.insert(app.id.to_string(), stored);
        if let Some(key) = &signing_key {
            tables.insert_key(app.id, KeySlot::Current, key, at);
        }
        let created = tables.read_app(app.id, at)?;
        let summary = json!({
            "kind": created.kind.name(), "label": created.label, "issuer": created.issuer,
            "config": serde_json::to_value(&created.kind).unwrap_or_default(),
            "signing_certificate_sha256": signing_key.as_ref().map(|k| &k.thumbprint),
        });
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AppCreate, "app", app.id, summary));
        Ok(created)
    }

    async fn find_app(&self, key: &str) -> Result<Application, StoreError> {
        let now = self.clock.now_millis();
        let tables = self.tables()?;
        let found = match key.parse::<AppId>() {
            Ok(id) => tables.apps.get(&id.to_string()),
            Err(_) => {
                let label = key.trim().to_lowercase();
                tables.apps.values().find(|a| a.label.to_lowercase() == label)
            }
        };
        found.map(|app| tables.app_view(app, now)).ok_or_else(|| StoreError::not_found("application", key))
    }

    async fn find_app_by_domain(&self, domain: &str) -> Result<Application, StoreError> {
        let now = self.clock.now_millis();
        let tables = self.tables()?;
        let key = domain.trim().to_ascii_lowercase();
        let found = tables.apps.values().find(|a| a.kind.m365_domain() == Some(key.as_str()));
        found.map(|app| tables.app_view(app, now)).ok_or_else(|| StoreError::not_found("Microsoft 365 domain", domain))
    }

    async fn find_app_by_idp_path(&self, idp_path: &str) -> Result<Application, StoreError> {
        let now = self.clock.now_millis();
        let tables = self.tables()?;
        let key = idp_path.trim().to_ascii_lowercase();
        let found = tables.apps.values().find(|a| a.kind.m365_idp_path() == Some(key.as_str()));
        found
            .map(|app| tables.app_view(app, now))
            .ok_or_else(|| StoreError::not_found("Microsoft 365 IdP URL", idp_path))
    }

    async fn update_app_kind(&self, actor: &Actor, app: AppId, kind: &AppKind) -> Result<Application, StoreError> {
        let at = self.clock.now_millis();
        let replacement = stored_kind(kind)?;
        let mut tables = self.tables()?;
        let stored = tables.app_mut(app)?;
        let before = &stored.kind;
        if before.name() != kind.name()
            || before.m365_domain() != kind.m365_domain()
            || before.m365_idp_path() != kind.m365_idp_path()
            || before.sp_entity_id() != kind.sp_entity_id()
        {
            return Err(StoreError::Invalid(CoreError::invalid(
                "settings",
                "the kind, domain, IdP URL and SP entity ID of an application are fixed",
            )));
        }
        let summary = json!({
            "before": serde_json::to_value(before).unwrap_or_default(),
            "after": serde_json::to_value(kind).unwrap_or_default(),
        });
        stored.kind = replacement;
        stored.updated_at = at;
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AppUpdate, "app", app, summary));
        tables.read_app(app, at)
    }

    async fn update_app_details(
        &self,
        actor: &Actor,
        app: AppId,
        details: &AppDetails<'_>,
    ) -> Result<Application, StoreError> {
        let label = tessera_core::validate::label("label", details.label)?;
        let description = tessera_core::validate::description(details.description)?;
        if let Some(image) = details.portal_image {
            tessera_core::app::validate_portal_image(image)?;
        }
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let stored = tables.app(app)?;
        let before = json!({
            "label": stored.label,
            "description": stored.description,
            "portal_image": image_fingerprint(stored.portal_image.as_deref()),
            "show_in_portal": stored.show_in_portal,
        });
        // The label index counts every other application; the row itself may change case.
        let (id, lower) = (app.to_string(), label.to_lowercase());
        if tables.apps.iter().any(|(other, a)| *other != id && a.label.to_lowercase() == lower) {
            return Err(StoreError::Conflict {
                field: "label",
                message: format!("an application labelled {label:?} exists already"),
            });
        }
        let after = json!({
            "label": label,
            "description": description,
            "portal_image": image_fingerprint(details.portal_image),
            "show_in_portal": details.show_in_portal,
        });
        let stored = tables.app_mut(app)?;
        stored.label = label;
        stored.description = description;
        stored.portal_image = details.portal_image.map(str::to_string);
        stored.show_in_portal = details.show_in_portal;
        stored.updated_at = at;
        let event = NewAuditEvent::new(AuditAction::AppUpdate, "app", app, json!({"before": before, "after": after}));
        tables.record(actor, at, event);
        tables.read_app(app, at)
    }

    async fn list_apps(&self, page: &PageRequest) -> Result<Page<Application>, StoreError> {
        let now = self.clock.now_millis();
        let tables = self.tables()?;
        let Page { items, next } = page_after(tables.apps.iter(), page);
        Ok(Page { items: items.iter().map(|app| tables.app_view(app, now)).collect(), next })
    }

    async fn delete_apps(&self, actor: &Actor, apps: &[AppId], confirm_count: usize) -> Result<usize, StoreError> {
        let mut ids: Vec<AppId> = apps.to_vec();
        ids.sort();
        ids.dedup();
        if ids.len() != apps.len() {
            return Err(StoreError::Invalid(CoreError::invalid("ids", "an application is named twice")));
        }
        if confirm_count != ids.len() {
            return Err(StoreError::ConfirmCount { expected: ids.len(), given: confirm_count });
        }
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        // The first missing one in id order refuses them all, as the rollback does.
        if let Some(missing) = ids.iter().find(|id| !tables.apps.contains_key(&id.to_string())) {
            return Err(StoreError::not_found("application", missing.to_string()));
        }
        for id in &ids {
            let Some(removed) = tables.apps.remove(&id.to_string()) else { continue };
            tables.forget_app(*id);
            let summary = json!({"label": removed.label, "kind": removed.kind.name()});
            tables.record(actor, at, NewAuditEvent::new(AuditAction::AppDelete, "app", id, summary));
        }
        Ok(ids.len())
    }

    async fn set_app_policy(&self, actor: &Actor, app: AppId, policy: &AccessPolicy) -> Result<(), StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let stored = tables.app_mut(app)?;
        stored.policy = policy.clone();
        stored.updated_at = at;
        let summary = json!(policy);
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AppSetPolicy, "app", app, summary));
        Ok(())
    }
}
