//! The audit trail's chain. Every record carries its place in the chain (`chain_seq`, 1, 2, …)
//! and a MAC (HMAC-SHA-256 under a key derived from the master key) over its own fields and the
//! MAC of the record before it. Editing, deleting, reordering or adding a record therefore
//! breaks a link that [`ChainWalk`] finds, even for someone who holds the database role but not
//! the master key; the append-only triggers stay as the first line.
//!
//! One chain per database: its head (the last `chain_seq` and MAC) is a row that every audit
//! write locks, so nodes sharing a PostgreSQL take turns, and the ids of a chain's records rise
//! with their place in it.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// The key the chain's MACs are made with. It is derived from the master key and never stored.
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl AuditKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        AuditKey(bytes)
    }

    /// A fixed key for test stores.
    #[cfg(feature = "test-support")]
    pub fn for_tests() -> Self {
        AuditKey(*b"tessera-test-audit-chain-key-32b")
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

/// What a store holds until the binary hands it the key: audit writes are refused before then,
/// so that nothing is appended that the chain cannot vouch for.
#[derive(Clone, Default)]
pub(crate) struct AuditKeySlot(std::sync::Arc<std::sync::OnceLock<AuditKey>>);

pub(crate) const KEY_NOT_LOADED: &str =
    "the audit trail's key is not loaded (it comes from the master key); nothing can be audited";

impl AuditKeySlot {
    /// Sets the key once; the same key again is fine, another one is refused.
    pub(crate) fn set(&self, key: AuditKey) -> Result<(), crate::StoreError> {
        match self.0.set(key) {
            Ok(()) => Ok(()),
            Err(key) if self.0.get().is_some_and(|held| held.0 == key.0) => Ok(()),
            Err(_) => Err(crate::StoreError::Config("the audit trail already has another key".into())),
        }
    }

    pub(crate) fn get(&self) -> Result<&AuditKey, crate::StoreError> {
        self.0.get().ok_or_else(|| crate::StoreError::Config(KEY_NOT_LOADED.into()))
    }
}

/// A record's fields as stored, which its MAC covers.
pub(crate) struct LinkFields<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: &'a str,
    pub summary: &'a str,
}

impl<'a> LinkFields<'a> {
    /// The fields of a new record, whose summary is `summary` as it will be stored.
    pub(crate) fn of(at: i64, actor: &'a str, event: &'a tessera_core::NewAuditEvent, summary: &'a str) -> Self {
        LinkFields {
            at,
            actor,
            action: event.action.as_str(),
            target_kind: event.target_kind,
            target_id: &event.target_id,
            summary,
        }
    }
}

/// The MAC of the record at `seq` after the one whose MAC is `previous` (empty for the first).
/// Every field goes in with its length first, so no two records' fields run together alike.
fn link_mac(key: &AuditKey, seq: i64, previous: &str, fields: &LinkFields<'_>) -> String {
    // A key shorter than SHA-256's block is zero-padded to it (RFC 2104): the same MAC, and no
    // fallible constructor.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(&key.0);
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
    mac.update(b"tessera-audit-chain-v1");
    let at = fields.at.to_string();
    let seq = seq.to_string();
    for part in [
        seq.as_str(),
        previous,
        at.as_str(),
        fields.actor,
        fields.action,
        fields.target_kind,
        fields.target_id,
        fields.summary,
    ] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    tessera_core::lower_hex(&mac.finalize().into_bytes())
}

/// Where the next record joins the chain: the last record's place and MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainHead {
    pub seq: i64,
    pub mac: String,
}

impl ChainHead {
    /// The head of a chain with no records yet (the databases' is a row their migration makes).
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn empty() -> Self {
        ChainHead { seq: 0, mac: String::new() }
    }

    /// Appends a record: its place and MAC, and the head moves on to it.
    pub(crate) fn link(&mut self, key: &AuditKey, fields: &LinkFields<'_>) -> (i64, String) {
        let seq = self.seq + 1;
        let mac = link_mac(key, seq, &self.mac, fields);
        *self = ChainHead { seq, mac: mac.clone() };
        (seq, mac)
    }
}

/// A stored record as the walk reads it.
#[derive(Debug, Clone)]
pub(crate) struct ChainedRecord {
    pub id: i64,
    pub seq: i64,
    pub mac: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub summary: String,
}

/// What `tessera audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Records whose link was checked.
    pub checked: u64,
    /// The first and last place checked.
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Records written before the chain began (by a Tessera without it): they cannot be checked.
    pub before_chain: u64,
    /// Records without a link written after the chain began by nodes of the release before it,
    /// while a rolling upgrade was open: they cannot be checked either.
    pub during_upgrade: u64,
    /// Whether the database still lets records without a link in: an upgrade not finished
    /// with `tessera migrate finish`.
    pub upgrade_open: bool,
    /// The chain's head when the walk began.
    pub head_seq: i64,
    pub head_mac: String,
    /// The first broken link, if any.
    pub broken: Option<ChainBreak>,
}

