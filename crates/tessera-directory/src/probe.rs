//! What `directory test` checks: each server in turn (reached, TLS verified, the service
//! account bound), then on the first that binds, the base DN and how many users and groups the
//! filters find.

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, Scope};
use tessera_core::sources::SourceConfig;

use crate::DirectoryError;
use crate::connect::{Timeouts, bind_to, tls_config};

/// Entries per page: under AD's MaxPageSize (1,000), so that no server truncates a page.
pub(crate) const PAGE_SIZE: i32 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCheck {
    pub url: String,
    /// Bound as the service account, or why not.
    pub outcome: Result<(), String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub servers: Vec<ServerCheck>,
    /// What the first server that bound found, if any did.
    pub base_dn_found: Option<bool>,
    pub users: Option<u64>,
    pub groups: Option<u64>,
}

impl Probe {
    /// Every server bound and the base DN is there.
    pub fn healthy(&self) -> bool {
        self.servers.iter().all(|s| s.outcome.is_ok()) && self.base_dn_found == Some(true)
    }
}

/// Checks every server of the source with the service account's `password`.
pub async fn probe(config: &SourceConfig, password: &str, timeouts: Timeouts) -> Result<Probe, DirectoryError> {
    let tls = tls_config(config.ca_pem.as_deref())?;
    let mut servers = Vec::new();
    let mut first = None;
    for server in config.servers()? {
        match bind_to(&server, &tls, &config.bind_dn, password, timeouts).await {
            Ok(bound) => {
                servers.push(ServerCheck { url: server.url.clone(), outcome: Ok(()) });
                if first.is_none() {
                    first = Some(bound.ldap);
                } else {
                    let mut other = bound.ldap;
                    let _ = other.unbind().await;
                }
            }
            Err(e) => servers.push(ServerCheck { url: server.url.clone(), outcome: Err(e.to_string()) }),
        }
    }
    let Some(mut ldap) = first else {
        return Ok(Probe { servers, base_dn_found: None, users: None, groups: None });
    };
    let base_dn_found = base_exists(&mut ldap, &config.base_dn, timeouts).await?;
    let (users, groups) = match base_dn_found {
        true => (
            Some(count(&mut ldap, &config.base_dn, &config.user_filter, timeouts).await?),
            Some(count(&mut ldap, &config.base_dn, &config.group_filter, timeouts).await?),
        ),
        false => (None, None),
    };
    let _ = ldap.unbind().await;
    Ok(Probe { servers, base_dn_found: Some(base_dn_found), users, groups })
}

async fn base_exists(ldap: &mut Ldap, base_dn: &str, timeouts: Timeouts) -> Result<bool, DirectoryError> {
    let refused =
        |e: ldap3::LdapError| DirectoryError::Refused { operation: "the base DN search", message: e.to_string() };
    let found = ldap
        .with_timeout(timeouts.operation)
        .search(base_dn, Scope::Base, "(objectClass=*)", vec!["1.1"])
        .await
        .map_err(refused)?;
    match found.1.rc {
        0 => Ok(!found.0.is_empty()),
        // noSuchObject
        32 => Ok(false),
        rc => Err(DirectoryError::Refused {
            operation: "the base DN search",
            message: format!("result {rc}: {}", found.1.text),
        }),
    }
}

/// How many entries `filter` finds under `base_dn`, page by page, reading no attribute.
async fn count(ldap: &mut Ldap, base_dn: &str, filter: &str, timeouts: Timeouts) -> Result<u64, DirectoryError> {
    let refused = |e: ldap3::LdapError| DirectoryError::Refused { operation: "the search", message: e.to_string() };
    let adapters: Vec<Box<dyn Adapter<_, _>>> =
        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(PAGE_SIZE))];
    let mut search = ldap
        .with_timeout(timeouts.operation)
        .streaming_search_with(adapters, base_dn, Scope::Subtree, filter, vec!["1.1"])
        .await
        .map_err(refused)?;
    let mut found = 0u64;
    // EntriesOnly leaves out referrals and intermediate messages: each one left is an entry.
    while search.next().await.map_err(refused)?.is_some() {
        found += 1;
    }
    search.finish().await.success().map_err(refused)?;
    Ok(found)
}
