//! Tessera's users of a domain against Entra's (M365-PROTOCOLS.md §6): a person signs in to
//! Microsoft 365 through federation only when Entra holds a user with the same UPN whose
//! `onPremisesImmutableId` is the ImmutableID Tessera sends. The report says who would and who
//! would not; `fix_plan` is what `m365 users --fix` would write to Entra, `copy_plan` what
//! `--from-entra` would copy into Tessera. Pure: `entra_users` reads and writes Graph.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::M365Error;

/// A user as Entra has it (the fields `m365 users` selects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraUser {
    pub id: String,
    pub upn: String,
    pub immutable_id: Option<String>,
    /// Entra Connect writes this user (`onPremisesSyncEnabled`): Graph will not change it.
    pub synced: bool,
    pub enabled: bool,
}

/// A Tessera user of the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TesseraUser {
    pub id: String,
    pub upn: String,
    pub immutable_id: String,
    pub active: bool,
    pub display_name: String,
    /// The directory source whose anchor set the ImmutableID, by name.
    pub source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Entra's `onPremisesImmutableId` is Tessera's ImmutableID: the user signs in.
    Match,
    /// The Entra user has no `onPremisesImmutableId`.
    MissingInEntra,
    /// Entra holds another ImmutableID.
    Different,
    /// Entra has no user with this UPN.
    NoEntraUser,
    /// An Entra user of the domain whom Tessera does not know.
    EntraOnly,
}

impl Coverage {
    pub const ALL: [Coverage; 5] =
        [Coverage::Match, Coverage::MissingInEntra, Coverage::Different, Coverage::NoEntraUser, Coverage::EntraOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Match => "match",
            Coverage::MissingInEntra => "missing_in_entra",
            Coverage::Different => "different",
            Coverage::NoEntraUser => "no_entra_user",
            Coverage::EntraOnly => "entra_only",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub upn: String,
    pub status: Coverage,
    pub tessera_user: Option<String>,
    pub entra_user: Option<String>,
    pub tessera_immutable_id: Option<String>,
    pub entra_immutable_id: Option<String>,
    /// The directory source that brought the Tessera user.
    pub source: Option<String>,
    /// Whether the person may sign in on both sides (an active Tessera user, an enabled Entra
    /// user), so that a failure counts.
    pub active: bool,
    /// The name Entra shows, for a user `--fix` creates.
    #[serde(skip)]
    pub display_name: String,
    /// Entra Connect writes this Entra user: Graph will not change it.
    #[serde(skip)]
    pub entra_synced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub domain: String,
    #[serde(rename = "authenticationType")]
    pub authentication_type: String,
    /// The tenant runs Entra Connect (`onPremisesSyncEnabled`): Entra's users are its.
    pub directory_sync: bool,
    /// How many rows of each status.
    pub counts: BTreeMap<&'static str, usize>,
    /// Active people who could not sign in once the domain is federated.
    pub would_fail: usize,
    pub users: Vec<Row>,
}

impl Report {
    pub fn federated(&self) -> bool {
        self.authentication_type.eq_ignore_ascii_case("Federated")
    }
}

/// Whether `upn` is a sign-in name of `domain` (not of a sub-domain: a sub-domain is reported
/// on its own).
pub fn in_domain(upn: &str, domain: &str) -> bool {
    upn.rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
}

/// The report, rows ordered by UPN; UPNs match in any letter case, ImmutableIDs exactly (Entra
/// compares them case-sensitively).
pub fn report(
    domain: &str,
    authentication_type: &str,
    directory_sync: bool,
    tessera: &[TesseraUser],
    entra: &[EntraUser],
) -> Report {
    let mut by_upn: HashMap<String, &EntraUser> = entra.iter().map(|e| (e.upn.to_lowercase(), e)).collect();
    let mut users = Vec::new();
    for user in tessera {
        let found = by_upn.remove(&user.upn.to_lowercase());
        let status = match found.map(|e| e.immutable_id.as_deref()) {
            None => Coverage::NoEntraUser,
            Some(None) => Coverage::MissingInEntra,
            Some(Some(id)) if id == user.immutable_id => Coverage::Match,
            Some(Some(_)) => Coverage::Different,
        };
        users.push(Row {
            upn: user.upn.clone(),
            status,
            tessera_user: Some(user.id.clone()),
            entra_user: found.map(|e| e.id.clone()),
            tessera_immutable_id: Some(user.immutable_id.clone()),
            entra_immutable_id: found.and_then(|e| e.immutable_id.clone()),
            source: user.source.clone(),
            active: user.active && found.is_none_or(|e| e.enabled),
            display_name: user.display_name.clone(),
            entra_synced: found.is_some_and(|e| e.synced),
        });
    }
    for left in entra.iter().filter(|e| by_upn.contains_key(&e.upn.to_lowercase())) {
        users.push(Row {
            upn: left.upn.clone(),
            status: Coverage::EntraOnly,
            tessera_user: None,
            entra_user: Some(left.id.clone()),
            tessera_immutable_id: None,
            entra_immutable_id: left.immutable_id.clone(),
            source: None,
            active: left.enabled,
            display_name: String::new(),
            entra_synced: left.synced,
        });
    }
    users.sort_by_key(|row| row.upn.to_lowercase());
    let counts = Coverage::ALL
        .iter()
        .map(|status| (status.as_str(), users.iter().filter(|r| r.status == *status).count()))
        .collect();
    let would_fail = users.iter().filter(|r| r.active && r.status != Coverage::Match).count();
    Report {
        domain: domain.to_string(),
        authentication_type: authentication_type.to_string(),
        directory_sync,
        counts,
        would_fail,
        users,
    }
}

/// A write `--fix` makes in Entra.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Fix {
    /// Sets `onPremisesImmutableId` on an Entra user who has none.
    SetImmutableId { upn: String, entra_user: String, immutable_id: String },
    /// Creates the Entra user (provisioning), with Tessera's ImmutableID.
    Create { upn: String, display_name: String, immutable_id: String },
}

