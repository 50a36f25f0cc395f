//! Sign-in tracing: for a limited time, an application's or a user's sign-ins keep the token
//! that was sent (without its signature value), for an administrator to debug with. Every
//! sign-in has a trace of its decisions anyway (its audit events); this switch only decides
//! whether the token itself is kept, and for how long.

use serde::{Deserialize, Serialize};

use crate::{CoreError, UnixMillis};

/// Tracing lasts at most a day; the kept tokens at most 30 days.
pub const MAX_TRACING_MINUTES: u32 = 24 * 60;
pub const MAX_KEEP_DAYS: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceSubject {
    App,
    User,
}

/// One switch: tokens of `subject` `id`'s sign-ins are kept until `until`, each for `keep_days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracingSwitch {
    pub subject: TraceSubject,
    pub id: String,
    pub until: UnixMillis,
    pub keep_days: u32,
}

/// Every switch (the setting `sign_in_tracing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TracingSwitches {
    pub switches: Vec<TracingSwitch>,
}

impl TracingSwitches {
    /// For how many days a sign-in of `user` to `app` now keeps its token, if tracing is on for
    /// either (the longer, when both are).
    pub fn keeping(&self, app: &str, user: &str, now: UnixMillis) -> Option<u32> {
        self.switches
            .iter()
            .filter(|s| s.until > now)
            .filter(|s| match s.subject {
                TraceSubject::App => s.id == app,
                TraceSubject::User => s.id == user,
            })
            .map(|s| s.keep_days)
            .max()
    }

    /// Turns tracing on for `minutes` (or off, with `None`) for one subject; expired switches go.
    pub fn set(
        &mut self,
        subject: TraceSubject,
        id: &str,
        minutes: Option<u32>,
        keep_days: u32,
        now: UnixMillis,
    ) -> Result<(), CoreError> {
        self.switches.retain(|s| s.until > now && !(s.subject == subject && s.id == id));
        let Some(minutes) = minutes else { return Ok(()) };
        if !(1..=MAX_TRACING_MINUTES).contains(&minutes) {
            return Err(CoreError::invalid("minutes", format!("tracing lasts 1 to {MAX_TRACING_MINUTES} minutes")));
        }
        if !(1..=MAX_KEEP_DAYS).contains(&keep_days) {
            return Err(CoreError::invalid("keep_days", format!("tokens are kept 1 to {MAX_KEEP_DAYS} days")));
        }
        self.switches.push(TracingSwitch {
            subject,
            id: id.to_string(),
            until: now + i64::from(minutes) * 60_000,
            keep_days,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_keeps_tokens_while_it_lasts() {
        let mut switches = TracingSwitches::default();
        switches.set(TraceSubject::App, "a1", Some(60), 7, 1_000).unwrap();
        switches.set(TraceSubject::User, "u1", Some(10), 2, 1_000).unwrap();
        assert_eq!(switches.keeping("a1", "u9", 2_000), Some(7));
        assert_eq!(switches.keeping("a2", "u1", 2_000), Some(2));
        assert_eq!(switches.keeping("a1", "u1", 2_000), Some(7));
        assert_eq!(switches.keeping("a2", "u2", 2_000), None);
        assert_eq!(switches.keeping("a1", "u9", 1_000 + 60 * 60_000), None, "over");
        switches.set(TraceSubject::App, "a1", None, 7, 2_000).unwrap();
        assert_eq!(switches.keeping("a1", "u9", 3_000), None, "off");
        for (minutes, days) in [(0, 7), (MAX_TRACING_MINUTES + 1, 7), (60, 0), (60, MAX_KEEP_DAYS + 1)] {
            assert!(switches.set(TraceSubject::App, "a1", Some(minutes), days, 0).is_err());
        }
    }
}
