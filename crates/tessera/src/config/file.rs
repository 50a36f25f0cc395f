//! The TOML configuration file. Its keys are the flags' names with underscores (`--session-idle-
//! minutes` is `session_idle_minutes`): the global options and `serve`'s. A key's value is
//! folded into the command line as that flag, unless the flag or its environment variable was
//! given, so one definition (clap's) serves flags, environment and file alike, and the
//! configuration reference is made from it.

use std::any::TypeId;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// The command whose flags the file may set, besides the global options.
pub const FILE_COMMAND: &str = "serve";
/// Global options that are not settings: what a file could not sensibly say.
const NOT_SETTINGS: [&str; 4] = ["config", "json", "help", "version"];

/// The file's key for a flag.
pub fn key_of(arg: &Arg) -> Option<String> {
    let long = arg.get_long()?;
    (!NOT_SETTINGS.contains(&long)).then(|| long.replace('-', "_"))
}

/// Every setting the file takes: the global options, then `serve`'s, with the command they
/// belong to (`None` for the global ones).
pub fn settings(cli: &Command) -> Vec<(Option<&'static str>, &Arg)> {
    let global = cli.get_arguments().filter(|a| key_of(a).is_some()).map(|a| (None, a));
    let serve = cli
        .get_subcommands()
        .filter(|c| c.get_name() == FILE_COMMAND)
        .flat_map(|c| c.get_arguments())
        .filter(|a| key_of(a).is_some() && !a.is_global_set())
        .map(|a| (Some(FILE_COMMAND), a));
    global.chain(serve).collect()
}

/// Whether a value of this flag is a whole number (else a string).
fn is_number(arg: &Arg) -> bool {
    let id = arg.get_value_parser().type_id();
    [TypeId::of::<u32>(), TypeId::of::<u64>(), TypeId::of::<u16>(), TypeId::of::<i64>()].iter().any(|t| id == *t)
}

fn takes_values(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

fn is_repeatable(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append)
}

/// `argv` with the configuration file's settings added as flags where neither the flag nor
/// its environment variable was given. Without `--config` (or `TESSERA_CONFIG`), `argv` as it
/// is.
pub fn fold_into(argv: Vec<OsString>, cli: &Command, matches: &ArgMatches) -> anyhow::Result<Vec<OsString>> {
    let Some(path) = matches.get_one::<PathBuf>("config") else { return Ok(argv) };
    let table = read(path)?;
    // Where the invoked command's own values are (a global one given after it is seen there).
    let mut deepest = matches;
    let mut invoked = None;
    while let Some((name, sub)) = deepest.subcommand() {
        invoked.get_or_insert(name.to_string());
        deepest = sub;
    }
    let known = settings(cli);
    let mut extra: Vec<OsString> = Vec::new();
    for (key, value) in &table {
        let Some((command, arg)) = known.iter().find(|(_, arg)| key_of(arg).as_deref() == Some(key.as_str())) else {
            bail!(
                "config file {}: unknown key {key:?} (every key is listed by `tessera config reference`)",
                path.display()
            );
        };
        // Every value is checked, also where a flag, the environment or another command
        // makes it moot: a file with a mistake is refused, not ignored until the day it counts.
        let flags = as_flags(path, key, value, arg)?;
        if command.is_some() && invoked.as_deref() != *command {
            continue;
        }
        let id = arg.get_id().as_str();
        let given = |m: &ArgMatches| {
            matches!(m.value_source(id), Some(ValueSource::CommandLine) | Some(ValueSource::EnvVariable))
        };
        // A command's own flag is known only to its matches (asking others panics in clap's
        // debug checks); a global one is seen in both.
        if given(deepest) || (command.is_none() && given(matches)) {
            continue;
        }
        extra.extend(flags);
    }
    // Before a `--` that ends the flags, if there is one.
    let mut argv = argv;
    let at = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    argv.splice(at..at, extra);
    Ok(argv)
}

/// A key's value as the flags that say it.
fn as_flags(path: &Path, key: &str, value: &toml::Value, arg: &Arg) -> anyhow::Result<Vec<OsString>> {
    let long = arg.get_long().unwrap_or(key);
    let wrong = |expected: &str| {
        anyhow::anyhow!("config file {} is not valid: {key} must be {expected}, not {value}", path.display())
    };
    if !takes_values(arg) {
        return match value {
            toml::Value::Boolean(true) => Ok(vec![format!("--{long}").into()]),
            toml::Value::Boolean(false) => Ok(Vec::new()),
            _ => Err(wrong("true or false")),
        };
    }
    let scalar = |item: &toml::Value| match item {
        toml::Value::Integer(n) if is_number(arg) => Ok(n.to_string()),
        toml::Value::String(text) if !is_number(arg) => Ok(text.clone()),
        _ if is_number(arg) => Err(wrong("a whole number")),
        _ => Err(wrong("a string")),
    };
    let values = match value {
        toml::Value::Array(items) if is_repeatable(arg) => items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
        toml::Value::Array(_) => return Err(wrong("one value, not a list")),
        item => vec![scalar(item)?],
    };
    Ok(values.into_iter().map(|value| format!("--{long}={value}").into()).collect())
}

fn read(path: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}
