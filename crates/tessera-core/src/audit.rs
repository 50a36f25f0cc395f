//! Audit events: who changed what, when. The table behind them is append-only.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::{AuditSummary, UnixMillis, UserId};

/// Who acted: `cli:<os user>`, `api:<token name>`, `user:<id>`, `ip:<address>`, `system`.
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

    /// A signed-in (or half signed-in) user acting for themselves.
    /// An administrator signed in to the admin portal, by their id.
    pub fn admin(id: &str) -> Self {
        Actor(format!("admin:{id}"))
    }

    pub fn user(user: UserId) -> Self {
        Actor(format!("user:{user}"))
    }

    /// Someone not (yet) known, by the address the request came from: as audit rows record
    /// it, an address or `unreadable`.
    pub fn ip(address: &str) -> Self {
        Actor(format!("ip:{address}"))
    }

    pub fn client(address: IpAddr) -> Self {
        Actor(format!("ip:{address}"))
    }
}

/// Every action the audit trail records. The names are stable: scripts, benchmarks and SIEM
/// rules match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    // The directory, changed by an administrator.
    UserCreate,
    UserDelete,
    UserSetPassword,
    UserSetState,
    UserMfaEnroll,
    UserMfaReset,
    /// Every session of a user ended by an administrator.
    UserSignOut,
    UserNoticeAcknowledged,
    GroupCreate,
    GroupDelete,
    GroupAddMember,
    GroupRemoveMember,
    AppCreate,
    AppUpdate,
    AppDelete,
    AppGrant,
    AppRevoke,
    AppSetPolicy,
    AppCertRotate,
    /// A next signing certificate staged (published, not signing yet).
    AppCertStage,
    /// The staged certificate made current; the old one published as next for a grace period.
    AppCertPromote,
    /// The previous certificate's grace period ended: it is no longer published.
    AppCertClearPrevious,
    AdminCreate,
    AdminPasswordSet,
    AdminDelete,
    AdminSignin,
    AdminSigninFailure,
    AdminSignout,
    AdminMfa,
    AdminMfaFailure,
    AdminMfaEnroll,
    AdminMfaReset,
    /// An administrator's role or applications changed.
    AdminRoleSet,
    /// Sign-in tracing switched on or off for an application or a user.
    TraceSet,
    /// The organization's brand (name, logo, accent, help link) changed.
    BrandingSet,
    // A user managing their own account (a password change, a second factor removed and
    // signing out everywhere are the directory's own events, by the user).
    AccountMfaRename,
    AccountRecoveryCodes,
    /// A domain federated (or its configuration changed) through Microsoft Graph.
    M365Enable,
    /// A domain returned to Managed through Microsoft Graph.
    M365Disable,
    /// `m365 users --fix`: ImmutableIDs set and users created in Entra.
    M365UsersFix,
    /// `tessera doctor` (or the portal's Doctor tab) ran, with the test user it named.
    M365Doctor,
    /// Graph credentials stored (sealed), or removed.
    M365CredentialsSet,
    M365CredentialsDelete,
    /// The automatic rollover pushed an application's certificates to a federated domain.
    M365CertificatesPushed,
    /// A step of the automatic rollover failed (an administrator is warned in the portal).
    M365RolloverFailed,
    DirectoryAdd,
    DirectoryRemove,
    DirectorySync,
    DirectorySyncFailed,
    DirectoryAdopt,
    /// `HTTP/<host>` registered on a service account in AD (`directory kerberos register`).
    DirectoryKerberosRegister,
    UserSyncUpdate,
    UserSetIdentity,
    GroupSyncUpdate,
    ApiTokenCreate,
    ApiTokenRevoke,
    // Signing in, whatever the protocol.
    SigninPassword,
    /// Windows integrated sign-in: a Kerberos ticket accepted.
    SigninKerberos,
    SigninFailure,
    SigninThrottled,
    SigninMfa,
    SigninMfaFailure,
    SigninDenied,
    SigninLaunch,
    SigninLogout,
    SigninResumeRefused,
    // SAML 2.0.
    SamlIssued,
    SamlDenied,
    SamlStatus,
    SamlRefused,
    SamlLogoutRefused,
    // WS-Federation.
    WsFedIssued,
    WsFedDenied,
    WsFedRefused,
    WsFedReplyRefused,
    // WS-Trust.
    WsTrustIssued,
    WsTrustDenied,
    WsTrustRefused,
}

/// How a sign-in event counts on the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignInOutcome {
    /// A token issued, or an application opened from the User Portal.
    SignedIn,
    /// A wrong password or code, or attempts throttled.
    Failed,
    /// Refused by policy, authorization or a protocol check.
    Refused,
}

