//! What signing in needs: sessions, replay protection, parked requests, second factors, lockout.

use super::*;

/// A sign-in session. Only the SHA-256 of its id is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    pub user_id: UserId,
    pub authn: AuthnContext,
    /// Every step the sign-in needs is done (password, and a second factor when enrolled).
    pub complete: bool,
    pub created_at: UnixMillis,
    pub last_seen_at: UnixMillis,
    /// The absolute timeout.
    pub expires_at: UnixMillis,
}

/// A validated protocol request waiting for its browser's user to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedRequest {
    pub id: String,
    /// SHA-256 of the cookie that binds the request to the browser that made it.
    pub browser_hash: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCredential {
    /// The secret, sealed under the master key.
    pub sealed_secret: Vec<u8>,
    /// Enrolment finished (a code was shown back).
    pub confirmed: bool,
    /// The last time step accepted: a code is good once.
    pub last_step: i64,
    /// The name its user gave it, if any.
    pub name: Option<String>,
    /// When enrolment started.
    pub created_at: UnixMillis,
}

impl TotpCredential {
    /// A secret waiting for its first code.
    pub fn pending(sealed_secret: &[u8], now: UnixMillis) -> TotpCredential {
        TotpCredential {
            sealed_secret: sealed_secret.to_vec(),
            confirmed: false,
            last_step: 0,
            name: None,
            created_at: now,
        }
    }
}

/// A WebAuthn passkey or security key a user enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCredential {
    pub user_id: UserId,
    /// The name its user gave it: one of a kind among their passkeys.
    pub name: String,
    /// The credential ID its authenticator made: one of a kind across every user.
    pub credential_id: Vec<u8>,
    /// The user's WebAuthn handle (random; the same for each of their passkeys).
    pub user_handle: Vec<u8>,
    /// The public key, counter and flags, as `webauthn-rs` serializes them.
    pub passkey_json: String,
    /// The authenticator's signature counter at the last sign-in (0: it keeps none).
    pub sign_count: i64,
    pub created_at: UnixMillis,
    pub last_used_at: Option<UnixMillis>,
}

/// Passkeys and security keys (WebAuthn), several per user.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyCredential>, StoreError>;
    /// The passkey with this credential ID, whoever's it is (a sign-in without a username
    /// names only its credential).
    async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<PasskeyCredential>, StoreError>;
    /// Adds a passkey, audited (`user.mfa_enroll`, factor `passkey`): a conflict when the user
    /// has one of that name, or its credential ID is stored already (for anyone).
    async fn add_passkey(&self, actor: &Actor, passkey: &PasskeyCredential) -> Result<(), StoreError>;
    /// A sign-in with the passkey at `at`, its counter now `sign_count` and the passkey as it
    /// now is: taken only when the counter moved forward, or when the authenticator keeps none
    /// (0). False when it did not (two sign-ins with one counter: a copied authenticator, or
    /// an answer sent twice) or the passkey is gone; nothing changes then.
    async fn passkey_used(
        &self,
        credential_id: &[u8],
        sign_count: i64,
        passkey_json: &str,
        at: UnixMillis,
    ) -> Result<bool, StoreError>;
    /// Removes the user's passkey named `name`, audited (`user.mfa_reset`, factor `passkey`);
    /// false when they have none of that name.
    async fn remove_passkey(&self, actor: &Actor, user: UserId, name: &str) -> Result<bool, StoreError>;
    /// Removes every passkey of the user (an administrator's second-factor reset), audited
    /// (`user.mfa_reset`, factor `passkey`, how many) when there was any; how many.
    async fn remove_passkeys(&self, actor: &Actor, user: UserId) -> Result<u64, StoreError>;
}

/// Where a sign-in attempt comes from, for smart lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    Familiar,
    Unknown,
    /// Wrong second-factor codes: counted apart, and not reset by a right password.
    SecondFactor,
}