/// A row `--fix` or `--from-entra` leaves as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub upn: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixPlan {
    pub fixes: Vec<Fix>,
    pub skipped: Vec<Skipped>,
}

/// What `--fix` would write. Refused as a whole when Entra Connect owns the tenant's users, and
/// when an ImmutableID would be set on a user of a federated domain (Microsoft allows that only
/// while the domain is Managed). A different ImmutableID is never overwritten: Entra's may be
/// what the person signs in with elsewhere (`--from-entra` copies it instead).
pub fn fix_plan(report: &Report) -> Result<FixPlan, M365Error> {
    if report.directory_sync {
        return Err(M365Error::Refused(
            "the tenant runs Entra Connect (onPremisesSyncEnabled): it owns the users' ImmutableIDs, so Tessera \
             changes none; set Tessera's to Entra's with `--from-entra` instead"
                .into(),
        ));
    }
    let mut plan = FixPlan { fixes: Vec::new(), skipped: Vec::new() };
    for row in &report.users {
        let tessera_id = row.tessera_immutable_id.clone().unwrap_or_default();
        match row.status {
            Coverage::MissingInEntra if row.entra_synced => plan.skipped.push(Skipped {
                upn: row.upn.clone(),
                reason: "Entra Connect writes this Entra user (onPremisesSyncEnabled)".into(),
            }),
            Coverage::MissingInEntra => plan.fixes.push(Fix::SetImmutableId {
                upn: row.upn.clone(),
                entra_user: row.entra_user.clone().unwrap_or_default(),
                immutable_id: tessera_id,
            }),
            Coverage::NoEntraUser if row.active => plan.fixes.push(Fix::Create {
                upn: row.upn.clone(),
                display_name: row.display_name.clone(),
                immutable_id: tessera_id,
            }),
            Coverage::NoEntraUser => plan
                .skipped
                .push(Skipped { upn: row.upn.clone(), reason: "suspended in Tessera: not provisioned".into() }),
            Coverage::Different => plan.skipped.push(Skipped {
                upn: row.upn.clone(),
                reason: "Entra holds another ImmutableID, which --fix never replaces: copy it into Tessera with \
                         --from-entra"
                    .into(),
            }),
            Coverage::Match | Coverage::EntraOnly => {}
        }
    }
    let sets = plan.fixes.iter().filter(|f| matches!(f, Fix::SetImmutableId { .. })).count();
    if sets > 0 && report.federated() {
        return Err(M365Error::Refused(format!(
            "{sets} Entra user(s) of {} have no ImmutableID, and Microsoft lets it be set only while the domain is \
             Managed: return it to Managed with `tessera m365 disable --domain {}`, run --fix, then enable it again",
            report.domain, report.domain
        )));
    }
    Ok(plan)
}

/// A copy `--from-entra` makes into Tessera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copy {
    pub upn: String,
    pub tessera_user: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyPlan {
    pub copies: Vec<Copy>,
    /// Rows whose Entra value is not copied, and why.
    pub conflicts: Vec<Skipped>,
}