impl ChainReport {
    pub fn intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// The records without a link that are not breaks: from before the chain, and from nodes of
/// the release before it during a rolling upgrade.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Unlinked {
    pub before_chain: u64,
    pub during_upgrade: u64,
    pub upgrade_open: bool,
}

/// Where the chain breaks, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The place in the chain where a record was expected or found.
    pub seq: i64,
    /// The record found there, if any.
    pub id: Option<i64>,
    pub at: Option<i64>,
    pub problem: BreakKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The record's MAC does not match its fields and the record before it.
    Altered,
    /// The record for this place is missing (deleted).
    Missing,
    /// The record's id is not after the one before it (records reordered).
    OutOfOrder,
    /// A record without a place in the chain was written after the chain began.
    OutsideChain,
    /// The chain ends before its head: records were deleted from its end.
    Truncated,
    /// The head does not match the last record.
    HeadMismatch,
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BreakKind::Altered => {
                "its MAC does not match: the record or the one before it was changed, or it was written without the master key"
            }
            BreakKind::Missing => "the record is missing: it was deleted",
            BreakKind::OutOfOrder => "its id is not after the record before it: records were reordered",
            BreakKind::OutsideChain => "a record without a link was written after the chain began",
            BreakKind::Truncated => "the chain ends before its head: records were deleted from its end",
            BreakKind::HeadMismatch => "the chain's head does not match its last record",
        })
    }
}

/// Checks records one by one, in chain order, and keeps the first break.
pub(crate) struct ChainWalk<'a> {
    key: &'a AuditKey,
    previous_mac: String,
    next_seq: i64,
    last_id: Option<i64>,
    checked: u64,
    first_seq: Option<i64>,
    broken: Option<ChainBreak>,
}

impl<'a> ChainWalk<'a> {
    /// A walk that expects the record at `seq` next, after one whose MAC was `previous_mac`.
    pub(crate) fn from(key: &'a AuditKey, seq: i64, previous_mac: String) -> Self {
        ChainWalk { key, previous_mac, next_seq: seq, last_id: None, checked: 0, first_seq: None, broken: None }
    }

    pub(crate) fn broken(&self) -> bool {
        self.broken.is_some()
    }

    pub(crate) fn step(&mut self, record: &ChainedRecord) {
        if self.broken.is_some() {
            return;
        }
        let found = |problem| ChainBreak { seq: record.seq, id: Some(record.id), at: Some(record.at), problem };
        if record.seq != self.next_seq {
            self.broken = Some(ChainBreak { seq: self.next_seq, id: None, at: None, problem: BreakKind::Missing });
            return;
        }
        if self.last_id.is_some_and(|last| record.id <= last) {
            self.broken = Some(found(BreakKind::OutOfOrder));
            return;
        }
        let fields = LinkFields {
            at: record.at,
            actor: &record.actor,
            action: &record.action,
            target_kind: &record.target_kind,
            target_id: &record.target_id,
            summary: &record.summary,
        };
        let expected = link_mac(self.key, record.seq, &self.previous_mac, &fields);
        if !constant_time_eq(expected.as_bytes(), record.mac.as_bytes()) {
            self.broken = Some(found(BreakKind::Altered));
            return;
        }
        self.first_seq.get_or_insert(record.seq);
        self.previous_mac = expected;
        self.next_seq += 1;
        self.last_id = Some(record.id);
        self.checked += 1;
    }

    /// A record without a link, found after the chain began.
    pub(crate) fn outside(&mut self, id: i64, at: i64) {
        if self.broken.is_none() {
            self.broken =
                Some(ChainBreak { seq: self.next_seq, id: Some(id), at: Some(at), problem: BreakKind::OutsideChain });
        }
    }

