//! Users: created (with the ImmutableID Entra matches them by), their password set, suspended
//! and activated, their second factor reset, deleted.

use tessera_core::import::{ImportProblems, ImportRow, parse_users};
use tessera_core::{Actor, Application, Group, NewUser, User, UserState};
use tessera_store::{ImportOutcome, Page, PageRequest};

use crate::{AdminError, AdminService, hash_password};

/// A new user; what is left out takes its default.
#[derive(Debug, Clone, Default)]
pub struct NewUserRequest {
    pub email: String,
    /// Defaults to the email.
    pub upn: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Defaults to base64 of 16 random bytes, the form Entra Connect uses for a GUID anchor.
    pub immutable_id: Option<String>,
    pub password: Option<String>,
}

/// A user with their groups and the applications those open.
#[derive(Debug, Clone)]
pub struct UserAccess {
    pub user: User,
    pub groups: Vec<Group>,
    /// Each application, with the names of the user's groups granted to it.
    pub apps: Vec<(Application, Vec<String>)>,
}

/// What an import did (or, as a preview, would do): the users read from the file, and what
/// writing them means for the directory.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub rows: Vec<ImportRow>,
    pub outcome: ImportOutcome,
}

impl AdminService {
    /// Imports a CSV of users (`tessera_core::import`): all of it, or with any problem in the
    /// file or any clash with the directory, nothing; a `dry_run` checks everything and writes
    /// nothing. The problems come back, by line, as one `Invalid` on `file`.
    pub async fn import_users(&self, actor: &Actor, file: &[u8], dry_run: bool) -> Result<ImportReport, AdminError> {
        let mut no_randomness = None;
        let rows = parse_users(file, || {
            // A fresh anchor for each row without one (16 random bytes, base64).
            tessera_auth::secret::new_immutable_id().unwrap_or_else(|e| {
                no_randomness = Some(e);
                String::new()
            })
        });
        if let Some(e) = no_randomness {
            return Err(e.into());
        }
        let rows = rows.map_err(|problems| AdminError::invalid("file", problems.summary()))?;
        let outcome = self.store.import_users(actor, &rows, dry_run).await?;
        if !outcome.clashes.is_empty() {
            let mut problems = ImportProblems::one(outcome.clashes[0].0, outcome.clashes[0].1.clone());
            for (line, message) in &outcome.clashes[1..] {
                problems.add(*line, message.clone());
            }
            return Err(AdminError::invalid("file", problems.summary()));
        }
        Ok(ImportReport { rows, outcome })
    }

    pub async fn create_user(&self, actor: &Actor, request: NewUserRequest) -> Result<User, AdminError> {
        let generated = tessera_auth::secret::new_immutable_id()?;
        let mut new = NewUser::new(
            &request.email,
            request.upn.as_deref(),
            request.first_name.as_deref(),
            request.last_name.as_deref(),
            request.immutable_id.as_deref(),
            || generated,
        )?;
        if let Some(password) = request.password {
            new.password_hash = Some(hash_password(password).await?);
        }
        Ok(self.store.create_user(actor, new).await?)
    }

    /// Changes the UPN and ImmutableID Entra matches `key` by. An ImmutableID cannot change in
    /// Entra once the domain is federated: this is for setting it before (copied from Entra,
    /// or from an AD objectGUID), not for moving a person.
    pub async fn set_user_identity(
        &self,
        actor: &Actor,
        key: &str,
        upn: Option<&str>,
        immutable_id: Option<&str>,
    ) -> Result<User, AdminError> {
        if upn.is_none() && immutable_id.is_none() {
            return Err(AdminError::invalid("user", "nothing to change: give --upn or --immutable-id"));
        }
        let upn = upn.map(|u| tessera_core::validate::email("upn", u)).transpose()?;
        let immutable_id = immutable_id.map(|i| tessera_core::validate::immutable_id(i.trim())).transpose()?;
        let user = self.store.find_user(key).await?;
        Ok(self.store.set_user_identity(actor, user.id, upn.as_deref(), immutable_id.as_deref()).await?)
    }

    /// By id, email or UPN.
    pub async fn find_user(&self, key: &str) -> Result<User, AdminError> {
        Ok(self.store.find_user(key).await?)
    }

