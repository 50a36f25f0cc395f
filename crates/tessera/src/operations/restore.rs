//! `tessera restore --from FILE`: a backup into an empty data directory, refused whole (and
//! nothing changed) when its schema is newer than this binary, its master key is not the one in
//! use, or the file is damaged.

use std::fs::OpenOptions;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use sha2::Digest;
use tessera_store::maintenance;

use super::archive::ArchiveReader;
use super::backup::{FORMAT, FORMAT_VERSION, HashingWriter, MANIFEST_NAME, Manifest, sync_parent};
use crate::config::Settings;
use crate::master_key;

/// A manifest is a few hundred bytes; anything this large is not one.
const MANIFEST_LIMIT: u64 = 64 * 1024;

pub async fn restore(settings: &Settings, from: &Path) -> anyhow::Result<()> {
    if maintenance::is_postgres_url(settings.database_url.as_deref()) {
        bail!("tessera restore writes a SQLite deployment; {}", super::POSTGRES_BACKUP);
    }
    if settings.database_url.is_some() {
        bail!("tessera restore writes the SQLite database of the data directory; unset --database-url");
    }
    let dir = &settings.data_dir;
    let existed = dir.exists();
    if existed {
        let others: Vec<String> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name != master_key::FILE_NAME)
            .collect();
        if !others.is_empty() {
            bail!(
                "{} is not empty (it holds {}): restore into an empty data directory (master.key may be there)",
                dir.display(),
                others.join(", ")
            );
        }
    }
    if std::env::var_os(master_key::ENV).is_none() && !dir.join(master_key::FILE_NAME).is_file() {
        bail!(
            "no master key: put the master.key kept with this backup in {} (mode 0600), or set {}",
            dir.display(),
            master_key::ENV
        );
    }
    let master = master_key::load_or_create(dir, false)?;

    let file = std::fs::File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let mut archive = ArchiveReader::new(std::io::BufReader::new(file));
    let damaged = |e: super::archive::ArchiveError| anyhow::anyhow!("cannot restore {}: {e}", from.display());
    let first =
        archive.next_member().map_err(damaged)?.ok_or_else(|| damaged(super::archive::ArchiveError::Truncated))?;
    if first.name != MANIFEST_NAME || first.size > MANIFEST_LIMIT {
        bail!("cannot restore {}: it does not begin with a Tessera backup's manifest", from.display());
    }
    let mut manifest_json = Vec::new();
    archive.copy_member(first.size, &mut manifest_json).map_err(damaged)?;
    let manifest: Manifest = serde_json::from_slice(&manifest_json)
        .map_err(|e| anyhow::anyhow!("cannot restore {}: its manifest is not readable ({e})", from.display()))?;
    if manifest.format != FORMAT || manifest.format_version > FORMAT_VERSION || manifest.backend != "sqlite" {
        bail!(
            "cannot restore {}: it is a {} backup of format {} ({}), which this binary does not read",
            from.display(),
            manifest.format,
            manifest.format_version,
            manifest.backend
        );
    }
    let binary = maintenance::binary_schema_version(false);
    if manifest.schema_version > binary {
        bail!(
            "cannot restore {}: its schema is at version {}, newer than this binary knows ({binary}); \
             restore it with Tessera {} or newer",
            from.display(),
            manifest.schema_version,
            manifest.tessera_version
        );
    }
    if manifest.master_key_fingerprint != master.fingerprint() {
        bail!(
            "cannot restore {}: it was taken under the master key with fingerprint {}, and the key in use has \
             fingerprint {}; put the master.key kept with this backup in {} (or set {})",
            from.display(),
            manifest.master_key_fingerprint,
            master.fingerprint(),
            dir.display(),
            master_key::ENV
        );
    }
    let second =
        archive.next_member().map_err(damaged)?.ok_or_else(|| damaged(super::archive::ArchiveError::Truncated))?;
    if second.name != manifest.database.file || second.size != manifest.database.bytes {
        bail!("cannot restore {}: its database is not the one its manifest describes", from.display());
    }

    // Everything below writes; on any failure it is undone.
    let mut undo = Undo { dir, created_dir: !existed, file: None };
    if !existed {
        // One level only (its parent must exist), so that a failure removes all it made.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    let restoring = dir.join(format!(".{}.restoring", tessera_store::SQLITE_FILE));
    undo.file = Some(restoring.clone());
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&restoring)
        .with_context(|| format!("cannot create {}", restoring.display()))?;
    let mut sink = HashingWriter { inner: std::io::BufWriter::new(out), hasher: sha2::Sha256::new() };
    archive.copy_member(second.size, &mut sink).map_err(damaged)?;
    let digest = tessera_core::lower_hex(&sink.hasher.finalize());
    let out = sink.inner.into_inner().map_err(|e| e.into_error())?;
    out.sync_all()?;
    drop(out);
    if digest != manifest.database.sha256 {
        bail!("cannot restore {}: its database does not match its manifest's checksum (damaged)", from.display());
    }
    let facts = maintenance::inspect_sqlite(&restoring).await?;
    if facts.integrity != "ok" {
        bail!("cannot restore {}: its database fails SQLite's integrity check ({})", from.display(), facts.integrity);
    }
    if facts.schema_version != Some(manifest.schema_version) {
        bail!("cannot restore {}: its database's schema is not the one its manifest states", from.display());
    }
    let check = facts.master_key_check.as_deref().unwrap_or_default();
    if tessera_keys::Secrets::verify_master_key(check, master.bytes()).is_err() {
        bail!("cannot restore {}: the master key in use does not open its database", from.display());
    }
    let target = dir.join(tessera_store::SQLITE_FILE);
    // A link, not a rename: if a database appeared meanwhile (a `serve` started on the
    // directory), it is refused rather than replaced.
    std::fs::hard_link(&restoring, &target).with_context(|| format!("cannot create {}", target.display()))?;
    let _ = std::fs::remove_file(&restoring);
    sync_parent(&target);
    undo.file = None;
    undo.created_dir = false;

    if settings.json {
        crate::output::json(&manifest)?;
    } else {
        println!(
            "restored the backup of {} into {} (schema version {}; {})",
            manifest.created_at,
            dir.display(),
            manifest.schema_version,
            manifest.counts_line()
        );
    }
    if manifest.schema_version < binary {
        eprintln!(
            "The schema is at version {}: `tessera serve` migrates it to version {binary} when it starts \
             (or run `tessera migrate run` first).",
            manifest.schema_version
        );
    }
    Ok(())
}

/// What a failed restore removes: its scratch file, and the data directory if it made it.
struct Undo<'a> {
    dir: &'a Path,
    created_dir: bool,
    file: Option<std::path::PathBuf>,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = std::fs::remove_file(file);
        }
        if self.created_dir {
            let _ = std::fs::remove_dir(self.dir);
        }
    }
}
