//! The role traits handlers and commands program against. Every change an admin makes takes
//! the acting [`Actor`] and writes its audit event in the same transaction as the change.

use async_trait::async_trait;
use serde::Serialize;
use tessera_core::import::ImportRow;
use tessera_core::policy::{AccessPolicy, AuthnContext};
use tessera_core::{
    AccessDecision, Actor, AdminRole, AppId, Application, AuditEvent, Group, GroupId, NewApplication, NewAuditEvent,
    NewGroup, NewUser, UnixMillis, User, UserId, UserState,
};

use crate::StoreError;

/// Keyset pagination: items after `after` (an id), at most `limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 1000;
    pub const DEFAULT_LIMIT: u32 = 100;

    pub fn first(limit: u32) -> Self {
        PageRequest { after: None, limit }
    }

    pub(crate) fn effective_limit(&self) -> i64 {
        i64::from(self.limit.clamp(1, Self::MAX_LIMIT))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor for the next page, when there may be one.
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: UnixMillis,
    pub revoked_at: Option<UnixMillis>,
    /// What the token may do; an application administrator's applications are read apart.
    pub role: AdminRole,
}

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

/// What an import did, or (on a dry run, or with clashes) would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Rows that clash with the directory, by line; when any, nothing was written.
    pub clashes: Vec<(usize, String)>,
    pub users: usize,
    /// Groups named in the file that did not exist (created unless this is a preview).
    pub new_groups: Vec<String>,
    pub memberships: usize,
    /// Whether anything was written.
    pub written: bool,
}

/// What the User Portal shows of an application, as saved on its General tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppDetails<'a> {
    pub label: &'a str,
    pub description: &'a str,
    /// The checked image as a `data:image/png;base64,…` URI.
    pub portal_image: Option<&'a str>,
    pub show_in_portal: bool,
}

/// An administrator of the admin portal and the REST API. The password hash is for the
/// sign-in check only; views leave it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Administrator {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    /// The one-time password of the first start: it must be changed at its first use.
    pub must_change_password: bool,
    /// What they may do; an application administrator's applications are read apart.
    pub role: AdminRole,
    pub created_at: UnixMillis,
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

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, actor: &Actor, user: NewUser) -> Result<User, StoreError>;
    /// Creates every user of an import, the groups they name that do not exist yet, and their
    /// memberships, in one transaction; or, when any row clashes with the directory (an email,
    /// UPN or ImmutableID in use), or on a `dry_run`, nothing. Every clash is reported by line.
    async fn import_users(&self, actor: &Actor, rows: &[ImportRow], dry_run: bool)
    -> Result<ImportOutcome, StoreError>;
    /// By id, email or UPN (case-insensitive).
    async fn find_user(&self, key: &str) -> Result<User, StoreError>;
    async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError>;
    async fn set_password(&self, actor: &Actor, user: UserId, password_hash: &str) -> Result<(), StoreError>;
    async fn set_user_state(&self, actor: &Actor, user: UserId, state: UserState) -> Result<User, StoreError>;
    async fn delete_user(&self, actor: &Actor, user: UserId) -> Result<(), StoreError>;
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    async fn create_group(&self, actor: &Actor, group: NewGroup) -> Result<Group, StoreError>;
    /// By id or name (case-insensitive).
    async fn find_group(&self, key: &str) -> Result<Group, StoreError>;
    async fn list_groups(&self, page: &PageRequest) -> Result<Page<Group>, StoreError>;
    async fn delete_group(&self, actor: &Actor, group: GroupId) -> Result<(), StoreError>;
    /// Returns false when the user was already a member.
    async fn add_member(&self, actor: &Actor, group: GroupId, user: UserId) -> Result<bool, StoreError>;
    /// Returns false when the user was not a member.
    async fn remove_member(&self, actor: &Actor, group: GroupId, user: UserId) -> Result<bool, StoreError>;
    async fn group_members(&self, group: GroupId) -> Result<Vec<User>, StoreError>;
    async fn groups_of_user(&self, user: UserId) -> Result<Vec<Group>, StoreError>;
}

