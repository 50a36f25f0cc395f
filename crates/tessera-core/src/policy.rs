//! Per-application access policy, decided after the authorization rule: from which networks
//! the app may be used, and whether a second factor is required. The authn context records
//! which factors a sign-in used and when, for the protocol builders (Entra reads "MFA done"
//! from it, M365-PROTOCOLS.md §7.2).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::{AccessDecision, CoreError, DenyReason, UnixMillis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    Password,
    Totp,
    RecoveryCode,
    /// A WebAuthn passkey or security key, the user verified on it (a PIN or a biometric):
    /// something held and something known or been, so MFA by itself, and bound to this site's
    /// origin, so it cannot be phished.
    Passkey,
    /// Windows integrated sign-in: a Kerberos ticket from the user's domain, which the domain
    /// gave them for their Windows sign-in (their password, or a smart card there). One
    /// factor, as a password is.
    Kerberos,
}

impl Factor {
    fn is_second_factor(self) -> bool {
        matches!(self, Factor::Totp | Factor::RecoveryCode | Factor::Passkey)
    }

    /// A factor the user shows on Tessera's own pages that proves who signs in on its own: a
    /// password, or a passkey (passwordless). What a freshness demand (SAML ForceAuthn, a
    /// maximum age) wants: a Kerberos ticket is shown by the computer, not the user.
    fn signs_in(self) -> bool {
        matches!(self, Factor::Password | Factor::Passkey)
    }

    /// A first factor the user's directory or Tessera checked: a password, or a Kerberos ticket.
    fn is_primary(self) -> bool {
        matches!(self, Factor::Password | Factor::Kerberos)
    }
}

/// The factors a sign-in has shown, in order, with when each was shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuthnContext {
    pub factors: Vec<(Factor, UnixMillis)>,
}

/// Read leniently: a factor this release does not know (a later release's, on a session it
/// made during a rolling upgrade) is left out, which can only claim less than was shown (the
/// user may be asked again), never more.
impl<'de> serde::Deserialize<'de> for AuthnContext {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Seen {
            Known(Factor),
            Unknown(serde::de::IgnoredAny),
        }
        #[derive(serde::Deserialize)]
        struct Stored {
            factors: Vec<(Seen, UnixMillis)>,
        }
        let stored = Stored::deserialize(deserializer)?;
        let factors = stored
            .factors
            .into_iter()
            .filter_map(|(seen, at)| match seen {
                Seen::Known(factor) => Some((factor, at)),
                Seen::Unknown(_) => None,
            })
            .collect();
        Ok(AuthnContext { factors })
    }
}

impl AuthnContext {
    pub fn with(mut self, factor: Factor, at: UnixMillis) -> Self {
        self.factors.push((factor, at));
        self
    }

    /// A password, or Windows integrated sign-in (Kerberos): the first factor an application
    /// that takes no passkey alone wants.
    pub fn primary_done(&self) -> bool {
        self.factors.iter().any(|(f, _)| f.is_primary())
    }

    /// A password was shown (AD FS sends password-expiry claims after one only: the user who
    /// typed it can act on them).
    pub fn password_done(&self) -> bool {
        self.has(Factor::Password)
    }

    /// Signed in through Windows integrated sign-in (Kerberos).
    pub fn windows_done(&self) -> bool {
        self.has(Factor::Kerberos)
    }

    fn has(&self, factor: Factor) -> bool {
        self.factors.iter().any(|(f, _)| *f == factor)
    }

    /// A first factor and a second, or a passkey (which verified its user: MFA by itself).
    pub fn mfa_done(&self) -> bool {
        self.has(Factor::Passkey) || (self.primary_done() && self.factors.iter().any(|(f, _)| f.is_second_factor()))
    }

    /// A factor no look-alike site can relay: a passkey.
    pub fn phishing_resistant_done(&self) -> bool {
        self.has(Factor::Passkey)
    }

    /// When the user last authenticated (the AuthnInstant of a token).
    pub fn authenticated_at(&self) -> Option<UnixMillis> {
        self.factors.iter().map(|(_, at)| *at).max()
    }
}

/// An IPv4 or IPv6 network, `address/prefix`; a bare address is a network of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// Whether `ip` is in this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as a
    /// dual-stack listener reports IPv4 clients) count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_matches(&net.octets(), &ip.octets(), self.prefix_len),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_matches(&net.octets(), &ip.octets(), self.prefix_len),
            _ => false,
        }
    }
}