impl AuditAction {
    /// What this action means for the sign-in counts, if it is a sign-in event.
    pub fn sign_in_outcome(self) -> Option<SignInOutcome> {
        use AuditAction::*;
        match self {
            SamlIssued | WsFedIssued | WsTrustIssued | SigninLaunch => Some(SignInOutcome::SignedIn),
            SigninFailure | SigninMfaFailure | SigninThrottled => Some(SignInOutcome::Failed),
            SigninDenied | SamlDenied | SamlStatus | SamlRefused | WsFedDenied | WsFedRefused | WsFedReplyRefused
            | WsTrustDenied | WsTrustRefused | SigninResumeRefused => Some(SignInOutcome::Refused),
            _ => None,
        }
    }

    pub fn from_name(name: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub const ALL: [AuditAction; 78] = [
        AuditAction::UserCreate,
        AuditAction::UserDelete,
        AuditAction::UserSetPassword,
        AuditAction::UserSetState,
        AuditAction::UserMfaEnroll,
        AuditAction::UserMfaReset,
        AuditAction::UserSignOut,
        AuditAction::UserNoticeAcknowledged,
        AuditAction::GroupCreate,
        AuditAction::GroupDelete,
        AuditAction::GroupAddMember,
        AuditAction::GroupRemoveMember,
        AuditAction::AppCreate,
        AuditAction::AppUpdate,
        AuditAction::AppDelete,
        AuditAction::AppGrant,
        AuditAction::AppRevoke,
        AuditAction::AppSetPolicy,
        AuditAction::AppCertRotate,
        AuditAction::AppCertStage,
        AuditAction::AppCertPromote,
        AuditAction::AppCertClearPrevious,
        AuditAction::AdminCreate,
        AuditAction::AdminPasswordSet,
        AuditAction::AdminDelete,
        AuditAction::AdminSignin,
        AuditAction::AdminSigninFailure,
        AuditAction::AdminSignout,
        AuditAction::AdminMfa,
        AuditAction::AdminMfaFailure,
        AuditAction::AdminMfaEnroll,
        AuditAction::AdminMfaReset,
        AuditAction::AdminRoleSet,
        AuditAction::TraceSet,
        AuditAction::BrandingSet,
        AuditAction::AccountMfaRename,
        AuditAction::AccountRecoveryCodes,
        AuditAction::M365Enable,
        AuditAction::M365Disable,
        AuditAction::M365UsersFix,
        AuditAction::M365Doctor,
        AuditAction::M365CredentialsSet,
        AuditAction::M365CredentialsDelete,
        AuditAction::M365CertificatesPushed,
        AuditAction::M365RolloverFailed,
        AuditAction::DirectoryAdd,
        AuditAction::DirectoryRemove,
        AuditAction::DirectorySync,
        AuditAction::DirectorySyncFailed,
        AuditAction::DirectoryAdopt,
        AuditAction::DirectoryKerberosRegister,
        AuditAction::UserSyncUpdate,
        AuditAction::UserSetIdentity,
        AuditAction::GroupSyncUpdate,
        AuditAction::ApiTokenCreate,
        AuditAction::ApiTokenRevoke,
        AuditAction::SigninPassword,
        AuditAction::SigninKerberos,
        AuditAction::SigninFailure,
        AuditAction::SigninThrottled,
        AuditAction::SigninMfa,
        AuditAction::SigninMfaFailure,
        AuditAction::SigninDenied,
        AuditAction::SigninLaunch,
        AuditAction::SigninLogout,
        AuditAction::SigninResumeRefused,
        AuditAction::SamlIssued,
        AuditAction::SamlDenied,
        AuditAction::SamlStatus,
        AuditAction::SamlRefused,
        AuditAction::SamlLogoutRefused,
        AuditAction::WsFedIssued,
        AuditAction::WsFedDenied,
        AuditAction::WsFedRefused,
        AuditAction::WsFedReplyRefused,
        AuditAction::WsTrustIssued,
        AuditAction::WsTrustDenied,
        AuditAction::WsTrustRefused,
    ];

    /// The name stored in the audit table.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::UserCreate => "user.create",
            AuditAction::UserDelete => "user.delete",
            AuditAction::UserSetPassword => "user.set_password",
            AuditAction::UserSetState => "user.set_state",
            AuditAction::UserMfaEnroll => "user.mfa_enroll",
            AuditAction::UserMfaReset => "user.mfa_reset",
            AuditAction::UserSignOut => "user.sign_out",
            AuditAction::UserNoticeAcknowledged => "user.notice_acknowledged",
            AuditAction::GroupCreate => "group.create",
            AuditAction::GroupDelete => "group.delete",
            AuditAction::GroupAddMember => "group.add_member",
            AuditAction::GroupRemoveMember => "group.remove_member",
            AuditAction::AppCreate => "app.create",
            AuditAction::AppUpdate => "app.update",
            AuditAction::AppDelete => "app.delete",
            AuditAction::AppGrant => "app.grant",
            AuditAction::AppRevoke => "app.revoke",
            AuditAction::AppSetPolicy => "app.set_policy",
            AuditAction::AppCertRotate => "app.cert_rotate",
            AuditAction::AppCertStage => "app.cert_stage",
            AuditAction::AppCertPromote => "app.cert_promote",
            AuditAction::AppCertClearPrevious => "app.cert_clear_previous",
            AuditAction::AdminCreate => "admin.create",
            AuditAction::AdminPasswordSet => "admin.password_set",
            AuditAction::AdminDelete => "admin.delete",
            AuditAction::AdminSignin => "admin.signin",
            AuditAction::AdminSigninFailure => "admin.signin_failure",
            AuditAction::AdminSignout => "admin.signout",
            AuditAction::AdminMfa => "admin.mfa",
            AuditAction::AdminMfaFailure => "admin.mfa_failure",
            AuditAction::AdminMfaEnroll => "admin.mfa_enroll",
            AuditAction::AdminMfaReset => "admin.mfa_reset",
            AuditAction::AdminRoleSet => "admin.role_set",
            AuditAction::TraceSet => "trace.set",
            AuditAction::BrandingSet => "branding.set",
            AuditAction::AccountMfaRename => "account.mfa_rename",
            AuditAction::AccountRecoveryCodes => "account.recovery_codes",
            AuditAction::M365Enable => "m365.enable",
            AuditAction::M365Disable => "m365.disable",
            AuditAction::M365UsersFix => "m365.users_fix",
            AuditAction::M365Doctor => "m365.doctor",
            AuditAction::M365CredentialsSet => "m365.credentials_set",
            AuditAction::M365CredentialsDelete => "m365.credentials_delete",
            AuditAction::M365CertificatesPushed => "m365.certificates_pushed",
            AuditAction::M365RolloverFailed => "m365.rollover_failed",
            AuditAction::DirectoryAdd => "directory.add",
            AuditAction::DirectoryRemove => "directory.remove",
            AuditAction::DirectorySync => "directory.sync",
            AuditAction::DirectorySyncFailed => "directory.sync_failed",
            AuditAction::DirectoryAdopt => "directory.adopt",
            AuditAction::DirectoryKerberosRegister => "directory.kerberos_register",
            AuditAction::UserSyncUpdate => "user.sync_update",
            AuditAction::UserSetIdentity => "user.set_identity",
            AuditAction::GroupSyncUpdate => "group.sync_update",
            AuditAction::ApiTokenCreate => "api_token.create",
            AuditAction::ApiTokenRevoke => "api_token.revoke",
            AuditAction::SigninPassword => "signin.password",
            AuditAction::SigninKerberos => "signin.kerberos",
            AuditAction::SigninFailure => "signin.failure",
            AuditAction::SigninThrottled => "signin.throttled",
            AuditAction::SigninMfa => "signin.mfa",
            AuditAction::SigninMfaFailure => "signin.mfa_failure",
            AuditAction::SigninDenied => "signin.denied",
            AuditAction::SigninLaunch => "signin.launch",
            AuditAction::SigninLogout => "signin.logout",
            AuditAction::SigninResumeRefused => "signin.resume_refused",
            AuditAction::SamlIssued => "saml.issued",
            AuditAction::SamlDenied => "saml.denied",
            AuditAction::SamlStatus => "saml.status",
            AuditAction::SamlRefused => "saml.refused",
            AuditAction::SamlLogoutRefused => "saml.logout_refused",
            AuditAction::WsFedIssued => "wsfed.issued",
            AuditAction::WsFedDenied => "wsfed.denied",
            AuditAction::WsFedRefused => "wsfed.refused",
            AuditAction::WsFedReplyRefused => "wsfed.reply_refused",
            AuditAction::WsTrustIssued => "wstrust.issued",
            AuditAction::WsTrustDenied => "wstrust.denied",
            AuditAction::WsTrustRefused => "wstrust.refused",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event to append, before the store gives it an id and a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub action: AuditAction,
    pub target_kind: &'static str,
    pub target_id: String,
    /// What changed, as a JSON object (never secrets).
    pub summary: AuditSummary,
}

impl NewAuditEvent {
    pub fn new(
        action: AuditAction,
        target_kind: &'static str,
        target_id: impl ToString,
        summary: impl Into<AuditSummary>,
    ) -> Self {
        NewAuditEvent { action, target_kind, target_id: target_id.to_string(), summary: summary.into() }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_distinct_and_dotted() {
        let names: std::collections::HashSet<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), AuditAction::ALL.len());
        for name in names {
            let (area, what) = name.split_once('.').unwrap_or_default();
            assert!(
                !area.is_empty()
                    && !what.is_empty()
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
            );
        }
    }

    #[test]
    fn actors_name_their_kind() {
        let user = UserId::new();
        assert_eq!(Actor::user(user).0, format!("user:{user}"));
        assert_eq!(Actor::ip("unreadable").0, "ip:unreadable");
        assert_eq!(Actor::client("192.0.2.1".parse().unwrap()).0, "ip:192.0.2.1");
    }
}
