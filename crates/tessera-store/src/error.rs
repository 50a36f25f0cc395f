use tessera_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {key:?} not found")]
    NotFound { kind: &'static str, key: String },
    #[error("{message}")]
    Conflict { field: &'static str, message: String },
    #[error(transparent)]
    Invalid(#[from] CoreError),
    #[error("confirmation count {given} does not match the {expected} application(s) named")]
    ConfirmCount { expected: usize, given: usize },
    #[error(
        "the database schema is at version {database}, newer than this binary knows ({binary}); \
         run the Tessera release that wrote it, or a newer one"
    )]
    SchemaTooNew { database: i64, binary: i64 },
    #[error("{0}")]
    Config(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed or did not answer (in its driver's words; no driver type leaves the
    /// store).
    #[error("database error: {0}")]
    Database(String),
    /// A batched write (an audit record, a message ID) did not commit.
    #[error("database error: {0}")]
    WriteFailed(String),
}

impl StoreError {
    pub(crate) fn not_found(kind: &'static str, key: impl Into<String>) -> Self {
        StoreError::NotFound { kind, key: key.into() }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}