#[async_trait]
pub trait AppStore: Send + Sync {
    /// Creates the app together with its first signing key (apps that sign get one at once).
    async fn create_app(
        &self,
        actor: &Actor,
        app: NewApplication,
        signing_key: Option<NewSigningKey>,
    ) -> Result<Application, StoreError>;
    /// By id or label (case-insensitive).
    async fn find_app(&self, key: &str) -> Result<Application, StoreError>;
    /// The Microsoft 365 connector of a federated domain.
    async fn find_app_by_domain(&self, domain: &str) -> Result<Application, StoreError>;
    /// The Microsoft 365 connector whose endpoints live under `/m365/{idp_path}`.
    async fn find_app_by_idp_path(&self, idp_path: &str) -> Result<Application, StoreError>;
    /// Replaces an app's sign-in settings (its kind's configuration), with an audit row of
    /// before and after. The kind, domain, IdP path and SP entity ID cannot change.
    async fn update_app_kind(
        &self,
        actor: &Actor,
        app: AppId,
        kind: &tessera_core::AppKind,
    ) -> Result<Application, StoreError>;
    /// Changes what the portal shows of an application (Display Label, Description, User Portal
    /// Image, Show in User Portal); a taken label is a conflict on `label`.
    async fn update_app_details(
        &self,
        actor: &Actor,
        app: AppId,
        details: &AppDetails<'_>,
    ) -> Result<Application, StoreError>;
    async fn list_apps(&self, page: &PageRequest) -> Result<Page<Application>, StoreError>;
    /// Deletes all of `apps` or none: `confirm_count` must equal their number, and each must exist.
    async fn delete_apps(&self, actor: &Actor, apps: &[AppId], confirm_count: usize) -> Result<usize, StoreError>;
    async fn set_app_policy(&self, actor: &Actor, app: AppId, policy: &AccessPolicy) -> Result<(), StoreError>;
}

/// Which groups may use which applications, and the authorization rule over them.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Grants `group` access to `app`; the same grant whether made from the app or the group
    /// side. Returns false when it existed already.
    async fn grant(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError>;
    /// Returns false when there was no such grant.
    async fn revoke(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError>;
    /// Makes `groups` exactly the app's granted groups, in one transaction: each grant and
    /// revoke audited, all or none. Returns how many were granted and revoked; a group that
    /// does not exist is `NotFound`.
    async fn set_grants(&self, actor: &Actor, app: AppId, groups: &[GroupId]) -> Result<(usize, usize), StoreError>;
    /// The same from the group's side: makes `apps` exactly the applications granted to the
    /// group, in one transaction, all or none.
    async fn set_group_apps(&self, actor: &Actor, group: GroupId, apps: &[AppId])
    -> Result<(usize, usize), StoreError>;
    async fn granted_groups(&self, app: AppId) -> Result<Vec<Group>, StoreError>;
    async fn apps_of_group(&self, group: GroupId) -> Result<Vec<Application>, StoreError>;
    /// The apps granted to any group the user is in (whatever the user's state).
    async fn apps_of_user(&self, user: UserId) -> Result<Vec<Application>, StoreError>;
    /// The authorization rule applied to the stored directory.
    async fn check_access(&self, user: UserId, app: AppId) -> Result<AccessDecision, StoreError>;
}

/// Which of an app's keys: the one it signs with, or the one staged for a rollover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySlot {
    Current,
    Next,
}

impl KeySlot {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeySlot::Current => "current",
            KeySlot::Next => "next",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "current" => Ok(KeySlot::Current),
            "next" => Ok(KeySlot::Next),
            other => Err(StoreError::Corrupt(format!("key slot {other:?}"))),
        }
    }
}

/// A key as stored: the private key only sealed under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub id: String,
    pub app_id: AppId,
    pub slot: KeySlot,
    pub bits: u32,
    pub sealed_private_key: Vec<u8>,
    pub certificate_der: Vec<u8>,
    pub not_after: UnixMillis,
    pub created_at: UnixMillis,
}

/// A key to store; `id` is chosen by the caller because the seal is bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSigningKey {
    pub id: String,
    pub bits: u32,
    pub sealed_private_key: Vec<u8>,
    pub certificate_der: Vec<u8>,
    pub not_after: UnixMillis,
    /// Hex SHA-256 of the certificate, for the audit trail.
    pub thumbprint: String,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn signing_key(&self, app: AppId, slot: KeySlot) -> Result<Option<StoredKey>, StoreError>;
    /// Replaces the app's current key at once; the old one is destroyed.
    async fn replace_current_key(&self, actor: &Actor, app: AppId, key: NewSigningKey)
    -> Result<StoredKey, StoreError>;
    /// Stages `key` as the app's next key: published, not signing. Refused while one is staged
    /// or a previous certificate is still published.
    async fn stage_key(&self, actor: &Actor, app: AppId, key: NewSigningKey) -> Result<StoredKey, StoreError>;
    /// Makes the staged key current. The old key is destroyed; its certificate stays published
    /// as next until `published_until`.
    async fn promote_key(
        &self,
        actor: &Actor,
        app: AppId,
        published_until: UnixMillis,
    ) -> Result<StoredKey, StoreError>;
    async fn previous_certificate(&self, app: AppId) -> Result<Option<PreviousCertificate>, StoreError>;
    /// Stops publishing the previous certificate (only once its grace period is over, with
    /// `due_only`). Returns whether one was cleared.
    async fn clear_previous_certificate(&self, actor: &Actor, app: AppId, due_only: bool) -> Result<bool, StoreError>;
}

