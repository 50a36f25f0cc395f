//! Applications: created with their first key, found, changed, listed, deleted; their policy. The
//! SQL serves SQLite and PostgreSQL alike: the macro expands it once per backend, into a module of
//! its own beside the store type (see `sql::common`).

macro_rules! impl_apps {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod apps {
        use super::*;

        #[async_trait]
        impl AppStore for $store {
            async fn create_app(
                &self,
                actor: &Actor,
                app: NewApplication,
                signing_key: Option<NewSigningKey>,
            ) -> Result<Application, StoreError> {
                let at = self.clock.now_millis();
                let config = serde_json::to_string(&app.kind).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO apps (id, kind, label, description, portal_image, show_in_portal, issuer, domain, \
                     sp_entity_id, config, created_at, updated_at, idp_path) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
                )
                    .bind(app.id.to_string())
                    .bind(app.kind.name())
                    .bind(&app.label)
                    .bind(&app.description)
                    .bind(&app.portal_image)
                    .bind(app.show_in_portal)
                    .bind(&app.issuer)
                    .bind(app.kind.m365_domain())
                    .bind(app.kind.sp_entity_id())
                    .bind(&config)
                    .bind(at)
                    .bind(app.kind.m365_idp_path())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        map_unique(e, &[
                            // The IdP path defaults to the domain, so a domain clash may surface
                            // through the path's index.
                            if app.kind.m365_idp_path() == app.kind.m365_domain() {
                                (
                                    "apps_idp_path_key",
                                    "domain",
                                    format!(
                                        "domain {} belongs to another Microsoft 365 application already",
                                        app.kind.m365_domain().unwrap_or_default()
                                    ),
                                )
                            } else {
                                (
                                    "apps_idp_path_key",
                                    "idp_path",
                                    format!(
                                        "the IdP URL {} belongs to another Microsoft 365 application already",
                                        app.kind.m365_idp_path().unwrap_or_default()
                                    ),
                                )
                            },
                            ("apps_label_key", "label", format!("an application labelled {:?} exists already", app.label)),
                            (
                                "apps_domain_key",
                                "domain",
                                format!(
                                    "domain {} belongs to another Microsoft 365 application already",
                                    app.kind.m365_domain().unwrap_or_default()
                                ),
                            ),
                            (
                                "apps_sp_entity_id_key",
                                "entity_id",
                                format!(
                                    "a SAML application for entity ID {} exists already",
                                    app.kind.sp_entity_id().unwrap_or_default()
                                ),
                            ),
                            // An M365 issuer is templated from the domain, so SQLite may report
                            // a domain clash through the issuer index.
                            match app.kind.m365_domain() {
                                Some(domain) => (
                                    "apps_issuer_key",
                                    "domain",
                                    format!("domain {domain} belongs to another Microsoft 365 application already"),
                                ),
                                None => ("apps_issuer_key", "issuer", "another application signs as that issuer".to_string()),
                            },
                        ])
                    })?;
                if let Some(key) = &signing_key {
                    Self::insert_key(&mut tx, app.id, KeySlot::Current, key, at).await?;
                }
                let row = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps WHERE id = $1"))
                    .bind(app.id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                let created = self.app_from_row(&row)?;
                let summary = json!({
                    "kind": created.kind.name(), "label": created.label, "issuer": created.issuer,
                    "config": serde_json::to_value(&created.kind).unwrap_or_default(),
                    "signing_certificate_sha256": signing_key.as_ref().map(|k| k.thumbprint.clone()),
                });
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppCreate, "app", app.id, summary)).await?;
                self.commit(tx).await?;
                Ok(created)
            }

            async fn find_app(&self, key: &str) -> Result<Application, StoreError> {
                let row = if let Ok(id) = key.parse::<AppId>() {
                    sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps ", "WHERE id = $1"))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?
                } else {
                    sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps ", "WHERE lower(label) = lower($1)"))
                        .bind(key.trim())
                        .fetch_optional(&self.pool)
                        .await?
                };
                match row {
                    Some(row) => self.app_from_row(&row),
                    None => Err(StoreError::not_found("application", key)),
                }
            }

            async fn find_app_by_domain(&self, domain: &str) -> Result<Application, StoreError> {
                let row = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps WHERE domain = $1"))
                    .bind(domain.trim().to_ascii_lowercase())
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => self.app_from_row(&row),
                    None => Err(StoreError::not_found("Microsoft 365 domain", domain)),
                }
            }

            async fn find_app_by_idp_path(&self, idp_path: &str) -> Result<Application, StoreError> {
                let key = idp_path.trim().to_ascii_lowercase();
                if let Some(app) = self.cache.get(&self.cache.apps_by_path, &key) {
                    return Ok(app);
                }
                let ticket = self.cache.ticket();
                let row = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps WHERE idp_path = $1"))
                    .bind(&key)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => {
                        let app = self.app_from_row(&row)?;
                        self.cache.put(&self.cache.apps_by_path, ticket, key, app.clone());
                        Ok(app)
                    }
                    None => Err(StoreError::not_found("Microsoft 365 IdP URL", idp_path)),
                }
            }

            async fn update_app_kind(&self, actor: &Actor, app: AppId, kind: &tessera_core::AppKind) -> Result<Application, StoreError> {
                let at = self.clock.now_millis();
                let config = serde_json::to_string(kind).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.write_tx().await?;
                let before: Option<String> = sqlx::query_scalar("SELECT config FROM apps WHERE id = $1")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(before) = before else { return Err(StoreError::not_found("application", app.to_string())) };
                let before_kind = parse_kind(&before)?;
                if before_kind.name() != kind.name()
                    || before_kind.m365_domain() != kind.m365_domain()
                    || before_kind.m365_idp_path() != kind.m365_idp_path()
                    || before_kind.sp_entity_id() != kind.sp_entity_id()
                {
                    return Err(StoreError::Invalid(tessera_core::CoreError::invalid(
                        "settings",
                        "the kind, domain, IdP URL and SP entity ID of an application are fixed",
                    )));
                }
                sqlx::query("UPDATE apps SET config = $1, updated_at = $2 WHERE id = $3")
                    .bind(&config)
                    .bind(at)
                    .bind(app.to_string())
                    .execute(&mut *tx)
                    .await?;
                let summary = json!({
                    "before": serde_json::from_str::<serde_json::Value>(&before).unwrap_or_default(),
                    "after": serde_json::to_value(kind).unwrap_or_default(),
                });
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppUpdate, "app", app, summary)).await?;
                let row = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps WHERE id = $1"))
                    .bind(app.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                let updated = self.app_from_row(&row)?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn update_app_details(
                &self,
                actor: &Actor,
                app: AppId,
                details: &crate::AppDetails<'_>,
            ) -> Result<Application, StoreError> {
                let label = tessera_core::validate::label("label", details.label)?;
                let description = tessera_core::validate::description(details.description)?;
                if let Some(image) = details.portal_image {
                    tessera_core::app::validate_portal_image(image)?;
                }
                let show_in_portal = details.show_in_portal;
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let before = sqlx::query("SELECT label, description, portal_image, show_in_portal FROM apps WHERE id = $1")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(before) = before else { return Err(StoreError::not_found("application", app.to_string())) };
                let before = json!({
                    "label": before.try_get::<String, _>("label")?,
                    "description": before.try_get::<String, _>("description")?,
                    "portal_image": crate::sql::image_fingerprint(before.try_get::<Option<String>, _>("portal_image")?.as_deref()),
                    "show_in_portal": before.try_get::<bool, _>("show_in_portal")?,
                });
                sqlx::query("UPDATE apps SET label = $1, description = $2, portal_image = $3, show_in_portal = $4, updated_at = $5 WHERE id = $6")
                    .bind(&label)
                    .bind(&description)
                    .bind(details.portal_image)
                    .bind(show_in_portal)
                    .bind(at)
                    .bind(app.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, &[("apps_label_key", "label", format!("an application labelled {label:?} exists already"))]))?;
                let after = json!({
                    "label": label,
                    "description": description,
                    "portal_image": crate::sql::image_fingerprint(details.portal_image),
                    "show_in_portal": show_in_portal,
                });
                let event = NewAuditEvent::new(AuditAction::AppUpdate, "app", app, json!({"before": before, "after": after}));
                self.append_audit(&mut tx, actor, at, event).await?;
                let row = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps WHERE id = $1"))
                    .bind(app.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                let updated = self.app_from_row(&row)?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn list_apps(&self, page: &PageRequest) -> Result<Page<Application>, StoreError> {
                let limit = page.effective_limit();
                let rows = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps ", "WHERE id > $1 ORDER BY id LIMIT $2"))
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(limit + 1)
                    .fetch_all(&self.pool)
                    .await?;
                let mut items = rows.iter().map(|row| self.app_from_row(row)).collect::<Result<Vec<_>, _>>()?;
                let next = next_cursor(&mut items, limit, |a| a.id.to_string());
                Ok(Page { items, next })
            }

            async fn delete_apps(&self, actor: &Actor, apps: &[AppId], confirm_count: usize) -> Result<usize, StoreError> {
                let mut ids: Vec<AppId> = apps.to_vec();
                ids.sort();
                ids.dedup();
                if ids.len() != apps.len() {
                    return Err(StoreError::Invalid(tessera_core::CoreError::invalid("ids", "an application is named twice")));
                }
                if confirm_count != ids.len() {
                    return Err(StoreError::ConfirmCount { expected: ids.len(), given: confirm_count });
                }
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                for id in &ids {
                    let row = sqlx::query("DELETE FROM apps WHERE id = $1 RETURNING label, kind")
                        .bind(id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    // Dropping the transaction rolls back the deletions made so far.
                    let Some(row) = row else {
                        return Err(StoreError::not_found("application", id.to_string()));
                    };
                    let label: String = row.try_get(0)?;
                    let kind: String = row.try_get(1)?;
                    let event = NewAuditEvent::new(AuditAction::AppDelete, "app", id, json!({"label": label, "kind": kind}));
                    self.append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(ids.len())
            }

            async fn set_app_policy(&self, actor: &Actor, app: AppId, policy: &AccessPolicy) -> Result<(), StoreError> {
                let at = self.clock.now_millis();
                let networks = serde_json::to_string(&policy.allowed_networks).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE apps SET require_mfa = $1, allowed_networks = $2, updated_at = $3, \
                     phishing_resistant = $5, passwordless = $6 WHERE id = $4",
                )
                    .bind(policy.require_mfa)
                    .bind(&networks)
                    .bind(at)
                    .bind(app.to_string())
                    .bind(policy.phishing_resistant)
                    .bind(policy.passwordless)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found("application", app.to_string()));
                }
                let summary = json!(policy);
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppSetPolicy, "app", app, summary)).await?;
                self.commit(tx).await?;
                Ok(())
            }
        }
        }
    };
}

pub(crate) use impl_apps;
