//! The admin service: every administrative use case (applications, their settings, policy,
//! grants and keys; users, groups, API tokens; the audit trail) as one function each, which
//! validates, writes through the store (each change with its audit record, in the change's own
//! transaction) and returns what changed. The CLI, the REST API and the admin portal parse,
//! call these, and render; none of them holds a rule of its own.

mod admins;
mod apps;
mod audit;
pub mod branding;
pub mod dashboard;
mod directories;
mod directory_sync;
pub mod doctor;
mod groups;
mod m365;
mod m365_users;
pub mod metadata_url;
pub mod portal_image;
pub mod rollover;
mod tokens;
pub mod tracing;
mod users;

use std::sync::Arc;

use async_trait::async_trait;
use tessera_auth::AuthError;
use tessera_core::CoreError;
use tessera_keys::{KeyError, KeyService};
use tessera_protocols::ProtocolError;
use tessera_store::{Administration, StoreError};

pub use admins::RoleRequest;
pub use apps::{
    AppSpec, DetailsChange, ImageChange, KeyOptions, Metadata, MetadataProtocol, NewApp, PolicyChange, SpFields,
    entra_certificate,
};
pub use audit::AuditRequest;
pub use directories::SourceRequest;
pub use directory_sync::{SyncOptions, SyncReport};
pub use m365::{CredentialInput, EnableRequest, StoredCredentials};
pub use m365_users::{CopyOutcome, FixOutcome, Outcome};
pub use users::{ImportReport, NewUserRequest, UserAccess};

/// Where the admin service gets the key service: ready (the server), or opened on first use
/// (a management command, so that only commands that make or use keys need the master key).
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn key_service(&self) -> Result<&KeyService, AdminError>;
}

#[async_trait]
impl KeySource for KeyService {
    async fn key_service(&self) -> Result<&KeyService, AdminError> {
        Ok(self)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input breaks a rule; `field` names the input at fault.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// What the request names is not there (beyond a lookup the store refuses itself).
    #[error("{0}")]
    Missing(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(KeyError),
    #[error(transparent)]
    Auth(AuthError),
    /// The key service could not be opened (a missing or wrong master key).
    #[error("{0}")]
    KeysUnavailable(String),
    /// Microsoft Graph or Entra refused, or a check before a Graph write failed.
    #[error(transparent)]
    M365(#[from] tessera_m365::M365Error),
    /// A directory source could not be reached, refused, or its CA file is unusable.
    #[error(transparent)]
    Directory(#[from] tessera_directory::DirectoryError),
}

impl AdminError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AdminError::Invalid { field: field.to_string(), message: message.into() }
    }

    /// The store's own "no such user / group / application", which front-ends may explain.
    pub fn not_found_kind(&self) -> Option<&'static str> {
        match self {
            AdminError::Store(StoreError::NotFound { kind, .. }) => Some(kind),
            _ => None,
        }
    }
}

impl From<CoreError> for AdminError {
    fn from(e: CoreError) -> Self {
        AdminError::Invalid { field: e.field().to_string(), message: e.to_string() }
    }
}

impl From<KeyError> for AdminError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(store) => AdminError::Store(store),
            KeyError::Invalid(message) => AdminError::invalid("key", message),
            other => AdminError::Key(other),
        }
    }
}

impl From<AuthError> for AdminError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::PasswordLength { .. } | AuthError::PasswordControl => {
                AdminError::invalid("password", e.to_string())
            }
            AuthError::Store(store) => AdminError::Store(store),
            other => AdminError::Auth(other),
        }
    }
}

fn invalid_protocol(field: &str) -> impl Fn(ProtocolError) -> AdminError + '_ {
    move |e| AdminError::invalid(field, e.to_string())
}

/// The admin service over a store. Cheap to clone.
#[derive(Clone)]
pub struct AdminService {
    store: Arc<dyn Administration>,
    keys: Arc<dyn KeySource>,
    /// The base of every URL an application publishes.
    public_url: String,
    /// How SP metadata is fetched from a URL.
    metadata_fetch: Arc<metadata_url::MetadataFetch>,
    /// Where Graph is, for what `serve` does with the stored Graph credentials (the automatic
    /// rollover, the portal's Federation tab).
    graph_endpoints: tessera_m365::graph::Endpoints,
    clock: Arc<dyn tessera_core::Clock>,
}

impl AdminService {
    pub fn new(
        store: Arc<dyn Administration>,
        keys: Arc<dyn KeySource>,
        public_url: &str,
        clock: Arc<dyn tessera_core::Clock>,
    ) -> Result<Self, AdminError> {
        Ok(AdminService {
            store,
            keys,
            public_url: tessera_core::validate::public_url(public_url)?,
            metadata_fetch: Arc::default(),
            graph_endpoints: Default::default(),
            clock,
        })
    }

    fn clock_now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Fetches SP metadata by these rules (the default: no internal host, the system's roots).
    pub fn with_metadata_fetch(mut self, fetch: metadata_url::MetadataFetch) -> Self {
        self.metadata_fetch = Arc::new(fetch);
        self
    }

    /// Reaches Graph at `endpoints` (national clouds, tests) with the stored credentials.
    pub fn with_graph_endpoints(mut self, endpoints: tessera_m365::graph::Endpoints) -> Self {
        self.graph_endpoints = endpoints;
        self
    }

    /// A Graph session from the stored credentials, or `None` when none are stored.
    pub async fn m365_graph(&self) -> Result<Option<tessera_m365::graph::Graph>, AdminError> {
        let endpoints = self.graph_endpoints.clone();
        self.m365_stored_graph(&endpoints).await
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }
}

/// argon2id off the async workers: a hash takes tens of milliseconds of CPU.
async fn hash_password(password: String) -> Result<String, AdminError> {
    tokio::task::spawn_blocking(move || tessera_auth::password::hash_password(&password))
        .await
        .map_err(|e| AdminError::Auth(AuthError::Hashing(e.to_string())))?
        .map_err(AdminError::from)
}