/// A certificate a promotion replaced, published as next for a grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousCertificate {
    pub certificate_der: Vec<u8>,
    pub not_after: UnixMillis,
    pub published_until: UnixMillis,
}

/// A sign-in session. Only the SHA-256 of its id is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    pub user_id: UserId,
    pub authn: AuthnContext,
    /// Every step the sign-in needs is done (password, and a second factor when enrolled).
    pub complete: bool,
    pub created_at: UnixMillis,
    pub last_seen_at: UnixMillis,
    /// The absolute timeout.
    pub expires_at: UnixMillis,
}

/// A validated protocol request waiting for its browser's user to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedRequest {
    pub id: String,
    /// SHA-256 of the cookie that binds the request to the browser that made it.
    pub browser_hash: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCredential {
    /// The secret, sealed under the master key.
    pub sealed_secret: Vec<u8>,
    /// Enrolment finished (a code was shown back).
    pub confirmed: bool,
    /// The last time step accepted: a code is good once.
    pub last_step: i64,
}

/// Where a sign-in attempt comes from, for smart lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Familiar,
    Unknown,
    /// Wrong second-factor codes: counted apart, and not reset by a right password.
    SecondFactor,
}

impl Location {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Location::Familiar => "familiar",
            Location::Unknown => "unknown",
            Location::SecondFactor => "mfa",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutCounter {
    pub failures: u32,
    pub last_failure_at: UnixMillis,
}

/// At most this many familiar addresses are kept per user (the oldest go first), as AD FS does.
pub const MAX_FAMILIAR_IPS: usize = 20;

/// Sign-in sessions, and what a finished sign-in records on its user.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    async fn find_session(&self, id_hash: &str) -> Result<Option<Session>, StoreError>;
    /// The session and its user, in one read.
    async fn find_session_with_user(&self, id_hash: &str) -> Result<Option<(Session, User)>, StoreError>;
    async fn touch_session(&self, id_hash: &str, now: UnixMillis) -> Result<(), StoreError>;
    /// Replaces a session by a new one under a new id, atomically (no fixation).
    async fn rotate_session(&self, old_id_hash: &str, new: &Session) -> Result<(), StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Ends every session of the user (an administrator's "sign out everywhere"), with its
    /// audit record; the number ended.
    async fn end_user_sessions(&self, actor: &Actor, user: UserId) -> Result<u64, StoreError>;
    /// Records the password-update notice as acknowledged, with its audit event.
    async fn acknowledge_notice(&self, actor: &Actor, user: UserId, now: UnixMillis) -> Result<(), StoreError>;
}

/// Protocol message IDs seen, against replay.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records a protocol message ID from `issuer` until `expires_at`: `false` if it was seen
    /// already (a replay), atomically across nodes.
    async fn remember_message_id(
        &self,
        issuer: &str,
        message_id: &str,
        expires_at: UnixMillis,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;
}

/// Validated protocol requests waiting while their browser's user signs in.
#[async_trait]
pub trait ParkingStore: Send + Sync {
    async fn park_request(&self, parked: &ParkedRequest) -> Result<(), StoreError>;
    /// Takes (and removes) a parked request, if it exists, is unexpired and belongs to this
    /// browser. Another browser's attempt leaves it in place.
    async fn take_parked_request(
        &self,
        id: &str,
        browser_hash: &str,
        now: UnixMillis,
    ) -> Result<Option<ParkedRequest>, StoreError>;
    /// The trace id of this browser's parked request, leaving it in place (the sign-in pages
    /// tag their audit events with it).
    async fn parked_trace(&self, id: &str, browser_hash: &str) -> Result<Option<String>, StoreError>;
}

/// Second factors: the TOTP credential and recovery codes.
#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn totp_credential(&self, user: UserId) -> Result<Option<TotpCredential>, StoreError>;
    /// Starts (or restarts) enrolment with a new secret; a confirmed credential is kept.
    async fn put_pending_totp(&self, user: UserId, sealed_secret: &[u8], now: UnixMillis) -> Result<(), StoreError>;
    /// Finishes enrolment: confirmed from `step` on, with these recovery code hashes.
    async fn confirm_totp(
        &self,
        actor: &Actor,
        user: UserId,
        step: i64,
        recovery_code_hashes: &[String],
    ) -> Result<bool, StoreError>;
    /// Accepts time step `step` once: false when it (or a later one) was used already.
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError>;
    /// Uses up a recovery code: false when there is no such unused code.
    async fn use_recovery_code(&self, user: UserId, code_hash: &str) -> Result<bool, StoreError>;
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError>;
    /// Removes the user's TOTP and recovery codes; false when there were none.
    async fn reset_mfa(&self, actor: &Actor, user: UserId) -> Result<bool, StoreError>;
}

