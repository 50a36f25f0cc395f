//! The session lifecycle: a random 256-bit id (the browser keeps it; the store keeps only its
//! SHA-256), idle and absolute timeouts, a new id at every authentication step, and the audit
//! row when it ends. How the id travels (a cookie) is the web edge's business.

use tessera_core::policy::{AuthnContext, Factor};
use tessera_core::{Actor, AuditAction, Clock, NewAuditEvent, UnixMillis, User, UserState};
use tessera_store::{AuditLog, Session, SessionStore};

use crate::AuthError;
use crate::secret::{new_session_id, sha256_hex};

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Without a request for this long, a session ends.
    pub idle_timeout_ms: i64,
    /// However busy, a session ends this long after its sign-in.
    pub absolute_timeout_ms: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle_timeout_ms: 60 * 60 * 1000, absolute_timeout_ms: 12 * 60 * 60 * 1000 }
    }
}

/// Activity is recorded at most this often, to spare the store a write per request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The signed-in (or half signed-in) user of a request.
#[derive(Debug, Clone)]
pub struct Current {
    pub session: Session,
    pub user: User,
}

impl Current {
    /// Every step done: the password, the second factor when enrolled, and the notice seen.
    pub fn is_signed_in(&self) -> bool {
        self.session.complete && self.user.notice_acknowledged_at.is_some()
    }
}

/// A session just made: its record, and the id to give the browser (shown only now).
#[derive(Debug)]
pub struct Established {
    pub session: Session,
    pub id: String,
}

/// Sessions over a store, for one request.
pub struct Sessions<'a, S: ?Sized> {
    pub store: &'a S,
    pub clock: &'a dyn Clock,
    pub policy: &'a SessionPolicy,
}

impl<S: SessionStore + AuditLog + ?Sized> Sessions<'_, S> {
    /// The session `id` names, if it is live: within both timeouts and its user still active.
    /// A dead session is removed.
    pub async fn current(&self, id: &str) -> Result<Option<Current>, AuthError> {
        let hash = sha256_hex(id);
        let found = self.store.find_session_with_user(&hash).await?;
        self.live(hash, found).await
    }

    /// As [`current`](Self::current), for a request that answers with a token and nothing
    /// else: the session may come from what this node read a moment ago (on one of several
    /// nodes, a sign-out elsewhere may not have reached it yet); the token is then refused when
    /// its audit record is written (`ReplayStore::record_token`).
    pub async fn current_for_token(&self, id: &str) -> Result<Option<Current>, AuthError> {
        let hash = sha256_hex(id);
        let found = self.store.find_session_for_token(&hash).await?;
        self.live(hash, found).await
    }

    /// The session found, if it is live; a dead one is removed.
    async fn live(&self, hash: String, found: Option<(Session, User)>) -> Result<Option<Current>, AuthError> {
        let Some((session, user)) = found else { return Ok(None) };
        let now = self.clock.now_millis();
        if now >= session.expires_at
            || now - session.last_seen_at >= self.policy.idle_timeout_ms
            || user.state != UserState::Active
        {
            self.store.delete_session(&hash).await?;
            return Ok(None);
        }
        if now - session.last_seen_at > TOUCH_EVERY_MS {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Some(Current { session, user }))
    }

    /// Makes a session for `user` under a new id, replacing the session `replacing` names (so
    /// an id an attacker planted before sign-in is worth nothing after it). `started_at` is
    /// when the sign-in began (the absolute timeout counts from it), now if `None`.
    pub async fn establish(
        &self,
        replacing: Option<&str>,
        user: &User,
        authn: AuthnContext,
        complete: bool,
        started_at: Option<UnixMillis>,
    ) -> Result<Established, AuthError> {
        let id = new_session_id()?;
        let now = self.clock.now_millis();
        let created_at = started_at.unwrap_or(now);
        let session = Session {
            id_hash: sha256_hex(&id),
            user_id: user.id,
            authn,
            complete,
            created_at,
            last_seen_at: now,
            expires_at: created_at + self.policy.absolute_timeout_ms,
        };
        match replacing {
            Some(old) => self.store.rotate_session(&sha256_hex(old), &session).await?,
            None => self.store.create_session(&session).await?,
        }
        Ok(Established { session, id })
    }

    /// Adds a factor to `current` (whose id is `id`), under a new id.
    pub async fn step_up(&self, id: &str, current: &Current, factor: Factor) -> Result<Established, AuthError> {
        let authn = current.session.authn.clone().with(factor, self.clock.now_millis());
        self.establish(Some(id), &current.user, authn, true, Some(current.session.created_at)).await
    }

    /// Ends the session `id` names: its audit row (`signin.logout` with `summary`) first, if
    /// it exists, then the session.
    pub async fn sign_out(&self, id: &str, summary: serde_json::Value) -> Result<(), AuthError> {
        let hash = sha256_hex(id);
        if let Some(session) = self.store.find_session(&hash).await? {
            let event = NewAuditEvent::new(AuditAction::SigninLogout, "user", session.user_id, summary);
            self.store.append_audit(&Actor::user(session.user_id), event).await?;
        }
        self.store.delete_session(&hash).await?;
        Ok(())
    }

    /// The password-update notice, acknowledged by the signed-in user: when it was.
    pub async fn acknowledge_notice(&self, current: &Current) -> Result<UnixMillis, AuthError> {
        let now = self.clock.now_millis();
        self.store.acknowledge_notice(&Actor::user(current.user.id), current.user.id, now).await?;
        Ok(now)
    }
}
