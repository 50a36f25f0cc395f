//! Who may administer what. An administrator (or an API token) holds one of three roles: a
//! full administrator reaches everything; an application administrator reaches only the
//! applications assigned to them (their settings, grants, policy and sign-ins); an auditor
//! reads everything and changes nothing.
//!
//! A refusal comes in two kinds, so that nobody learns what exists beyond their reach: an
//! object outside one's reach is [`Refusal::Hidden`] (answered as "not found", whether it
//! exists or not), and an action the role lacks on something one may see, or on a whole area,
//! is [`Refusal::Forbidden`].

use std::fmt;
use std::str::FromStr;

use crate::{AppId, CoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdminRole {
    #[default]
    Admin,
    AppAdmin,
    Auditor,
}

impl AdminRole {
    pub const ALL: [AdminRole; 3] = [AdminRole::Admin, AdminRole::AppAdmin, AdminRole::Auditor];

    /// The stable name (CLI, JSON, the store).
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Admin => "admin",
            AdminRole::AppAdmin => "app-admin",
            AdminRole::Auditor => "auditor",
        }
    }

    /// How a person reads it.
    pub fn title(self) -> &'static str {
        match self {
            AdminRole::Admin => "Administrator",
            AdminRole::AppAdmin => "Application administrator",
            AdminRole::Auditor => "Auditor (read-only)",
        }
    }
}

impl fmt::Display for AdminRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AdminRole {
    type Err = CoreError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        AdminRole::ALL.into_iter().find(|role| role.as_str() == text.trim()).ok_or_else(|| {
            CoreError::invalid("role", format!("{text:?} is not a role: use admin, app-admin or auditor"))
        })
    }
}

/// A part of the administration, for actions that name no single object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Applications,
    /// Users, groups and their members.
    Directory,
    Audit,
    /// Administrators, their roles, API tokens.
    Administrators,
}

/// One object an action names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    App(AppId),
    User,
    Group,
    Administrator,
    /// One audit event or sign-in trace, and the application it concerns, if any.
    Event(Option<AppId>),
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// See a list (filtered to what one may see).
    List(Area),
    /// Add to or remove from an area (a new application, deleting applications by a list).
    Manage(Area),
    Read(Object),
    Change(Object),
    /// Delete the object itself.
    Delete(Object),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The role may not do this (403).
    Forbidden,
    /// Beyond one's reach: answered as if it did not exist (404).
    Hidden,
}

/// A principal's role and, for an application administrator, their applications.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authority {
    pub role: AdminRole,
    pub apps: Vec<AppId>,
}

impl Authority {
    pub fn full() -> Self {
        Authority { role: AdminRole::Admin, apps: Vec::new() }
    }

    /// Whether this application is within reach (every one, for a full administrator or an
    /// auditor).
    pub fn sees_app(&self, app: AppId) -> bool {
        self.role != AdminRole::AppAdmin || self.apps.contains(&app)
    }

    pub fn check(&self, access: Access) -> Result<(), Refusal> {
        match self.role {
            AdminRole::Admin => Ok(()),
            AdminRole::Auditor => match access {
                Access::List(_) | Access::Read(_) => Ok(()),
                Access::Manage(_) | Access::Change(_) | Access::Delete(_) => Err(Refusal::Forbidden),
            },
            AdminRole::AppAdmin => match access {
                Access::List(Area::Applications) => Ok(()),
                Access::List(_) | Access::Manage(_) => Err(Refusal::Forbidden),
                Access::Read(object) | Access::Change(object) => self.reach(object),
                // Adding and deleting applications is a full administrator's act.
                Access::Delete(object) => self.reach(object).and(Err(Refusal::Forbidden)),
            },
        }
    }

    fn reach(&self, object: Object) -> Result<(), Refusal> {
        match object {
            Object::App(app) | Object::Event(Some(app)) if self.apps.contains(&app) => Ok(()),
            _ => Err(Refusal::Hidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_and_write_their_names() {
        for role in AdminRole::ALL {
            assert_eq!(role.as_str().parse::<AdminRole>().unwrap(), role);
        }
        assert!("root".parse::<AdminRole>().is_err());
        assert!("Admin".parse::<AdminRole>().is_err());
    }

    #[test]
    fn an_application_administrator_reaches_only_their_applications() {
        let (mine, theirs) = (AppId::new(), AppId::new());
        let scoped = Authority { role: AdminRole::AppAdmin, apps: vec![mine] };
        assert_eq!(scoped.check(Access::Read(Object::App(mine))), Ok(()));
        assert_eq!(scoped.check(Access::Change(Object::App(mine))), Ok(()));
        assert_eq!(scoped.check(Access::Delete(Object::App(mine))), Err(Refusal::Forbidden));
        for object in [Object::App(theirs), Object::User, Object::Group, Object::Administrator, Object::Event(None)] {
            assert_eq!(scoped.check(Access::Read(object)), Err(Refusal::Hidden), "{object:?}");
            assert_eq!(scoped.check(Access::Change(object)), Err(Refusal::Hidden), "{object:?}");
            assert_eq!(scoped.check(Access::Delete(object)), Err(Refusal::Hidden), "{object:?}");
        }
        assert_eq!(scoped.check(Access::Read(Object::Event(Some(mine)))), Ok(()));
        assert_eq!(scoped.check(Access::Read(Object::Event(Some(theirs)))), Err(Refusal::Hidden));
        assert_eq!(scoped.check(Access::List(Area::Applications)), Ok(()));
        assert_eq!(scoped.check(Access::List(Area::Directory)), Err(Refusal::Forbidden));
        assert_eq!(scoped.check(Access::Manage(Area::Applications)), Err(Refusal::Forbidden));
        assert!(scoped.sees_app(mine) && !scoped.sees_app(theirs));
    }

    #[test]
    fn an_auditor_reads_everything_and_changes_nothing() {
        let auditor = Authority { role: AdminRole::Auditor, apps: vec![] };
        let app = AppId::new();
        assert_eq!(auditor.check(Access::Read(Object::App(app))), Ok(()));
        assert_eq!(auditor.check(Access::List(Area::Audit)), Ok(()));
        assert_eq!(auditor.check(Access::Change(Object::App(app))), Err(Refusal::Forbidden));
        assert_eq!(auditor.check(Access::Manage(Area::Directory)), Err(Refusal::Forbidden));
        assert_eq!(auditor.check(Access::Delete(Object::User)), Err(Refusal::Forbidden));
        assert!(auditor.sees_app(app));
        assert_eq!(Authority::full().check(Access::Delete(Object::Administrator)), Ok(()));
    }
}
