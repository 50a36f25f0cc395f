//! `tessera`: the identity provider and its management commands, in one binary.

mod cli;
mod commands;
mod config;
mod master_key;
mod operations;
mod output;
mod progress;
mod serve;
mod tls;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

/// Signing-on allocates and frees many short-lived buffers across threads, where mimalloc
/// spends less than glibc's allocator (bench/saml/sso.sh). Built with its `no_thp` feature:
/// otherwise it asks for transparent huge pages on its whole arena (`MADV_HUGEPAGE`), and
/// where the kernel's setting is "madvise" the memory allocated before `main` turns them off
/// came in 2 MiB pages (4 MiB of them in an idle server's smaps; bench/README.md, fifteenth
/// look).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let small_pages = keep_memory_in_small_pages();
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => return fail(&e),
    };
    if let cli::Command::Serve(args) = &cli.command
        && let Some(keytab) = &args.kerberos_keytab
    {
        // MIT krb5 reads the keytab's name from its environment only; this process cannot set
        // its own environment safely once it runs, so it starts again with it set.
        match serve::keytab_name(keytab) {
            Ok(name) if std::env::var_os("KRB5_KTNAME").is_some_and(|set| set == name.as_str()) => {}
            Ok(name) => return restart_with(&[("KRB5_KTNAME", &name)]),
            Err(e) => return fail(&e),
        }
    }
    let settings = config::Settings::resolve(&cli.global);
    config::init_tracing(&settings, matches!(cli.command, cli::Command::Serve(_)));
    if let Err(e) = small_pages {
        tracing::debug!(error = %e, "transparent huge pages stay on for this process");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::from(e)),
    };
    match runtime.block_on(commands::run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// This program again, with the same arguments and `vars` added to its environment; returns
/// only when it cannot be started.
fn restart_with(vars: &[(&str, &str)]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(e) => return fail(&anyhow::Error::from(e).context("cannot find this program to restart it")),
    };
    let mut command = std::process::Command::new(program);
    command.args(std::env::args_os().skip(1));
    for (name, value) in vars {
        command.env(name, value);
    }
    let e = command.exec();
    fail(&anyhow::Error::from(e).context("cannot restart this program"))
}

/// Transparent huge pages off for this process, before it allocates much: where the kernel's
/// THP setting is "always", mimalloc's arena was backed by 2 MiB pages, and an idle server held
/// 8 MiB of them that it did not use (idle RSS 33 -> 25 MB, bench/memory/idle.sh). A kernel
/// without the setting (before 3.15) refuses, and nothing else changes.
fn keep_memory_in_small_pages() -> std::io::Result<()> {
    rustix::thread::disable_transparent_huge_pages(true).map_err(std::io::Error::from)
}

/// The command line, with the configuration file's settings folded in below flags and
/// environment. Bad usage exits 2 as clap has it; a file that says something the flags refuse
/// is an error of the file's (exit 1, naming it).
fn parse() -> anyhow::Result<cli::Cli> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let definition = cli::Cli::command();
    // A first pass only to find the file and what the flags and environment already say:
    // what a setting needs from the file (`--tls-cert` with `tls_key` there) is checked after.
    let matches = definition.clone().ignore_errors(true).try_get_matches_from(&argv).unwrap_or_else(|e| e.exit());
    let folded = config::file::fold_into(argv.clone(), &definition, &matches)?;
    match cli::Cli::try_parse_from(&folded) {
        Ok(cli) => Ok(cli),
        // Bad usage on the command line is clap's to report (exit 2) ...
        Err(e) if folded == argv || cli::Cli::try_parse_from(&argv).is_err() => e.exit(),
        // ... and what only the file's values make wrong, the file's (exit 1, naming it).
        Err(e) => {
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
            let file =
                matches.get_one::<std::path::PathBuf>("config").map(|p| p.display().to_string()).unwrap_or_default();
            Err(anyhow::anyhow!("config file {file} is not valid: {first}"))
        }
    }
}

/// One line on stderr that says what went wrong, and exit status 1.
fn fail(error: &anyhow::Error) -> ExitCode {
    let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
    let mut line = chain.join(": ");
    // Scripts read one line: a message of several lines (an import's problems) joins into it.
    line = line.replace('\n', " ");
    // Every command looks things up through the admin service.
    if let Some(list) =
        error.downcast_ref::<tessera_admin::AdminError>().and_then(|e| e.not_found_kind()).and_then(list_command)
    {
        line.push_str(&format!(" (list them with `tessera {list} list`)"));
    }
    eprintln!("error: {line}");
    ExitCode::FAILURE
}

/// The command that lists things of `kind`, where there is one.
fn list_command(kind: &str) -> Option<&'static str> {
    match kind {
        "user" => Some("user"),
        "group" => Some("group"),
        "application" => Some("app"),
        "administrator" => Some("admin"),
        "directory source" => Some("directory"),
        "live API token" => Some("admin token"),
        _ => None,
    }
}
