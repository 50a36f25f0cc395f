//! The master key encrypts private keys at rest. It lives outside the database: `master.key`
//! (mode 0600) in the data directory, or `TESSERA_MASTER_KEY` (base64 of 32 bytes).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;

pub const FILE_NAME: &str = "master.key";
pub const ENV: &str = "TESSERA_MASTER_KEY";

pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short, non-secret fingerprint: nodes sharing one PostgreSQL must log the same one.
    pub fn fingerprint(&self) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(self.0);
        tessera_auth::secret::sha256_hex(&format!("tessera-master-key-fingerprint:{encoded}"))[..16].to_string()
    }
}

fn decode(text: &str, source: &str) -> anyhow::Result<MasterKey> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .with_context(|| format!("{source} is not base64"))?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| anyhow::anyhow!("{source} must hold 32 bytes"))?;
    Ok(MasterKey(key))
}

/// Loads the master key. Only a database that never had one may get a new one: a missing key
/// for a database that has a master-key check value is an error, never a silent new key.
pub fn load_or_create(data_dir: &Path, may_create: bool) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var(ENV) {
        return decode(&text, ENV);
    }
    let path = data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "master.key is readable by others; chmod 600 it");
            }
            decode(&text, &path.display().to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => create(&path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} is missing but the database was set up with a master key; restore master.key from backup \
             or set {ENV} (a new key would make the stored signing keys unreadable)",
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn create(path: &Path) -> anyhow::Result<MasterKey> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("random source failed: {e}"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{}", base64::engine::general_purpose::STANDARD.encode(key))?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "created the master key; back it up with the database");
    Ok(MasterKey(key))
}

/// The key service over `store`, with the master key checked against the database (and the
/// store's audit trail chained under it).
pub async fn key_service(
    data_dir: &Path,
    store: std::sync::Arc<dyn tessera_store::Store>,
    clock: std::sync::Arc<dyn tessera_core::Clock>,
) -> anyhow::Result<tessera_keys::KeyService> {
    let may_create = !tessera_keys::Secrets::database_has_master_key(store.as_ref()).await?;
    let master = load_or_create(data_dir, may_create)?;
    tracing::info!(fingerprint = %master.fingerprint(), "master key loaded");
    Ok(tessera_keys::KeyService::open(store, master.bytes(), clock).await?)
}
