//! Reading the audit trail: by time, actor, action, application and user, a page at a time.

use tessera_core::{AuditEvent, Authority};
use tessera_store::{AuditQuery, ChainReport};

use crate::{AdminError, AdminService};

/// Which events: at or after `since` and before `until` (RFC 3339), past the event id `after`
/// (the cursor), at most `limit` (1 to 10,000), and only those matching every filter given.
#[derive(Debug, Clone, Default)]
pub struct AuditRequest {
    pub since: Option<String>,
    pub until: Option<String>,
    pub after: Option<i64>,
    pub limit: u32,
    pub actor: Option<String>,
    /// An action (`signin.failure`), or every action a prefix ending in `.` begins.
    pub action: Option<String>,
    /// An application by id or label.
    pub app: Option<String>,
    /// A user by id, email or UPN.
    pub user: Option<String>,
    pub newest_first: bool,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl AdminService {
    /// Audit events, oldest first (or newest first).
    pub async fn audit_events(&self, request: &AuditRequest) -> Result<Vec<AuditEvent>, AdminError> {
        let time = |field: &str, value: &Option<String>| {
            given(value)
                .map(tessera_core::parse_rfc3339_millis)
                .transpose()
                .map_err(|e| AdminError::invalid(field, e.to_string()))
        };
        let (since, until) = (time("since", &request.since)?, time("until", &request.until)?);
        if !(1..=10_000).contains(&request.limit) {
            return Err(AdminError::invalid("limit", "must be 1 to 10000"));
        }
        if let Some(action) = given(&request.action) {
            let names = tessera_core::AuditAction::ALL.map(|a| a.as_str());
            let known = match action.ends_with('.') {
                true => names.iter().any(|name| name.starts_with(action)),
                false => names.contains(&action),
            };
            if !known {
                return Err(AdminError::invalid(
                    "action",
                    format!(
                        "{action:?} is no audit action (an action such as signin.failure, or a prefix such as signin.)"
                    ),
                ));
            }
        }
        let app = match given(&request.app) {
            Some(key) => Some(self.store.find_app(key).await?.id),
            None => None,
        };
        let user = match given(&request.user) {
            Some(key) => Some(self.store.find_user(key).await?.id),
            None => None,
        };
        let query = AuditQuery {
            since,
            until,
            after_id: request.after,
            limit: request.limit,
            actor: given(&request.actor).map(str::to_string),
            action: given(&request.action).map(str::to_string),
            app,
            user,
            newest_first: request.newest_first,
        };
        Ok(self.store.list_audit(&query).await?)
    }

    /// Walks the audit trail's chain, from its start or from `since` (RFC 3339), and reports
    /// where it first breaks.
    pub async fn verify_audit_chain(&self, since: Option<&str>) -> Result<ChainReport, AdminError> {
        let since = since
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(tessera_core::parse_rfc3339_millis)
            .transpose()
            .map_err(|e| AdminError::invalid("since", e.to_string()))?;
        Ok(self.store.verify_audit_chain(since).await?)
    }

    /// The audit events an authority may read: everything for a full administrator or an
    /// auditor; an application administrator only their applications' events, so they must
    /// name one of theirs.
    pub async fn audit_events_for(
        &self,
        authority: &Authority,
        request: &AuditRequest,
    ) -> Result<Vec<AuditEvent>, AdminError> {
        if authority.role == tessera_core::AdminRole::AppAdmin {
            let Some(key) = given(&request.app) else {
                return Err(AdminError::invalid("app", "name one of your applications"));
            };
            let app = self.store.find_app(key).await?;
            if !authority.sees_app(app.id) {
                return Err(AdminError::Missing("no such application".into()));
            }
        }
        self.audit_events(request).await
    }
}
