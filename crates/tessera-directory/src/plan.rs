//! The sync plan: what the source's answer changes in Tessera, as a pure diff of the users it
//! brought before and the users the source has now. Nothing here reads or writes.

use std::collections::{HashMap, HashSet};

use tessera_core::sync::{LinkedUser, SyncChanges, SyncedFields};
use tessera_core::{NewUser, User, UserState};

use crate::read::DirectoryUser;

/// Above this share of the source's users suspended in one sync, the sync stops unless told
/// otherwise: an empty or partial answer, or a wrong filter, must not lock everyone out.
pub const MASS_SUSPEND_SHARE: f64 = 0.10;

#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Link a local user whose UPN a source user has (their ImmutableID kept).
    pub adopt_by_upn: bool,
    pub allow_mass_suspend: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub changes: SyncChanges,
    pub unchanged: usize,
    /// A source entry that could not be taken, and why (the rest of the sync goes on).
    pub errors: Vec<String>,
    /// Anchors of users the source brought whose entry could not be taken: read in full again
    /// by the next incremental sync, which would otherwise take them as they were synced.
    pub retry: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this sync would suspend {suspend} of the source's {linked} active users (more than 10%): an empty or \
     partial answer, or a wrong filter? Nothing was changed; run it with --allow-mass-suspend if it is meant"
)]
pub struct MassSuspend {
    pub suspend: usize,
    /// The source's users active before the sync.
    pub linked: usize,
}

fn lower(text: &str) -> String {
    text.to_lowercase()
}

