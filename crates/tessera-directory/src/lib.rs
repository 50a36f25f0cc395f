//! LDAP and Active Directory sources: connection (servers tried in turn, TLS verified against
//! the system's roots or the source's own CA), binds, and the checks `directory test` makes.
//! The sync plan and pass-through sign-in build on these.

mod computers;
mod connect;
mod incremental;
mod kerberos_check;
mod pass_through;
mod password_change;
mod plan;
mod plan_groups;
mod probe;
mod ranged;
mod read;
mod service_principal;

pub use computers::find_computer;
pub use connect::{Bound, Timeouts, check_ca, connect_and_bind};
pub use incremental::{Cursor, Read, read_users_since};
pub use kerberos_check::{KerberosCheck, KeytabEntry, check_kerberos, read_keytab};
pub use pass_through::{Account, UserBind, check_user_password, find_account, password_expires_at, realm_of};
pub use password_change::{PasswordChange, change_user_password};
pub use plan::{MASS_SUSPEND_SHARE, MassSuspend, PlanOptions, SyncPlan, plan};
pub use plan_groups::plan_groups;
pub use probe::{Probe, ServerCheck, probe};
pub use read::{DirectoryGroup, DirectoryUser, Progress, SyncStep, read_groups, read_users};
pub use service_principal::{Registration, register_service_principal};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Invalid(#[from] tessera_core::CoreError),
    /// One server could not be reached (refused, timed out, its certificate not trusted).
    #[error("cannot reach {url}: {reason}")]
    ServerDown { url: String, reason: String },
    /// No server of the source could be reached; each one's reason, in order.
    #[error("no server of the source answered: {0}")]
    Unreachable(String),
    /// The server refused the name and password (LDAP result 49).
    #[error("the directory refused the credentials of {dn}{detail}")]
    InvalidCredentials { dn: String, detail: String },
    /// Any other refusal, in the server's words.
    #[error("the directory refused {operation}: {message}")]
    Refused { operation: &'static str, message: String },
    #[error("the CA certificate file: {0}")]
    CaFile(String),
    #[error(transparent)]
    MassSuspend(#[from] MassSuspend),
}
