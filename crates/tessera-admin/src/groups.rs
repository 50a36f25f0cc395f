//! Groups and their members; what a group may use is granted from either side (see apps).

use tessera_core::{Actor, Application, Group, NewGroup, User};
use tessera_store::{Page, PageRequest};

use crate::{AdminError, AdminService};

impl AdminService {
    pub async fn create_group(
        &self,
        actor: &Actor,
        name: &str,
        description: Option<&str>,
    ) -> Result<Group, AdminError> {
        Ok(self.store.create_group(actor, NewGroup::new(name, description)?).await?)
    }

    /// By id or name.
    pub async fn find_group(&self, key: &str) -> Result<Group, AdminError> {
        Ok(self.store.find_group(key).await?)
    }

    pub async fn list_groups(&self, page: &PageRequest) -> Result<Page<Group>, AdminError> {
        Ok(self.store.list_groups(page).await?)
    }

    pub async fn delete_group(&self, actor: &Actor, group: &str) -> Result<Group, AdminError> {
        let group = self.store.find_group(group).await?;
        self.store.delete_group(actor, group.id).await?;
        Ok(group)
    }

    /// Adds the user to the group; `false` when they were in it already.
    pub async fn add_member(&self, actor: &Actor, group: &str, user: &str) -> Result<(Group, User, bool), AdminError> {
        let group = self.store.find_group(group).await?;
        let user = self.store.find_user(user).await?;
        let added = self.store.add_member(actor, group.id, user.id).await?;
        Ok((group, user, added))
    }

    pub async fn remove_member(&self, actor: &Actor, group: &str, user: &str) -> Result<(Group, User), AdminError> {
        let group = self.store.find_group(group).await?;
        let user = self.store.find_user(user).await?;
        if !self.store.remove_member(actor, group.id, user.id).await? {
            return Err(AdminError::Missing(format!("{} is not a member of {}", user.email, group.name)));
        }
        Ok((group, user))
    }

    pub async fn group_members(&self, group: &str) -> Result<(Group, Vec<User>), AdminError> {
        let group = self.store.find_group(group).await?;
        let members = self.store.group_members(group.id).await?;
        Ok((group, members))
    }

    /// Makes `apps` (ids or labels) exactly the applications granted to the group, all or
    /// none. Returns how many were granted and revoked.
    pub async fn set_group_apps(
        &self,
        actor: &Actor,
        group: &str,
        apps: &[&str],
    ) -> Result<(usize, usize), AdminError> {
        let group = self.store.find_group(group).await?;
        let mut ids = Vec::with_capacity(apps.len());
        for app in apps {
            ids.push(self.store.find_app(app).await?.id);
        }
        Ok(self.store.set_group_apps(actor, group.id, &ids).await?)
    }

    /// The applications granted to the group.
    pub async fn apps_of_group(&self, group: &str) -> Result<(Group, Vec<Application>), AdminError> {
        let group = self.store.find_group(group).await?;
        let apps = self.store.apps_of_group(group.id).await?;
        Ok((group, apps))
    }
}
