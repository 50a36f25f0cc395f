//! The groups part of the sync plan: groups created, renamed, orphaned (gone from the source,
//! kept with their grants) or restored, and memberships made to follow the source, nested
//! groups resolved. Pure, as the users' part.

use std::collections::{BTreeSet, HashMap, HashSet};

use tessera_core::NewGroup;
use tessera_core::sync::LinkedGroup;

use crate::plan::SyncPlan;
use crate::read::{DirectoryGroup, DirectoryUser};

/// DNs compare without letter case or spaces around their parts.
fn dn_key(dn: &str) -> String {
    dn.split(',').map(|part| part.trim().to_lowercase()).collect::<Vec<_>>().join(",")
}

/// The users (by anchor) a group holds, directly or through the groups it holds; a cycle of
/// groups ends where it began.
fn effective_members(
    start: &str,
    groups: &HashMap<String, &DirectoryGroup>,
    users: &HashMap<String, &str>,
) -> BTreeSet<String> {
    let mut members = BTreeSet::new();
    let mut seen = HashSet::new();
    let mut pending = vec![start.to_string()];
    while let Some(group) = pending.pop() {
        if !seen.insert(group.clone()) {
            continue;
        }
        let Some(found) = groups.get(&group) else { continue };
        for member in &found.members {
            let key = dn_key(member);
            match users.get(&key) {
                Some(anchor) => {
                    members.insert((*anchor).to_string());
                }
                None if groups.contains_key(&key) => pending.push(key),
                None => {}
            }
        }
    }
    members
}

/// Adds the groups' changes to `plan`. `taken_names`: every group name (lowercase) that is not
/// this source's.
pub fn plan_groups(
    users: &[DirectoryUser],
    source_groups: &[DirectoryGroup],
    linked: &[LinkedGroup],
    taken_names: &HashSet<String>,
    plan: &mut SyncPlan,
) {
    let (changes, errors) = (&mut plan.changes, &mut plan.errors);
    // An anchor two entries give is no one's for sure: it gains and loses no membership.
    let mut given: HashMap<&str, usize> = HashMap::new();
    for user in users {
        if let Ok(anchor) = &user.anchor {
            *given.entry(anchor.as_str()).or_default() += 1;
        }
    }
    let ambiguous: HashSet<&str> = given.iter().filter(|(_, n)| **n > 1).map(|(a, _)| *a).collect();
    let user_anchors: HashMap<String, &str> = users
        .iter()
        .filter_map(|u| {
            u.anchor.as_ref().ok().filter(|a| !ambiguous.contains(a.as_str())).map(|a| (dn_key(&u.dn), a.as_str()))
        })
        .collect();
    // A group of this source that is gone (or orphaned) keeps its name: a new one may not take it.
    let in_source: HashSet<&str> = source_groups.iter().filter_map(|g| g.anchor.as_deref().ok()).collect();
    let mut taken_names = taken_names.clone();
    taken_names
        .extend(linked.iter().filter(|l| !in_source.contains(l.anchor.as_str())).map(|l| l.group.name.to_lowercase()));
    let by_dn: HashMap<String, &DirectoryGroup> = source_groups.iter().map(|g| (dn_key(&g.dn), g)).collect();
    let by_anchor: HashMap<&str, &LinkedGroup> = linked.iter().map(|l| (l.anchor.as_str(), l)).collect();
    let mut present = HashSet::new();
    let mut claimed: HashSet<String> = HashSet::new();
    for group in source_groups {
        let (anchor, name) = match (&group.anchor, &group.name) {
            (Ok(anchor), Some(name)) => (anchor, name),
            (Err(why), _) => {
                errors.push(format!("{}: no source anchor ({why})", group.dn));
                continue;
            }
            (_, None) => {
                errors.push(format!("{}: no cn", group.dn));
                continue;
            }
        };
        if !present.insert(anchor.as_str()) {
            errors.push(format!("{}: its anchor is another group's of this source", group.dn));
            continue;
        }
        let new = match NewGroup::new(name, None) {
            Ok(new) => new,
            Err(e) => {
                errors.push(format!("{}: {e}", group.dn));
                continue;
            }
        };
        let lower = new.name.to_lowercase();
        if taken_names.contains(&lower) || !claimed.insert(lower) {
            errors.push(format!("{}: a group named {:?} exists already", group.dn, new.name));
            continue;
        }
        let wanted = effective_members(&dn_key(&group.dn), &by_dn, &user_anchors);
        let held: BTreeSet<String> = match by_anchor.get(anchor.as_str()) {
            Some(existing) => {
                if existing.group.name != new.name {
                    changes.rename_groups.push((existing.group.id, new.name.clone()));
                }
                if existing.orphaned {
                    changes.restore_groups.push(existing.group.id);
                }
                existing.members.iter().cloned().collect()
            }
            None => {
                changes.create_groups.push((anchor.clone(), new));
                BTreeSet::new()
            }
        };
        changes.add_members.extend(wanted.difference(&held).map(|user| (anchor.clone(), user.clone())));
        let removed = held.difference(&wanted).filter(|user| !ambiguous.contains(user.as_str()));
        changes.remove_members.extend(removed.map(|user| (anchor.clone(), user.clone())));
    }
    for group in linked {
        if !present.contains(group.anchor.as_str()) && !group.orphaned {
            changes.orphan_groups.push(group.group.id);
        }
    }
}