/// What `--from-entra` would copy: each Entra `onPremisesImmutableId` into the Tessera user
/// with the same UPN, except where a directory source's anchor set Tessera's (the source would
/// contradict it; the conflict is reported), where the value is not one Tessera can send, or
/// where another Tessera user holds it.
pub fn copy_plan(report: &Report) -> CopyPlan {
    let held: HashSet<&str> = report.users.iter().filter_map(|r| r.tessera_immutable_id.as_deref()).collect();
    let mut plan = CopyPlan { copies: Vec::new(), conflicts: Vec::new() };
    for row in report.users.iter().filter(|r| r.status == Coverage::Different) {
        let (Some(user), Some(from), Some(to)) =
            (&row.tessera_user, &row.tessera_immutable_id, &row.entra_immutable_id)
        else {
            continue;
        };
        let conflict = |reason: String| Skipped { upn: row.upn.clone(), reason };
        if let Some(source) = &row.source {
            plan.conflicts.push(conflict(format!(
                "Tessera's ImmutableID comes from directory source {source}'s anchor; Entra holds {to}: set the \
                 source's anchor attribute to the one Entra was synced from, or change the user by hand with \
                 `tessera user set {} --immutable-id`",
                row.upn
            )));
        } else if let Err(e) = tessera_core::validate::immutable_id(to) {
            plan.conflicts.push(conflict(format!("Entra's value cannot be sent in a token: {e}")));
        } else if held.contains(to.as_str()) {
            plan.conflicts.push(conflict(format!("another Tessera user has the ImmutableID {to}")));
        } else {
            plan.copies.push(Copy {
                upn: row.upn.clone(),
                tessera_user: user.clone(),
                from: from.clone(),
                to: to.clone(),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tessera(upn: &str, id: &str) -> TesseraUser {
        TesseraUser {
            id: format!("t-{upn}"),
            upn: upn.into(),
            immutable_id: id.into(),
            active: true,
            display_name: upn.into(),
            source: None,
        }
    }

    fn entra(upn: &str, id: Option<&str>) -> EntraUser {
        EntraUser {
            id: format!("e-{upn}"),
            upn: upn.into(),
            immutable_id: id.map(Into::into),
            synced: false,
            enabled: true,
        }
    }

    fn sample() -> Report {
        let mut suspended = tessera("gone@contoso.com", "G");
        suspended.active = false;
        let mut linked = tessera("linked@contoso.com", "L1");
        linked.source = Some("corp-ad".into());
        report(
            "contoso.com",
            "Managed",
            false,
            &[
                tessera("Alice@Contoso.com", "A"),
                tessera("bob@contoso.com", "B"),
                tessera("carol@contoso.com", "C"),
                tessera("dave@contoso.com", "D"),
                suspended,
                linked,
            ],
            &[
                entra("alice@contoso.com", Some("A")),
                entra("bob@contoso.com", None),
                entra("carol@contoso.com", Some("c")),
                entra("erin@contoso.com", Some("E")),
                entra("linked@contoso.com", Some("L2")),
            ],
        )
    }

    #[test]
    fn each_person_gets_one_status_and_only_active_failures_count() {
        let r = sample();
        let status = |upn: &str| r.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn)).unwrap().status;
        assert_eq!(status("alice@contoso.com"), Coverage::Match);
        assert_eq!(status("bob@contoso.com"), Coverage::MissingInEntra);
        // ImmutableIDs are case-sensitive.
        assert_eq!(status("carol@contoso.com"), Coverage::Different);
        assert_eq!(status("dave@contoso.com"), Coverage::NoEntraUser);
        assert_eq!(status("erin@contoso.com"), Coverage::EntraOnly);
        assert_eq!(r.counts["match"], 1);
        assert_eq!(r.counts["different"], 2);
        // bob, carol, dave, erin, linked; not the suspended one.
        assert_eq!(r.would_fail, 5);
    }

    #[test]
    fn fix_sets_missing_creates_absent_and_never_overwrites() {
        let plan = fix_plan(&sample()).unwrap();
        assert_eq!(plan.fixes.len(), 2);
        assert!(plan.fixes.iter().any(|f| matches!(f, Fix::SetImmutableId { upn, immutable_id, .. } if upn == "bob@contoso.com" && immutable_id == "B")));
        assert!(plan.fixes.iter().any(|f| matches!(f, Fix::Create { upn, .. } if upn == "dave@contoso.com")));
        assert_eq!(plan.skipped.len(), 3);
    }

    #[test]
    fn fix_is_refused_under_entra_connect_and_when_federated() {
        let mut r = sample();
        r.directory_sync = true;
        assert!(matches!(fix_plan(&r), Err(M365Error::Refused(m)) if m.contains("Entra Connect")));
        let mut r = sample();
        r.authentication_type = "Federated".into();
        assert!(matches!(fix_plan(&r), Err(M365Error::Refused(m)) if m.contains("Managed")));
    }

    #[test]
    fn copy_takes_entra_values_except_over_a_source_anchor() {
        let plan = copy_plan(&sample());
        assert_eq!(
            plan.copies,
            vec![Copy {
                upn: "carol@contoso.com".into(),
                tessera_user: "t-carol@contoso.com".into(),
                from: "C".into(),
                to: "c".into()
            }]
        );
        assert_eq!(plan.conflicts.len(), 1);
        assert!(plan.conflicts[0].reason.contains("corp-ad"));
    }

    #[test]
    fn copy_refuses_a_value_another_user_holds_or_a_token_cannot_carry() {
        let r = report(
            "contoso.com",
            "Managed",
            false,
            &[tessera("a@contoso.com", "A"), tessera("b@contoso.com", "B"), tessera("c@contoso.com", "C")],
            &[entra("a@contoso.com", Some("B")), entra("c@contoso.com", Some("bad_id"))],
        );
        let plan = copy_plan(&r);
        assert!(plan.copies.is_empty());
        assert_eq!(plan.conflicts.len(), 2);
    }
}
