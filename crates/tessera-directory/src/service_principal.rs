//! `tessera directory kerberos register`: the service principal Windows integrated sign-in
//! needs (`HTTP/<host>`), added to a service account's `servicePrincipalName` as `setspn -S`
//! does (within the source's domain; `setspn -S` looks through the forest): never a second holder (the KDC then refuses the principal), nothing done when the
//! account holds it already. The source's bind account writes it, so it needs the right to
//! (Domain Admins, or "Validated write to service principal name" on the account).

use std::collections::HashSet;

use ldap3::{Mod, ldap_escape};
use tessera_core::sources::SourceConfig;

use crate::DirectoryError;
use crate::connect::{Timeouts, bind_first, search_as_service, tls_config};
use crate::pass_through::domain_components;

/// What became of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// Added to the account (its DN).
    Registered { dn: String },
    /// The account held it already: nothing written.
    AlreadyHeld { dn: String },
    /// Another account holds it (their DNs): nothing written.
    HeldElsewhere { holders: Vec<String> },
    /// No account (user or computer) has that logon name, or more than one: nothing written.
    NoSuchAccount,
}

/// Registers `HTTP/host` on the account whose `sAMAccountName` is `account`.
pub async fn register_service_principal(
    config: &SourceConfig,
    service_password: &str,
    host: &str,
    account: &str,
    timeouts: Timeouts,
) -> Result<Registration, DirectoryError> {
    let spn = format!("HTTP/{}", host.to_ascii_lowercase());
    let domain = domain_components(&config.base_dn).map(|(rdn, _)| rdn).collect::<Vec<_>>().join(",");
    if domain.is_empty() {
        return Ok(Registration::NoSuchAccount);
    }
    let filter = format!(
        "(&(|(objectCategory=person)(objectCategory=computer)(objectClass=msDS-GroupManagedServiceAccount))(sAMAccountName={}))",
        ldap_escape(account)
    );
    let found = search_as_service(
        config,
        service_password,
        &domain,
        &filter,
        vec!["sAMAccountName"],
        "the account lookup",
        timeouts,
    )
    .await?;
    let [entry] = found.entries.as_slice() else { return Ok(Registration::NoSuchAccount) };
    let holders = search_as_service(
        config,
        service_password,
        &domain,
        &format!("(servicePrincipalName={})", ldap_escape(&spn)),
        vec!["sAMAccountName"],
        "the service principal lookup",
        timeouts,
    )
    .await?
    .entries;
    // Any other holder breaks the principal (the KDC refuses one two accounts hold), even when
    // this account holds it too.
    let elsewhere: Vec<String> =
        holders.iter().filter(|holder| !holder.dn.eq_ignore_ascii_case(&entry.dn)).map(|h| h.dn.clone()).collect();
    if !elsewhere.is_empty() {
        return Ok(Registration::HeldElsewhere { holders: elsewhere });
    }
    if !holders.is_empty() {
        return Ok(Registration::AlreadyHeld { dn: entry.dn.clone() });
    }
    let tls = tls_config(config.ca_pem.as_deref())?;
    let mut bound = bind_first(config, &tls, &config.bind_dn, service_password, timeouts).await?;
    let refused = |e: ldap3::LdapError| DirectoryError::Refused {
        operation: "the service principal's registration",
        message: e.to_string(),
    };
    let added = vec![Mod::Add(b"servicePrincipalName".to_vec(), HashSet::from([spn.into_bytes()]))];
    let answer = bound.ldap.with_timeout(timeouts.operation).modify(&entry.dn, added).await.map_err(refused)?;
    let _ = bound.ldap.unbind().await;
    answer.success().map_err(refused)?;
    Ok(Registration::Registered { dn: entry.dn.clone() })
}