fn prefix_matches(network: &[u8], ip: &[u8], prefix_len: u8) -> bool {
    let full = usize::from(prefix_len / 8);
    let rest = prefix_len % 8;
    if network[..full] != ip[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    network[full] & mask == ip[full] & mask
}

impl FromStr for Cidr {
    type Err = CoreError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad =
            || CoreError::invalid("network", format!("{text:?} is not an IP network like 10.0.0.0/8 or 2001:db8::/32"));
        let (address, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<u8>().map_err(|_| bad())?,
            Some(_) => return Err(bad()),
            None => max,
        };
        if prefix_len > max {
            return Err(bad());
        }
        let cidr = Cidr { network, prefix_len };
        // Host bits set (10.1.2.3/8) usually mean a typo; refuse rather than guess.
        if !cidr.contains(network) || cidr.canonical_network() != network {
            return Err(CoreError::invalid(
                "network",
                format!("{text:?} has host bits set; write the network address"),
            ));
        }
        Ok(cidr)
    }
}

impl Cidr {
    fn canonical_network(&self) -> IpAddr {
        fn mask(bytes: &mut [u8], prefix_len: u8) {
            for (i, byte) in bytes.iter_mut().enumerate() {
                let keep = (usize::from(prefix_len)).saturating_sub(i * 8).min(8);
                *byte &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
            }
        }
        match self.network {
            IpAddr::V4(v4) => {
                let mut o = v4.octets();
                mask(&mut o, self.prefix_len);
                IpAddr::from(o)
            }
            IpAddr::V6(v6) => {
                let mut o = v6.octets();
                mask(&mut o, self.prefix_len);
                IpAddr::from(o)
            }
        }
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// What an application asks of a sign-in beyond authorization.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessPolicy {
    pub require_mfa: bool,
    /// Only a passkey serves as the second factor (a TOTP code can be phished). Implies
    /// `require_mfa`, which is kept true beside it so that a reader of `require_mfa` alone (a
    /// node of the release before) still asks for a second factor.
    #[serde(default)]
    pub phishing_resistant: bool,
    /// A passkey alone (no password) may sign in to the app.
    #[serde(default)]
    pub passwordless: bool,
    /// Empty: anywhere.
    pub allowed_networks: Vec<Cidr>,
}

/// The second factor an application asks for, as the CLI and the portal name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaRequirement {
    No,
    Yes,
    PhishingResistant,
}

impl MfaRequirement {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaRequirement::No => "no",
            MfaRequirement::Yes => "yes",
            MfaRequirement::PhishingResistant => "phishing-resistant",
        }
    }
}

impl FromStr for MfaRequirement {
    type Err = CoreError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "no" | "false" | "off" => Ok(MfaRequirement::No),
            "yes" | "true" | "on" => Ok(MfaRequirement::Yes),
            "phishing-resistant" => Ok(MfaRequirement::PhishingResistant),
            _ => Err(CoreError::invalid("require_mfa", format!("{text:?} is not one of no, yes, phishing-resistant"))),
        }
    }
}

impl AccessPolicy {
    /// Whether a client at `client` may use the app: its networks, where it names any.
    pub fn allows_network(&self, client: IpAddr) -> bool {
        self.allowed_networks.is_empty() || self.allowed_networks.iter().any(|n| n.contains(client))
    }

    pub fn mfa_requirement(&self) -> MfaRequirement {
        match (self.require_mfa, self.phishing_resistant) {
            (_, true) => MfaRequirement::PhishingResistant,
            (true, false) => MfaRequirement::Yes,
            (false, false) => MfaRequirement::No,
        }
    }