impl Location {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Location::Familiar => "familiar",
            Location::Unknown => "unknown",
            Location::SecondFactor => "mfa",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutCounter {
    pub failures: u32,
    pub last_failure_at: UnixMillis,
}

/// At most this many familiar addresses are kept per user (the oldest go first), as AD FS does.
pub const MAX_FAMILIAR_IPS: usize = 20;

/// Sign-in sessions, and what a finished sign-in records on its user.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    async fn find_session(&self, id_hash: &str) -> Result<Option<Session>, StoreError>;
    /// The session and its user, in one read. A session ended on any node is not found.
    async fn find_session_with_user(&self, id_hash: &str) -> Result<Option<(Session, User)>, StoreError>;
    /// As [`find_session_with_user`](Self::find_session_with_user), but on one of several nodes
    /// it may answer from what this node read up to a second before: a session another node
    /// ended may still be found until that node's notice arrives (milliseconds). Only for a
    /// request whose one effect that matters is a token recorded with
    /// [`ReplayStore::record_token`], which reads the session again in its transaction.
    async fn find_session_for_token(&self, id_hash: &str) -> Result<Option<(Session, User)>, StoreError>;
    async fn touch_session(&self, id_hash: &str, now: UnixMillis) -> Result<(), StoreError>;
    /// Replaces a session by a new one under a new id, atomically (no fixation).
    async fn rotate_session(&self, old_id_hash: &str, new: &Session) -> Result<(), StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Ends every session of the user (an administrator's "sign out everywhere"), with its
    /// audit record; the number ended.
    async fn end_user_sessions(&self, actor: &Actor, user: UserId) -> Result<u64, StoreError>;
    /// Records the password-update notice as acknowledged, with its audit event.
    async fn acknowledge_notice(&self, actor: &Actor, user: UserId, now: UnixMillis) -> Result<(), StoreError>;
}

/// Protocol message IDs seen, against replay.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records a protocol message ID from `issuer` until `expires_at`: `false` if it was seen
    /// already (a replay), atomically across nodes.
    async fn remember_message_id(
        &self,
        issuer: &str,
        message_id: &str,
        expires_at: UnixMillis,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;

    /// Records `claim`'s message ID as [`remember_message_id`](Self::remember_message_id) does
    /// and, only when it was new, `event` in the audit trail: one trip to the store where a
    /// sign-on answering a request used to wait for two. `false` for a replay, and then no audit
    /// record (the caller refuses, with its own).
    async fn remember_message_id_with_audit(
        &self,
        claim: &MessageClaim,
        actor: &Actor,
        event: NewAuditEvent,
    ) -> Result<bool, StoreError>;

    /// Writes the audit record of a token about to leave, in the same trip as the request's ID
    /// (when `token.claim` names one): only while the session the token was issued from still
    /// exists and its user is active, and only where the ID is new. A node may answer a
    /// session's requests from what it read up to a second before (`cache.rs`); this is where a
    /// sign-out or a suspension made on another node a moment ago still stops the token.
    async fn record_token(&self, token: TokenRecord<'_>) -> Result<TokenRecorded, StoreError>;
}

/// A token's audit record, and what it depends on (see [`ReplayStore::record_token`]).
#[derive(Debug)]
pub struct TokenRecord<'a> {
    /// The id hash of the session the token was issued from.
    pub session: &'a str,
    /// The request's ID when it is not recorded yet.
    pub claim: Option<&'a MessageClaim>,
    pub actor: &'a Actor,
    pub event: NewAuditEvent,
}

/// What became of a [`TokenRecord`]. Only `Written` lets the token leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRecorded {
    Written,
    /// The request's ID was used already: nothing written.
    Replayed,
    /// The session is gone (signed out) or its user no longer active: nothing written (the
    /// request's ID, if any, is recorded all the same, so the request cannot be replayed).
    SessionEnded,
}

/// A protocol message's ID, to be remembered against replay until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageClaim {
    /// Who sent the message (IDs are unique per sender).
    pub issuer: String,
    pub message_id: String,
    pub expires_at: UnixMillis,
    /// The time of the check: a remembered ID that expired before it is taken over.
    pub now: UnixMillis,
}

impl MessageClaim {
    /// The ID as the store keeps it (`sql::stored_message_id`).
    pub(crate) fn stored_id(&self) -> String {
        crate::sql::stored_message_id(&self.message_id)
    }
}

