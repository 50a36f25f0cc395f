//! A directory source's sync: read the source, plan the changes against the users it brought
//! (a pure diff, `tessera_directory::plan`), and apply them in one transaction.

use std::collections::HashSet;

use serde::Serialize;
use tessera_core::{Actor, AuditAction, DirectorySource, NewAuditEvent, User, UserId};
use tessera_directory::{Cursor, PlanOptions, Progress, SyncStep, Timeouts};
use tessera_store::PageRequest;

use crate::{AdminError, AdminService};

/// How long a sync may hold its source's lease: one node (or command) syncs a source at a time.
const SYNC_LEASE_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Plan and report; change nothing.
    pub dry_run: bool,
    pub adopt_by_upn: bool,
    pub allow_mass_suspend: bool,
    /// Read every entry in full, even where the last sync's cursor allows an incremental read.
    pub full: bool,
}

/// What a sync did (or, on a dry run, would do). The counts CONTRACT.md names, and the rest.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SyncReport {
    pub created: usize,
    pub updated: usize,
    pub suspended: usize,
    pub reactivated: usize,
    pub adopted: usize,
    pub unchanged: usize,
    pub groups_created: usize,
    /// Gone from the source: kept, with their grants.
    pub groups_orphaned: usize,
    pub memberships_added: usize,
    pub memberships_removed: usize,
    /// How many source entries could not be taken; `messages` says why.
    pub errors: usize,
    pub messages: Vec<String>,
    pub dry_run: bool,
    /// `full` or `incremental`: how the source was read.
    pub read: &'static str,
    /// Entries read with all their attributes (all of them on a full read; the changed ones,
    /// and those read again, on an incremental one).
    pub read_in_full: usize,
}

impl AdminService {
    /// Syncs the source's users: created, updated, suspended when gone or disabled there (never
    /// deleted, their sessions ended), reactivated when enabled again after a sync suspended
    /// them. Stops, changing nothing, when it would suspend more than 10% of them unless told.
    pub async fn sync_source(
        &self,
        actor: &Actor,
        key: &str,
        holder: &str,
        options: SyncOptions,
    ) -> Result<(DirectorySource, SyncReport), AdminError> {
        self.sync_source_showing(actor, key, holder, options, &|_| {}).await
    }

    /// [`Self::sync_source`], telling `progress` how far it has come (a terminal's progress
    /// bar).
    pub async fn sync_source_showing(
        &self,
        actor: &Actor,
        key: &str,
        holder: &str,
        options: SyncOptions,
        progress: Progress<'_>,
    ) -> Result<(DirectorySource, SyncReport), AdminError> {
        let source = self.store.find_source(key).await?;
        let lease = format!("directory-sync:{}", source.id);
        if !self.store.take_lease(&lease, holder, SYNC_LEASE_MS).await? {
            return Err(AdminError::invalid(
                "source",
                format!("{} is being synced elsewhere; try again later", source.name),
            ));
        }
        let outcome = self.sync_holding_lease(actor, &source, options, progress).await;
        self.store.release_lease(&lease, holder).await?;
        if let (Err(e), false) = (&outcome, options.dry_run) {
            // A sync that did not happen is worth an administrator's look (a scheduled one
            // above all): the reason goes to the audit trail.
            let summary = serde_json::json!({"name": source.name, "reason": e.to_string()});
            let event = NewAuditEvent::new(AuditAction::DirectorySyncFailed, "directory", source.id, summary);
            self.store.append_audit(actor, event).await?;
        }
        Ok((source, outcome?))
    }

