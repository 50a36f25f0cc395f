//! Incremental reads (AD's `uSNChanged`; OpenLDAP's `entryCSN`, microseconds apart, else
//! `modifyTimestamp`, a second apart). Every sync still
//! lists the whole source, but only each entry's DN, anchor and change marker: deletions are
//! found by comparing that full set of anchors, never by the changed entries alone. Only the
//! entries changed since the last read are read in full; the others are taken as the users
//! they were synced as. A user the sync suspended, an entry never synced, or another server
//! than last time is read in full again, and so is everything once a day.

use std::collections::{HashMap, HashSet};

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, Scope, SearchEntry};
use serde::{Deserialize, Serialize};
use tessera_core::UserState;
use tessera_core::sources::{DirectoryKind, SourceConfig};
use tessera_core::sync::LinkedUser;

use crate::DirectoryError;
use crate::connect::Timeouts;
use crate::probe::PAGE_SIZE;
use crate::read::{
    DirectoryUser, PROGRESS_EVERY, Progress, SyncStep, UserSearch, anchor, read_users, search_users, text,
};

/// A full read at least this often, whatever the markers say: it catches what they cannot
/// (an attribute changed in Tessera, a back-link such as `memberOf` that moves no marker).
const FULL_READ_EVERY_MS: i64 = 24 * 60 * 60 * 1000;
/// More entries than this to read one by one, and a full read is quicker.
const MAX_READ_BY_DN: usize = 200;

/// Where the next incremental read starts, saved with each applied sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The server that answered: USNs are each domain controller's own.
    pub server: String,
    /// The attribute the marker is of.
    pub attribute: String,
    /// The highest value seen by the last read; entries at or above it are read again.
    pub marker: String,
    /// When the last full read was.
    pub full_at: i64,
    /// Anchors of synced users whose entry the last sync could not take: read in full again.
    #[serde(default)]
    pub retry: Vec<String>,
}

/// More anchors to retry than this, and the next read is a full one.
const MAX_RETRY: usize = 1000;

impl Cursor {
    /// The cursor after a sync planned with `retry` left to read again.
    pub fn retrying(mut self, retry: Vec<String>) -> Cursor {
        if retry.len() > MAX_RETRY {
            // A full read next time, rather than a cursor that large.
            self.full_at = 0;
            self.retry = Vec::new();
        } else {
            self.retry = retry;
        }
        self
    }

