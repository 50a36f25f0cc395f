//! The directory's storage: role traits, and their SQLite and PostgreSQL implementations.
//!
//! Both backends share one body of SQL, a file per role under `sql/`; only the migrations and the
//! connection set-up differ. No SQL leaves this crate. Under the `test-support` feature,
//! `memory` plays every role without a database, for unit tests.

mod audit_chain;
mod batch;
mod cache;
mod error;
pub mod maintenance;
#[cfg(feature = "test-support")]
pub mod memory;
pub mod migrations;
mod pg_notices;
mod postgres;
mod sql;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod test_support;
mod traits;

use std::path::Path;
use std::sync::Arc;

use tessera_core::Clock;

pub use audit_chain::{AuditKey, BreakKind, ChainBreak, ChainReport};
pub use error::StoreError;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use traits::{
    AdminPasskey, AdminSession, AdminSignInStore, AdminStore, Administration, Administrator, ApiToken, AppDetails,
    AppStore, AuditChain, AuditLog, AuditQuery, AuditStore, GrantStore, GroupStore, HourlyCount, ImportOutcome,
    KeptToken, KeySlot, KeyStore, Location, LockoutCounter, LockoutStore, MAX_FAMILIAR_IPS, MessageClaim, MfaStore,
    NewSigningKey, Page, PageRequest, ParkedRequest, ParkingStore, PasskeyCredential, PasskeyStore,
    PreviousCertificate, ReplayStore, SETTING_MASTER_KEY_CHECK, SETTING_PUBLIC_URL, Session, SessionStore,
    SettingsStore, SourceStore, SourceSyncStore, Store, StoredKey, TokenRecord, TokenRecorded, TotpCredential,
    UserStore,
};

/// The SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "tessera.db";

/// Opens the store a URL names (`postgres://…`), or the SQLite file in `data_dir`, and brings
/// its schema up to date. A database written by a newer Tessera is refused.
/// Every time the store records comes from `clock`.
pub async fn open(
    database_url: Option<&str>,
    data_dir: &Path,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Store>, StoreError> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PgStore::connect(url, clock).await?))
        }
        Some(url) if url.starts_with("sqlite:") => Ok(Arc::new(SqliteStore::connect_url(url, clock).await?)),
        Some(other) => Err(StoreError::Config(format!(
            "unsupported database URL {:?}: use postgres://… or leave it unset for SQLite in the data directory",
            redact_url(other)
        ))),
        None => Ok(Arc::new(SqliteStore::open_file(&data_dir.join(SQLITE_FILE), clock).await?)),
    }
}

/// A URL with any password replaced, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("postgres://h/db"), "postgres://h/db");
    }
}
