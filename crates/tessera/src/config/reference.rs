//! The configuration reference and the example configuration file, made from the command
//! line's own definitions, so neither can say something the binary does not do.
//! `docs/configuration.md` and the Debian package's `tessera.toml` are these outputs; a test
//! fails when the committed copy differs.

use std::fmt::Write;

use clap::{Arg, Command};

use super::file::{FILE_COMMAND, key_of, settings};

/// Environment variables read outside the command line's definitions.
const OTHER_ENVIRONMENT: [(&str, &str); 2] = [
    (
        crate::master_key::ENV,
        "The master key, base64 of 32 bytes, instead of `master.key` in the data directory (never in the \
         configuration file)",
    ),
    ("RUST_LOG", "Log filter (`info`, `tessera=debug,warn`, …) [default: info for serve, warn for other commands]"),
];

fn help(arg: &Arg) -> String {
    let text = arg.get_long_help().or(arg.get_help()).map(ToString::to_string).unwrap_or_default();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn default(arg: &Arg) -> Option<String> {
    let values: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn possible(arg: &Arg) -> Vec<String> {
    arg.get_possible_values().iter().map(|v| v.get_name().to_string()).collect()
}

fn flag(arg: &Arg) -> String {
    let value = arg
        .get_value_names()
        .and_then(|names| names.first().map(ToString::to_string))
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    match (arg.get_long(), arg.get_action().takes_values()) {
        (Some(long), true) => format!("--{long} {value}"),
        (Some(long), false) => format!("--{long}"),
        (None, _) => value,
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Markdown: the settings (flag, environment variable, file key, default), the other
/// environment variables, then every command with its arguments.
pub fn markdown(cli: &Command) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Configuration reference\n\n\
         Made by `tessera config reference` from the binary's own definitions; a test fails when this\n\
         file differs from what the binary prints. A setting is taken from its flag, else its\n\
         environment variable, else the TOML file named by `--config` (or `TESSERA_CONFIG`), else its\n\
         default. The file's keys are the flags' names with underscores; a list is a TOML array.\n\
         `tessera config example` prints a file with every key, commented.\n\n\
         ## Settings\n\n\
         | flag | environment | file key | default | meaning |\n|---|---|---|---|---|"
    );
    for (command, arg) in settings(cli) {
        let scope = command.map(|c| format!(" (`{c}`)")).unwrap_or_default();
        let _ = writeln!(
            out,
            "| `{}`{scope} | {} | `{}` | {} | {}{} |",
            flag(arg),
            arg.get_env().map(|e| format!("`{}`", e.to_string_lossy())).unwrap_or_else(|| "—".into()),
            key_of(arg).unwrap_or_default(),
            default(arg).or_else(|| stated_default(&help(arg))).map(|d| format!("`{d}`")).unwrap_or_else(|| "—".into()),
            cell(&help(arg)),
            choices(arg),
        );
    }
    let _ = writeln!(out, "\n## Other environment variables\n\n| variable | meaning |\n|---|---|");
    for (name, meaning) in OTHER_ENVIRONMENT {
        let _ = writeln!(out, "| `{name}` | {} |", cell(meaning));
    }
    let _ = writeln!(out, "\n## Commands\n\nGlobal options (above) are accepted before or after any command.");
    commands(&mut out, cli, "tessera");
    out
}

fn choices(arg: &Arg) -> String {
    let values = possible(arg);
    if values.is_empty() || !arg.get_action().takes_values() {
        String::new()
    } else {
        format!(" (one of {})", values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "))
    }
}

fn commands(out: &mut String, command: &Command, path: &str) {
    for sub in command.get_subcommands().filter(|c| c.get_name() != "help" && !c.is_hide_set()) {
        let name = format!("{path} {}", sub.get_name());
        let about = sub.get_long_about().or(sub.get_about()).map(ToString::to_string).unwrap_or_default();
        let own: Vec<&Arg> = sub
            .get_arguments()
            .filter(|a| !a.is_global_set() && !a.is_hide_set() && !["help", "version"].contains(&a.get_id().as_str()))
            .collect();
        if sub.has_subcommands() {
            let _ = writeln!(out, "\n### `{name}`\n\n{}", about.split_whitespace().collect::<Vec<_>>().join(" "));
            commands(out, sub, &name);
            continue;
        }
        let _ = writeln!(out, "\n### `{name}`\n\n{}", about.split_whitespace().collect::<Vec<_>>().join(" "));
        if own.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n| argument | environment | default | meaning |\n|---|---|---|---|");
        for arg in own {
            let required = if arg.is_required_set() && arg.get_long().is_some() { " (required)" } else { "" };
            let _ = writeln!(
                out,
                "| `{}`{required} | {} | {} | {}{} |",
                flag(arg),
                arg.get_env().map(|e| format!("`{}`", e.to_string_lossy())).unwrap_or_else(|| "—".into()),
                default(arg)
                    .or_else(|| stated_default(&help(arg)))
                    .map(|d| format!("`{d}`"))
                    .unwrap_or_else(|| "—".into()),
                cell(&help(arg)),
                choices(arg),
            );
        }
    }
}

/// A TOML file with every key the file takes, each commented out at its default, under its
/// meaning.
pub fn example(cli: &Command) -> String {
    let mut out = String::from(
        "# Tessera's configuration file (TOML), made by `tessera config example`.\n\
         # Use it with `tessera --config FILE …` or TESSERA_CONFIG=FILE. A flag or an environment\n\
         # variable overrides the key of the same setting. Every key is shown commented out at its\n\
         # default (\"\" where it has none: unset); the master key is never set here (master.key in\n\
         # the data directory, or TESSERA_MASTER_KEY).\n",
    );
    let mut section = None;
    for (command, arg) in settings(cli) {
        if command != section {
            let _ = writeln!(out, "\n# ---- `tessera {}` only ----", command.unwrap_or(FILE_COMMAND));
            section = command;
        }
        let key = key_of(arg).unwrap_or_default();
        let _ = writeln!(out);
        for line in wrap(&format!("{}{}", help(arg), choices(arg)), 94) {
            let _ = writeln!(out, "# {line}");
        }
        if let Some(env) = arg.get_env() {
            let _ = writeln!(
                out,
                "# Flag: --{}; environment: {}",
                arg.get_long().unwrap_or_default(),
                env.to_string_lossy()
            );
        } else {
            let _ = writeln!(out, "# Flag: --{}", arg.get_long().unwrap_or_default());
        }
        let value = match (default(arg), arg.get_action().takes_values()) {
            (_, false) => "false".to_string(),
            (Some(d), true) if d.parse::<u64>().is_ok() => d,
            (Some(d), true) => format!("{d:?}"),
            (None, true) if matches!(arg.get_action(), clap::ArgAction::Append) => "[]".to_string(),
            (None, true) => match stated_default(&help(arg)) {
                Some(d) if d.parse::<u64>().is_ok() => d,
                Some(d) => format!("{d:?}"),
                None => "\"\"".to_string(),
            },
        };
        let _ = writeln!(out, "#{key} = {value}");
    }
    out
}

/// A default the help text states as one word (`[default: ./tessera-data]`), where clap has
/// none because it depends on other settings or on the store.
fn stated_default(help: &str) -> Option<String> {
    let start = help.find("[default: ")? + "[default: ".len();
    let end = help[start..].find(']')? + start;
    let value = &help[start..end];
    (!value.contains(char::is_whitespace)).then(|| value.to_string())
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::cli::Cli;

    #[test]
    fn every_file_key_is_a_flag_and_the_example_parses_as_toml() {
        let cli = Cli::command();
        let example = super::example(&cli);
        // Uncommented, the example is a valid file whose keys are all known.
        let uncommented: String = example
            .lines()
            .filter_map(|l| l.strip_prefix('#').filter(|l| l.contains(" = ")))
            .collect::<Vec<_>>()
            .join("\n");
        let table: toml::Table = toml::from_str(&uncommented).unwrap();
        let keys: Vec<String> = super::settings(&cli).iter().filter_map(|(_, a)| super::key_of(a)).collect();
        assert_eq!(table.len(), keys.len());
        for key in ["data_dir", "database_url", "public_url", "listen", "trusted_proxy", "session_idle_minutes"] {
            assert!(keys.contains(&key.to_string()), "{key}");
        }
        assert!(!keys.contains(&"config".to_string()) && !keys.contains(&"json".to_string()));
        let markdown = super::markdown(&cli);
        assert!(markdown.contains("`TESSERA_MASTER_KEY`") && markdown.contains("### `tessera backup`"));
    }
}
