//! Management commands: each parses its flags, calls the admin service (on the store directly;
//! a running server sees the effect on its next request) and prints.

mod admin;
pub mod apps;
mod branding;
mod directories;
mod doctor;
mod groups;
mod m365;
mod m365_users;
mod users;

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use tessera_admin::{AdminError, AdminService};
use tessera_core::{Actor, Clock, SystemClock};
use tessera_keys::KeyService;
use tessera_store::{Page, PageRequest, SETTING_PUBLIC_URL, Store};

use clap::CommandFactory;

use crate::cli::{Command, ConfigCommand, MigrateCommand};
use crate::config::{DEFAULT_PUBLIC_URL, Settings};

pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    // Operations on the database's files and schema open no store (that would migrate it).
    let command = match command {
        Command::Backup { to } => return crate::operations::backup(&settings, &to).await,
        Command::Restore { from } => return crate::operations::restore(&settings, &from).await,
        Command::Migrate(MigrateCommand::Status) => return crate::operations::migrate_status(&settings).await,
        Command::Migrate(MigrateCommand::Run) => return crate::operations::migrate_run(&settings, false).await,
        Command::Migrate(MigrateCommand::Finish) => return crate::operations::migrate_run(&settings, true).await,
        Command::Config(ConfigCommand::Reference) => {
            print!("{}", crate::config::reference::markdown(&crate::cli::Cli::command()));
            return Ok(());
        }
        Command::Config(ConfigCommand::Example) => {
            print!("{}", crate::config::reference::example(&crate::cli::Cli::command()));
            return Ok(());
        }
        other => other,
    };
    // Bad serve flags are refused before anything is created on disk.
    if let Command::Serve(args) = &command {
        crate::serve::check_args(args, &settings)?;
    }
    // The one wall clock: everything below the binary reads time through it.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = open_store(&settings, clock.clone()).await?;
    // Every command that changes anything writes the audit trail, whose chain is keyed by the
    // master key: it is loaded (on a new database, created) before any command runs.
    let keys = Arc::new(crate::master_key::key_service(&settings.data_dir, store.clone(), clock.clone()).await?);
    let ctx = Ctx { actor: cli_actor(), settings, store, clock, keys };
    match command {
        Command::Serve(args) => {
            crate::serve::run(&ctx.settings, ctx.store.clone(), ctx.clock.clone(), ctx.keys.clone(), args).await
        }
        Command::User(cmd) => users::run(&ctx, cmd).await,
        Command::Group(cmd) => groups::run(&ctx, cmd).await,
        Command::App(cmd) => apps::run(&ctx, cmd).await,
        Command::Audit(cmd) => admin::audit(&ctx, cmd).await,
        Command::Admin(cmd) => admin::run(&ctx, cmd).await,
        Command::M365(cmd) => m365::run(&ctx, cmd).await,
        Command::Directory(cmd) => directories::run(&ctx, cmd).await,
        Command::Branding(cmd) => branding::run(&ctx, cmd).await,
        Command::Doctor(args) => doctor::run(&ctx, args).await,
        // Handled above, before any store was opened.
        Command::Backup { .. } | Command::Restore { .. } | Command::Migrate(_) | Command::Config(_) => Ok(()),
    }
}

/// What every command needs.
pub struct Ctx {
    pub actor: Actor,
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    keys: Arc<KeyService>,
}

impl Ctx {
    /// The admin service, with the endpoints of the public URL commands use.
    pub async fn admin(&self) -> anyhow::Result<AdminService> {
        Ok(AdminService::new(self.store.clone(), self.keys.clone(), &self.public_url().await?, self.clock.clone())?)
    }

    /// The public URL endpoints are built from: the one given, else the one the server last
    /// started with, else the default.
    pub async fn public_url(&self) -> anyhow::Result<String> {
        let url = match &self.settings.public_url {
            Some(url) => url.clone(),
            None => self.store.get_setting(SETTING_PUBLIC_URL).await?.unwrap_or_else(|| DEFAULT_PUBLIC_URL.to_string()),
        };
        Ok(tessera_core::validate::public_url(&url)?)
    }
}

/// The operating-system account running the command, for the audit trail: `$USER`, else the
/// account of this process's uid in /etc/passwd, else the uid itself.
fn cli_actor() -> Actor {
    if let Ok(user) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        return Actor::cli(&user);
    }
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return Actor::cli("unknown");
    };
    let name = std::fs::read_to_string("/etc/passwd").ok().and_then(|passwd| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.get(2) == Some(&uid.to_string().as_str())).then(|| fields[0].to_string())
        })
    });
    Actor::cli(&name.unwrap_or_else(|| format!("uid{uid}")))
}

pub async fn open_store(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<dyn Store>> {
    ensure_data_dir(&settings.data_dir)?;
    tessera_store::open(settings.database_url.as_deref(), &settings.data_dir, clock)
        .await
        .context("cannot open the store")
}

/// Creates the data directory readable by its owner only.
fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Every item of a paginated listing.
pub async fn all_pages<T>(
    mut fetch: impl AsyncFnMut(&PageRequest) -> Result<Page<T>, AdminError>,
) -> anyhow::Result<Vec<T>> {
    let mut items = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = fetch(&page).await?;
        items.extend(got.items);
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(items),
        }
    }
}

/// One line of standard input; its trailing newline is not part of the password.
pub fn read_password_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    if read == 0 {
        bail!("no password on standard input");
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(line)
}
