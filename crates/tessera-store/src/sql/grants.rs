//! Which groups may use which applications, and the authorization rule over them. The SQL serves
//! SQLite and PostgreSQL alike: the macro expands it once per backend, into a module of its own
//! beside the store type (see `sql::common`).

/// The access decision's one round trip (it runs on every sign-on): the user's state, and each
/// granted group that holds the user ($1 the user, $2 the application). From the user's
/// memberships to the grants, never from a granted group to its members: SQLite materialized
/// a subquery of every member of the granted groups (9 ms a sign-on with 20,000 users,
/// bench/directory/scale.sh), and the test in `sqlite.rs` holds the plan to index searches.
pub(crate) const ACCESS_OF_USER: &str = "SELECT u.state, m.group_id FROM users u \
     LEFT JOIN memberships m ON m.user_id = u.id \
     AND EXISTS (SELECT 1 FROM grants g WHERE g.app_id = $2 AND g.group_id = m.group_id) \
     WHERE u.id = $1";

macro_rules! impl_grants {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod grants {
        use super::*;

        #[async_trait]
        impl GrantStore for $store {
            async fn grant(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "INSERT INTO grants (app_id, group_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(app.to_string())
                .bind(group.to_string())
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[]))?;
                let granted = done.rows_affected() == 1;
                if granted {
                    let event = NewAuditEvent::new(AuditAction::AppGrant, "app", app, json!({"group_id": group.to_string()}));
                    self.append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(granted)
            }

            async fn revoke(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("DELETE FROM grants WHERE app_id = $1 AND group_id = $2")
                    .bind(app.to_string())
                    .bind(group.to_string())
                    .execute(&mut *tx)
                    .await?;
                let revoked = done.rows_affected() == 1;
                if revoked {
                    let event = NewAuditEvent::new(AuditAction::AppRevoke, "app", app, json!({"group_id": group.to_string()}));
                    self.append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(revoked)
            }

            async fn set_grants(&self, actor: &Actor, app: AppId, groups: &[GroupId]) -> Result<(usize, usize), StoreError> {
                let wanted = groups.iter().map(ToString::to_string).collect();
                self.replace_grants(actor, &crate::sql::GRANTS_OF_APP, &app.to_string(), wanted).await
            }

            async fn set_group_apps(&self, actor: &Actor, group: GroupId, apps: &[AppId]) -> Result<(usize, usize), StoreError> {
                let wanted = apps.iter().map(ToString::to_string).collect();
                self.replace_grants(actor, &crate::sql::GRANTS_OF_GROUP, &group.to_string(), wanted).await
            }

            async fn granted_groups(&self, app: AppId) -> Result<Vec<Group>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, name, description, created_at FROM user_groups \
                     WHERE id IN (SELECT group_id FROM grants WHERE app_id = $1) ORDER BY id",
                )
                .bind(app.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::group_from_row).collect()
            }

            async fn apps_of_group(&self, group: GroupId) -> Result<Vec<Application>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", crate::sql::app_columns!(), " FROM apps ", "WHERE id IN (SELECT app_id FROM grants WHERE group_id = $1) ORDER BY id"))
                .bind(group.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|row| self.app_from_row(row)).collect()
            }

            async fn apps_of_user(&self, user: UserId) -> Result<Vec<Application>, StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    crate::sql::app_columns!(),
                    " FROM apps WHERE id IN (SELECT g.app_id FROM grants g JOIN memberships m ON m.group_id = g.group_id \
                     WHERE m.user_id = $1) ORDER BY lower(label), id"
                ))
                .bind(user.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|row| self.app_from_row(row)).collect()
            }

            async fn check_access(&self, user: UserId, app: AppId) -> Result<AccessDecision, StoreError> {
                if let Some(decision) = self.cache.get(&self.cache.access, &(user, app)) {
                    return Ok(decision);
                }
                let ticket = self.cache.ticket();
                let rows = sqlx::query(crate::sql::ACCESS_OF_USER)
                .bind(user.to_string())
                .bind(app.to_string())
                .fetch_all(&self.pool)
                .await?;
                let first = rows.first().ok_or_else(|| StoreError::not_found("user", user.to_string()))?;
                let state = UserState::parse(&first.try_get::<String, _>(0)?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut via = Vec::new();
                for row in &rows {
                    if let Some(group) = row.try_get::<Option<String>, _>(1)? {
                        via.push(parse_id(&group)?);
                    }
                }
                let decision = evaluate_access(state, &via, &via);
                self.cache.put(&self.cache.access, ticket, (user, app), decision.clone());
                Ok(decision)
            }
        }

        impl $store {
            /// Makes the grants held on one side (`side.fixed`: an application's groups, or a
            /// group's applications) exactly `wanted`, in one transaction: both sides must exist,
            /// each grant and revoke is audited as the application's (from whichever side).
            pub(super) async fn replace_grants(
                &self,
                actor: &Actor,
                side: &crate::sql::GrantSide,
                fixed: &str,
                wanted: std::collections::BTreeSet<String>,
            ) -> Result<(usize, usize), StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                if sqlx::query(side.fixed_exists).bind(fixed).fetch_optional(&mut *tx).await?.is_none() {
                    return Err(StoreError::not_found(side.fixed_kind, fixed));
                }
                for other in &wanted {
                    if sqlx::query(side.other_exists).bind(other).fetch_optional(&mut *tx).await?.is_none() {
                        return Err(StoreError::not_found(side.other_kind, other.clone()));
                    }
                }
                let rows = sqlx::query(side.held).bind(fixed).fetch_all(&mut *tx).await?;
                let held: std::collections::BTreeSet<String> =
                    rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<_, _>>()?;
                let pair = |other: &str| if side.fixed_is_app { (fixed.to_string(), other.to_string()) } else { (other.to_string(), fixed.to_string()) };
                let (mut granted, mut revoked) = (0, 0);
                for other in wanted.difference(&held) {
                    let (app, group) = pair(other);
                    sqlx::query("INSERT INTO grants (app_id, group_id, created_at) VALUES ($1, $2, $3)")
                        .bind(&app)
                        .bind(&group)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    let event = NewAuditEvent::new(AuditAction::AppGrant, "app", &app, json!({"group_id": group}));
                    self.append_audit(&mut tx, actor, at, event).await?;
                    granted += 1;
                }
                for other in held.difference(&wanted) {
                    let (app, group) = pair(other);
                    sqlx::query("DELETE FROM grants WHERE app_id = $1 AND group_id = $2")
                        .bind(&app)
                        .bind(&group)
                        .execute(&mut *tx)
                        .await?;
                    let event = NewAuditEvent::new(AuditAction::AppRevoke, "app", &app, json!({"group_id": group}));
                    self.append_audit(&mut tx, actor, at, event).await?;
                    revoked += 1;
                }
                self.commit(tx).await?;
                Ok((granted, revoked))
            }
        }
        }
    };
}

pub(crate) use impl_grants;
