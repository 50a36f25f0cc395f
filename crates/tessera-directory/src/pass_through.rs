//! Pass-through sign-in: a user's password checked by binding as them, over TLS, after the
//! service account finds their entry. No password of theirs is kept by Tessera.

use std::sync::Arc;

use ldap3::{SearchEntry, ldap_escape};
use tessera_core::UnixMillis;
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
    let Some(found) = find_user(config, service_password, upn, anchor, &[], "the user lookup", timeouts).await? else {
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

/// AD's computed password expiry: policy and fine-grained policies applied, as a FILETIME.
const PASSWORD_EXPIRY: &str = "msDS-UserPasswordExpiryTimeComputed";
/// 1601-01-01 (FILETIME's epoch) to 1970-01-01, in milliseconds.
const FILETIME_EPOCH_OFFSET_MS: i64 = 11_644_473_600_000;

/// When the password of the user (`upn`, `anchor`, as for [`check_user_password`]) expires, as
/// AD computes it (`msDS-UserPasswordExpiryTimeComputed`: the domain's policy, or the
/// fine-grained one that applies to them); `None` when it never does, or the directory does not
/// say (an LDAP server that is not AD), or the entry is not theirs.
pub async fn password_expires_at(
    config: &SourceConfig,
    service_password: &str,
    upn: &str,
    anchor: &str,
    timeouts: Timeouts,
) -> Result<Option<UnixMillis>, DirectoryError> {
    let found =
        find_user(config, service_password, upn, anchor, &[PASSWORD_EXPIRY], "the password expiry lookup", timeouts);
    let Some(FoundUser { entry, .. }) = found.await? else { return Ok(None) };
    let filetime = crate::read::text(&entry, PASSWORD_EXPIRY).and_then(|text| text.parse::<i64>().ok());
    Ok(filetime.and_then(filetime_to_millis))
}

/// A FILETIME (100 ns since 1601) in Unix milliseconds; `None` for AD's "never" (0, or the
/// largest value).
fn filetime_to_millis(filetime: i64) -> Option<UnixMillis> {
    (filetime > 0 && filetime != i64::MAX).then(|| filetime / 10_000 - FILETIME_EPOCH_OFFSET_MS)
}

/// A user's entry, found by the service account: its DN, and the server that found it (with
/// the source's TLS settings), which the next operation goes to.
pub(crate) struct FoundUser {
    pub dn: String,
    /// The entry as read: its anchors, and what else the caller asked for.
    pub entry: SearchEntry,
    pub server: ServerUrl,
    pub tls: Arc<rustls::ClientConfig>,
}

/// The entry whose UPN attribute is `upn` and whose anchor is `anchor`; `None` when there is
/// none, more than one, or one with another anchor (the account deleted and made again, or UPNs
/// swapped since the last sync: not them).
#[allow(clippy::too_many_arguments)] // the user, and what is read of them for whom
pub(crate) async fn find_user(
    config: &SourceConfig,
    service_password: &str,
    upn: &str,
    anchor: &str,
    extra: &[&str],
    operation: &'static str,
    timeouts: Timeouts,
) -> Result<Option<FoundUser>, DirectoryError> {
    let filter = format!("(&{}({}={}))", config.user_filter, config.attributes.upn, ldap_escape(upn));
    let mut attributes: Vec<&str> = config.attributes.anchors.iter().map(String::as_str).collect();
    attributes.extend(extra);
    let found =
        search_as_service(config, service_password, &config.base_dn, &filter, attributes, operation, timeouts).await?;
    let Found { mut entries, url, tls } = found;
    let (Some(entry), None) = (entries.pop(), entries.pop()) else { return Ok(None) };
    if crate::read::anchor(&entry, &config.attributes.anchors).as_deref() != Ok(anchor) {
        return Ok(None);
    }
    // The same server that found them, over the same kind of connection.
    let server = config.servers()?.into_iter().find(|s| s.url == url);
    let Some(server) = server else { return Err(DirectoryError::Unreachable(url)) };
    Ok(Some(FoundUser { dn: entry.dn.clone(), entry, server, tls }))
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
    fn a_filetime_is_read_as_unix_milliseconds_and_never_as_none() {
        // 2027-01-15T08:00:00Z, as AD writes it.
        assert_eq!(filetime_to_millis(134_444_736_000_000_000), Some(1_800_000_000_000));
        assert_eq!(filetime_to_millis(0), None);
        assert_eq!(filetime_to_millis(i64::MAX), None);
        assert_eq!(filetime_to_millis(-5), None);
    }

    #[test]
    fn a_realm_is_the_base_dns_domain_components() {
        assert_eq!(realm_of("OU=Staff,DC=corp,DC=test").as_deref(), Some("CORP.TEST"));
        assert_eq!(realm_of("dc=Example, dc=COM").as_deref(), Some("EXAMPLE.COM"));
        assert_eq!(realm_of("OU=Staff,O=Corp"), None);
        assert_eq!(realm_of(""), None);
    }
}