    pub fn with_mfa_requirement(mut self, requirement: MfaRequirement) -> Self {
        self.require_mfa = requirement != MfaRequirement::No;
        self.phishing_resistant = requirement == MfaRequirement::PhishingResistant;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyDenial {
    NotAuthorized(DenyReason),
    NetworkNotAllowed,
}

impl PolicyDenial {
    /// What the user is told: plain words, no internals.
    pub fn user_message(self) -> &'static str {
        match self {
            PolicyDenial::NotAuthorized(DenyReason::UserSuspended) => {
                "Your account is suspended. Contact your administrator."
            }
            PolicyDenial::NotAuthorized(DenyReason::NoGrantedGroup) => {
                "You do not have access to this application. Ask your administrator to add you to a group that may use it."
            }
            PolicyDenial::NotAuthorized(DenyReason::OtherDomain) => {
                "Your account belongs to another Microsoft 365 domain than this sign-in page. Sign in from your own domain's sign-in page (type your full email address at Microsoft's sign-in)."
            }
            PolicyDenial::NetworkNotAllowed => {
                "This application cannot be used from the network you are on. Connect from your organization's network and try again."
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyDenial::NotAuthorized(reason) => reason.as_str(),
            PolicyDenial::NetworkNotAllowed => "network_not_allowed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyOutcome {
    Allow,
    /// Allowed once a second factor is shown.
    NeedSecondFactor,
    /// Allowed once a passkey is shown (the app takes no other second factor).
    NeedPasskey,
    /// Signed in with a passkey alone, to an app that wants a password too.
    NeedPassword,
    Deny(PolicyDenial),
}

/// What a relying party demands of a sign-in on top of the application's policy: SAML's
/// ForceAuthn, IsPassive and RequestedAuthnContext, WS-Federation's `wfresh` and `wauth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Demand {
    /// A password shown after the request arrived.
    pub fresh: bool,
    /// A password shown at most this many milliseconds ago.
    pub max_age_ms: Option<i64>,
    /// A second factor, whatever the application's policy says.
    pub mfa: bool,
    /// Nothing may be shown to the user: answer at once, or say why not.
    pub passive: bool,
}

impl Demand {
    /// The application's policy with this demand on top.
    pub fn on(&self, policy: &AccessPolicy) -> AccessPolicy {
        AccessPolicy { require_mfa: policy.require_mfa || self.mfa, ..policy.clone() }
    }

    /// Whether a sign-in that answers this demand needs the password form even where a
    /// session exists: a fresh password, or a maximum age that a live session can outgrow.
    pub fn wants_the_form(&self, has_session: bool) -> bool {
        self.fresh || (self.max_age_ms.is_some() && has_session)
    }
}

/// The freshness rule: whether the sign-in `authn` holds (a password, or a passkey: each proves
/// who signs in) is recent enough for `demand`, for a request that arrived at `received_at`.
/// Without a freshness demand any session serves.
pub fn fresh_enough(demand: &Demand, authn: &AuthnContext, received_at: UnixMillis, now: UnixMillis) -> bool {
    let password_at = authn.factors.iter().filter(|(f, _)| f.signs_in()).map(|(_, at)| *at).max();
    match (demand.fresh, demand.max_age_ms) {
        (true, _) => password_at.is_some_and(|at| at >= received_at),
        (false, Some(max_age)) => password_at.is_some_and(|at| at >= now - max_age),
        (false, None) => true,
    }
}

/// Authorization first (a user who may not use the app is denied whatever their factors),
/// then the network, then the factors: a password unless the app takes a passkey alone, a
/// second factor, and a passkey as that factor where the app takes nothing else.
pub fn decide(access: &AccessDecision, policy: &AccessPolicy, client: IpAddr, authn: &AuthnContext) -> PolicyOutcome {
    if let AccessDecision::Denied(reason) = access {
        return PolicyOutcome::Deny(PolicyDenial::NotAuthorized(*reason));
    }
    if !policy.allows_network(client) {
        return PolicyOutcome::Deny(PolicyDenial::NetworkNotAllowed);
    }
    if !policy.passwordless && !authn.primary_done() {
        return PolicyOutcome::NeedPassword;
    }
    if policy.phishing_resistant && !authn.phishing_resistant_done() {
        return PolicyOutcome::NeedPasskey;
    }
    if policy.require_mfa && !authn.mfa_done() {
        return PolicyOutcome::NeedSecondFactor;
    }
    PolicyOutcome::Allow
}

/// Why a sign-in that can show only a password (WS-Trust usernamemixed: Windows "add work
/// account", Entra join, Office) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordOnlyDenial {
    /// The application requires a second factor, which this channel cannot carry.
    MfaRequired,
    Policy(PolicyDenial),
}

impl PasswordOnlyDenial {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordOnlyDenial::MfaRequired => "mfa_required",
            PasswordOnlyDenial::Policy(denial) => denial.as_str(),
        }
    }