/// The plan for one source. `linked` are the users it brought before; `others` every other
/// user (local ones, and other sources'), whose names and ImmutableIDs a new user must not take.
pub fn plan(
    source: &[DirectoryUser],
    linked: &[LinkedUser],
    others: &[(User, bool)],
    options: PlanOptions,
) -> Result<SyncPlan, MassSuspend> {
    let mut plan = SyncPlan::default();
    // An anchor the source gives twice names nobody for sure: both entries are left out, and
    // the user who holds it is left as they are.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for user in source {
        if let Ok(anchor) = &user.anchor {
            *seen.entry(anchor.as_str()).or_default() += 1;
        }
    }
    let ambiguous: HashSet<&str> = seen.iter().filter(|(_, n)| **n > 1).map(|(a, _)| *a).collect();
    let by_anchor: HashMap<&str, &LinkedUser> = linked.iter().map(|l| (l.anchor.as_str(), l)).collect();
    let present: HashSet<&str> = seen.keys().copied().collect();
    // Names and ImmutableIDs taken by users outside this source; those of linked users are
    // theirs to keep or change.
    let mut taken_names: HashMap<String, &User> = HashMap::new();
    let mut taken_ids: HashSet<&str> = HashSet::new();
    for (user, _) in others {
        taken_names.insert(lower(&user.email), user);
        taken_names.insert(lower(&user.upn), user);
        taken_ids.insert(user.immutable_id.as_str());
    }
    for l in linked {
        taken_ids.insert(l.user.immutable_id.as_str());
    }
    // A linked user whose anchor vanished while a new anchor brings their UPN: the anchor
    // changed at the source, which a sync never follows silently.
    let vanished_upns: HashMap<String, &LinkedUser> =
        linked.iter().filter(|l| !present.contains(l.anchor.as_str())).map(|l| (lower(&l.user.upn), l)).collect();
    // Names the users created by this sync take, so that two entries cannot both have one.
    let mut claimed: HashSet<String> = HashSet::new();

    // Names of this source's users, by anchor: an entry may not take another one's.
    let mut linked_names: HashMap<String, &str> = HashMap::new();
    for l in linked {
        linked_names.insert(lower(&l.user.email), l.anchor.as_str());
        linked_names.insert(lower(&l.user.upn), l.anchor.as_str());
    }
    let mut adopted: HashSet<tessera_core::UserId> = HashSet::new();

    for entry in source {
        let anchor = match &entry.anchor {
            Ok(anchor) if ambiguous.contains(anchor.as_str()) => {
                plan.errors.push(format!("{}: its anchor {anchor} is given by another entry too", entry.dn));
                continue;
            }
            Ok(anchor) => anchor,
            Err(why) => {
                plan.errors.push(format!("{}: no source anchor ({why})", entry.dn));
                continue;
            }
        };
        let existing = by_anchor.get(anchor.as_str()).copied();
        // Disabled at the source: suspended whatever else is wrong with the entry (an account
        // being retired often loses its other attributes too).
        let mut changed = false;
        if let Some(existing) = existing {
            let user = &existing.user;
            if entry.disabled && user.state == UserState::Active {
                plan.changes.suspend.push(user.id);
                changed = true;
            } else if !entry.disabled && user.state == UserState::Suspended && existing.suspended_by_source {
                plan.changes.reactivate.push(user.id);
                changed = true;
            }
        }
        let Some(upn) = entry.upn.as_deref() else {
            plan.errors.push(format!("{}: no UPN", entry.dn));
            if existing.is_some() {
                plan.retry.push(anchor.clone());
            }
            continue;
        };
        let email = entry.email.as_deref().unwrap_or(upn);
        let checked =
            NewUser::new(email, Some(upn), Some(&entry.first_name), Some(&entry.last_name), Some(anchor), String::new);
        let new = match checked {
            Ok(new) => new,
            Err(e) => {
                plan.errors.push(format!("{}: {e}", entry.dn));
                if existing.is_some() {
                    plan.retry.push(anchor.clone());
                }
                continue;
            }
        };
        let names = [lower(&new.email), lower(&new.upn)];
        match existing {
            Some(existing) => {
                let user = &existing.user;
                let fields = SyncedFields {
                    email: new.email.clone(),
                    upn: new.upn.clone(),
                    first_name: new.first_name.clone(),
                    last_name: new.last_name.clone(),
                };
                let another_linked = names.iter().any(|n| linked_names.get(n).is_some_and(|a| *a != anchor.as_str()));
                let outside = names.iter().find_map(|n| taken_names.get(n));
                if fields.email != user.email
                    || fields.upn != user.upn
                    || fields.first_name != user.first_name
                    || fields.last_name != user.last_name
                {
                    match (outside, another_linked) {
                        (Some(other), _) => {
                            plan.errors
                                .push(format!("{}: {} is another user's ({})", entry.dn, fields.upn, other.email));
                            plan.retry.push(anchor.clone());
                        }
                        (None, true) => {
                            plan.errors.push(format!("{}: {} is another user's of this source", entry.dn, fields.upn));
                            plan.retry.push(anchor.clone());
                        }
                        (None, false) => {
                            plan.changes.update.push((user.id, fields));
                            changed = true;
                        }
                    }
                }
                if !changed {
                    plan.unchanged += 1;
                }
            }
            // Never there before and disabled now: not brought in (it could not sign in); it
            // comes with the sync that finds it enabled.
            None if entry.disabled => {}
            None => {
                if let Some(previous) = vanished_upns.get(&names[1]) {
                    plan.errors.push(format!(
                        "{}: its anchor changed at the source (was {}, now {anchor}); the user with ImmutableID {} is \
                         suspended as gone, and the new entry is not taken",
                        entry.dn, previous.anchor, previous.user.immutable_id
                    ));
                    continue;
                }
                if names.iter().any(|n| linked_names.contains_key(n)) {
                    plan.errors.push(format!("{}: {} is another user's of this source", entry.dn, new.upn));
                    continue;
                }
                let holder = names.iter().find_map(|n| taken_names.get(n).copied());
                match holder {
                    Some(local)
                        if options.adopt_by_upn
                            && lower(&local.upn) == names[1]
                            && !others_linked(others, local)
                            && !adopted.contains(&local.id) =>
                    {
                        adopted.insert(local.id);
                        plan.changes.adopt.push((local.id, anchor.clone()));
                    }
                    Some(local) => {
                        let hint = if others_linked(others, local) {
                            "another source's user"
                        } else if adopted.contains(&local.id) {
                            "a local user another entry takes"
                        } else {
                            "a local user (--adopt-by-upn links them)"
                        };
                        plan.errors.push(format!("{}: {} is {hint}: {}", entry.dn, new.upn, local.email));
                    }
                    None if taken_ids.contains(new.immutable_id.as_str()) => {
                        plan.errors.push(format!("{}: ImmutableID {} is another user's", entry.dn, new.immutable_id));
                    }
                    None if names.iter().any(|n| claimed.contains(n)) => {
                        plan.errors.push(format!("{}: {} is another entry's of this source", entry.dn, new.upn));
                    }
                    None => {
                        claimed.extend(names);
                        plan.changes.create.push((anchor.clone(), new));
                    }
                }
            }
        }
    }
    // Gone from the source (a changed anchor too: the person it named is gone there).
    for l in linked {
        if !present.contains(l.anchor.as_str()) && l.user.state == UserState::Active {
            plan.changes.suspend.push(l.user.id);
        }
    }
    // The share is of the users still active: suspended ones piling up must not dilute it.
    let suspend = plan.changes.suspend.len();
    let active = linked.iter().filter(|l| l.user.state == UserState::Active).count();
    if !options.allow_mass_suspend && suspend > 0 && (suspend as f64) > MASS_SUSPEND_SHARE * active as f64 {
        return Err(MassSuspend { suspend, linked: active });
    }
    Ok(plan)
}

