//! Computer accounts, read when a computer's Kerberos ticket asks for a hybrid join token: the
//! account by its logon name (`WS01$`) anywhere in the domain of the source's base DN, since
//! computers live under `CN=Computers` or their own OUs rather than under the users' base.

use ldap3::ldap_escape;
use tessera_core::computers::{DomainComputer, sid_text};
use tessera_core::sources::{SourceConfig, immutable_id_from_anchor};

use crate::DirectoryError;
use crate::connect::{Timeouts, search_as_service};
use crate::pass_through::domain_components;
use crate::read;

const ATTRIBUTES: [&str; 5] = ["objectGUID", "objectSid", "primaryGroupID", "userAccountControl", "dNSHostName"];

/// The computer account whose `sAMAccountName` is `logon_name`, as the source's service account
/// reads it; `None` when there is none, more than one, or one whose GUID or SID cannot be read.
pub async fn find_computer(
    config: &SourceConfig,
    service_password: &str,
    logon_name: &str,
    timeouts: Timeouts,
) -> Result<Option<DomainComputer>, DirectoryError> {
    let domain: Vec<&str> = domain_components(&config.base_dn).map(|(rdn, _)| rdn).collect();
    if domain.is_empty() {
        return Ok(None);
    }
    let filter = format!("(&(objectCategory=computer)(sAMAccountName={}))", ldap_escape(logon_name));
    let found = search_as_service(
        config,
        service_password,
        &domain.join(","),
        &filter,
        ATTRIBUTES.to_vec(),
        "the computer lookup",
        timeouts,
    )
    .await?;
    let [entry] = found.entries.as_slice() else { return Ok(None) };
    let guid = read::bytes(entry, "objectGUID").and_then(|bytes| <[u8; 16]>::try_from(bytes.as_slice()).ok());
    let sid = read::bytes(entry, "objectSid").and_then(|bytes| sid_text(&bytes));
    let number = |attribute: &str| read::text(entry, attribute).and_then(|text| text.parse::<i64>().ok());
    let (Some(guid), Some(sid), Some(primary_group), Some(control)) =
        (guid, sid, number("primaryGroupID"), number("userAccountControl"))
    else {
        return Ok(None);
    };
    Ok(Some(DomainComputer {
        account: logon_name.to_string(),
        dn: entry.dn.clone(),
        object_guid: immutable_id_from_anchor(&guid),
        sid,
        // AD writes both as 32-bit integers, userAccountControl sometimes signed.
        primary_group: u32::try_from(primary_group).unwrap_or(0),
        user_account_control: control as u32,
        dns_host_name: read::text(entry, "dNSHostName"),
    }))
}
