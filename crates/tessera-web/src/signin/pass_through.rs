//! Pass-through sign-in: a user a directory source brought with `--authenticate bind` signs in
//! with their directory password, which their source checks (an LDAP bind as them, over TLS).

use std::sync::Arc;

use async_trait::async_trait;
use tessera_auth::directory::{DirectoryChange, DirectoryPasswords, DirectoryVerdict};
use tessera_core::sources::{PasswordCheck, bind_password_seal};
use tessera_core::{DirectorySource, User};
use tessera_directory::{PasswordChange, Timeouts, UserBind};
use tessera_keys::KeyService;
use tessera_store::Store;

pub struct PassThrough {
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyService>,
}

/// A pass-through source as one user's password needs it: its settings, the service
/// account's password (opened), and the user's anchor there.
struct Keeper {
    source: DirectorySource,
    service_password: String,
    anchor: String,
}

impl PassThrough {
    /// The pass-through source `user` came from, and their anchor there.
    async fn source_of(&self, user: &User) -> Result<Option<(DirectorySource, String)>, String> {
        let Some((source, anchor)) = self.store.user_source(user.id).await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let source = self.store.find_source(&source.to_string()).await.map_err(|e| e.to_string())?;
        Ok((source.config.authenticate == PasswordCheck::Bind).then_some((source, anchor)))
    }

    /// The source that checks `user`'s password, with its service account's password opened;
    /// `None` when the user is no pass-through source's.
    async fn keeper_of(&self, user: &User) -> Result<Option<Keeper>, String> {
        let Some((source, anchor)) = self.source_of(user).await? else { return Ok(None) };
        let sealed = self.store.source_bind_password(source.id).await.map_err(|e| e.to_string())?;
        let opened =
            self.keys.secrets().open_secret(&sealed, &bind_password_seal(source.id)).map_err(|e| e.to_string())?;
        let service_password =
            String::from_utf8(opened).map_err(|_| "the stored bind password is not text".to_string())?;
        Ok(Some(Keeper { source, service_password, anchor }))
    }

    /// The source's verdict; `None` when the user is no pass-through source's.
    async fn ask(&self, user: &User, password: &str) -> Result<Option<DirectoryVerdict>, String> {
        let Some(Keeper { source, service_password: service, anchor }) = self.keeper_of(user).await? else {
            return Ok(None);
        };
        let bind = tessera_directory::check_user_password(
            &source.config,
            &service,
            &user.upn,
            &anchor,
            password,
            Timeouts::default(),
        )
        .await
        .map_err(|e| format!("{}: {e}", source.name))?;
        Ok(Some(match bind {
            UserBind::Right => DirectoryVerdict::Right,
            UserBind::Wrong => DirectoryVerdict::Wrong,
            UserBind::Locked => DirectoryVerdict::Locked,
            UserBind::Expired => DirectoryVerdict::Expired,
            UserBind::MustChange => DirectoryVerdict::MustChange,
            UserBind::Disabled | UserBind::NotInDirectory => DirectoryVerdict::Disabled,
        }))
    }
}

#[async_trait]
impl DirectoryPasswords for PassThrough {
    async fn change(&self, user: &User, current: &str, new: &str) -> Option<DirectoryChange> {
        let keeper = match self.keeper_of(user).await {
            Ok(keeper) => keeper?,
            Err(reason) => {
                tracing::warn!(user = %user.id, %reason, "password change: the directory source could not be read");
                return Some(DirectoryChange::Unavailable);
            }
        };
        let changed = tessera_directory::change_user_password(
            &keeper.source.config,
            &keeper.service_password,
            &user.upn,
            &keeper.anchor,
            current,
            new,
            Timeouts::default(),
        )
        .await;
        Some(match changed {
            Ok(PasswordChange::Changed) => DirectoryChange::Changed,
            Ok(PasswordChange::WrongPassword | PasswordChange::NotInDirectory) => DirectoryChange::WrongPassword,
            Ok(PasswordChange::Refused(reason)) => DirectoryChange::Refused(reason),
            Err(e) => {
                tracing::warn!(user = %user.id, source = %keeper.source.name, error = %e, "password change: the directory did not answer");
                DirectoryChange::Unavailable
            }
        })
    }

    async fn keeper(&self, user: &User) -> Option<String> {
        self.source_of(user).await.ok().flatten().map(|(source, _)| source.name)
    }

    async fn check(&self, user: &User, password: &str) -> Option<DirectoryVerdict> {
        match self.ask(user, password).await {
            Ok(verdict) => verdict,
            Err(reason) => {
                tracing::warn!(user = %user.id, %reason, "pass-through sign-in: the directory did not answer");
                Some(DirectoryVerdict::Unavailable)
            }
        }
    }
}