/// The counters of smart lockout and spray throttling, and the addresses users are familiar from.
#[async_trait]
pub trait LockoutStore: Send + Sync {
    /// A counter as it stands (what an administrator's account-activity view reads).
    async fn lockout_counter(&self, user: UserId, location: Location) -> Result<Option<LockoutCounter>, StoreError>;
    /// Reserves one attempt against the user's counter for `location`, atomically: counts it
    /// (as a failure until a success resets the counter) and returns true when the counter
    /// is under `threshold` or its last failure is older than `window_ms`; false (and nothing
    /// changes) when locked. Concurrent attempts cannot all slip under the threshold.
    async fn reserve_attempt(
        &self,
        user: UserId,
        location: Location,
        threshold: u32,
        window_ms: i64,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;
    /// Counts a failed sign-in from the address `ip_key` for the name `user_key` (known or
    /// not), for spray throttling.
    async fn record_failed_attempt(&self, ip_key: &str, user_key: &str, now: UnixMillis) -> Result<(), StoreError>;
    /// A right password: the password counters reset.
    async fn record_password_success(&self, user: UserId) -> Result<(), StoreError>;
    /// A completed sign-in from `ip`: the address becomes familiar (the newest 20 are kept).
    async fn learn_familiar_ip(&self, user: UserId, ip: &str, now: UnixMillis) -> Result<(), StoreError>;
    /// A right second factor: its counter resets.
    async fn clear_second_factor_failures(&self, user: UserId) -> Result<(), StoreError>;
    async fn familiar_ips(&self, user: UserId) -> Result<Vec<String>, StoreError>;
    /// How many different names failed from `ip` since `since`.
    async fn failed_names_from_ip(&self, ip: &str, since: UnixMillis) -> Result<u32, StoreError>;
}

/// Appending to the audit trail events that are not part of a directory change (sign-in
/// decisions); directory changes write theirs in the change's own transaction.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append_audit(&self, actor: &Actor, event: NewAuditEvent) -> Result<(), StoreError>;
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

#[async_trait]
pub trait AdminStore: Send + Sync {
    /// A token with its role, and for an application administrator's role, its applications.
    async fn create_api_token(
        &self,
        actor: &Actor,
        name: &str,
        token_hash: &str,
        role: AdminRole,
        apps: &[AppId],
    ) -> Result<ApiToken, StoreError>;
    /// The applications an application administrator's token reaches.
    async fn api_token_apps(&self, token_id: &str) -> Result<Vec<AppId>, StoreError>;
    /// The live (not revoked) token with this hash.
    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError>;
    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;
    /// By id or name.
    async fn revoke_api_token(&self, actor: &Actor, key: &str) -> Result<ApiToken, StoreError>;
    /// Creates the first administrator if there is none; false if one exists already.
    async fn create_initial_admin(&self, username: &str, password_hash: &str) -> Result<bool, StoreError>;
    /// An administrator whose password is their own (not one-time). A taken name (in any
    /// letter case) is a conflict on `username`.
    async fn create_admin(
        &self,
        actor: &Actor,
        username: &str,
        password_hash: &str,
        role: AdminRole,
        apps: &[AppId],
    ) -> Result<Administrator, StoreError>;
    /// Gives an administrator a role (and an application administrator their applications,
    /// replacing the earlier ones), in one transaction. The last full administrator keeps
    /// their role (a conflict): the deployment must keep someone who can administer it.
    async fn set_admin_role(
        &self,
        actor: &Actor,
        key: &str,
        role: AdminRole,
        apps: &[AppId],
    ) -> Result<Administrator, StoreError>;
    /// The applications an application administrator reaches.
    async fn admin_apps(&self, admin_id: &str) -> Result<Vec<AppId>, StoreError>;
    /// By id or name (any letter case).
    async fn find_admin(&self, key: &str) -> Result<Administrator, StoreError>;
    /// Oldest first.
    async fn list_admins(&self) -> Result<Vec<Administrator>, StoreError>;
    async fn set_admin_password(
        &self,
        actor: &Actor,
        key: &str,
        password_hash: &str,
        must_change: bool,
    ) -> Result<Administrator, StoreError>;
    /// Deletes an administrator, never the last full administrator (a conflict).
    async fn delete_admin(&self, actor: &Actor, key: &str) -> Result<Administrator, StoreError>;
}

/// An admin portal session and its administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub admin: Administrator,
    pub created_at: UnixMillis,
    pub last_seen_at: UnixMillis,
    /// The second factor was shown, or none is needed.
    pub complete: bool,
}

