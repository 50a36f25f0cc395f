//! `tessera backup --to FILE`: a consistent copy of a running SQLite deployment, with its
//! manifest, in one file. Never the master key.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tessera_store::maintenance;

use super::archive::ArchiveWriter;
use crate::config::Settings;

pub const FORMAT: &str = "tessera-backup";
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_NAME: &str = "manifest.json";
const DATABASE_NAME: &str = "tessera.db";

/// What a backup says about itself: enough to refuse a wrong restore before reading the data.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The Tessera release that took it.
    pub tessera_version: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub backend: String,
    /// The newest migration the database had.
    pub schema_version: i64,
    /// The fingerprint of the master key the database's secrets are sealed with (never the
    /// key: keep `master.key` separately).
    pub master_key_fingerprint: String,
    pub database: DatabaseMember,
    /// Users, groups, applications and audit records in the copy.
    pub counts: BTreeMap<String, i64>,
}

impl Manifest {
    /// "3 users, 1 groups, …", for a line that says what a backup holds.
    pub fn counts_line(&self) -> String {
        self.counts.iter().map(|(name, count)| format!("{count} {name}")).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DatabaseMember {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A directory of the backup's own (mode 0700) beside its destination, for the database's
/// copy and the archive as it is written; removed whatever happens.
struct Scratch(PathBuf);

impl Scratch {
    fn create(to: &Path) -> anyhow::Result<Scratch> {
        let path = sibling(to, ".partial")?;
        std::fs::DirBuilder::new().mode(0o700).create(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{} exists (left by a backup that was stopped?): remove it, or choose another name",
                path.display()
            ),
            _ => anyhow::Error::from(e).context(format!("cannot create {}", path.display())),
        })?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn backup(settings: &Settings, to: &Path) -> anyhow::Result<()> {
    if maintenance::is_postgres_url(settings.database_url.as_deref()) {
        bail!("tessera backup copies a SQLite deployment; {}", super::POSTGRES_BACKUP);
    }
    if settings.database_url.is_some() {
        bail!("tessera backup copies the SQLite database in the data directory; unset --database-url");
    }
    let source = settings.data_dir.join(tessera_store::SQLITE_FILE);
    if !source.is_file() {
        bail!("there is no database at {} (is --data-dir right?)", source.display());
    }
    if std::fs::symlink_metadata(to).is_ok() {
        bail!("{} exists: a backup never replaces a file; choose another name", to.display());
    }
    let master = crate::master_key::load_or_create(&settings.data_dir, false)?;

    // Nothing another user could read, nothing left behind: the copy and the archive are
    // made in a directory of their own, and the archive is linked into place only when whole.
    let scratch = Scratch::create(to)?;
    let snapshot_path = scratch.0.join(DATABASE_NAME);
    let facts = maintenance::sqlite_snapshot(&source, &snapshot_path)
        .await
        .with_context(|| format!("cannot copy {}", source.display()))?;
    if facts.integrity != "ok" {
        bail!("the copy of {} fails its integrity check ({}); nothing was written", source.display(), facts.integrity);
    }
    let Some(check) = &facts.master_key_check else {
        bail!("{} was never set up with a master key: start `tessera serve` on it once first", source.display());
    };
    tessera_keys::Secrets::verify_master_key(check, master.bytes()).map_err(|_| {
        anyhow::anyhow!(
            "the master key in use (fingerprint {}) does not open {}: a backup under it could never be restored",
            master.fingerprint(),
            source.display()
        )
    })?;
    let Some(schema_version) = facts.schema_version else { bail!("{} has no schema", source.display()) };

    let (bytes, sha256) = digest_file(&snapshot_path)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        tessera_version: env!("CARGO_PKG_VERSION").into(),
        created_at: time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?,
        backend: "sqlite".into(),
        schema_version,
        master_key_fingerprint: master.fingerprint(),
        database: DatabaseMember { file: DATABASE_NAME.into(), bytes, sha256 },
        counts: facts.counts.iter().map(|(name, count)| (name.to_string(), *count)).collect(),
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)?;

    let partial_path = scratch.0.join("backup");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial_path)
        .with_context(|| format!("cannot create {}", partial_path.display()))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let mut archive = ArchiveWriter::new(std::io::BufWriter::new(file));
    archive.member(MANIFEST_NAME, manifest_json.len() as u64, now, &mut &manifest_json[..])?;
    archive.member(DATABASE_NAME, bytes, now, &mut File::open(&snapshot_path)?)?;
    let file = archive.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all().with_context(|| format!("cannot write {}", partial_path.display()))?;
    drop(file);
    // A link, not a rename: it fails, rather than replace, if a file appeared at `to` meanwhile.
    std::fs::hard_link(&partial_path, to).with_context(|| format!("cannot create {}", to.display()))?;
    sync_parent(to);
    drop(scratch);

    eprintln!(
        "WARNING: the backup does not hold the master key, and without it the signing keys and \
         second factors in it can never be read.\n\
         Keep master.key (fingerprint {}) safe, apart from the backup: `tessera restore` needs it.",
        manifest.master_key_fingerprint
    );
    if settings.json {
        crate::output::json(&manifest)?;
    } else {
        println!(
            "backed up {} to {} ({} bytes; schema version {}; {})",
            source.display(),
            to.display(),
            bytes,
            schema_version,
            manifest.counts_line()
        );
    }
    Ok(())
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let name = path.file_name().with_context(|| format!("{} names no file", path.display()))?;
    let mut name = name.to_os_string();
    name.push(suffix);
    Ok(path.with_file_name(name))
}

/// Its length and SHA-256 (hex).
pub fn digest_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((bytes, tessera_core::lower_hex(&hasher.finalize())))
}

/// A rename is durable only once its directory is synced.
pub fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    } else if let Ok(dir) = File::open(".") {
        let _ = dir.sync_all();
    }
}

/// A writer that hashes what passes through it.
pub struct HashingWriter<W: Write> {
    pub inner: W,
    pub hasher: sha2::Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
