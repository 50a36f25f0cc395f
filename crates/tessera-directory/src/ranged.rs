//! AD's ranged values: a multi-valued attribute with more values than the server gives at once
//! (MaxValRange, 1,500 by default) comes back as `member;range=0-1499`, without its plain
//! name; the rest is asked for range by range (`member;range=1500-*`) until a range ends in `*`.
//! Without this a group of 5,000 members would seem to have 1,500. Tessera asks for the first
//! range itself, as AD would answer anyway (and as Samba, which ranges only when asked, then
//! does too).

use std::collections::HashMap;

use ldap3::{Ldap, Scope, SearchEntry};

use crate::DirectoryError;
use crate::connect::Timeouts;

/// More rounds than this for one attribute: the server is not moving on.
const MAX_ROUNDS: usize = 10_000;
/// AD's MaxValRange: the values it gives at once.
pub(crate) const RANGE_STEP: u64 = 1500;

/// The first range of `attribute`, asked for outright (`member;range=0-1499`).
pub(crate) fn first_range(attribute: &str) -> String {
    format!("{attribute};range=0-{}", RANGE_STEP - 1)
}

/// The values of `attribute` in an entry's attributes, and where the rest starts when the
/// server gave only a range of them.
pub(crate) fn values_and_rest(attrs: &HashMap<String, Vec<String>>, attribute: &str) -> (Vec<String>, Option<u64>) {
    if let Some((_, values)) = attrs.iter().find(|(name, _)| name.eq_ignore_ascii_case(attribute)) {
        return (values.clone(), None);
    }
    let prefix = format!("{};range=", attribute.to_ascii_lowercase());
    let Some((name, values)) = attrs.iter().find(|(name, _)| name.to_ascii_lowercase().starts_with(&prefix)) else {
        return (Vec::new(), None);
    };
    let range = &name[prefix.len()..];
    let next = match range.split_once('-') {
        Some((_, "*")) | None => None,
        Some((_, high)) => high.parse::<u64>().ok().map(|h| h + 1),
    };
    (values.clone(), next)
}

/// The rest of a ranged attribute of the entry at `dn`, from `start` on.
pub(crate) async fn read_rest(
    ldap: &mut Ldap,
    timeouts: Timeouts,
    dn: &str,
    attribute: &str,
    mut start: u64,
) -> Result<Vec<String>, DirectoryError> {
    let refused = |e: ldap3::LdapError| DirectoryError::Refused {
        operation: "a ranged read of a group's members",
        message: e.to_string(),
    };
    let mut values = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let wanted = format!("{attribute};range={start}-*");
        let (entries, _) = ldap
            .with_timeout(timeouts.operation)
            .search(dn, Scope::Base, "(objectClass=*)", vec![wanted.as_str()])
            .await
            .and_then(|r| r.success())
            .map_err(refused)?;
        let Some(entry) = entries.into_iter().next().map(SearchEntry::construct) else { break };
        let (more, next) = values_and_rest(&entry.attrs, attribute);
        values.extend(more);
        match next {
            Some(next) if next > start => start = next,
            _ => return Ok(values),
        }
    }
    Err(DirectoryError::Refused {
        operation: "a ranged read of a group's members",
        message: format!("{dn}: the server kept giving ranges of {attribute}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn a_plain_attribute_is_whole_and_a_range_says_where_the_rest_starts() {
        assert_eq!(values_and_rest(&attrs(&[("member", &["a", "b"])]), "member"), (vec!["a".into(), "b".into()], None));
        assert_eq!(
            values_and_rest(&attrs(&[("member;range=0-1499", &["a"])]), "member"),
            (vec!["a".into()], Some(1500))
        );
        assert_eq!(values_and_rest(&attrs(&[("Member;Range=1500-*", &["z"])]), "member"), (vec!["z".into()], None));
        assert_eq!(values_and_rest(&attrs(&[("cn", &["x"])]), "member"), (vec![], None));
        assert_eq!(values_and_rest(&attrs(&[("member;range=0-junk", &["a"])]), "member"), (vec!["a".into()], None));
    }
}
