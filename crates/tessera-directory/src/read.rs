//! Reading a source's users: one paged search under the base DN with the user filter, each
//! entry turned into what a sync compares.

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, Scope, SearchEntry};
use tessera_core::sources::{DirectoryKind, SourceConfig, entry_uuid_bytes, immutable_id_from_anchor};

use crate::DirectoryError;
use crate::connect::Timeouts;
use crate::probe::PAGE_SIZE;

/// AD's userAccountControl flag of a disabled account.
const ACCOUNT_DISABLED: u32 = 0x2;

/// How far a sync has come, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStep {
    /// Users read so far.
    Users(usize),
    /// Groups read so far.
    Groups(usize),
    /// Read; now planned and written.
    Writing,
}

/// Told each step of a sync (a no-op where nobody watches).
pub type Progress<'a> = &'a (dyn Fn(SyncStep) + Send + Sync);

/// Tell the progress every this many entries.
pub(crate) const PROGRESS_EVERY: usize = 100;

/// A person as the source has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub dn: String,
    /// Base64 of the first anchor attribute set (the ImmutableID), or why there is none.
    pub anchor: Result<String, String>,
    pub upn: Option<String>,
    pub email: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub disabled: bool,
}

pub(crate) fn text(entry: &SearchEntry, attribute: &str) -> Option<String> {
    let values = entry.attrs.iter().find(|(name, _)| name.eq_ignore_ascii_case(attribute)).map(|(_, v)| v);
    values.and_then(|v| v.first()).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// An attribute's first value as bytes, whether the client library took it for text or not
/// (a binary value that happens to be valid UTF-8 arrives as text).
pub(crate) fn bytes(entry: &SearchEntry, attribute: &str) -> Option<Vec<u8>> {
    let binary = entry.bin_attrs.iter().find(|(name, _)| name.eq_ignore_ascii_case(attribute));
    if let Some(value) = binary.and_then(|(_, v)| v.first()) {
        return Some(value.clone());
    }
    let textual = entry.attrs.iter().find(|(name, _)| name.eq_ignore_ascii_case(attribute));
    textual.and_then(|(_, v)| v.first()).map(|value| value.as_bytes().to_vec())
}

/// The anchor's 16 bytes: binary (objectGUID, mS-DS-ConsistencyGuid), or a UUID in text
/// (entryUUID).
pub(crate) fn anchor(entry: &SearchEntry, attributes: &[String]) -> Result<String, String> {
    for attribute in attributes {
        let binary = entry.bin_attrs.iter().find(|(name, _)| name.eq_ignore_ascii_case(attribute));
        if let Some(value) = binary.and_then(|(_, v)| v.first()) {
            return match <[u8; 16]>::try_from(value.as_slice()) {
                Ok(bytes) => Ok(immutable_id_from_anchor(&bytes)),
                Err(_) => Err(format!("{attribute} holds {} bytes, not 16", value.len())),
            };
        }
        let textual = entry.attrs.iter().find(|(name, _)| name.eq_ignore_ascii_case(attribute));
        if let Some(value) = textual.and_then(|(_, v)| v.first()) {
            if let Ok(bytes) = <[u8; 16]>::try_from(value.as_bytes()) {
                return Ok(immutable_id_from_anchor(&bytes));
            }
            return entry_uuid_bytes(value)
                .map(|bytes| immutable_id_from_anchor(&bytes))
                .map_err(|_| format!("{attribute} is neither 16 bytes nor a UUID"));
        }
    }
    Err(format!("none of {} is set", attributes.join(", ")))
}

/// A group as the source has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryGroup {
    pub dn: String,
    pub anchor: Result<String, String>,
    /// Its `cn`.
    pub name: Option<String>,
    /// The DNs of its members: users, and groups (nested).
    pub members: Vec<String>,
}

