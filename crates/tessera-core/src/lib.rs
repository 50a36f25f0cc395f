//! Tessera's domain: the directory (users, groups, applications, grants), the authorization
//! rule, and the validation every front-end (CLI, REST, admin portal) shares.
//!
//! Nothing here does I/O; the store and the web crate call into it.

pub mod access;
pub mod app;
pub mod audit;
pub mod audit_summary;
pub mod branding;
mod clock;
pub mod computers;
pub mod directory;
mod error;
pub mod ids;
pub mod import;
pub mod policy;
pub mod roles;
pub mod sources;
pub mod sync;
pub mod tracing;
pub mod validate;

pub use access::{AccessDecision, DenyReason, evaluate_access};
pub use app::{
    AcsEndpoint, AppKind, Application, AttributeMapping, Endpoints, M365Config, NameIdSource, NewApplication,
    SamlBinding, SamlSpConfig, SettingsChange, SigningCertificates, SloEndpoint, UserAttribute, WsFedRpConfig,
};
pub use audit::{Actor, AuditAction, AuditEvent, NewAuditEvent, SignInOutcome};
pub use audit_summary::{AuditSummary, SummaryWriter};
pub use clock::{Clock, ManualClock, SystemClock};
pub use directory::{Group, NewGroup, NewUser, User, UserState};
pub use error::CoreError;
pub use ids::{AppId, GroupId, SourceId, UserId};
pub use roles::{Access, AdminRole, Area, Authority, Object, Refusal};
pub use sources::{DirectoryKind, DirectorySource, NewDirectorySource, PasswordCheck, SourceAttributes, SourceConfig};

/// Milliseconds since the Unix epoch, the one time unit the store persists.
pub type UnixMillis = i64;

/// Formats a store timestamp as RFC 3339 for people and JSON.
pub fn format_millis(millis: UnixMillis) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| millis.to_string())
}

/// Bytes as lowercase hexadecimal, two digits a byte (digests, MACs, fingerprints).
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Parses an RFC 3339 timestamp into store milliseconds.
pub fn parse_rfc3339_millis(text: &str) -> Result<UnixMillis, CoreError> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| CoreError::invalid("time", format!("{text:?} is not an RFC 3339 timestamp")))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}
