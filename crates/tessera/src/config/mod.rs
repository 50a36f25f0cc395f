//! Settings from flags, `TESSERA_*` environment variables and a TOML file, in that order of
//! precedence: clap folds flags over the environment, and [`file`] folds the file's keys in
//! below both. [`reference`] describes all of it from the same definitions.

pub mod file;
pub mod reference;

use std::path::PathBuf;

use crate::cli::{GlobalArgs, LogFormat};

pub const DEFAULT_DATA_DIR: &str = "./tessera-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// Set only when given by flag, environment or file; otherwise commands use the one the
    /// server last started with.
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    pub json: bool,
}

impl Settings {
    /// The global options, the configuration file's values already folded in.
    pub fn resolve(args: &GlobalArgs) -> Settings {
        Settings {
            data_dir: args.data_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            database_url: args.database_url.clone().filter(|u| !u.is_empty()),
            public_url: args.public_url.clone(),
            log_format: args.log_format.unwrap_or(LogFormat::Text),
            json: args.json,
        }
    }
}

/// Logs go to stderr so that stdout stays the command's output. Management commands log
/// warnings only unless RUST_LOG says otherwise.
pub fn init_tracing(settings: &Settings, serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
