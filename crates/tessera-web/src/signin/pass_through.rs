//! Pass-through sign-in: a user a directory source brought with `--authenticate bind` signs in
//! with their directory password, which their source checks (an LDAP bind as them, over TLS).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tessera_auth::directory::{DirectoryChange, DirectoryPasswords, DirectoryVerdict};
use tessera_auth::kerberos::{Principal, PrincipalDirectory};
use tessera_core::computers::DomainComputer;
use tessera_core::sources::{DirectoryKind, PasswordCheck, bind_password_seal};
use tessera_core::{DirectorySource, User};
use tessera_directory::{PasswordChange, Timeouts, UserBind, realm_of};
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
        let service_password = self.service_password(&source).await?;
        Ok(Some(Keeper { source, service_password, anchor }))
    }

    /// The service account's password of `source`, opened.
    async fn service_password(&self, source: &DirectorySource) -> Result<String, String> {
        let sealed = self.store.source_bind_password(source.id).await.map_err(|e| e.to_string())?;
        let opened =
            self.keys.secrets().open_secret(&sealed, &bind_password_seal(source.id)).map_err(|e| e.to_string())?;
        String::from_utf8(opened).map_err(|_| "the stored bind password is not text".to_string())
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

    async fn password_expiry(&self, user: &User) -> Option<tessera_core::UnixMillis> {
        let keeper = match self.keeper_of(user).await {
            Ok(keeper) => keeper?,
            Err(reason) => {
                tracing::warn!(user = %user.id, %reason, "password expiry: the directory source could not be read");
                return None;
            }
        };
        // Short: a token waits for this answer, and goes without the claims rather than late.
        let timeouts = Timeouts { connect: Duration::from_secs(2), operation: Duration::from_secs(3) };
        let expiry = tessera_directory::password_expires_at(
            &keeper.source.config,
            &keeper.service_password,
            &user.upn,
            &keeper.anchor,
            timeouts,
        )
        .await;
        expiry.unwrap_or_else(|e| {
            tracing::warn!(user = %user.id, source = %keeper.source.name, error = %e, "password expiry: the directory did not answer");
            None
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

/// Windows integrated sign-in's principal, `account@REALM`, is the user an Active Directory
/// source of that realm (its base DN's domain) brought: found there by logon name, then here
/// by UPN, and only if the source's anchor for them is the one the sync linked (an account
/// made again since is not them). Any AD source, whoever checks its users' passwords.
#[async_trait]
impl PrincipalDirectory for PassThrough {
    async fn user_of(&self, principal: &Principal) -> Result<Option<User>, String> {
        let mut unanswered = None;
        for source in self.sources_of_realm(&principal.realm).await? {
            match self.user_in(&source, principal).await {
                Ok(Some(user)) => return Ok(Some(user)),
                Ok(None) => {}
                Err(why) => unanswered = Some(why),
            }
        }
        unanswered.map_or(Ok(None), Err)
    }

    async fn computer_of(&self, principal: &Principal) -> Result<Option<DomainComputer>, String> {
        let mut unanswered = None;
        for source in self.sources_of_realm(&principal.realm).await? {
            let found = match self.service_password(&source).await {
                Ok(password) => {
                    tessera_directory::find_computer(&source.config, &password, &principal.account, Timeouts::default())
                        .await
                        .map_err(|e| format!("{}: {e}", source.name))
                }
                Err(why) => Err(why),
            };
            match found {
                Ok(Some(computer)) => return Ok(Some(computer)),
                Ok(None) => {}
                Err(why) => unanswered = Some(why),
            }
        }
        unanswered.map_or(Ok(None), Err)
    }
}

impl PassThrough {
    /// The user `principal` names in `source`: its account found there by logon name, then
    /// here by UPN, and theirs only with the anchor the sync linked.
    async fn user_in(&self, source: &DirectorySource, principal: &Principal) -> Result<Option<User>, String> {
        let service_password = self.service_password(source).await?;
        let found =
            tessera_directory::find_account(&source.config, &service_password, &principal.account, Timeouts::default())
                .await
                .map_err(|e| format!("{}: {e}", source.name))?;
        let Some(account) = found else { return Ok(None) };
        let user = match self.store.find_user(&account.upn).await {
            Ok(user) => user,
            Err(tessera_store::StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let linked = self.store.user_source(user.id).await.map_err(|e| e.to_string())?;
        Ok((linked == Some((source.id, account.anchor))).then_some(user))
    }

    /// The Active Directory sources whose base DN is in `realm`'s domain.
    async fn sources_of_realm(&self, realm: &str) -> Result<Vec<DirectorySource>, String> {
        let sources = self.store.list_sources().await.map_err(|e| e.to_string())?;
        Ok(sources
            .into_iter()
            .filter(|source| {
                source.config.kind == DirectoryKind::Ad
                    && realm_of(&source.config.base_dn).is_some_and(|of| of.eq_ignore_ascii_case(realm))
            })
            .collect())
    }
}
