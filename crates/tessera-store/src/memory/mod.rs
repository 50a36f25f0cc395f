//! [`MemoryStore`]: every store role in memory, a file per role, for unit tests that need no
//! database (`tessera-auth`'s, the admin service's). It runs the conformance suite beside SQLite
//! and PostgreSQL (`tests/conformance`; only the tests that reach past the store into SQL are
//! left out), so it cannot drift from them. Only under the `test-support` feature: nothing here
//! serves.
//!
//! One lock over every table makes each call atomic, as its transaction is in SQL; a change and
//! its audit event are recorded under the same lock.

mod admin_sign_in;
mod admins;
mod apps;
mod audit;
mod grants;
mod groups;
mod keys;
mod lockout;
mod mfa;
mod parking;
mod passkeys;
mod replay;
mod sessions;
mod settings;
mod source_sync;
mod sources;
mod users;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tessera_core::{
    Actor, AppId, Application, AuditEvent, Clock, DirectorySource, Group, NewAuditEvent, UnixMillis, User,
};

use crate::StoreError;
use crate::traits::{KeptToken, KeySlot, ParkedRequest, PreviousCertificate, Session, StoredKey};

pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// The tables. Rows are keyed by their id's text, so that they list in the order the SQL's
/// `ORDER BY id` gives.
#[derive(Default)]
struct State {
    users: BTreeMap<String, User>,
    groups: BTreeMap<String, Group>,
    /// (group id, user id).
    memberships: BTreeSet<(String, String)>,
    /// Applications as created and changed; their `certificates` are left empty here and read
    /// from `signing_keys` and `previous_certificates` (see `apps.rs`).
    apps: BTreeMap<String, Application>,
    /// (app id, group id).
    grants: BTreeSet<(String, String)>,
    signing_keys: HashMap<(AppId, KeySlot), StoredKey>,
    previous_certificates: HashMap<AppId, PreviousCertificate>,
    /// Directory sources and their sealed bind passwords.
    sources: BTreeMap<String, (DirectorySource, Vec<u8>)>,
    /// User id → (source id, anchor there), for the users a source brought.
    user_sources: BTreeMap<String, (String, String)>,
    /// Users a sync suspended (an administrator's suspension is not here).
    source_suspended: BTreeSet<String>,
    /// Group id → (source id, anchor there), for the groups a source brought.
    group_sources: BTreeMap<String, (String, String)>,
    /// Groups gone from their source.
    orphaned_groups: BTreeSet<String>,
    /// Source id → where its next incremental read starts.
    sync_cursors: BTreeMap<String, String>,
    admins: admins::Tables,
    admin_sign_in: admin_sign_in::Tables,
    sessions: HashMap<String, Session>,
    audit: Vec<AuditEvent>,
    /// Each audit record's place in the chain and MAC, beside it in `audit`.
    audit_chain: audit::Chain,
    kept_tokens: HashMap<String, KeptToken>,
    settings: HashMap<String, String>,
    /// Lease name → (holder, until).
    leases: HashMap<String, (String, UnixMillis)>,
    /// (issuer, message ID) → until when it is remembered.
    message_ids: HashMap<(String, String), UnixMillis>,
    parked: HashMap<String, ParkedRequest>,
    lockout: lockout::Tables,
    mfa: mfa::Tables,
    passkeys: passkeys::Tables,
}

impl MemoryStore {
    /// An empty store; every time it records comes from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryStore { clock, state: Mutex::new(State::default()) }
    }

    /// The tables, behind their lock. A test that panicked while holding it poisons it, which
    /// the next caller hears as an error rather than a second panic.
    fn tables(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state.lock().map_err(|_| StoreError::WriteFailed("the in-memory store's lock is poisoned".into()))
    }
}

impl State {
    /// Appends to the audit trail, as the SQL store's `append_audit` does inside a change's
    /// transaction.
    fn record(&mut self, actor: &Actor, at: UnixMillis, event: NewAuditEvent) {
        let id = i64::try_from(self.audit.len()).unwrap_or(i64::MAX).saturating_add(1);
        self.audit_chain.link(at, actor, &event);
        self.audit.push(AuditEvent {
            id,
            at,
            actor: actor.0.clone(),
            action: event.action.as_str().to_string(),
            target_kind: event.target_kind.to_string(),
            target_id: event.target_id,
            summary: event.summary.to_value(),
        });
    }

    /// Everything that names a user goes with it, as the schema's `ON DELETE CASCADE` does.
    fn forget_user(&mut self, user: &User) {
        let id = user.id.to_string();
        self.memberships.retain(|(_, member)| *member != id);
        self.user_sources.remove(&id);
        self.source_suspended.remove(&id);
        self.sessions.retain(|_, session| session.user_id != user.id);
        self.lockout.forget(user.id);
        self.mfa.forget(user.id);
        self.passkeys.forget(user.id);
    }
}

/// Keyset pagination over id-ordered rows, as `sql::next_cursor` pages them.
fn page_after<'a, T: Clone + 'a>(
    rows: impl Iterator<Item = (&'a String, &'a T)>,
    page: &crate::PageRequest,
) -> crate::Page<T> {
    let limit = usize::try_from(page.effective_limit()).unwrap_or(usize::MAX);
    let after = page.after.clone().unwrap_or_default();
    let mut items: Vec<(String, T)> = rows
        .filter(|(id, _)| **id > after)
        .take(limit.saturating_add(1))
        .map(|(id, row)| (id.clone(), row.clone()))
        .collect();
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|(id, _)| id.clone())
    } else {
        None
    };
    crate::Page { items: items.into_iter().map(|(_, row)| row).collect(), next }
}
