//! Directory sources: where users come from (Active Directory or another LDAP server), how
//! Tessera reaches them, which attributes carry what, and the source anchor that becomes the
//! ImmutableID Entra matches users by (M365-PROTOCOLS.md §6).

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::ids::SourceId;
use crate::validate;

/// How long a DN, filter or URL may be: far beyond any real one, well short of a flood.
const MAX_DN: usize = 1024;
const MAX_FILTER: usize = 4096;
const MAX_URLS: usize = 8;
const MAX_ATTRIBUTE: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectoryKind {
    /// Active Directory (Samba AD included).
    Ad,
    OpenLdap,
}

impl DirectoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryKind::Ad => "ad",
            DirectoryKind::OpenLdap => "openldap",
        }
    }

    pub fn parse(text: &str) -> Result<Self, CoreError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ad" => Ok(DirectoryKind::Ad),
            "openldap" => Ok(DirectoryKind::OpenLdap),
            other => Err(CoreError::invalid("kind", format!("{other:?} is not ad or openldap"))),
        }
    }
}

/// Whether users of the source sign in with their directory password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordCheck {
    /// An LDAP bind as the user, over TLS: no password of theirs is kept in Tessera.
    Bind,
    /// Users only; how they sign in is set in Tessera.
    None,
}

impl PasswordCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordCheck::Bind => "bind",
            PasswordCheck::None => "none",
        }
    }

    pub fn parse(text: &str) -> Result<Self, CoreError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "bind" => Ok(PasswordCheck::Bind),
            "none" => Ok(PasswordCheck::None),
            other => Err(CoreError::invalid("authenticate", format!("{other:?} is not bind or none"))),
        }
    }
}

/// Which attribute carries what. Defaults per kind; each one can be overridden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceAttributes {
    /// The UPN Entra matches (AD: `userPrincipalName`; OpenLDAP: `mail`).
    pub upn: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// The source anchors in order of preference: the first one set gives the ImmutableID.
    pub anchors: Vec<String>,
    /// On a user: the groups that hold it.
    pub member_of: String,
    /// On a group: its members.
    pub member: String,
    /// AD's account flags (disabled accounts are suspended); none for OpenLDAP.
    pub account_control: Option<String>,
}

impl SourceAttributes {
    pub fn defaults(kind: DirectoryKind) -> Self {
        match kind {
            DirectoryKind::Ad => SourceAttributes {
                upn: "userPrincipalName".into(),
                email: "mail".into(),
                first_name: "givenName".into(),
                last_name: "sn".into(),
                anchors: vec!["mS-DS-ConsistencyGuid".into(), "objectGUID".into()],
                member_of: "memberOf".into(),
                member: "member".into(),
                account_control: Some("userAccountControl".into()),
            },
            DirectoryKind::OpenLdap => SourceAttributes {
                upn: "mail".into(),
                email: "mail".into(),
                first_name: "givenName".into(),
                last_name: "sn".into(),
                anchors: vec!["entryUUID".into()],
                member_of: "memberOf".into(),
                member: "member".into(),
                account_control: None,
            },
        }
    }

    /// Overrides one mapping: `upn`, `email`, `first_name`, `last_name`, `anchor` (attributes in
    /// order of preference, comma-separated), `member_of`, `member`, `account_control` (`none`
    /// for a directory without account flags).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), CoreError> {
        let value = value.trim();
        let field = "attribute";
        let one = |value: &str| attribute_name(field, value);
        match key.trim() {
            "upn" => self.upn = one(value)?,
            "email" => self.email = one(value)?,
            "first_name" => self.first_name = one(value)?,
            "last_name" => self.last_name = one(value)?,
            "anchor" => self.anchors = value.split(',').map(|a| one(a.trim())).collect::<Result<_, _>>()?,
            "member_of" => self.member_of = one(value)?,
            "member" => self.member = one(value)?,
            "account_control" if value.eq_ignore_ascii_case("none") => self.account_control = None,
            "account_control" => self.account_control = Some(one(value)?),
            other => {
                return Err(CoreError::invalid(
                    field,
                    format!(
                        "{other:?} is not a mapping: use upn, email, first_name, last_name, anchor, member_of, \
                         member or account_control"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), CoreError> {
        for (field, name) in [
            ("upn_attribute", &self.upn),
            ("email_attribute", &self.email),
            ("first_name_attribute", &self.first_name),
            ("last_name_attribute", &self.last_name),
            ("member_of_attribute", &self.member_of),
            ("member_attribute", &self.member),
        ] {
            attribute_name(field, name)?;
        }
        if self.anchors.is_empty() {
            return Err(CoreError::invalid("anchor_attribute", "at least one anchor attribute is needed"));
        }
        for anchor in &self.anchors {
            attribute_name("anchor_attribute", anchor)?;
        }
        if let Some(flags) = &self.account_control {
            attribute_name("account_control_attribute", flags)?;
        }
        Ok(())
    }
}

/// How a connection to one server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// `ldap://` upgraded with StartTLS before anything else is sent.
    StartTls,
    /// `ldap://` in the clear: only with `--insecure-plaintext`, only to a loopback host.
    Plaintext,
}

/// One server of a source, as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub url: String,
    pub host: String,
    pub transport: Transport,
}

/// Everything about a source but its name and its bind password (kept sealed apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceConfig {
    pub kind: DirectoryKind,
    /// Tried in turn: a server that is down does not stop a sync or a sign-in.
    pub urls: Vec<String>,
    pub bind_dn: String,
    pub base_dn: String,
    /// PEM certificates of the CA that issued the servers' certificates, when it is private.
    pub ca_pem: Option<String>,
    pub authenticate: PasswordCheck,
    pub user_filter: String,
    pub group_filter: String,
    pub insecure_plaintext: bool,
    pub attributes: SourceAttributes,
}

impl SourceConfig {
    /// The filters that find people and groups, per kind.
    pub fn default_filters(kind: DirectoryKind) -> (&'static str, &'static str) {
        match kind {
            DirectoryKind::Ad => ("(&(objectCategory=person)(objectClass=user))", "(objectClass=group)"),
            DirectoryKind::OpenLdap => {
                ("(objectClass=inetOrgPerson)", "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))")
            }
        }
    }