/// Every group the source's group filter finds, page by page.
pub async fn read_groups(
    ldap: &mut Ldap,
    config: &SourceConfig,
    timeouts: Timeouts,
    progress: Progress<'_>,
) -> Result<Vec<DirectoryGroup>, DirectoryError> {
    let a = &config.attributes;
    // AD: the first range asked for outright, as AD would give it of a large group anyway;
    // the rest is read range by range (`ranged`). OpenLDAP knows no ranges.
    let member = match config.kind {
        DirectoryKind::Ad => crate::ranged::first_range(&a.member),
        DirectoryKind::OpenLdap => a.member.clone(),
    };
    let mut wanted: Vec<&str> = vec!["cn", &member];
    wanted.extend(a.anchors.iter().map(String::as_str));
    let refused =
        |e: ldap3::LdapError| DirectoryError::Refused { operation: "the group search", message: e.to_string() };
    let adapters: Vec<Box<dyn Adapter<_, _>>> =
        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(PAGE_SIZE))];
    let mut search = ldap
        .with_timeout(timeouts.operation)
        .streaming_search_with(adapters, &config.base_dn, Scope::Subtree, &config.group_filter, wanted)
        .await
        .map_err(refused)?;
    let mut groups = Vec::new();
    // Groups whose members came in ranges (AD), and where the rest starts.
    let mut ranged = Vec::new();
    while let Some(entry) = search.next().await.map_err(refused)? {
        let entry = SearchEntry::construct(entry);
        let (members, rest) = crate::ranged::values_and_rest(&entry.attrs, &a.member);
        if let Some(start) = rest {
            ranged.push((groups.len(), start));
        }
        groups.push(DirectoryGroup {
            anchor: anchor(&entry, &a.anchors),
            name: text(&entry, "cn"),
            members,
            dn: entry.dn,
        });
        if groups.len() % PROGRESS_EVERY == 0 {
            progress(SyncStep::Groups(groups.len()));
        }
    }
    search.finish().await.success().map_err(refused)?;
    for (index, start) in ranged {
        if let Some(group) = groups.get_mut(index) {
            let rest = crate::ranged::read_rest(ldap, timeouts, &group.dn, &a.member, start).await?;
            group.members.extend(rest);
        }
    }
    progress(SyncStep::Groups(groups.len()));
    Ok(groups)
}

/// Every user the source's filter finds, page by page.
pub async fn read_users(
    ldap: &mut Ldap,
    config: &SourceConfig,
    timeouts: Timeouts,
    progress: Progress<'_>,
) -> Result<Vec<DirectoryUser>, DirectoryError> {
    search_users(ldap, config, timeouts, UserSearch::subtree(&config.base_dn, &config.user_filter), progress).await
}

/// Where and how users are searched for.
pub(crate) struct UserSearch<'a> {
    pub base: &'a str,
    pub scope: Scope,
    pub filter: &'a str,
    /// A base that is not there (noSuchObject) finds nobody, rather than failing the read.
    pub missing_is_empty: bool,
}

impl<'a> UserSearch<'a> {
    pub fn subtree(base: &'a str, filter: &'a str) -> Self {
        UserSearch { base, scope: Scope::Subtree, filter, missing_is_empty: false }
    }
}

/// LDAP's noSuchObject.
const NO_SUCH_OBJECT: u32 = 32;

/// The users one search finds, with every mapped attribute.
pub(crate) async fn search_users(
    ldap: &mut Ldap,
    config: &SourceConfig,
    timeouts: Timeouts,
    at: UserSearch<'_>,
    progress: Progress<'_>,
) -> Result<Vec<DirectoryUser>, DirectoryError> {
    let a = &config.attributes;
    let mut wanted: Vec<&str> = vec![&a.upn, &a.email, &a.first_name, &a.last_name];
    wanted.extend(a.anchors.iter().map(String::as_str));
    if let Some(flags) = &a.account_control {
        wanted.push(flags);
    }
    let refused =
        |e: ldap3::LdapError| DirectoryError::Refused { operation: "the user search", message: e.to_string() };
    let mut adapters: Vec<Box<dyn Adapter<_, _>>> = vec![Box::new(EntriesOnly::new())];
    if !matches!(at.scope, Scope::Base) {
        adapters.push(Box::new(PagedResults::new(PAGE_SIZE)));
    }
    let mut search = ldap
        .with_timeout(timeouts.operation)
        .streaming_search_with(adapters, at.base, at.scope, at.filter, wanted)
        .await
        .map_err(refused)?;
    let mut users = Vec::new();
    while let Some(entry) = search.next().await.map_err(refused)? {
        let entry = SearchEntry::construct(entry);
        let flags = a.account_control.as_deref().and_then(|f| text(&entry, f)).and_then(|v| v.parse::<u32>().ok());
        users.push(DirectoryUser {
            anchor: anchor(&entry, &a.anchors),
            upn: text(&entry, &a.upn),
            email: text(&entry, &a.email),
            first_name: text(&entry, &a.first_name).unwrap_or_default(),
            last_name: text(&entry, &a.last_name).unwrap_or_default(),
            disabled: flags.is_some_and(|f| f & ACCOUNT_DISABLED != 0),
            dn: entry.dn,
        });
        if users.len() % PROGRESS_EVERY == 0 {
            progress(SyncStep::Users(users.len()));
        }
    }
    let done = search.finish().await;
    if at.missing_is_empty && done.rc == NO_SUCH_OBJECT {
        return Ok(Vec::new());
    }
    done.success().map_err(refused)?;
    progress(SyncStep::Users(users.len()));
    Ok(users)
}
