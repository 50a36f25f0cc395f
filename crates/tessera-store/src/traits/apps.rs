//! Applications, and which groups may use them.

use super::*;

/// What the User Portal shows of an application, as saved on its General tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppDetails<'a> {
    pub label: &'a str,
    pub description: &'a str,
    /// The checked image as a `data:image/png;base64,…` URI.
    pub portal_image: Option<&'a str>,
    pub show_in_portal: bool,
}

#[async_trait]
pub trait AppStore: Send + Sync {
    /// Creates the app together with its first signing key (apps that sign get one at once).
    async fn create_app(
        &self,
        actor: &Actor,
        app: NewApplication,
        signing_key: Option<NewSigningKey>,
    ) -> Result<Application, StoreError>;
    /// By id or label (case-insensitive).
    async fn find_app(&self, key: &str) -> Result<Application, StoreError>;
    /// The Microsoft 365 connector of a federated domain.
    async fn find_app_by_domain(&self, domain: &str) -> Result<Application, StoreError>;
    /// The Microsoft 365 connector whose endpoints live under `/m365/{idp_path}`.
    async fn find_app_by_idp_path(&self, idp_path: &str) -> Result<Application, StoreError>;
    /// Replaces an app's sign-in settings (its kind's configuration), with an audit row of
    /// before and after. The kind, domain, IdP path and SP entity ID cannot change.
    async fn update_app_kind(
        &self,
        actor: &Actor,
        app: AppId,
        kind: &tessera_core::AppKind,
    ) -> Result<Application, StoreError>;
    /// Changes what the portal shows of an application (Display Label, Description, User Portal
    /// Image, Show in User Portal); a taken label is a conflict on `label`.
    async fn update_app_details(
        &self,
        actor: &Actor,
        app: AppId,
        details: &AppDetails<'_>,
    ) -> Result<Application, StoreError>;
    async fn list_apps(&self, page: &PageRequest) -> Result<Page<Application>, StoreError>;
    /// Deletes all of `apps` or none: `confirm_count` must equal their number, and each must exist.
    async fn delete_apps(&self, actor: &Actor, apps: &[AppId], confirm_count: usize) -> Result<usize, StoreError>;
    async fn set_app_policy(&self, actor: &Actor, app: AppId, policy: &AccessPolicy) -> Result<(), StoreError>;
}

/// Which groups may use which applications, and the authorization rule over them.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Grants `group` access to `app`; the same grant whether made from the app or the group
    /// side. Returns false when it existed already.
    async fn grant(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError>;
    /// Returns false when there was no such grant.
    async fn revoke(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError>;
    /// Makes `groups` exactly the app's granted groups, in one transaction: each grant and
    /// revoke audited, all or none. Returns how many were granted and revoked; a group that
    /// does not exist is `NotFound`.
    async fn set_grants(&self, actor: &Actor, app: AppId, groups: &[GroupId]) -> Result<(usize, usize), StoreError>;
    /// The same from the group's side: makes `apps` exactly the applications granted to the
    /// group, in one transaction, all or none.
    async fn set_group_apps(&self, actor: &Actor, group: GroupId, apps: &[AppId])
    -> Result<(usize, usize), StoreError>;
    async fn granted_groups(&self, app: AppId) -> Result<Vec<Group>, StoreError>;
    async fn apps_of_group(&self, group: GroupId) -> Result<Vec<Application>, StoreError>;
    /// The apps granted to any group the user is in (whatever the user's state).
    async fn apps_of_user(&self, user: UserId) -> Result<Vec<Application>, StoreError>;
    /// The authorization rule applied to the stored directory.
    async fn check_access(&self, user: UserId, app: AppId) -> Result<AccessDecision, StoreError>;
}