    /// Checks every field; the URLs as `servers` would give them.
    pub fn check(&self) -> Result<(), CoreError> {
        self.servers()?;
        distinguished_name("bind_dn", &self.bind_dn)?;
        distinguished_name("base_dn", &self.base_dn)?;
        ldap_filter("user_filter", &self.user_filter)?;
        ldap_filter("group_filter", &self.group_filter)?;
        if let Some(pem) = &self.ca_pem
            && !pem.contains("-----BEGIN CERTIFICATE-----")
        {
            return Err(CoreError::invalid("ca_file", "holds no PEM certificate"));
        }
        self.attributes.check()
    }

    /// The servers, in the order they are tried.
    pub fn servers(&self) -> Result<Vec<ServerUrl>, CoreError> {
        if self.urls.is_empty() {
            return Err(CoreError::invalid("url", "at least one ldaps:// or ldap:// URL is needed"));
        }
        if self.urls.len() > MAX_URLS {
            return Err(CoreError::invalid("url", format!("at most {MAX_URLS} servers")));
        }
        self.urls.iter().map(|url| server_url(url, self.insecure_plaintext)).collect()
    }
}

/// A source as new: checked, before its bind password is sealed and it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDirectorySource {
    /// Chosen before it is stored: the sealed bind password is bound to it.
    pub id: SourceId,
    pub name: String,
    pub config: SourceConfig,
}