    async fn sync_holding_lease(
        &self,
        actor: &Actor,
        source: &DirectorySource,
        options: SyncOptions,
        progress: Progress<'_>,
    ) -> Result<SyncReport, AdminError> {
        let password = self.bind_password(source).await?;
        let timeouts = Timeouts::default();
        let config = &source.config;
        let mut bound = tessera_directory::connect_and_bind(config, &config.bind_dn, &password, timeouts).await?;
        let linked = self.store.linked_users(source.id).await?;
        let previous = match options.full {
            true => None,
            false => self.store.sync_cursor(source.id).await?.as_deref().and_then(Cursor::parse),
        };
        let (server, now) = (bound.url.clone(), self.clock_now());
        let read = tessera_directory::read_users_since(
            &mut bound.ldap,
            &server,
            config,
            timeouts,
            previous.as_ref(),
            &linked,
            now,
            progress,
        )
        .await;
        let groups = match read {
            Ok(_) => tessera_directory::read_groups(&mut bound.ldap, config, timeouts, progress).await,
            Err(_) => Ok(Vec::new()),
        };
        let _ = bound.ldap.unbind().await;
        let (read, groups) = (read?, groups?);
        progress(SyncStep::Writing);
        let entries = read.users;
        let others = self.users_outside(source, &linked).await?;
        let plan_options =
            PlanOptions { adopt_by_upn: options.adopt_by_upn, allow_mass_suspend: options.allow_mass_suspend };
        let mut plan = tessera_directory::plan(&entries, &linked, &others, plan_options)
            .map_err(tessera_directory::DirectoryError::from)?;
        let linked_groups = self.store.linked_groups(source.id).await?;
        let taken = self.group_names_outside(&linked_groups).await?;
        tessera_directory::plan_groups(&entries, &groups, &linked_groups, &taken, &mut plan);
        plan.changes.cursor = read.cursor.clone().map(|c| c.retrying(plan.retry.clone()).to_text());
        let changes = &plan.changes;
        let report = SyncReport {
            created: changes.create.len(),
            updated: changes.update.len(),
            suspended: changes.suspend.len(),
            reactivated: changes.reactivate.len(),
            adopted: changes.adopt.len(),
            unchanged: plan.unchanged,
            groups_created: changes.create_groups.len(),
            groups_orphaned: changes.orphan_groups.len(),
            memberships_added: changes.add_members.len(),
            memberships_removed: changes.remove_members.len(),
            errors: plan.errors.len(),
            messages: plan.errors.clone(),
            dry_run: options.dry_run,
            read: if read.incremental { "incremental" } else { "full" },
            read_in_full: read.read_in_full,
        };
        if !options.dry_run {
            let summary = serde_json::json!({
                "name": source.name, "created": report.created, "updated": report.updated,
                "suspended": report.suspended, "reactivated": report.reactivated, "adopted": report.adopted,
                "unchanged": report.unchanged, "errors": report.errors, "groups_created": report.groups_created,
                "groups_orphaned": report.groups_orphaned, "memberships_added": report.memberships_added,
                "memberships_removed": report.memberships_removed, "read": report.read,
                "read_in_full": report.read_in_full,
            });
            self.store.apply_sync(actor, source.id, changes, summary).await?;
        }
        Ok(report)
    }

    /// The names (lowercase) of every group the source did not bring.
    async fn group_names_outside(
        &self,
        linked: &[tessera_core::sync::LinkedGroup],
    ) -> Result<HashSet<String>, AdminError> {
        let ours: HashSet<tessera_core::GroupId> = linked.iter().map(|l| l.group.id).collect();
        let mut names = HashSet::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = self.store.list_groups(&page).await?;
            names.extend(found.items.into_iter().filter(|g| !ours.contains(&g.id)).map(|g| g.name.to_lowercase()));
            match found.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        Ok(names)
    }

    /// Every user the source did not bring, with whether another source did.
    async fn users_outside(
        &self,
        source: &DirectorySource,
        linked: &[tessera_core::sync::LinkedUser],
    ) -> Result<Vec<(User, bool)>, AdminError> {
        let ours: HashSet<UserId> = linked.iter().map(|l| l.user.id).collect();
        let mut elsewhere: HashSet<UserId> = HashSet::new();
        for other in self.store.list_sources().await? {
            if other.id != source.id {
                elsewhere.extend(self.store.linked_users(other.id).await?.into_iter().map(|l| l.user.id));
            }
        }
        let mut users = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = self.store.list_users(&page).await?;
            users.extend(found.items.into_iter().filter(|u| !ours.contains(&u.id)).map(|u| {
                let linked = elsewhere.contains(&u.id);
                (u, linked)
            }));
            match found.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        Ok(users)
    }
}
