//! Native TLS for `serve --tls-cert FILE --tls-key FILE`: rustls on aws-lc-rs, TLS 1.3 and
//! 1.2 with rustls's suites (ECDHE with AES-GCM or ChaCha20-Poly1305 only: no CBC, no RSA key
//! exchange, no renegotiation), HTTP/2 and HTTP/1.1 by ALPN. SIGHUP reloads both files; a
//! reload that fails keeps the pair in use and says why.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate chain and key files, as given on the command line.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads, parses and pairs both files into a server configuration.
    pub fn load(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let chain = read_chain(&self.cert)?;
        let key = read_key(&self.key)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("the TLS protocol versions cannot be set")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => anyhow::anyhow!(
                    "the key in {} does not match the certificate in {}",
                    self.key.display(),
                    self.cert.display()
                ),
                other => anyhow::anyhow!(
                    "the TLS certificate {} and key {} cannot be used: {other}",
                    self.cert.display(),
                    self.key.display()
                ),
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Reloads both files into `config` on every SIGHUP. Connections already open keep the
    /// certificate they were made with; new ones get the new pair.
    pub fn reload_on_sighup(self, config: RustlsConfig) -> anyhow::Result<()> {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot listen for SIGHUP")?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match self.load() {
                    Ok(new) => {
                        config.reload_from_config(new);
                        tracing::info!(cert = %self.cert.display(), "SIGHUP: reloaded the TLS certificate and key");
                    }
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "SIGHUP: the TLS certificate and key were not reloaded; the ones in use stay"
                    ),
                }
            }
        });
        Ok(())
    }
}

fn read_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the TLS {what} {}", path.display()))
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read_file(path, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{} is not a PEM certificate chain: {e}", path.display()))?;
    if chain.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(chain)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = read_file(path, "key")?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| anyhow::anyhow!("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}", path.display()))
}
