//! Pass-through sign-in: a user's password checked by binding as them, over TLS, after the
//! service account finds their entry. No password of theirs is kept by Tessera.

use std::sync::Arc;

use ldap3::ldap_escape;
use tessera_core::sources::{ServerUrl, SourceConfig};

use crate::DirectoryError;
use crate::connect::{Found, Timeouts, bind_to, search_as_service};

/// What the directory said of a user's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserBind {
    Right,
    Wrong,
    /// Locked out by the directory's own policy.
    Locked,
    /// The password was right but has expired.
    Expired,
    /// The password was right but must be changed first.
    MustChange,
    /// The account is disabled or expired at the source.
    Disabled,
    /// The filter finds no entry with this UPN (or more than one).
    NotInDirectory,
}

/// AD's reason inside a result 49 (`…, data 775, …`), as Microsoft documents the codes.
fn ad_reason(text: &str) -> UserBind {
    let code = text.split("data ").nth(1).and_then(|rest| rest.split([',', ' ']).next()).unwrap_or("");
    match code {
        "775" => UserBind::Locked,
        "532" => UserBind::Expired,
        "773" => UserBind::MustChange,
        "533" | "701" => UserBind::Disabled,
        _ => UserBind::Wrong,
    }
}

/// Checks `password` for the user whose UPN attribute is `upn` and whose anchor is `anchor`
/// (the ImmutableID the sync gave them): the service account (`service_password`) finds their
/// entry, then a bind as that entry decides. An entry with the UPN but another anchor (the
/// account deleted and made again, or UPNs swapped since the last sync) is not them.
pub async fn check_user_password(
    config: &SourceConfig,
    service_password: &str,
    upn: &str,
    anchor: &str,
    password: &str,
    timeouts: Timeouts,
) -> Result<UserBind, DirectoryError> {
    if password.is_empty() {
        return Ok(UserBind::Wrong);
    }
    let Some(found) = find_user(config, service_password, upn, anchor, timeouts).await? else {
        return Ok(UserBind::NotInDirectory);
    };
    match bind_to(&found.server, &found.tls, &found.dn, password, timeouts).await {
        Ok(mut as_user) => {
            let _ = as_user.ldap.unbind().await;
            Ok(UserBind::Right)
        }
        Err(DirectoryError::InvalidCredentials { detail, .. }) => Ok(ad_reason(&detail)),
        Err(other) => Err(other),
    }
}

/// A user's entry, found by the service account: its DN, and the server that found it (with
/// the source's TLS settings), which the next operation goes to.
pub(crate) struct FoundUser {
    pub dn: String,
    pub server: ServerUrl,
    pub tls: Arc<rustls::ClientConfig>,
}

/// The entry whose UPN attribute is `upn` and whose anchor is `anchor`; `None` when there is
/// none, more than one, or one with another anchor (the account deleted and made again, or UPNs
/// swapped since the last sync: not them).
pub(crate) async fn find_user(
    config: &SourceConfig,
    service_password: &str,
    upn: &str,
    anchor: &str,
    timeouts: Timeouts,
) -> Result<Option<FoundUser>, DirectoryError> {
    let filter = format!("(&{}({}={}))", config.user_filter, config.attributes.upn, ldap_escape(upn));
    let anchors = config.attributes.anchors.iter().map(String::as_str).collect();
    let found =
        search_as_service(config, service_password, &config.base_dn, &filter, anchors, "the user lookup", timeouts)
            .await?;
    let Found { entries, url, tls } = found;
    let [entry] = entries.as_slice() else { return Ok(None) };
    if crate::read::anchor(entry, &config.attributes.anchors).as_deref() != Ok(anchor) {
        return Ok(None);
    }
    // The same server that found them, over the same kind of connection.
    let server = config.servers()?.into_iter().find(|s| s.url == url);
    let Some(server) = server else { return Err(DirectoryError::Unreachable(url)) };
    let dn = entry.dn.clone();
    Ok(Some(FoundUser { dn, server, tls }))
}

/// An Active Directory account found by its logon name (a Kerberos principal's first part):
/// its UPN attribute and its anchor (the ImmutableID a sync gives it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub upn: String,
    pub anchor: String,
}

/// The account whose `sAMAccountName` is `logon_name`, found by the service account under the
/// source's base and filter; `None` when there is none, more than one, or one without a UPN or
/// an anchor.
pub async fn find_account(
    config: &SourceConfig,
    service_password: &str,
    logon_name: &str,
    timeouts: Timeouts,
) -> Result<Option<Account>, DirectoryError> {
    let filter = format!("(&{}(sAMAccountName={}))", config.user_filter, ldap_escape(logon_name));
    let mut attributes = vec![config.attributes.upn.as_str()];
    attributes.extend(config.attributes.anchors.iter().map(String::as_str));
    let found = search_as_service(
        config,
        service_password,
        &config.base_dn,
        &filter,
        attributes,
        "the account lookup",
        timeouts,
    )
    .await?;
    let [entry] = found.entries.as_slice() else { return Ok(None) };
    let upn = crate::read::text(entry, &config.attributes.upn);
    let (Some(upn), Ok(anchor)) = (upn, crate::read::anchor(entry, &config.attributes.anchors)) else {
        return Ok(None);
    };
    Ok(Some(Account { upn, anchor }))
}

/// The domain components of a DN (`OU=Staff,DC=corp,DC=test`: `DC=corp`, `DC=test`), each
/// with its value.
pub(crate) fn domain_components(dn: &str) -> impl Iterator<Item = (&str, &str)> {
    dn.split(',').map(str::trim).filter_map(|rdn| {
        let (attribute, value) = rdn.split_once('=')?;
        attribute.trim().eq_ignore_ascii_case("dc").then(|| (rdn, value.trim()))
    })
}

/// The Kerberos realm of an Active Directory base DN: its `DC=` parts, upper case
/// (`OU=Staff,DC=corp,DC=test` is `CORP.TEST`); `None` without any.
pub fn realm_of(base_dn: &str) -> Option<String> {
    let parts: Vec<String> = domain_components(base_dn).map(|(_, value)| value.to_ascii_uppercase()).collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ads_reasons_are_read_from_the_result_text() {
        let text = |code: &str| {
            format!("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data {code}, v4563")
        };
        assert_eq!(ad_reason(&text("52e")), UserBind::Wrong);
        assert_eq!(ad_reason(&text("775")), UserBind::Locked);
        assert_eq!(ad_reason(&text("532")), UserBind::Expired);
        assert_eq!(ad_reason(&text("773")), UserBind::MustChange);
        assert_eq!(ad_reason(&text("533")), UserBind::Disabled);
        assert_eq!(ad_reason("Invalid credentials"), UserBind::Wrong);
    }

    #[test]
    fn a_realm_is_the_base_dns_domain_components() {
        assert_eq!(realm_of("OU=Staff,DC=corp,DC=test").as_deref(), Some("CORP.TEST"));
        assert_eq!(realm_of("dc=Example, dc=COM").as_deref(), Some("EXAMPLE.COM"));
        assert_eq!(realm_of("OU=Staff,O=Corp"), None);
        assert_eq!(realm_of(""), None);
    }
}