/// Validated protocol requests waiting while their browser's user signs in.
#[async_trait]
pub trait ParkingStore: Send + Sync {
    async fn park_request(&self, parked: &ParkedRequest) -> Result<(), StoreError>;
    /// Takes (and removes) a parked request, if it exists, is unexpired and belongs to this
    /// browser. Another browser's attempt leaves it in place.
    async fn take_parked_request(
        &self,
        id: &str,
        browser_hash: &str,
        now: UnixMillis,
    ) -> Result<Option<ParkedRequest>, StoreError>;
    /// This browser's unexpired parked request, left in place (the sign-in pages name the
    /// application it is for, and tag their audit events with its trace).
    async fn peek_parked_request(
        &self,
        id: &str,
        browser_hash: &str,
        now: UnixMillis,
    ) -> Result<Option<ParkedRequest>, StoreError>;
}

/// Second factors: the TOTP credential and recovery codes.
#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn totp_credential(&self, user: UserId) -> Result<Option<TotpCredential>, StoreError>;
    /// Starts (or restarts) enrolment with a new secret; a confirmed credential is kept.
    async fn put_pending_totp(&self, user: UserId, sealed_secret: &[u8], now: UnixMillis) -> Result<(), StoreError>;
    /// Finishes enrolment: confirmed from `step` on, with these recovery code hashes.
    async fn confirm_totp(
        &self,
        actor: &Actor,
        user: UserId,
        step: i64,
        recovery_code_hashes: &[String],
    ) -> Result<bool, StoreError>;
    /// Accepts time step `step` once: false when it (or a later one) was used already.
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError>;
    /// Uses up a recovery code: false when there is no such unused code.
    async fn use_recovery_code(&self, user: UserId, code_hash: &str) -> Result<bool, StoreError>;
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError>;
    /// Removes the user's TOTP and recovery codes (not their passkeys: a user removing their
    /// authenticator app keeps those); false when there were none.
    async fn reset_mfa(&self, actor: &Actor, user: UserId) -> Result<bool, StoreError>;
    /// Names the user's confirmed authenticator app; false when they have none.
    async fn rename_totp(&self, actor: &Actor, user: UserId, name: &str) -> Result<bool, StoreError>;
    /// Replaces every recovery code of a user who has a confirmed authenticator app with these;
    /// false (nothing changed) when they have none.
    async fn replace_recovery_codes(
        &self,
        actor: &Actor,
        user: UserId,
        recovery_code_hashes: &[String],
    ) -> Result<bool, StoreError>;
}

/// The counters of smart lockout and spray throttling, and the addresses users are familiar from.
#[async_trait]
pub trait LockoutStore: Send + Sync {
    /// A counter as it stands (what an administrator's account-activity view reads).
    async fn lockout_counter(&self, user: UserId, location: Location) -> Result<Option<LockoutCounter>, StoreError>;
    /// Reserves one attempt against the user's counter for `location`, atomically: counts it
    /// (as a failure until a success resets the counter) and returns true when the counter
    /// is under `threshold` or its last failure is older than `window_ms`; false (and nothing
    /// changes) when locked. Concurrent attempts cannot all slip under the threshold.
    async fn reserve_attempt(
        &self,
        user: UserId,
        location: Location,
        threshold: u32,
        window_ms: i64,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;
    /// Gives back an attempt `reserve_attempt` counted that was no guess (the directory that
    /// decides did not answer): the counter goes down by one, never below zero.
    async fn release_attempt(&self, user: UserId, location: Location) -> Result<(), StoreError>;
    /// Counts a failed sign-in from the address `ip_key` for the name `user_key` (known or
    /// not), for spray throttling.
    async fn record_failed_attempt(&self, ip_key: &str, user_key: &str, now: UnixMillis) -> Result<(), StoreError>;
    /// A right password: the password counters reset.
    async fn record_password_success(&self, user: UserId) -> Result<(), StoreError>;
    /// A completed sign-in from `ip`: the address becomes familiar (the newest 20 are kept).
    async fn learn_familiar_ip(&self, user: UserId, ip: &str, now: UnixMillis) -> Result<(), StoreError>;
    /// A right second factor: its counter resets.
    async fn clear_second_factor_failures(&self, user: UserId) -> Result<(), StoreError>;
    async fn familiar_ips(&self, user: UserId) -> Result<Vec<String>, StoreError>;
    /// How many different names failed from `ip` since `since`.
    async fn failed_names_from_ip(&self, ip: &str, since: UnixMillis) -> Result<u32, StoreError>;
}
