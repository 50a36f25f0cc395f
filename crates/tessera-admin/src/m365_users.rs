//! Tessera's users against Entra's (`tessera m365 users`): the ImmutableID coverage report,
//! `--fix` (Entra's missing ImmutableIDs set, missing users created) and `--from-entra`
//! (Entra's ImmutableIDs copied into Tessera, as a tenant coming from AD FS or another IdP
//! needs). The comparison is `tessera_m365::coverage`; the writes are audited here.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::json;
use tessera_core::{Actor, AuditAction, NewAuditEvent, User, UserState};
use tessera_m365::converge;
use tessera_m365::coverage::{self, CopyPlan, Fix, Report, Skipped, TesseraUser};
use tessera_m365::entra_users;
use tessera_m365::graph::Graph;
use tessera_m365::{M365Error, converge::domain_name};
use tessera_store::PageRequest;

use crate::{AdminError, AdminService};

/// One write of `--fix` or `--from-entra`, and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome<T> {
    #[serde(flatten)]
    pub change: T,
    /// Written (false on a dry run, or when it failed).
    pub done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `--fix` did, or on a dry run would do.
#[derive(Debug, Clone, Serialize)]
pub struct FixOutcome {
    pub domain: String,
    pub dry_run: bool,
    pub fixes: Vec<Outcome<Fix>>,
    pub skipped: Vec<Skipped>,
    pub failed: usize,
}

/// What `--from-entra` did, or on a dry run would do.
#[derive(Debug, Clone, Serialize)]
pub struct CopyOutcome {
    pub domain: String,
    pub dry_run: bool,
    pub copies: Vec<Outcome<coverage::Copy>>,
    pub conflicts: Vec<Skipped>,
    pub failed: usize,
}

impl AdminService {
    /// Tessera's users whose UPN is in `domain`, with the source that brought each.
    pub(crate) async fn domain_users(&self, domain: &str) -> Result<Vec<TesseraUser>, AdminError> {
        let mut sources: HashMap<String, String> = HashMap::new();
        for source in self.store.list_sources().await? {
            for linked in self.store.linked_users(source.id).await? {
                sources.insert(linked.user.id.to_string(), source.name.clone());
            }
        }
        let mut users = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = self.store.list_users(&page).await?;
            users.extend(found.items.into_iter().filter(|u| coverage::in_domain(&u.upn, domain)).map(|u: User| {
                let id = u.id.to_string();
                TesseraUser {
                    source: sources.get(&id).cloned(),
                    display_name: format!("{} {}", u.first_name, u.last_name).trim().to_string(),
                    active: u.state == UserState::Active,
                    upn: u.upn,
                    immutable_id: u.immutable_id,
                    id,
                }
            }));
            match found.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        Ok(users)
    }

    /// The coverage report of `domain` (read-only).
    pub async fn m365_users(&self, graph: &Graph, domain: &str) -> Result<Report, AdminError> {
        let domain = domain_name(domain)?;
        let found = converge::domain(graph, &domain)
            .await?
            .ok_or_else(|| M365Error::Refused(format!("the tenant has no domain {domain}")))?;
        let authentication = found["authenticationType"].as_str().unwrap_or("Managed").to_string();
        let directory_sync = converge::directory_sync(graph).await?;
        let entra = entra_users::read_users(graph, &domain).await?;
        let tessera = self.domain_users(&domain).await?;
        Ok(coverage::report(&domain, &authentication, directory_sync, &tessera, &entra))
    }

    /// `--fix`: sets `onPremisesImmutableId` where Entra has none and creates the users Entra
    /// lacks. Refused as a whole before any write when Entra Connect owns the tenant's users
    /// or an ImmutableID would be set in a federated domain. Each write stands alone: one
    /// Graph refuses is reported and the rest go on. Audited as one `m365.users_fix` event.
    pub async fn m365_users_fix(
        &self,
        actor: &Actor,
        graph: &Graph,
        domain: &str,
        dry_run: bool,
    ) -> Result<FixOutcome, AdminError> {
        let report = self.m365_users(graph, domain).await?;
        let plan = coverage::fix_plan(&report)?;
        let mut fixes = Vec::new();
        for fix in plan.fixes {
            let result = if dry_run { Ok(()) } else { entra_users::apply(graph, &fix).await };
            let (done, error) = match result {
                Ok(()) => (!dry_run, None),
                Err(e) => (false, Some(e.to_string())),
            };
            fixes.push(Outcome { change: fix, done, error });
        }
        let failed = fixes.iter().filter(|f| f.error.is_some()).count();
        let written: Vec<_> = fixes.iter().filter(|f| f.done).map(|f| &f.change).collect();
        if !written.is_empty() {
            let summary = json!({"domain": report.domain, "written": written, "failed": failed});
            let event = NewAuditEvent::new(AuditAction::M365UsersFix, "domain", &report.domain, summary);
            self.store.append_audit(actor, event).await?;
        }
        Ok(FixOutcome { domain: report.domain, dry_run, fixes, skipped: plan.skipped, failed })
    }

    /// `--from-entra`: copies each Entra user's `onPremisesImmutableId` into the Tessera user
    /// with the same UPN (each copy audited as `user.set_identity`), except over an anchor a
    /// directory source set, which is reported as a conflict.
    pub async fn m365_users_from_entra(
        &self,
        actor: &Actor,
        graph: &Graph,
        domain: &str,
        dry_run: bool,
    ) -> Result<CopyOutcome, AdminError> {
        let report = self.m365_users(graph, domain).await?;
        let CopyPlan { copies, conflicts } = coverage::copy_plan(&report);
        let mut done = Vec::new();
        for copy in copies {
            let result = match dry_run {
                true => Ok(()),
                false => self.set_user_identity(actor, &copy.tessera_user, None, Some(&copy.to)).await.map(|_| ()),
            };
            let (written, error) = match result {
                Ok(()) => (!dry_run, None),
                Err(e) => (false, Some(e.to_string())),
            };
            done.push(Outcome { change: copy, done: written, error });
        }
        let failed = done.iter().filter(|c| c.error.is_some()).count();
        Ok(CopyOutcome { domain: report.domain, dry_run, copies: done, conflicts, failed })
    }
}
