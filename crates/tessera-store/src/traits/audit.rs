//! The audit trail and what is read from it.

use super::*;

/// A token kept while sign-in tracing was on, without its signature value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptToken {
    pub trace: String,
    pub app_id: String,
    pub user_id: String,
    pub token: String,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

/// How many events of one action, about one application (if any), in one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlyCount {
    /// Hours since the Unix epoch.
    pub hour: i64,
    pub action: String,
    pub app: Option<String>,
    pub count: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub since: Option<UnixMillis>,
    /// Only events before this time.
    pub until: Option<UnixMillis>,
    /// Oldest first: events after this id; newest first: before it.
    pub after_id: Option<i64>,
    pub limit: u32,
    /// Only this actor (`admin:ID`, `user:ID`, `cli:NAME`, `ip:ADDRESS`, …).
    pub actor: Option<String>,
    /// Only this action, or with a trailing `.`, every action it begins (`signin.`).
    pub action: Option<String>,
    /// Only events about this application.
    pub app: Option<AppId>,
    /// Only events by, about or naming this user.
    pub user: Option<UserId>,
    pub newest_first: bool,
}

/// Appending to the audit trail events that are not part of a directory change (sign-in
/// decisions); directory changes write theirs in the change's own transaction.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append_audit(&self, actor: &Actor, event: NewAuditEvent) -> Result<(), StoreError>;
}

/// The audit trail's chain of MACs (see `audit_chain`).
#[async_trait]
pub trait AuditChain: Send + Sync {
    /// Hands the store the key the chain's MACs are made with (derived from the master key).
    /// Until then every audit write is refused. The same key again is accepted, another is not.
    fn seal_audit_with(&self, key: AuditKey) -> Result<(), StoreError>;
    /// Walks the chain from its first record, or from the first at or after `since` (trusting
    /// the link before it), and reports how far it held and where it first broke.
    async fn verify_audit_chain(&self, since: Option<UnixMillis>) -> Result<ChainReport, StoreError>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Oldest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
    /// Sign-in events (`signin.`, `saml.`, `wsfed.`, `wstrust.`) at or after `since`, counted by
    /// hour, action and the application they concern.
    async fn sign_in_counts(&self, since: UnixMillis) -> Result<Vec<HourlyCount>, StoreError>;
    /// The events of one sign-in's trace (their summary's `trace`), oldest first, at most 200.
    async fn trace_events(&self, trace: &str) -> Result<Vec<AuditEvent>, StoreError>;
    /// Keeps a token sent while tracing was on (removing kept tokens that have expired).
    async fn keep_sign_in_token(&self, token: &KeptToken) -> Result<(), StoreError>;
    /// The kept token of a trace, unless it has expired.
    async fn sign_in_token(&self, trace: &str, now: UnixMillis) -> Result<Option<KeptToken>, StoreError>;
    /// What users did with an application (tokens issued, launches, denials), newest first, at
    /// most `limit` (1 to 500).
    async fn app_sign_ins(&self, app: AppId, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
}