/// The admin portal's sign-in state: sessions (ids stored as SHA-256) and the lockout counter
/// per administrator.
#[async_trait]
pub trait AdminSignInStore: Send + Sync {
    async fn create_admin_session(
        &self,
        id_hash: &str,
        admin_id: &str,
        complete: bool,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// The session under `old_hash`, now complete under `new_hash` (a new id after each step).
    async fn complete_admin_session(&self, old_hash: &str, new_hash: &str) -> Result<bool, StoreError>;
    /// The session with its administrator as they are now; none once either is gone.
    async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError>;
    async fn touch_admin_session(&self, id_hash: &str, now: UnixMillis) -> Result<(), StoreError>;
    async fn delete_admin_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Counts a password attempt for `admin_id` before it is checked, atomically: false when
    /// `threshold` failures fall within `window_ms` already (locked).
    async fn reserve_admin_attempt(
        &self,
        admin_id: &str,
        threshold: u32,
        window_ms: i64,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;
    /// A right password: the count starts again.
    async fn clear_admin_failures(&self, admin_id: &str) -> Result<(), StoreError>;
    async fn admin_totp(&self, admin_id: &str) -> Result<Option<TotpCredential>, StoreError>;
    /// A new pending secret, replacing a pending one (never a confirmed one).
    async fn put_pending_admin_totp(
        &self,
        admin_id: &str,
        sealed_secret: &[u8],
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Confirms the pending secret at `step`; false when nothing was pending.
    async fn confirm_admin_totp(&self, actor: &Actor, admin_id: &str, step: i64) -> Result<bool, StoreError>;
    /// Accepts `step` once: false for a step at or before the last accepted.
    async fn use_admin_totp_step(&self, admin_id: &str, step: i64) -> Result<bool, StoreError>;
    /// Removes an administrator's authenticator (confirmed or pending) and ends their sessions,
    /// so that the next sign-in enrols a new one; false when there was none.
    async fn reset_admin_totp(&self, actor: &Actor, admin_id: &str) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Sets (or with `None` removes) an administrative setting, with `event` in the audit
    /// trail, in one transaction. Returns whether there was a value before.
    async fn change_setting(
        &self,
        actor: &Actor,
        key: &str,
        value: Option<&str>,
        event: NewAuditEvent,
    ) -> Result<bool, StoreError>;
    /// Takes (or renews) the lease `name` for `holder` for `ttl_ms`, when it is free, expired,
    /// or `holder`'s already: background jobs that must run on one node at a time.
    async fn take_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool, StoreError>;
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
}

/// Everything a handler or command needs from storage.
pub trait Store:
    UserStore
    + GroupStore
    + AppStore
    + GrantStore
    + KeyStore
    + SessionStore
    + ReplayStore
    + ParkingStore
    + MfaStore
    + LockoutStore
    + AuditLog
    + AuditStore
    + AdminStore
    + AdminSignInStore
    + SettingsStore
{
}

impl<T> Store for T where
    T: UserStore
        + GroupStore
        + AppStore
        + GrantStore
        + KeyStore
        + SessionStore
        + ReplayStore
        + ParkingStore
        + MfaStore
        + LockoutStore
        + AuditLog
        + AuditStore
        + AdminStore
        + AdminSignInStore
        + SettingsStore
{
}

/// The setting holding the public URL the server last started with, so that management
/// commands build the same endpoint URLs as the running server.
pub const SETTING_PUBLIC_URL: &str = "public_url";

/// The setting holding the master-key check value (see tessera-keys).
pub const SETTING_MASTER_KEY_CHECK: &str = "master_key_check";
