//! Sign-in traces: every sign-in's decisions (its audit events, tied by a trace id), and, while
//! tracing is switched on for its application or user, the token that was sent (without its
//! signature value) for a limited time.

use serde_json::json;
use tessera_core::tracing::{TraceSubject, TracingSwitches};
use tessera_core::{Actor, AuditAction, AuditEvent, NewAuditEvent};
use tessera_store::KeptToken;

use crate::{AdminError, AdminService};

/// The setting holding every tracing switch.
pub const SETTING_TRACING: &str = "sign_in_tracing";

/// One sign-in: its events, oldest first, and the token kept for it, if any.
#[derive(Debug, Clone)]
pub struct SignInTrace {
    pub id: String,
    pub events: Vec<AuditEvent>,
    pub token: Option<KeptToken>,
}

impl AdminService {
    pub async fn tracing_switches(&self) -> Result<TracingSwitches, AdminError> {
        match self.store.get_setting(SETTING_TRACING).await? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| AdminError::Store(tessera_store::StoreError::Corrupt(format!("{SETTING_TRACING}: {e}")))),
            None => Ok(TracingSwitches::default()),
        }
    }

    /// Switches tracing on for `minutes` (or off, with `None`) for an application (by id or
    /// label) or a user (by id, email or UPN); kept tokens last `keep_days`.
    pub async fn set_tracing(
        &self,
        actor: &Actor,
        subject: TraceSubject,
        key: &str,
        minutes: Option<u32>,
        keep_days: u32,
    ) -> Result<TracingSwitches, AdminError> {
        let id = match subject {
            TraceSubject::App => self.store.find_app(key).await?.id.to_string(),
            TraceSubject::User => self.store.find_user(key).await?.id.to_string(),
        };
        let now = self.clock_now();
        let mut switches = self.tracing_switches().await?;
        switches.set(subject, &id, minutes, keep_days, now)?;
        let text = serde_json::to_string(&switches)
            .map_err(|e| AdminError::Store(tessera_store::StoreError::Corrupt(e.to_string())))?;
        let kind = match subject {
            TraceSubject::App => "app",
            TraceSubject::User => "user",
        };
        let event = NewAuditEvent::new(
            AuditAction::TraceSet,
            kind,
            &id,
            json!({"minutes": minutes, "keep_days": minutes.map(|_| keep_days)}),
        );
        self.store.change_setting(actor, SETTING_TRACING, Some(&text), event).await?;
        Ok(switches)
    }

    /// One sign-in's trace, by its id (32 hex digits).
    pub async fn sign_in_trace(&self, id: &str) -> Result<SignInTrace, AdminError> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AdminError::Missing("no such sign-in trace".into()));
        }
        let events = self.store.trace_events(id).await?;
        if events.is_empty() {
            return Err(AdminError::Missing("no such sign-in trace".into()));
        }
        let token = self.store.sign_in_token(id, self.clock_now()).await?;
        Ok(SignInTrace { id: id.to_string(), events, token })
    }
}
