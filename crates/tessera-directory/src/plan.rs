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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this sync would suspend {suspend} of the source's {linked} users (more than 10%): an empty or \
     partial answer, or a wrong filter? Nothing was changed; run it with --allow-mass-suspend if it is meant"
)]
pub struct MassSuspend {
    pub suspend: usize,
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
    let mut anchor_changed: HashSet<&str> = HashSet::new();
    // Names the users created by this sync take, so that two entries cannot both have one.
    let mut claimed: HashSet<String> = HashSet::new();

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
        let Some(upn) = entry.upn.as_deref() else {
            plan.errors.push(format!("{}: no UPN", entry.dn));
            continue;
        };
        let email = entry.email.as_deref().unwrap_or(upn);
        let checked =
            NewUser::new(email, Some(upn), Some(&entry.first_name), Some(&entry.last_name), Some(anchor), String::new);
        let new = match checked {
            Ok(new) => new,
            Err(e) => {
                plan.errors.push(format!("{}: {e}", entry.dn));
                continue;
            }
        };
        match by_anchor.get(anchor.as_str()) {
            Some(existing) => {
                let user = &existing.user;
                let fields = SyncedFields {
                    email: new.email.clone(),
                    upn: new.upn.clone(),
                    first_name: new.first_name.clone(),
                    last_name: new.last_name.clone(),
                };
                let renamed = lower(&fields.email) != lower(&user.email) || lower(&fields.upn) != lower(&user.upn);
                let clash = [&fields.email, &fields.upn].into_iter().find_map(|n| taken_names.get(&lower(n)));
                let mut changed = false;
                if fields.email != user.email
                    || fields.upn != user.upn
                    || fields.first_name != user.first_name
                    || fields.last_name != user.last_name
                {
                    match clash {
                        Some(other) if renamed => {
                            plan.errors
                                .push(format!("{}: {} is another user's ({})", entry.dn, fields.upn, other.email));
                        }
                        _ => {
                            plan.changes.update.push((user.id, fields));
                            changed = true;
                        }
                    }
                }
                if entry.disabled && user.state == UserState::Active {
                    plan.changes.suspend.push(user.id);
                    changed = true;
                } else if !entry.disabled && user.state == UserState::Suspended && existing.suspended_by_source {
                    plan.changes.reactivate.push(user.id);
                    changed = true;
                }
                if !changed {
                    plan.unchanged += 1;
                }
            }
            None => {
                if let Some(previous) = vanished_upns.get(&lower(&new.upn)) {
                    anchor_changed.insert(previous.anchor.as_str());
                    plan.errors.push(format!(
                        "{}: its anchor changed at the source (was {}, now {anchor}); the user keeps ImmutableID {} and \
                         is left as they are",
                        entry.dn, previous.anchor, previous.user.immutable_id
                    ));
                    continue;
                }
                let holder = [&new.email, &new.upn].into_iter().find_map(|n| taken_names.get(&lower(n)).copied());
                match holder {
                    Some(local)
                        if options.adopt_by_upn
                            && lower(&local.upn) == lower(&new.upn)
                            && !others_linked(others, local) =>
                    {
                        plan.changes.adopt.push((local.id, anchor.clone()));
                    }
                    Some(local) => {
                        let hint = if others_linked(others, local) {
                            "another source's user"
                        } else {
                            "a local user (--adopt-by-upn links them)"
                        };
                        plan.errors.push(format!("{}: {} is {hint}: {}", entry.dn, new.upn, local.email));
                    }
                    None if taken_ids.contains(new.immutable_id.as_str()) => {
                        plan.errors.push(format!("{}: ImmutableID {} is another user's", entry.dn, new.immutable_id));
                    }
                    None if claimed.contains(&lower(&new.email)) || claimed.contains(&lower(&new.upn)) => {
                        plan.errors.push(format!("{}: {} is another entry's of this source", entry.dn, new.upn));
                    }
                    None => {
                        claimed.insert(lower(&new.email));
                        claimed.insert(lower(&new.upn));
                        plan.changes.create.push((anchor.clone(), new));
                    }
                }
            }
        }
    }
    for l in linked {
        let gone = !present.contains(l.anchor.as_str());
        if gone && l.user.state == UserState::Active && !anchor_changed.contains(l.anchor.as_str()) {
            plan.changes.suspend.push(l.user.id);
        }
    }
    let suspend = plan.changes.suspend.len();
    let linked_count = linked.len();
    if !options.allow_mass_suspend && suspend > 0 && (suspend as f64) > MASS_SUSPEND_SHARE * linked_count as f64 {
        return Err(MassSuspend { suspend, linked: linked_count });
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
        assert_eq!((refused.suspend, refused.linked), (16, 19));
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
        let changed = plan(&[moved], &had, &[], PlanOptions::default()).unwrap();
        assert!(changed.changes.is_empty(), "neither created nor suspended: {changed:?}");
        assert!(changed.errors[0].contains("anchor changed"), "{:?}", changed.errors);
    }
}
