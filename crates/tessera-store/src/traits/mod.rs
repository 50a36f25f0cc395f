//! The role traits handlers and commands program against. Every change an admin makes takes
//! the acting [`Actor`] and writes its audit event in the same transaction as the change.

use async_trait::async_trait;
use serde::Serialize;
use tessera_core::import::ImportRow;
use tessera_core::policy::{AccessPolicy, AuthnContext};
use tessera_core::sync::{LinkedGroup, LinkedUser, SyncChanges};
use tessera_core::{
    AccessDecision, Actor, AdminRole, AppId, Application, AuditEvent, DirectorySource, Group, GroupId, NewApplication,
    NewAuditEvent, NewDirectorySource, NewGroup, NewUser, SourceId, UnixMillis, User, UserId, UserState,
};

use crate::StoreError;
use crate::audit_chain::{AuditKey, ChainReport};

mod admins;
mod apps;
mod audit;
mod directory;
mod keys;
mod sign_in;
mod sources;

pub use admins::*;
pub use apps::*;
pub use audit::*;
pub use directory::*;
pub use keys::*;
pub use sign_in::*;
pub use sources::*;

/// Keyset pagination: items after `after` (an id), at most `limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 1000;
    pub const DEFAULT_LIMIT: u32 = 100;

    pub fn first(limit: u32) -> Self {
        PageRequest { after: None, limit }
    }

    pub(crate) fn effective_limit(&self) -> i64 {
        i64::from(self.limit.clamp(1, Self::MAX_LIMIT))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor for the next page, when there may be one.
    pub next: Option<String>,
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Sets (or with `None` removes) an administrative setting, with `event` in the audit
    /// trail, in one transaction. Returns whether there was a value before.
    async fn change_setting(
        &self,
        actor: &Actor,
        key: &str,
        value: Option<&str>,
        event: NewAuditEvent,
    ) -> Result<bool, StoreError>;
    /// Takes (or renews) the lease `name` for `holder` for `ttl_ms`, when it is free, expired,
    /// or `holder`'s already: background jobs that must run on one node at a time.
    async fn take_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool, StoreError>;
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// A cheap round trip, for readiness checks; where the database has a clock apart from this
    /// process (PostgreSQL), by how many milliseconds this process's clock is ahead of it
    /// (behind: negative), the clock every node's replay and lockout windows meet at.
    async fn ping(&self) -> Result<Option<i64>, StoreError>;
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
}

/// What administration reads and changes: every role but the sign-on machinery's own (replay,
/// parked requests, lockout counters). The admin service holds the store as this.
pub trait Administration:
    UserStore
    + GroupStore
    + AppStore
    + GrantStore
    + KeyStore
    + SessionStore
    + MfaStore
    + PasskeyStore
    + AuditLog
    + AuditStore
    + AuditChain
    + AdminStore
    + AdminSignInStore
    + SettingsStore
    + SourceStore
    + SourceSyncStore
{
}

impl<T> Administration for T where
    T: UserStore
        + GroupStore
        + AppStore
        + GrantStore
        + KeyStore
        + SessionStore
        + MfaStore
        + PasskeyStore
        + AuditLog
        + AuditStore
        + AuditChain
        + AdminStore
        + AdminSignInStore
        + SettingsStore
        + SourceStore
        + SourceSyncStore
{
}

/// Every role: what the binary opens and hands out, each part to the caller that needs it.
pub trait Store: Administration + ReplayStore + ParkingStore + LockoutStore {}

impl<T> Store for T where T: Administration + ReplayStore + ParkingStore + LockoutStore {}

/// The setting holding the public URL the server last started with, so that management
/// commands build the same endpoint URLs as the running server.
pub const SETTING_PUBLIC_URL: &str = "public_url";

/// The setting holding the master-key check value (see tessera-keys).
pub const SETTING_MASTER_KEY_CHECK: &str = "master_key_check";