    pub fn user_message(self) -> &'static str {
        match self {
            PasswordOnlyDenial::MfaRequired => {
                "This application requires multi-factor authentication, which a password-only (WS-Trust) sign-in \
                 cannot provide. Sign in through the browser instead."
            }
            PasswordOnlyDenial::Policy(denial) => denial.user_message(),
        }
    }
}

/// The decision for a sign-in that shows only a password: the authorization rule and the
/// app's policy, where a second factor the policy asks for cannot be shown. A user who has a
/// second factor but did not show it gets a password-only token (no `multipleauthn`), on which
/// Entra asks for its own MFA (`acceptIfMfaDoneByFederatedIdp`); nothing here claims more.
pub fn decide_password_only(
    access: &AccessDecision,
    policy: &AccessPolicy,
    client: IpAddr,
    authn: &AuthnContext,
) -> Result<(), PasswordOnlyDenial> {
    match decide(access, policy, client, authn) {
        PolicyOutcome::Allow => Ok(()),
        PolicyOutcome::NeedSecondFactor | PolicyOutcome::NeedPasskey | PolicyOutcome::NeedPassword => {
            Err(PasswordOnlyDenial::MfaRequired)
        }
        PolicyOutcome::Deny(denial) => Err(PasswordOnlyDenial::Policy(denial)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GroupId;

    fn allowed() -> AccessDecision {
        AccessDecision::Allowed { via: vec![GroupId::new()] }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.255.1.2")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped addresses match their IPv4 network");
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let odd: Cidr = "192.168.4.0/22".parse().unwrap();
        assert!(odd.contains(ip("192.168.7.255")));
        assert!(!odd.contains(ip("192.168.8.0")));
        let one: Cidr = "203.0.113.7".parse().unwrap();
        assert!(one.contains(ip("203.0.113.7")) && !one.contains(ip("203.0.113.8")));
        let anywhere: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(anywhere.contains(ip("8.8.8.8")));
        for bad in ["", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.1.2.3/8", "host/8", "::/129", "10.0.0.0/+8"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!("10.0.0.0/8".parse::<Cidr>().unwrap().to_string(), "10.0.0.0/8");
    }

    #[test]
    fn authorization_comes_first() {
        let denied = AccessDecision::Denied(DenyReason::NoGrantedGroup);
        let authn = AuthnContext::default().with(Factor::Password, 1).with(Factor::Totp, 2);
        assert_eq!(
            decide(&denied, &AccessPolicy::default(), ip("10.0.0.1"), &authn),
            PolicyOutcome::Deny(PolicyDenial::NotAuthorized(DenyReason::NoGrantedGroup))
        );
    }

    #[test]
    fn networks_then_factors() {
        let policy = AccessPolicy {
            require_mfa: true,
            allowed_networks: vec!["10.0.0.0/8".parse().unwrap()],
            ..Default::default()
        };
        let password = AuthnContext::default().with(Factor::Password, 1);
        let both = password.clone().with(Factor::Totp, 2);
        assert_eq!(
            decide(&allowed(), &policy, ip("192.0.2.1"), &both),
            PolicyOutcome::Deny(PolicyDenial::NetworkNotAllowed)
        );
        assert_eq!(decide(&allowed(), &policy, ip("10.0.0.1"), &password), PolicyOutcome::NeedSecondFactor);
        assert_eq!(decide(&allowed(), &policy, ip("10.0.0.1"), &both), PolicyOutcome::Allow);
        assert_eq!(decide(&allowed(), &AccessPolicy::default(), ip("192.0.2.1"), &password), PolicyOutcome::Allow);
    }

    #[test]
    fn a_second_factor_alone_is_not_mfa() {
        let totp_only = AuthnContext::default().with(Factor::Totp, 5);
        assert!(!totp_only.mfa_done());
        let recovery = AuthnContext::default().with(Factor::Password, 1).with(Factor::RecoveryCode, 9);
        assert!(recovery.mfa_done());
        assert_eq!(recovery.authenticated_at(), Some(9));
    }

    #[test]
    fn a_kerberos_ticket_is_one_factor_as_a_password_is() {
        let here = ip("10.0.0.1");
        let windows = AuthnContext::default().with(Factor::Kerberos, 4);
        assert!(windows.primary_done() && windows.windows_done() && !windows.mfa_done());
        let mfa = AccessPolicy::default().with_mfa_requirement(MfaRequirement::Yes);
        assert_eq!(decide(&allowed(), &AccessPolicy::default(), here, &windows), PolicyOutcome::Allow);
        assert_eq!(decide(&allowed(), &mfa, here, &windows), PolicyOutcome::NeedSecondFactor);
        let with_totp = windows.clone().with(Factor::Totp, 6);
        assert!(with_totp.mfa_done());
        assert_eq!(decide(&allowed(), &mfa, here, &with_totp), PolicyOutcome::Allow);
        // Shown by the computer, not the user: never fresh enough for ForceAuthn or a maximum age.
        let demand = Demand { fresh: true, ..Demand::default() };
        assert!(!fresh_enough(&demand, &windows, 3, 10));
        let max_age = Demand { max_age_ms: Some(60_000), ..Demand::default() };
        assert!(!fresh_enough(&max_age, &windows, 3, 10));
        assert!(fresh_enough(&Demand::default(), &windows, 3, 10));
    }

    #[test]
    fn a_passkey_is_mfa_by_itself_and_the_only_phishing_resistant_factor() {
        let here = ip("10.0.0.1");
        let passkey_alone = AuthnContext::default().with(Factor::Passkey, 3);
        let with_totp = AuthnContext::default().with(Factor::Password, 1).with(Factor::Totp, 2);
        let with_passkey = AuthnContext::default().with(Factor::Password, 1).with(Factor::Passkey, 2);
        assert!(passkey_alone.mfa_done() && passkey_alone.phishing_resistant_done());
        assert!(with_totp.mfa_done() && !with_totp.phishing_resistant_done());
        assert!(with_passkey.mfa_done() && with_passkey.phishing_resistant_done());

        let strict = AccessPolicy::default().with_mfa_requirement(MfaRequirement::PhishingResistant);
        assert!(strict.require_mfa, "a reader of require_mfa alone still asks for a second factor");
        assert_eq!(strict.mfa_requirement(), MfaRequirement::PhishingResistant);
        assert_eq!(decide(&allowed(), &strict, here, &with_totp), PolicyOutcome::NeedPasskey);
        assert_eq!(decide(&allowed(), &strict, here, &with_passkey), PolicyOutcome::Allow);
        let password = AuthnContext::default().with(Factor::Password, 1);
        assert_eq!(decide(&allowed(), &strict, here, &password), PolicyOutcome::NeedPasskey, "no TOTP detour");

        // A passkey alone signs in only where the app takes it without a password.
        assert_eq!(decide(&allowed(), &AccessPolicy::default(), here, &passkey_alone), PolicyOutcome::NeedPassword);
        let passwordless = AccessPolicy { passwordless: true, ..strict.clone() };
        assert_eq!(decide(&allowed(), &passwordless, here, &passkey_alone), PolicyOutcome::Allow);
        assert_eq!(
            decide(&AccessDecision::Denied(DenyReason::NoGrantedGroup), &passwordless, here, &passkey_alone),
            PolicyOutcome::Deny(PolicyDenial::NotAuthorized(DenyReason::NoGrantedGroup))
        );
        assert_eq!(
            decide_password_only(&allowed(), &strict, here, &password),
            Err(PasswordOnlyDenial::MfaRequired),
            "a password-only channel cannot show a passkey"
        );
        // A passkey proves a fresh sign-in as a password does.
        let fresh = Demand { fresh: true, ..Demand::default() };
        assert!(fresh_enough(&fresh, &passkey_alone, 3, 9));
        assert!(!fresh_enough(&fresh, &passkey_alone, 4, 9));

        for (text, requirement) in [
            ("no", MfaRequirement::No),
            ("yes", MfaRequirement::Yes),
            ("phishing-resistant", MfaRequirement::PhishingResistant),
        ] {
            assert_eq!(text.parse::<MfaRequirement>().unwrap(), requirement);
            assert_eq!(requirement.as_str(), text);
            assert_eq!(AccessPolicy::default().with_mfa_requirement(requirement).mfa_requirement(), requirement);
        }
        assert!("perhaps".parse::<MfaRequirement>().is_err());
    }

    #[test]
    fn a_factor_of_a_later_release_is_left_out_never_counted() {
        let stored = r#"{"factors":[["password",1],["smartcard",2],["totp",3]]}"#;
        let read: AuthnContext = serde_json::from_str(stored).unwrap();
        assert_eq!(read, AuthnContext::default().with(Factor::Password, 1).with(Factor::Totp, 3));
        let written = AuthnContext::default().with(Factor::Password, 1).with(Factor::Passkey, 2);
        let again: AuthnContext = serde_json::from_str(&serde_json::to_string(&written).unwrap()).unwrap();
        assert_eq!(again, written);
        assert!(serde_json::from_str::<AuthnContext>(r#"{"factors":[["password","soon"]]}"#).is_err());
    }

    #[test]
    fn freshness_asks_for_a_password_after_the_request_or_within_the_maximum_age() {
        let authn = AuthnContext::default().with(Factor::Password, 1_000).with(Factor::Totp, 5_000);
        let any = Demand::default();
        assert!(fresh_enough(&any, &authn, 9_000, 9_000), "no demand: any session serves");
        assert!(fresh_enough(&any, &AuthnContext::default(), 9_000, 9_000));

        let fresh = Demand { fresh: true, ..Demand::default() };
        assert!(fresh_enough(&fresh, &authn, 1_000, 9_000), "a password shown as the request arrived counts");
        assert!(!fresh_enough(&fresh, &authn, 1_001, 9_000), "a password from before the request does not");
        assert!(!fresh_enough(&fresh, &authn.clone().with(Factor::Totp, 9_000), 2_000, 9_000), "only a password");
        assert!(fresh_enough(&fresh, &authn.clone().with(Factor::Password, 8_000), 2_000, 9_000), "the latest counts");

        let within = Demand { max_age_ms: Some(60_000), ..Demand::default() };
        assert!(fresh_enough(&within, &authn, 0, 61_000));
        assert!(!fresh_enough(&within, &authn, 0, 61_001), "one millisecond too old");
        assert!(!fresh_enough(&within, &AuthnContext::default(), 0, 1), "no password at all");
    }

    #[test]
    fn a_demand_adds_to_the_policy_and_says_when_the_form_is_needed() {
        let policy = AccessPolicy { allowed_networks: vec!["10.0.0.0/8".parse().unwrap()], ..Default::default() };
        let mfa = Demand { mfa: true, ..Demand::default() };
        assert!(mfa.on(&policy).require_mfa && mfa.on(&policy).allowed_networks == policy.allowed_networks);
        assert!(!Demand::default().on(&policy).require_mfa);
        assert!(Demand { fresh: true, ..Demand::default() }.wants_the_form(false));
        let aged = Demand { max_age_ms: Some(1), ..Demand::default() };
        assert!(aged.wants_the_form(true) && !aged.wants_the_form(false));
        assert!(!Demand::default().wants_the_form(true));
    }

    #[test]
    fn a_password_only_sign_in_never_stands_in_for_a_second_factor() {
        let password = AuthnContext::default().with(Factor::Password, 1);
        let open = AccessPolicy::default();
        let mfa = AccessPolicy { require_mfa: true, ..Default::default() };
        let here = ip("10.0.0.1");
        assert_eq!(decide_password_only(&allowed(), &open, here, &password), Ok(()));
        assert!(!password.mfa_done(), "a password-only token never claims a second factor");
        assert_eq!(decide_password_only(&allowed(), &mfa, here, &password), Err(PasswordOnlyDenial::MfaRequired));
        assert_eq!(
            decide_password_only(&AccessDecision::Denied(DenyReason::NoGrantedGroup), &mfa, here, &password),
            Err(PasswordOnlyDenial::Policy(PolicyDenial::NotAuthorized(DenyReason::NoGrantedGroup))),
            "authorization is decided first"
        );
        assert!(PasswordOnlyDenial::MfaRequired.user_message().ends_with('.'));
        assert_eq!(PasswordOnlyDenial::MfaRequired.as_str(), "mfa_required");
    }

    #[test]
    fn denials_speak_plainly() {
        for denial in [
            PolicyDenial::NetworkNotAllowed,
            PolicyDenial::NotAuthorized(DenyReason::UserSuspended),
            PolicyDenial::NotAuthorized(DenyReason::NoGrantedGroup),
        ] {
            let message = denial.user_message();
            assert!(message.ends_with('.') && !message.contains('_'), "{message}");
        }
    }
}