    /// Ends the walk against the head read before it began (`head`) and the highest place
    /// stored and the head read after it (a record appended meanwhile moves both).
    pub(crate) fn finish(
        mut self,
        head: &ChainHead,
        highest_after: i64,
        head_after: &ChainHead,
        unlinked: Unlinked,
    ) -> ChainReport {
        if self.broken.is_none() {
            let last = self.next_seq - 1;
            if last < head.seq {
                self.broken = Some(ChainBreak { seq: last + 1, id: None, at: None, problem: BreakKind::Truncated });
            } else if (last == head.seq && head.seq > 0 && head.mac != self.previous_mac)
                || highest_after > head_after.seq
            {
                self.broken = Some(ChainBreak { seq: head.seq, id: None, at: None, problem: BreakKind::HeadMismatch });
            }
        }
        ChainReport {
            checked: self.checked,
            first_seq: self.first_seq,
            last_seq: self.first_seq.map(|_| self.next_seq - 1),
            before_chain: unlinked.before_chain,
            during_upgrade: unlinked.during_upgrade,
            upgrade_open: unlinked.upgrade_open,
            head_seq: head.seq,
            head_mac: head.mac.clone(),
            broken: self.broken,
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(head: &mut ChainHead, key: &AuditKey, id: i64, summary: &str) -> ChainedRecord {
        let fields = LinkFields {
            at: 1000 + id,
            actor: "cli:root",
            action: "user.create",
            target_kind: "user",
            target_id: "u",
            summary,
        };
        let (seq, mac) = head.link(key, &fields);
        ChainedRecord {
            id,
            seq,
            mac,
            at: fields.at,
            actor: fields.actor.into(),
            action: fields.action.into(),
            target_kind: fields.target_kind.into(),
            target_id: fields.target_id.into(),
            summary: summary.into(),
        }
    }

    fn chain(key: &AuditKey, n: i64) -> (Vec<ChainedRecord>, ChainHead) {
        let mut head = ChainHead::empty();
        let records = (1..=n).map(|id| record(&mut head, key, id, &format!("{{\"n\":{id}}}"))).collect();
        (records, head)
    }

    fn walk(key: &AuditKey, records: &[ChainedRecord], head: &ChainHead) -> ChainReport {
        let mut walk = ChainWalk::from(key, 1, String::new());
        for r in records {
            walk.step(r);
        }
        walk.finish(head, records.iter().map(|r| r.seq).max().unwrap_or(0), head, Unlinked::default())
    }

    #[test]
    fn an_untouched_chain_is_intact() {
        let key = AuditKey::new([7; 32]);
        let (records, head) = chain(&key, 5);
        let report = walk(&key, &records, &head);
        assert!(report.intact(), "{report:?}");
        assert_eq!((report.checked, report.first_seq, report.last_seq), (5, Some(1), Some(5)));
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_broken_link() {
        let key = AuditKey::new([7; 32]);
        let (records, head) = chain(&key, 5);
        let problem =
            |records: &[ChainedRecord], head: &ChainHead| walk(&key, records, head).broken.map(|b| (b.seq, b.problem));

        let mut edited = records.clone();
        edited[2].summary = "{\"n\":99}".into();
        assert_eq!(problem(&edited, &head), Some((3, BreakKind::Altered)));

        let mut deleted = records.clone();
        deleted.remove(1);
        assert_eq!(problem(&deleted, &head), Some((2, BreakKind::Missing)));

        let mut reordered = records.clone();
        (reordered[1].id, reordered[2].id) = (reordered[2].id, reordered[1].id);
        assert_eq!(problem(&reordered, &head), Some((3, BreakKind::OutOfOrder)));

        let mut cut = records.clone();
        cut.pop();
        assert_eq!(problem(&cut, &head), Some((5, BreakKind::Truncated)));

        // A record forged with another key, in the right place.
        let mut forged = records.clone();
        let mut other_head = ChainHead { seq: 3, mac: records[2].mac.clone() };
        forged[3] = record(&mut other_head, &AuditKey::new([8; 32]), 4, "{\"n\":4}");
        assert_eq!(problem(&forged, &head), Some((4, BreakKind::Altered)));

        // Fields that run together alike still differ.
        let mut shifted = records.clone();
        shifted[0].actor = "cli:rootuser.create".into();
        shifted[0].action = String::new();
        assert_eq!(problem(&shifted, &head), Some((1, BreakKind::Altered)));

        let rewound = ChainHead { seq: 4, mac: records[3].mac.clone() };
        let report = walk(&key, &records[..4], &rewound);
        assert!(report.intact(), "a head rewound with the records it covers cannot be told from a shorter chain");
        let mut walk_all = ChainWalk::from(&key, 1, String::new());
        for r in &records[..4] {
            walk_all.step(r);
        }
        let report = walk_all.finish(&rewound, 5, &rewound, Unlinked::default());
        assert_eq!(report.broken.map(|b| b.problem), Some(BreakKind::HeadMismatch), "a record beyond the head is seen");
    }

    #[test]
    fn the_key_slot_refuses_writes_until_set_and_another_key_after() {
        let slot = AuditKeySlot::default();
        assert!(slot.get().is_err());
        slot.set(AuditKey::new([1; 32])).unwrap();
        slot.set(AuditKey::new([1; 32])).unwrap();
        assert!(slot.set(AuditKey::new([2; 32])).is_err());
        assert!(slot.get().is_ok());
    }
}