fn others_linked(others: &[(User, bool)], user: &User) -> bool {
    others.iter().any(|(other, linked)| other.id == user.id && *linked)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(n: u32, disabled: bool) -> DirectoryUser {
        DirectoryUser {
            dn: format!("uid=u{n},dc=corp,dc=test"),
            anchor: Ok(format!("YW5jaG9y{n:04}")),
            upn: Some(format!("u{n}@corp.test")),
            email: None,
            first_name: "U".into(),
            last_name: format!("{n}"),
            disabled,
        }
    }

    fn linked(n: u32, state: UserState, by_source: bool) -> LinkedUser {
        let mut user = User {
            id: tessera_core::UserId::new(),
            email: format!("u{n}@corp.test"),
            upn: format!("u{n}@corp.test"),
            first_name: "U".into(),
            last_name: format!("{n}"),
            immutable_id: format!("YW5jaG9y{n:04}"),
            state,
            password_hash: None,
            notice_acknowledged_at: None,
            created_at: 0,
            updated_at: 0,
        };
        user.state = state;
        LinkedUser { anchor: user.immutable_id.clone(), user, suspended_by_source: by_source }
    }

    #[test]
    fn new_changed_disabled_gone_and_back() {
        let mut renamed = entry(2, false);
        renamed.last_name = "Renamed".into();
        let source = [entry(1, false), renamed, entry(3, true), entry(5, false), entry(6, false)];
        let had: Vec<LinkedUser> = (1..=20)
            .filter(|n| *n != 5)
            .map(|n| match n {
                6 => linked(6, UserState::Suspended, true),
                _ => linked(n, UserState::Active, false),
            })
            .collect();
        let options = PlanOptions { allow_mass_suspend: true, ..PlanOptions::default() };
        let plan = plan(&source, &had, &[], options).unwrap();
        assert_eq!(plan.changes.create.len(), 1, "u5 is new");
        assert_eq!(plan.changes.create[0].1.immutable_id, "YW5jaG9y0005");
        assert_eq!(plan.changes.update.len(), 1);
        assert_eq!(plan.changes.reactivate, [had[4].user.id], "u6, suspended by a sync, is back");
        // u3 disabled, u4 and u7..u20 gone.
        assert_eq!(plan.changes.suspend.len(), 1 + 15);
        assert_eq!(plan.unchanged, 1);
        let refused = super::plan(&source, &had, &[], PlanOptions::default()).unwrap_err();
        assert_eq!((refused.suspend, refused.linked), (16, 18), "of the users active before");
    }

    #[test]
    fn an_empty_answer_suspends_nobody_without_being_told() {
        let had: Vec<LinkedUser> = (1..=3).map(|n| linked(n, UserState::Active, false)).collect();
        assert!(plan(&[], &had, &[], PlanOptions::default()).is_err());
        // One of forty gone is under the line.
        let many: Vec<LinkedUser> = (1..=40).map(|n| linked(n, UserState::Active, false)).collect();
        let source: Vec<DirectoryUser> = (1..=39).map(|n| entry(n, false)).collect();
        assert_eq!(plan(&source, &many, &[], PlanOptions::default()).unwrap().changes.suspend.len(), 1);
    }

    #[test]
    fn an_administrators_suspension_is_kept_and_twice_given_anchors_are_left_out() {
        let had = [linked(1, UserState::Suspended, false)];
        let mut twin = entry(9, false);
        twin.anchor = entry(1, false).anchor;
        let plan = plan(&[entry(1, false), twin], &had, &[], PlanOptions::default()).unwrap();
        assert!(plan.changes.is_empty(), "{plan:?}");
        assert_eq!(plan.errors.len(), 2, "{:?}", plan.errors);
        let plan = super::plan(&[entry(1, false)], &had, &[], PlanOptions::default()).unwrap();
        assert!(plan.changes.reactivate.is_empty(), "suspended by an administrator: stays so");
    }

    #[test]
    fn a_local_user_is_adopted_only_when_asked_and_a_changed_anchor_is_reported() {
        let local = linked(1, UserState::Active, false).user;
        let others = [(local.clone(), false)];
        let refused = plan(&[entry(1, false)], &[], &others, PlanOptions::default()).unwrap();
        assert!(refused.changes.is_empty() && refused.errors[0].contains("--adopt-by-upn"), "{refused:?}");
        let adopting = PlanOptions { adopt_by_upn: true, ..PlanOptions::default() };
        let adopted = plan(&[entry(1, false)], &[], &others, adopting).unwrap();
        assert_eq!(adopted.changes.adopt, [(local.id, "YW5jaG9y0001".to_string())]);
        let of_another_source = [(local, true)];
        assert!(plan(&[entry(1, false)], &[], &of_another_source, adopting).unwrap().changes.is_empty());

        let had = [linked(1, UserState::Active, false)];
        let mut moved = entry(1, false);
        moved.anchor = Ok("bmV3LWFuY2hvcg==".into());
        let told = PlanOptions { allow_mass_suspend: true, ..PlanOptions::default() };
        let changed = plan(&[moved], &had, &[], told).unwrap();
        assert!(changed.changes.create.is_empty(), "the new entry is not taken: {changed:?}");
        assert_eq!(changed.changes.suspend, [had[0].user.id], "the person the old anchor named is gone");
        assert!(changed.errors[0].contains("anchor changed"), "{:?}", changed.errors);
    }

    #[test]
    fn a_disabled_entry_is_not_brought_in_and_a_retired_one_is_suspended_even_half_empty() {
        let had: Vec<LinkedUser> = (1..=20).map(|n| linked(n, UserState::Active, false)).collect();
        let mut source: Vec<DirectoryUser> = (1..=20).map(|n| entry(n, false)).collect();
        source[0].disabled = true;
        source[0].upn = None;
        source.push(entry(21, true));
        let plan = plan(&source, &had, &[], PlanOptions::default()).unwrap();
        assert_eq!(plan.changes.suspend, [had[0].user.id], "disabled, even with its UPN gone");
        assert!(plan.changes.create.is_empty(), "a disabled newcomer waits until it is enabled");
        // An entry may not take the name of another user of the same source.
        let mut thief = entry(2, false);
        thief.email = Some("u3@corp.test".into());
        let told = PlanOptions { allow_mass_suspend: true, ..PlanOptions::default() };
        let refused = super::plan(&[thief], &had[1..3], &[], told).unwrap();
        assert!(refused.changes.update.is_empty() && refused.errors[0].contains("of this source"), "{refused:?}");
    }
}
