//! Settings from flags, `TESSERA_*` environment variables and a TOML file, in that order of
//! precedence (clap already folds flags over the environment).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::cli::{GlobalArgs, LogFormat};

pub const DEFAULT_DATA_DIR: &str = "./tessera-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// The TOML file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    listen: Option<String>,
    log_format: Option<LogFormat>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// Set only when given by flag, environment or file; otherwise commands use the one the
    /// server last started with.
    pub public_url: Option<String>,
    pub listen: Option<String>,
    pub log_format: LogFormat,
    pub json: bool,
}

impl Settings {
    pub fn resolve(args: &GlobalArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Ok(Settings {
            data_dir: args.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            database_url: args.database_url.clone().or(file.database_url).filter(|u| !u.is_empty()),
            public_url: args.public_url.clone().or(file.public_url),
            listen: file.listen,
            log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            json: args.json,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
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
