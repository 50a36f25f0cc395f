//! Reading the audit trail.

use tessera_core::AuditEvent;
use tessera_store::AuditQuery;

use crate::{AdminError, AdminService};

/// Which events: at or after `since` (RFC 3339), after the event id `after`, at most `limit`
/// (1 to 10,000).
#[derive(Debug, Clone, Default)]
pub struct AuditRequest {
    pub since: Option<String>,
    pub after: Option<i64>,
    pub limit: u32,
}

impl AdminService {
    /// Audit events, oldest first.
    pub async fn audit_events(&self, request: &AuditRequest) -> Result<Vec<AuditEvent>, AdminError> {
        let since = request.since.as_deref().map(tessera_core::parse_rfc3339_millis).transpose()?;
        if !(1..=10_000).contains(&request.limit) {
            return Err(AdminError::invalid("limit", "must be 1 to 10000"));
        }
        Ok(self.store.list_audit(&AuditQuery { since, after_id: request.after, limit: request.limit }).await?)
    }
}
