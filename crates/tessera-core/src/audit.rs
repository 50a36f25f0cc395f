//! Audit events: who changed what, when. The table behind them is append-only.

use serde::Serialize;

use crate::UnixMillis;

/// Who acted: `cli:<os user>`, `api:<token name>`, `system`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn system() -> Self {
        Actor("system".into())
    }

    pub fn cli(os_user: &str) -> Self {
        Actor(format!("cli:{os_user}"))
    }

    pub fn api_token(name: &str) -> Self {
        Actor(format!("api:{name}"))
    }
}

/// An event to append, before the store gives it an id and a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub action: &'static str,
    pub target_kind: &'static str,
    pub target_id: String,
    /// What changed, as a JSON object (never secrets).
    pub summary: serde_json::Value,
}

impl NewAuditEvent {
    pub fn new(
        action: &'static str,
        target_kind: &'static str,
        target_id: impl ToString,
        summary: serde_json::Value,
    ) -> Self {
        NewAuditEvent { action, target_kind, target_id: target_id.to_string(), summary }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: UnixMillis,
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub summary: serde_json::Value,
}
