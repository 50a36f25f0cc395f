//! What one sync of a directory source changes, as computed from the source's answer and the
//! users it brought before, and applied by the store in one transaction.

use crate::directory::NewUser;
use crate::ids::UserId;

/// A user the source brought, as Tessera holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedUser {
    pub user: crate::User,
    /// The source's own id of the person (base64 of its 16 bytes: the ImmutableID it gave).
    pub anchor: String,
    /// Suspended by a sync (gone or disabled at the source), not by an administrator.
    pub suspended_by_source: bool,
}

/// Attributes a sync keeps as the source has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedFields {
    pub email: String,
    pub upn: String,
    pub first_name: String,
    pub last_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncChanges {
    /// New users, each with its anchor; their ImmutableID is the anchor's.
    pub create: Vec<(String, NewUser)>,
    pub update: Vec<(UserId, SyncedFields)>,
    /// Local users taken over by the source (`--adopt-by-upn`): their ImmutableID stays.
    pub adopt: Vec<(UserId, String)>,
    /// Gone or disabled at the source: suspended, their sessions ended.
    pub suspend: Vec<UserId>,
    /// Enabled at the source again, after a sync suspended them.
    pub reactivate: Vec<UserId>,
}

impl SyncChanges {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty()
            && self.update.is_empty()
            && self.adopt.is_empty()
            && self.suspend.is_empty()
            && self.reactivate.is_empty()
    }
}
