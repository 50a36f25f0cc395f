//! [`AuditLog`] and [`AuditStore`] in memory, as `sql/audit.rs` reads the trail: the same
//! filters, order and limits, over rows that are only ever appended.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tessera_core::{Actor, AppId, AuditEvent, NewAuditEvent, UnixMillis};

use super::MemoryStore;
use crate::StoreError;
use crate::audit_chain::{AuditKey, ChainHead, ChainReport, ChainWalk, ChainedRecord, LinkFields};
use crate::traits::{AuditChain, AuditLog, AuditQuery, AuditStore, HourlyCount, KeptToken};

/// The chain beside the memory store's audit rows: the test key until another is handed in.
pub(super) struct Chain {
    key: AuditKey,
    head: ChainHead,
    /// (place, MAC) of each record, in the order of `audit`.
    links: Vec<(i64, String)>,
    /// Each record's summary as it was written (and MACed), in the order of `audit`: the rows
    /// hold it parsed, and a summary written member by member need not come back the same
    /// from its `Value` (whose keys are sorted).
    summaries: Vec<String>,
}

impl Default for Chain {
    fn default() -> Self {
        Chain::under(AuditKey::for_tests())
    }
}

impl Chain {
    fn under(key: AuditKey) -> Self {
        Chain { key, head: ChainHead::empty(), links: Vec::new(), summaries: Vec::new() }
    }

    pub(super) fn link(&mut self, at: UnixMillis, actor: &Actor, event: &NewAuditEvent) {
        self.push(&LinkFields::of(at, &actor.0, event, event.summary.as_str()));
    }

    fn push(&mut self, fields: &LinkFields<'_>) {
        let link = self.head.link(&self.key, fields);
        self.links.push(link);
        self.summaries.push(fields.summary.to_string());
    }
}

const HOUR_MS: i64 = 3_600_000;

/// The actions `sign_in_counts` counts, by prefix.
const SIGN_IN_ACTIONS: [&str; 4] = ["signin.", "saml.", "wsfed.", "wstrust."];

fn matches(event: &AuditEvent, query: &AuditQuery) -> bool {
    let in_time = event.at >= query.since.unwrap_or(i64::MIN) && event.at < query.until.unwrap_or(i64::MAX);
    let by_actor = query.actor.as_ref().is_none_or(|actor| event.actor == *actor);
    let by_action = match query.action.as_deref() {
        Some(prefix) if prefix.ends_with('.') => event.action.starts_with(prefix),
        Some(action) => event.action == action,
        None => true,
    };
    let by_app = query.app.is_none_or(|app| event.target_kind == "app" && event.target_id == app.to_string());
    let by_user = query.user.is_none_or(|user| {
        let user = user.to_string();
        event.actor == format!("user:{user}")
            || (event.target_kind == "user" && event.target_id == user)
            || event.summary.to_string().contains(&format!("\"user_id\":\"{user}\""))
    });
    in_time && by_actor && by_action && by_app && by_user
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn append_audit(&self, actor: &Actor, event: NewAuditEvent) -> Result<(), StoreError> {
        let at = self.clock.now_millis();
        self.tables()?.record(actor, at, event);
        Ok(())
    }
}

#[async_trait]
impl AuditChain for MemoryStore {
    /// A test double: records made before the key came are linked again under it.
    fn seal_audit_with(&self, key: AuditKey) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        let mut chain = Chain::under(key);
        for (event, summary) in tables.audit.iter().zip(&tables.audit_chain.summaries) {
            let fields = LinkFields {
                at: event.at,
                actor: &event.actor,
                action: &event.action,
                target_kind: &event.target_kind,
                target_id: &event.target_id,
                summary,
            };
            chain.push(&fields);
        }
        tables.audit_chain = chain;
        Ok(())
    }

    async fn verify_audit_chain(&self, since: Option<UnixMillis>) -> Result<ChainReport, StoreError> {
        let tables = self.tables()?;
        let chain = &tables.audit_chain;
        let first =
            tables.audit.iter().position(|e| since.is_none_or(|since| e.at >= since)).unwrap_or(tables.audit.len());
        // From the record before, as the SQL stores walk.
        let start = first.saturating_sub(1);
        let previous = start.checked_sub(1).map(|i| chain.links[i].1.clone()).unwrap_or_default();
        let mut walk = ChainWalk::from(&chain.key, i64::try_from(start).unwrap_or(i64::MAX) + 1, previous);
        for ((event, (seq, mac)), summary) in tables.audit.iter().zip(&chain.links).zip(&chain.summaries).skip(start) {
            walk.step(&ChainedRecord {
                id: event.id,
                seq: *seq,
                mac: mac.clone(),
                at: event.at,
                actor: event.actor.clone(),
                action: event.action.clone(),
                target_kind: event.target_kind.clone(),
                target_id: event.target_id.clone(),
                summary: summary.clone(),
            });
        }
        Ok(walk.finish(&chain.head, chain.head.seq, &chain.head, crate::audit_chain::Unlinked::default()))
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let tables = self.tables()?;
        let limit = usize::try_from(query.limit.clamp(1, 10_000)).unwrap_or(usize::MAX);
        let found: Vec<AuditEvent> = if query.newest_first {
            let before = query.after_id.unwrap_or(i64::MAX);
            let events = tables.audit.iter().rev().filter(|e| e.id < before && matches(e, query));
            events.take(limit).cloned().collect()
        } else {
            let after = query.after_id.unwrap_or(0);
            tables.audit.iter().filter(|e| e.id > after && matches(e, query)).take(limit).cloned().collect()
        };
        Ok(found)
    }

    async fn sign_in_counts(&self, since: UnixMillis) -> Result<Vec<HourlyCount>, StoreError> {
        let tables = self.tables()?;
        let mut counts: BTreeMap<(i64, String, Option<String>), i64> = BTreeMap::new();
        let sign_ins = tables
            .audit
            .iter()
            .filter(|e| e.at >= since && SIGN_IN_ACTIONS.iter().any(|prefix| e.action.starts_with(prefix)));
        for event in sign_ins {
            let app = (event.target_kind == "app").then(|| event.target_id.clone());
            *counts.entry((event.at / HOUR_MS, event.action.clone(), app)).or_default() += 1;
        }
        Ok(counts.into_iter().map(|((hour, action, app), count)| HourlyCount { hour, action, app, count }).collect())
    }

    async fn trace_events(&self, trace: &str) -> Result<Vec<AuditEvent>, StoreError> {
        let tables = self.tables()?;
        let marker = format!("\"trace\":\"{trace}\"");
        Ok(tables.audit.iter().filter(|e| e.summary.to_string().contains(&marker)).take(200).cloned().collect())
    }

    async fn keep_sign_in_token(&self, token: &KeptToken) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        tables.kept_tokens.retain(|_, kept| kept.expires_at >= token.created_at);
        tables.kept_tokens.entry(token.trace.clone()).or_insert_with(|| token.clone());
        Ok(())
    }

    async fn sign_in_token(&self, trace: &str, now: UnixMillis) -> Result<Option<KeptToken>, StoreError> {
        Ok(self.tables()?.kept_tokens.get(trace).filter(|kept| kept.expires_at >= now).cloned())
    }

    async fn app_sign_ins(&self, app: AppId, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let tables = self.tables()?;
        let app = app.to_string();
        let limit = usize::try_from(limit.clamp(1, 500)).unwrap_or(usize::MAX);
        let events = tables
            .audit
            .iter()
            .rev()
            .filter(|e| e.target_kind == "app" && e.target_id == app && e.actor.starts_with("user:"));
        Ok(events.take(limit).cloned().collect())
    }
}