impl NewDirectorySource {
    pub fn new(name: &str, config: SourceConfig) -> Result<Self, CoreError> {
        let name = validate::label("name", name)?;
        config.check()?;
        Ok(NewDirectorySource { id: SourceId::new(), name, config })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySource {
    pub id: SourceId,
    pub name: String,
    pub config: SourceConfig,
    pub created_at: crate::UnixMillis,
    pub updated_at: crate::UnixMillis,
}

/// What a source's bind password is sealed to under the master key: its source.
pub fn bind_password_seal(source: SourceId) -> String {
    format!("tessera-directory-bind:v1:{source}")
}

/// An `ldaps://` or `ldap://` URL naming a server (and nothing else: no DN, no credentials).
pub fn server_url(text: &str, insecure_plaintext: bool) -> Result<ServerUrl, CoreError> {
    let text = text.trim();
    let bad = |why: &str| Err(CoreError::invalid("url", format!("{text:?}: {why}")));
    let Ok(parsed) = url::Url::parse(text) else { return bad("not a URL") };
    let transport = match parsed.scheme() {
        "ldaps" => Transport::Ldaps,
        "ldap" if insecure_plaintext => Transport::Plaintext,
        "ldap" => Transport::StartTls,
        _ => return bad("use ldaps:// (or ldap://, upgraded with StartTLS)"),
    };
    let Some(host) = parsed.host() else { return bad("names no host") };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return bad("credentials do not belong in the URL: use --bind-dn and --bind-password-stdin");
    }
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() || parsed.fragment().is_some() {
        return bad("name only the server (scheme, host, port); the base DN is --base-dn");
    }
    if transport == Transport::Plaintext {
        // ldap:// is not a special scheme to the URL parser: an IPv4 address comes back as text.
        let loopback = match &host {
            url::Host::Domain(d) => {
                d.eq_ignore_ascii_case("localhost") || d.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        };
        if !loopback {
            return bad("plaintext LDAP would send passwords in the clear: only a loopback host may be used so");
        }
    }
    if let url::Host::Ipv6(_) = host {
        return bad("name the server by its DNS name or IPv4 address (its certificate is checked against it)");
    }
    Ok(ServerUrl { url: text.to_string(), host: host.to_string(), transport })
}

/// A distinguished name as given: non-empty, `attribute=value` at least, no control characters.
/// The server is the judge of the rest.
pub fn distinguished_name(field: &str, text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    if text.is_empty() || !text.contains('=') {
        return Err(CoreError::invalid(
            field,
            format!("{text:?} is not a distinguished name (such as DC=corp,DC=example)"),
        ));
    }
    if text.chars().count() > MAX_DN {
        return Err(CoreError::invalid(field, format!("longer than {MAX_DN} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(CoreError::invalid(field, "contains control characters"));
    }
    Ok(text.to_string())
}

/// An LDAP search filter: parenthesized, balanced, no control characters.
pub fn ldap_filter(field: &str, text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    let bad = |why: &str| Err(CoreError::invalid(field, format!("{text:?}: {why}")));
    if !(text.starts_with('(') && text.ends_with(')')) {
        return bad("an LDAP filter is written in parentheses, such as (objectClass=user)");
    }
    if text.len() > MAX_FILTER {
        return bad("too long");
    }
    if text.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    let mut depth: i64 = 0;
    for c in text.chars() {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        if depth < 0 {
            return bad("its parentheses do not balance");
        }
    }
    if depth != 0 {
        return bad("its parentheses do not balance");
    }
    Ok(text.to_string())
}

/// An attribute description: a letter, then letters, digits and hyphens.
pub fn attribute_name(field: &str, text: &str) -> Result<String, CoreError> {
    let valid = text.len() <= MAX_ATTRIBUTE
        && text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    match valid {
        true => Ok(text.to_string()),
        false => Err(CoreError::invalid(field, format!("{text:?} is not an LDAP attribute name"))),
    }
}

/// The ImmutableID of a source anchor: base64 of its 16 bytes, as Entra Connect writes it.
pub fn immutable_id_from_anchor(anchor: &[u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(anchor)
}

/// A GUID in its text form (`{…}` optional) as AD stores it: the first three fields
/// little-endian (the byte order of `objectGUID`, and so of the ImmutableID Entra Connect wrote).
pub fn ad_guid_bytes(text: &str) -> Result<[u8; 16], CoreError> {
    let text = text.trim().trim_start_matches('{').trim_end_matches('}');
    let guid = uuid::Uuid::parse_str(text).map_err(|_| {
        CoreError::invalid("guid", format!("{text:?} is not a GUID such as 3f2504e0-4f89-11d3-9a0c-0305e82c3301"))
    })?;
    Ok(guid.to_bytes_le())
}

/// OpenLDAP's `entryUUID` (RFC 4530: the text form, bytes in network order).
pub fn entry_uuid_bytes(text: &str) -> Result<[u8; 16], CoreError> {
    let guid = uuid::Uuid::parse_str(text.trim())
        .map_err(|_| CoreError::invalid("entryUUID", format!("{text:?} is not a UUID")))?;
    Ok(*guid.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_guid_in_text_becomes_ad_byte_order() {
        // objectGUID bytes of 3f2504e0-4f89-11d3-9a0c-0305e82c3301 as AD returns them.
        let bytes = ad_guid_bytes("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}").unwrap();
        assert_eq!(bytes[..8], [0xe0, 0x04, 0x25, 0x3f, 0x89, 0x4f, 0xd3, 0x11]);
        assert_eq!(immutable_id_from_anchor(&bytes), "4AQlP4lP0xGaDAMF6CwzAQ==");
        assert!(ad_guid_bytes("not-a-guid").is_err());
    }

    #[test]
    fn urls_name_a_server_and_plaintext_stays_on_loopback() {
        assert_eq!(server_url("ldaps://dc1.corp.example", false).unwrap().transport, Transport::Ldaps);
        assert_eq!(server_url("ldap://dc1.corp.example:389", false).unwrap().transport, Transport::StartTls);
        assert_eq!(server_url("ldap://127.0.0.1:3890", true).unwrap().transport, Transport::Plaintext);
        for bad in [
            ("ldap://dc1.corp.example", true),
            ("https://dc1.corp.example", false),
            ("ldaps://user:pw@dc1.corp.example", false),
            ("ldaps://dc1.corp.example/DC=corp", false),
            ("ldaps://[::1]", false),
            ("ldaps://", false),
        ] {
            assert!(server_url(bad.0, bad.1).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn filters_and_names_are_checked_before_any_server_sees_them() {
        assert!(ldap_filter("f", "(&(objectClass=user)(mail=*))").is_ok());
        for bad in ["objectClass=user", "(a=b))(", "((a=b)", "(a=\u{0}b)"] {
            assert!(ldap_filter("f", bad).is_err(), "{bad:?}");
        }
        assert!(distinguished_name("d", "DC=corp,DC=test").is_ok());
        assert!(distinguished_name("d", "corp").is_err());
        assert!(attribute_name("a", "mS-DS-ConsistencyGuid").is_ok());
        assert!(attribute_name("a", "mail)(uid=*").is_err());
    }
}