    /// A saved cursor; `None` for anything unreadable (the next read is then full).
    pub fn parse(text: &str) -> Option<Cursor> {
        serde_json::from_str::<Cursor>(text).ok().filter(|c| valid_marker(&c.attribute, &c.marker))
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The change markers of a directory kind, best first: the first one the server gives is used.
fn marker_attributes(kind: DirectoryKind) -> &'static [&'static str] {
    match kind {
        DirectoryKind::Ad => &["uSNChanged"],
        DirectoryKind::OpenLdap => &["entryCSN", "modifyTimestamp"],
    }
}

/// A marker safe to put in a filter: a USN's digits, a CSN (`20261204231636.497767Z#000000#000#000000`),
/// or a GeneralizedTime in UTC.
fn valid_marker(attribute: &str, value: &str) -> bool {
    match attribute {
        "uSNChanged" => !value.is_empty() && value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit()),
        "entryCSN" => {
            let mut parts = value.split('#');
            let time = parts.next().unwrap_or("");
            let rest: Vec<&str> = parts.collect();
            valid_marker("modifyTimestamp", time)
                && rest.len() == 3
                && rest.iter().all(|p| !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        }
        "modifyTimestamp" => {
            let Some(body) = value.strip_suffix('Z') else { return false };
            let (whole, fraction) = body.split_once('.').unwrap_or((body, "0"));
            whole.len() == 14
                && whole.bytes().all(|b| b.is_ascii_digit())
                && !fraction.is_empty()
                && fraction.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// Whether marker `a` is later than `b` (USNs as numbers; timestamps of one format as text).
fn later(attribute: &str, a: &str, b: &str) -> bool {
    match attribute {
        "uSNChanged" => a.parse::<u64>().unwrap_or(0) > b.parse::<u64>().unwrap_or(0),
        _ => a > b,
    }
}

/// What a read found, and how.
#[derive(Debug, Clone)]
pub struct Read {
    /// Every user the source has now (the unchanged ones as they were synced).
    pub users: Vec<DirectoryUser>,
    /// For the next read; `None` when the server gives no markers.
    pub cursor: Option<Cursor>,
    pub incremental: bool,
    /// Entries read with all their attributes.
    pub read_in_full: usize,
}

/// What the server says of itself before a read (AD): who it is (`dsServiceName`, and its
/// NTDS settings' `invocationId`, which a restore from backup changes), and the highest USN it
/// has committed. `None`s where it does not say (OpenLDAP).
async fn server_state(ldap: &mut Ldap, timeouts: Timeouts) -> (Option<String>, Option<String>) {
    let root = ldap
        .with_timeout(timeouts.operation)
        .search("", Scope::Base, "(objectClass=*)", vec!["dsServiceName", "highestCommittedUSN"])
        .await
        .and_then(|r| r.success());
    let Ok((entries, _)) = root else { return (None, None) };
    let Some(root) = entries.into_iter().next().map(SearchEntry::construct) else { return (None, None) };
    let committed = text(&root, "highestCommittedUSN").filter(|u| valid_marker("uSNChanged", u));
    let Some(service) = text(&root, "dsServiceName") else { return (None, committed) };
    let settings = ldap
        .with_timeout(timeouts.operation)
        .search(&service, Scope::Base, "(objectClass=*)", vec!["invocationId"])
        .await
        .and_then(|r| r.success());
    let invocation = settings.ok().and_then(|(entries, _)| entries.into_iter().next()).and_then(|e| {
        let e = SearchEntry::construct(e);
        e.bin_attrs
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("invocationId"))
            .and_then(|(_, v)| v.into_iter().next())
    });
    let invocation: String = tessera_core::lower_hex(&invocation.unwrap_or_default());
    (Some(format!("{service} {invocation}")), committed)
}

/// An entry of the anchor listing.
struct Listed {
    dn: String,
    anchor: Result<String, String>,
}

/// Every entry of the user filter: DN, anchor and markers only. The first marker attribute the
/// server gives, with its highest value.
async fn list_anchors(
    ldap: &mut Ldap,
    config: &SourceConfig,
    timeouts: Timeouts,
    attributes: &[&'static str],
    progress: Progress<'_>,
) -> Result<(Vec<Listed>, Option<(&'static str, String)>), DirectoryError> {
    let mut wanted: Vec<&str> = config.attributes.anchors.iter().map(String::as_str).collect();
    wanted.extend(attributes);
    let refused =
        |e: ldap3::LdapError| DirectoryError::Refused { operation: "the anchor listing", message: e.to_string() };
    let adapters: Vec<Box<dyn Adapter<_, _>>> =
        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(PAGE_SIZE))];
    let mut search = ldap
        .with_timeout(timeouts.operation)
        .streaming_search_with(adapters, &config.base_dn, Scope::Subtree, &config.user_filter, wanted)
        .await
        .map_err(refused)?;
    let mut listed = Vec::new();
    let mut highest: Vec<Option<String>> = vec![None; attributes.len()];
    while let Some(entry) = search.next().await.map_err(refused)? {
        let entry = SearchEntry::construct(entry);
        for (attribute, high) in attributes.iter().zip(highest.iter_mut()) {
            if let Some(marker) = text(&entry, attribute).filter(|m| valid_marker(attribute, m))
                && high.as_deref().is_none_or(|h| later(attribute, &marker, h))
            {
                *high = Some(marker);
            }
        }
        listed.push(Listed { anchor: anchor(&entry, &config.attributes.anchors), dn: entry.dn });
        if listed.len() % PROGRESS_EVERY == 0 {
            progress(SyncStep::Users(listed.len()));
        }
    }
    search.finish().await.success().map_err(refused)?;
    let chosen = attributes.iter().zip(highest).find_map(|(attribute, high)| high.map(|h| (*attribute, h)));
    Ok((listed, chosen))
}

/// A linked user as the source last gave them: what an unchanged entry still says.
fn as_synced(dn: &str, linked: &LinkedUser) -> DirectoryUser {
    DirectoryUser {
        dn: dn.to_string(),
        anchor: Ok(linked.anchor.clone()),
        upn: Some(linked.user.upn.clone()),
        email: Some(linked.user.email.clone()),
        first_name: linked.user.first_name.clone(),
        last_name: linked.user.last_name.clone(),
        disabled: false,
    }
}

/// The source's users, read incrementally after `previous` when it allows (same server, same
/// marker, a full read within the day, not `full`), else in full.
#[allow(clippy::too_many_arguments)] // One read's inputs; a struct would only rename them.
pub async fn read_users_since(
    ldap: &mut Ldap,
    server: &str,
    config: &SourceConfig,
    timeouts: Timeouts,
    previous: Option<&Cursor>,
    linked: &[LinkedUser],
    now: i64,
    progress: Progress<'_>,
) -> Result<Read, DirectoryError> {
    // Read before the listing: every change committed by then is in it, and the next read
    // starts there (the highest marker an entry shows could pass over a write still in flight).
    let (identity, committed) = server_state(ldap, timeouts).await;
    let server = match identity {
        Some(identity) => format!("{server} {identity}"),
        None => server.to_string(),
    };
    let server = server.as_str();
    let (listed, mut highest) = list_anchors(ldap, config, timeouts, marker_attributes(config.kind), progress).await?;
    if let (Some(committed), Some(("uSNChanged", _))) = (committed, &highest) {
        highest = Some(("uSNChanged", committed));
    }
    let usable = previous.filter(|p| {
        highest.as_ref().is_some_and(|(attribute, _)| p.attribute == *attribute)
            && p.server == server
            && now - p.full_at < FULL_READ_EVERY_MS
            && p.full_at <= now
    });
    let cursor = |full_at: i64| {
        highest.clone().map(|(attribute, marker)| Cursor {
            server: server.to_string(),
            attribute: attribute.into(),
            marker,
            full_at,
            retry: Vec::new(),
        })
    };
    let full = |users: Vec<DirectoryUser>| {
        let read_in_full = users.len();
        Read { users, cursor: cursor(now), incremental: false, read_in_full }
    };
    let Some(previous) = usable else {
        return Ok(full(read_users(ldap, config, timeouts, progress).await?));
    };
    let filter = format!("(&{}({}>={}))", config.user_filter, previous.attribute, previous.marker);
    let changed = search_users(ldap, config, timeouts, UserSearch::subtree(&config.base_dn, &filter), &|_| {}).await?;
    // An entry renamed or moved between the two searches has another DN in each: its anchor
    // says it is the same entry.
    let changed_dns: HashSet<String> = changed.iter().map(|u| u.dn.to_lowercase()).collect();
    let changed_anchors: HashSet<String> = changed.iter().filter_map(|u| u.anchor.clone().ok()).collect();
    let retry: HashSet<&str> = previous.retry.iter().map(String::as_str).collect();
    let by_anchor: HashMap<&str, &LinkedUser> = linked.iter().map(|l| (l.anchor.as_str(), l)).collect();
    let mut users = changed;
    let mut read_in_full = users.len();
    let mut to_read = Vec::new();
    let is_changed = |l: &Listed| {
        changed_dns.contains(&l.dn.to_lowercase()) || l.anchor.as_ref().is_ok_and(|a| changed_anchors.contains(a))
    };
    for entry in listed.iter().filter(|l| !is_changed(l)) {
        // Unchanged and synced as an active user: as they were. Anything else (never synced,
        // suspended by a sync, refused by the last sync, no anchor) is read again: what made it
        // so may be elsewhere.
        let anchor = entry.anchor.as_deref().ok();
        match anchor.filter(|a| !retry.contains(a)).and_then(|a| by_anchor.get(a)) {
            Some(linked) if !(linked.suspended_by_source && linked.user.state == UserState::Suspended) => {
                users.push(as_synced(&entry.dn, linked));
            }
            _ => to_read.push(entry.dn.as_str()),
        }
    }
    if to_read.len() > MAX_READ_BY_DN {
        return Ok(full(read_users(ldap, config, timeouts, progress).await?));
    }
    for dn in to_read {
        // Gone since the listing: not found, and so not there (the next sync suspends them).
        let one = UserSearch { base: dn, scope: Scope::Base, filter: &config.user_filter, missing_is_empty: true };
        let found = search_users(ldap, config, timeouts, one, &|_| {}).await?;
        read_in_full += found.len();
        users.extend(found);
    }
    progress(SyncStep::Users(users.len()));
    Ok(Read { users, cursor: cursor(previous.full_at), incremental: true, read_in_full })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_checked_before_they_reach_a_filter() {
        assert!(valid_marker("uSNChanged", "123456"));
        assert!(!valid_marker("uSNChanged", "12)(uid=*"));
        assert!(!valid_marker("uSNChanged", ""));
        assert!(valid_marker("modifyTimestamp", "20261204231500Z"));
        assert!(valid_marker("modifyTimestamp", "20261204231500.123Z"));
        assert!(!valid_marker("modifyTimestamp", "20261204231500"));
        assert!(!valid_marker("modifyTimestamp", "2026120423150*Z"));
        assert!(!valid_marker("whenChanged", "20261204231500Z"));
        assert!(valid_marker("entryCSN", "20261204231636.497767Z#000000#000#000000"));
        assert!(!valid_marker("entryCSN", "20261204231636.497767Z#000000#000#0)(x=*"));
        assert!(!valid_marker("entryCSN", "20261204231636.497767Z"));
    }

    #[test]
    fn usns_compare_as_numbers_and_a_bad_cursor_reads_in_full() {
        assert!(later("uSNChanged", "10000", "9999"));
        assert!(later("modifyTimestamp", "20261204231501Z", "20261204231500Z"));
        assert!(later(
            "entryCSN",
            "20261204231636.497768Z#000000#000#000000",
            "20261204231636.497767Z#000000#000#000000"
        ));
        let cursor = Cursor {
            server: "ldaps://dc1".into(),
            attribute: "uSNChanged".into(),
            marker: "42".into(),
            full_at: 1,
            retry: vec!["YW5jaG9y".into()],
        };
        assert_eq!(Cursor::parse(&cursor.to_text()), Some(cursor.clone()));
        assert_eq!(Cursor::parse(r#"{"server":"x","attribute":"uSNChanged","marker":"1)(x=*","full_at":1}"#), None);
        assert_eq!(Cursor::parse("not json"), None);
        let many = cursor.retrying((0..=MAX_RETRY).map(|n| n.to_string()).collect());
        assert_eq!((many.full_at, many.retry.len()), (0, 0), "too many to retry: a full read next");
    }
}
