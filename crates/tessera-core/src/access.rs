//! The authorization rule: a user may use an application only while active and a member of a
//! group granted to it. Everything else is denied.

use serde::Serialize;

use crate::{GroupId, UserState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// The account is suspended; grants do not matter.
    UserSuspended,
    /// No group the user belongs to is granted to the application.
    NoGrantedGroup,
    /// A Microsoft 365 connector signs only for its own domain and its sub-domains: a token
    /// for another domain would carry the wrong issuer, which Entra refuses.
    OtherDomain,
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::UserSuspended => "user_suspended",
            DenyReason::NoGrantedGroup => "no_granted_group",
            DenyReason::OtherDomain => "upn_other_domain",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDecision {
    /// Allowed; `via` lists every granted group that holds the user (for audit).
    Allowed {
        via: Vec<GroupId>,
    },
    Denied(DenyReason),
}

impl AccessDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, AccessDecision::Allowed { .. })
    }
}

/// Decides access from the user's state, the groups the user is in, and the groups granted to
/// the application.
pub fn evaluate_access(state: UserState, member_of: &[GroupId], granted: &[GroupId]) -> AccessDecision {
    if state != UserState::Active {
        return AccessDecision::Denied(DenyReason::UserSuspended);
    }
    let mut via: Vec<GroupId> = member_of.iter().copied().filter(|g| granted.contains(g)).collect();
    if via.is_empty() {
        return AccessDecision::Denied(DenyReason::NoGrantedGroup);
    }
    via.sort();
    via.dedup();
    AccessDecision::Allowed { via }
}

/// Whether `upn` belongs to `domain`: the domain itself or one of its sub-domains (a
/// sub-domain's users sign in through their root domain's connector, whose issuer Entra
/// expects for them; M365-PROTOCOLS.md §8 item 29).
pub fn upn_in_domain(upn: &str, domain: &str) -> bool {
    let Some((_, suffix)) = upn.rsplit_once('@') else { return false };
    suffix.eq_ignore_ascii_case(domain) || is_sub_domain(suffix, domain)
}

/// Whether `domain` lies under `root` (`sales.contoso.com` under `contoso.com`; not
/// `evilcontoso.com`, and not `contoso.com` itself), whatever the case and a trailing dot.
pub fn is_sub_domain(domain: &str, root: &str) -> bool {
    let (domain, root) =
        (domain.trim_end_matches('.').to_ascii_lowercase(), root.trim_end_matches('.').to_ascii_lowercase());
    domain.ends_with(&format!(".{root}"))
}

/// The access decision for `app`, with the connector's domain rule on top.
pub fn for_app(access: AccessDecision, app: &crate::AppKind, upn: &str) -> AccessDecision {
    match app {
        crate::AppKind::M365(c) if access.is_allowed() && !upn_in_domain(upn, &c.domain) => {
            AccessDecision::Denied(DenyReason::OtherDomain)
        }
        _ => access,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_connector_signs_for_its_domain_and_sub_domains_only() {
        use super::upn_in_domain;
        assert!(upn_in_domain("alice@contoso.com", "contoso.com"));
        assert!(upn_in_domain("carol@Sales.Contoso.com", "contoso.com"));
        assert!(!upn_in_domain("bob@northwind.com", "contoso.com"));
        assert!(!upn_in_domain("mallory@evilcontoso.com", "contoso.com"), "a suffix is not a sub-domain");
        assert!(!upn_in_domain("no-at-sign", "contoso.com"));
        assert!(super::is_sub_domain("Sales.Contoso.com.", "contoso.com"));
        assert!(!super::is_sub_domain("contoso.com", "contoso.com"), "a domain is not its own sub-domain");
    }

    use super::*;

    #[test]
    fn denied_without_any_grant() {
        let g = GroupId::new();
        assert_eq!(evaluate_access(UserState::Active, &[g], &[]), AccessDecision::Denied(DenyReason::NoGrantedGroup));
    }

    #[test]
    fn denied_when_granted_group_does_not_hold_user() {
        let mine = GroupId::new();
        let other = GroupId::new();
        assert_eq!(
            evaluate_access(UserState::Active, &[mine], &[other]),
            AccessDecision::Denied(DenyReason::NoGrantedGroup)
        );
    }

    #[test]
    fn allowed_through_granted_group() {
        let g = GroupId::new();
        let other = GroupId::new();
        assert_eq!(evaluate_access(UserState::Active, &[other, g], &[g]), AccessDecision::Allowed { via: vec![g] });
    }

    #[test]
    fn suspended_user_denied_even_with_grant() {
        let g = GroupId::new();
        assert_eq!(
            evaluate_access(UserState::Suspended, &[g], &[g]),
            AccessDecision::Denied(DenyReason::UserSuspended)
        );
    }
}
