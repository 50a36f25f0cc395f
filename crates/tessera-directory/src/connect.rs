//! Reaching a source: its servers in turn, each over TLS (ldaps:// or StartTLS) checked against
//! the source's CA or the system's roots, then a simple bind.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tessera_core::sources::{ServerUrl, SourceConfig, Transport};

use crate::DirectoryError;

/// How long Tessera waits on a directory: a server that does not answer must not hold a sync
/// or a sign-in for long.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP, TLS and StartTLS.
    pub connect: Duration,
    /// Each operation (a bind, each entry of a search).
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(5), operation: Duration::from_secs(15) }
    }
}

/// A connection bound as the source's service account (or a user).
pub struct Bound {
    pub ldap: Ldap,
    /// The server that answered.
    pub url: String,
}

/// The system's CA certificates, read from disk once per process.
fn system_roots() -> Result<&'static rustls::RootCertStore, DirectoryError> {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    });
    match roots.is_empty() {
        true => Err(DirectoryError::CaFile(
            "the system has no CA certificates: give the directory's CA with --ca-file".into(),
        )),
        false => Ok(roots),
    }
}

/// The TLS settings of a source: its own CA when it has one (a private AD CS, Samba's), else the
/// system's roots.
pub(crate) fn tls_config(ca_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>, DirectoryError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let certificate = certificate.map_err(|e| DirectoryError::CaFile(format!("not PEM: {e}")))?;
                roots
                    .add(certificate)
                    .map_err(|e| DirectoryError::CaFile(format!("not a usable CA certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(DirectoryError::CaFile("holds no certificate".into()));
            }
        }
        None => roots = system_roots()?.clone(),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::CaFile(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects to one server and binds as `dn`.
pub(crate) async fn bind_to(
    server: &ServerUrl,
    tls: &Arc<rustls::ClientConfig>,
    dn: &str,
    password: &str,
    timeouts: Timeouts,
) -> Result<Bound, DirectoryError> {
    // An empty password is an unauthenticated bind (RFC 4513 §5.1.2), which servers let pass.
    if password.is_empty() {
        return Err(DirectoryError::InvalidCredentials {
            dn: dn.to_string(),
            detail: ": the password is empty".into(),
        });
    }
    let mut settings = LdapConnSettings::new().set_conn_timeout(timeouts.connect);
    if server.transport != Transport::Plaintext {
        settings = settings.set_config(tls.clone());
    }
    if server.transport == Transport::StartTls {
        settings = settings.set_starttls(true);
    }
    let unreachable =
        |e: ldap3::LdapError| DirectoryError::ServerDown { url: server.url.clone(), reason: e.to_string() };
    let (connection, mut ldap) = LdapConnAsync::with_settings(settings, &server.url).await.map_err(unreachable)?;
    ldap3::drive!(connection);
    let answer = ldap.with_timeout(timeouts.operation).simple_bind(dn, password).await.map_err(unreachable)?;
    match answer.rc {
        0 => Ok(Bound { ldap, url: server.url.clone() }),
        49 => {
            let detail = if answer.text.is_empty() { String::new() } else { format!(" ({})", answer.text) };
            Err(DirectoryError::InvalidCredentials { dn: dn.to_string(), detail })
        }
        rc => Err(DirectoryError::Refused { operation: "the bind", message: format!("result {rc}: {}", answer.text) }),
    }
}

/// Binds as `dn` on the first of the source's servers that answers. A refusal of the
/// credentials is final (every server holds the same directory); a server that cannot be
/// reached gives way to the next.
pub async fn connect_and_bind(
    config: &SourceConfig,
    dn: &str,
    password: &str,
    timeouts: Timeouts,
) -> Result<Bound, DirectoryError> {
    bind_first(config, &tls_config(config.ca_pem.as_deref())?, dn, password, timeouts).await
}

/// [`connect_and_bind`] with the source's TLS settings made already.
pub(crate) async fn bind_first(
    config: &SourceConfig,
    tls: &Arc<rustls::ClientConfig>,
    dn: &str,
    password: &str,
    timeouts: Timeouts,
) -> Result<Bound, DirectoryError> {
    let mut reasons = Vec::new();
    for server in config.servers()? {
        match bind_to(&server, tls, dn, password, timeouts).await {
            Err(down @ DirectoryError::ServerDown { .. }) => {
                tracing::warn!(server = %server.url, reason = %down, "directory server unreachable");
                reasons.push(down.to_string());
            }
            other => return other,
        }
    }
    Err(DirectoryError::Unreachable(reasons.join("; ")))
}

/// What the service account's search found, and where: the server that answered (the next
/// operation on these entries goes there) and the TLS set-up that reached it.
pub(crate) struct Found {
    pub entries: Vec<SearchEntry>,
    pub url: String,
    pub tls: Arc<rustls::ClientConfig>,
}

/// A subtree search under `base` as the source's service account, on the first server that
/// binds; `operation` names it in a refusal.
pub(crate) async fn search_as_service(
    config: &SourceConfig,
    service_password: &str,
    base: &str,
    filter: &str,
    attributes: Vec<&str>,
    operation: &'static str,
    timeouts: Timeouts,
) -> Result<Found, DirectoryError> {
    let tls = tls_config(config.ca_pem.as_deref())?;
    let mut bound = bind_first(config, &tls, &config.bind_dn, service_password, timeouts).await?;
    let refused = |e: ldap3::LdapError| DirectoryError::Refused { operation, message: e.to_string() };
    let found = bound
        .ldap
        .with_timeout(timeouts.operation)
        .search(base, Scope::Subtree, filter, attributes)
        .await
        .map_err(refused)?;
    let _ = bound.ldap.unbind().await;
    let (entries, _) = found.success().map_err(refused)?;
    Ok(Found { entries: entries.into_iter().map(SearchEntry::construct).collect(), url: bound.url, tls })
}

/// Whether `ca_pem` (or, without one, the system's roots) gives a usable trust store.
pub fn check_ca(ca_pem: Option<&str>) -> Result<(), DirectoryError> {
    tls_config(ca_pem).map(|_| ())
}
