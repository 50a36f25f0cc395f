//! Pass-through sign-in: for a user a directory source brought with `--authenticate bind`, the
//! source decides whether the password is right. The check runs under the same spray
//! throttling and smart lockout as a stored password; what the directory says beyond right or
//! wrong goes to the audit trail.

use async_trait::async_trait;
use tessera_core::User;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryVerdict {
    Right,
    Wrong,
    /// Locked by the directory's own lockout.
    Locked,
    /// Right, but expired at the source.
    Expired,
    /// Right, but to be changed at the source first.
    MustChange,
    /// Disabled (or expired) at the source, or no longer found there.
    Disabled,
    /// No server of the source answered.
    Unavailable,
}

impl DirectoryVerdict {
    /// What the audit trail records for a refusal.
    pub fn refusal(self) -> &'static str {
        match self {
            DirectoryVerdict::Right => "accepted",
            DirectoryVerdict::Wrong => "wrong_password",
            DirectoryVerdict::Locked => "directory_locked_out",
            DirectoryVerdict::Expired => "directory_password_expired",
            DirectoryVerdict::MustChange => "directory_password_must_change",
            DirectoryVerdict::Disabled => "directory_account_disabled",
            DirectoryVerdict::Unavailable => "directory_unavailable",
        }
    }
}

/// What a directory made of a user's change of their own password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryChange {
    Changed,
    WrongPassword,
    /// Its policy (or its access rules) refused the new password: its words, or `None` where it
    /// said only that its rules were not met.
    Refused(Option<String>),
    /// No server of the source answered.
    Unavailable,
}

#[async_trait]
pub trait DirectoryPasswords: Send + Sync {
    /// For a user a source brought with `--authenticate bind`, what the source says of
    /// `password`; `None` for any other user (their password is Tessera's).
    async fn check(&self, user: &User, password: &str) -> Option<DirectoryVerdict>;

    /// For such a user, changes their password at the source from `current` to `new`; `None`
    /// for any other user.
    async fn change(&self, user: &User, current: &str, new: &str) -> Option<DirectoryChange> {
        let _ = (user, current, new);
        None
    }

    /// The name of the source that keeps `user`'s password, if one does.
    async fn keeper(&self, user: &User) -> Option<String> {
        let _ = user;
        None
    }

    /// When that source says `user`'s password expires; `None` for any other user, for a
    /// password that never expires, and when the source cannot say now.
    async fn password_expiry(&self, user: &User) -> Option<tessera_core::UnixMillis> {
        let _ = user;
        None
    }
}