    pub async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, AdminError> {
        Ok(self.store.list_users(page).await?)
    }

    pub async fn set_password(&self, actor: &Actor, user: &str, password: String) -> Result<User, AdminError> {
        let user = self.store.find_user(user).await?;
        let hash = hash_password(password).await?;
        self.store.set_password(actor, user.id, &hash).await?;
        Ok(user)
    }

    /// Suspends (no sign-in, whatever the grants) or activates a user.
    pub async fn set_user_state(&self, actor: &Actor, user: &str, state: UserState) -> Result<User, AdminError> {
        let user = self.store.find_user(user).await?;
        Ok(self.store.set_user_state(actor, user.id, state).await?)
    }

    pub async fn delete_user(&self, actor: &Actor, user: &str) -> Result<User, AdminError> {
        let user = self.store.find_user(user).await?;
        self.store.delete_user(actor, user.id).await?;
        Ok(user)
    }

    /// The user's passkeys and security keys, oldest first.
    pub async fn passkeys(&self, user: &str) -> Result<(User, Vec<tessera_store::PasskeyCredential>), AdminError> {
        let user = self.store.find_user(user).await?;
        let passkeys = self.store.passkeys(user.id).await?;
        Ok((user, passkeys))
    }

    /// Removes the user's passkey named `name` (a lost or retired authenticator): it signs in
    /// no more, even in a sign-in already begun, and the user's sessions end (one it signed in
    /// alone, on the device that was lost, included). Not found when the user has none of that
    /// name.
    pub async fn remove_passkey(&self, actor: &Actor, user: &str, name: &str) -> Result<User, AdminError> {
        let user = self.store.find_user(user).await?;
        if !self.store.remove_passkey(actor, user.id, name).await? {
            return Err(tessera_store::StoreError::NotFound {
                kind: "passkey",
                key: format!("{name} of {}", user.email),
            }
            .into());
        }
        self.store.end_user_sessions(actor, user.id).await?;
        Ok(user)
    }

    /// Removes the user's authenticator app, recovery codes and passkeys (a lost
    /// authenticator); `false` when there were none. Where passkeys went, the user's sessions
    /// end too (a passkey alone may have signed one in).
    pub async fn reset_mfa(&self, actor: &Actor, user: &str) -> Result<(User, bool), AdminError> {
        let user = self.store.find_user(user).await?;
        // Two changes, each whole: should the second fail, the command says so and running it
        // again finishes the reset.
        let app_removed = self.store.reset_mfa(actor, user.id).await?;
        let passkeys_removed = self.store.remove_passkeys(actor, user.id).await?;
        if passkeys_removed > 0 {
            self.store.end_user_sessions(actor, user.id).await?;
        }
        Ok((user, app_removed || passkeys_removed > 0))
    }

    /// Ends every session of the user at once ("sign out everywhere"): their next request
    /// signs in again. The number of sessions ended.
    pub async fn sign_out_user(&self, actor: &Actor, user: &str) -> Result<(User, u64), AdminError> {
        let user = self.store.find_user(user).await?;
        let ended = self.store.end_user_sessions(actor, user.id).await?;
        Ok((user, ended))
    }

    /// The user, their groups, and each application a granted group of theirs opens, with
    /// the groups that grant it (a suspended user still may use none).
    pub async fn user_access(&self, user: &str) -> Result<UserAccess, AdminError> {
        let user = self.store.find_user(user).await?;
        let groups = self.store.groups_of_user(user.id).await?;
        let mut apps: Vec<(Application, Vec<String>)> = Vec::new();
        for group in &groups {
            for app in self.store.apps_of_group(group.id).await? {
                match apps.iter_mut().find(|(a, _)| a.id == app.id) {
                    Some((_, via)) => via.push(group.name.clone()),
                    None => apps.push((app, vec![group.name.clone()])),
                }
            }
        }
        apps.sort_by_key(|(app, _)| app.label.to_lowercase());
        Ok(UserAccess { user, groups, apps })
    }

    pub async fn groups_of_user(&self, user: &str) -> Result<(User, Vec<Group>), AdminError> {
        let user = self.store.find_user(user).await?;
        let groups = self.store.groups_of_user(user.id).await?;
        Ok((user, groups))
    }
}
