//! What one sync of a directory source changes, as computed from the source's answer and the
//! users it brought before, and applied by the store in one transaction.

use crate::directory::{Group, NewGroup, NewUser};
use crate::ids::{GroupId, UserId};

/// A user the source brought, as Tessera holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedUser {
    pub user: crate::User,
    /// The source's own id of the person (base64 of its 16 bytes: the ImmutableID it gave).
    pub anchor: String,
    /// Suspended by a sync (gone or disabled at the source), not by an administrator.
    pub suspended_by_source: bool,
}

/// A group the source brought, with the anchors of this source's users in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedGroup {
    pub group: Group,
    pub anchor: String,
    /// Gone from the source: kept, with its grants, until an administrator deletes it.
    pub orphaned: bool,
    pub members: Vec<String>,
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
    /// New groups, each with its anchor.
    pub create_groups: Vec<(String, NewGroup)>,
    pub rename_groups: Vec<(GroupId, String)>,
    /// Gone from the source: kept, marked orphaned.
    pub orphan_groups: Vec<GroupId>,
    /// Back at the source.
    pub restore_groups: Vec<GroupId>,
    /// (group anchor, user anchor): memberships follow the source, nested groups resolved.
    pub add_members: Vec<(String, String)>,
    pub remove_members: Vec<(String, String)>,
    /// Where the next incremental read starts, saved with the changes; `None` leaves it.
    pub cursor: Option<String>,
}

impl SyncChanges {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty()
            && self.update.is_empty()
            && self.adopt.is_empty()
            && self.suspend.is_empty()
            && self.reactivate.is_empty()
            && self.create_groups.is_empty()
            && self.rename_groups.is_empty()
            && self.orphan_groups.is_empty()
            && self.restore_groups.is_empty()
            && self.add_members.is_empty()
            && self.remove_members.is_empty()
    }
}
