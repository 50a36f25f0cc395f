//! `tessera directory`: directory sources added, listed, shown, tested and removed.

use anyhow::{Context, bail};
use serde::Serialize;
use tessera_admin::{SourceRequest, SyncOptions};
use tessera_core::sources::{DirectoryKind, PasswordCheck};
use tessera_directory::Probe;
use tessera_web::views::SourceView;

use super::{Ctx, read_password_stdin};
use crate::cli::{DirectoryAdd, DirectoryCommand, KerberosCommand, LdapSourceArgs};
use crate::output;

/// `directory test --json`.
#[derive(Serialize)]
struct TestReport {
    source: String,
    servers: Vec<ServerReport>,
    base_dn_found: Option<bool>,
    users: Option<u64>,
    groups: Option<u64>,
    healthy: bool,
}

#[derive(Serialize)]
struct ServerReport {
    url: String,
    ok: bool,
    error: Option<String>,
}

impl TestReport {
    fn new(source: &str, probe: &Probe) -> Self {
        TestReport {
            source: source.to_string(),
            servers: probe
                .servers
                .iter()
                .map(|s| ServerReport { url: s.url.clone(), ok: s.outcome.is_ok(), error: s.outcome.clone().err() })
                .collect(),
            base_dn_found: probe.base_dn_found,
            users: probe.users,
            groups: probe.groups,
            healthy: probe.healthy(),
        }
    }
}

fn request(args: LdapSourceArgs) -> anyhow::Result<SourceRequest> {
    let ca_pem = match &args.ca_file {
        Some(path) => {
            Some(std::fs::read_to_string(path).with_context(|| format!("cannot read the CA file {}", path.display()))?)
        }
        None => None,
    };
    let mut attributes = Vec::new();
    for pair in &args.attributes {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--attribute {pair:?}: write KEY=ATTRIBUTE, such as anchor=employeeID");
        };
        attributes.push((key.to_string(), value.to_string()));
    }
    Ok(SourceRequest {
        name: args.name,
        kind: DirectoryKind::parse(&args.kind)?,
        urls: args.urls,
        bind_dn: args.bind_dn,
        bind_password: read_password_stdin()?,
        base_dn: args.base_dn,
        ca_pem,
        authenticate: PasswordCheck::parse(&args.authenticate)?,
        user_filter: args.user_filter,
        group_filter: args.group_filter,
        insecure_plaintext: args.insecure_plaintext,
        attributes,
    })
}

pub async fn run(ctx: &Ctx, cmd: DirectoryCommand) -> anyhow::Result<()> {
    let admin = ctx.admin().await?;
    match cmd {
        DirectoryCommand::Add(DirectoryAdd::Ldap(args)) => {
            let source = admin.add_source(&ctx.actor, &request(*args)?).await?;
            if ctx.settings.json {
                return output::json(&SourceView::from(&source));
            }
            println!("added directory source {} ({})", source.name, source.id);
            Ok(())
        }
        DirectoryCommand::List => {
            let sources = admin.list_sources().await?;
            if ctx.settings.json {
                return output::json(&sources.iter().map(SourceView::from).collect::<Vec<_>>());
            }
            output::table(
                &["ID", "NAME", "KIND", "SERVERS", "BASE DN"],
                sources
                    .iter()
                    .map(|s| {
                        let c = &s.config;
                        vec![
                            s.id.to_string(),
                            s.name.clone(),
                            c.kind.as_str().into(),
                            c.urls.join(" "),
                            c.base_dn.clone(),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        DirectoryCommand::Show { source } => {
            let source = admin.find_source(&source).await?;
            let view = SourceView::from(&source);
            if ctx.settings.json {
                return output::json(&view);
            }
            println!("id:             {}", view.id);
            println!("name:           {}", view.name);
            println!("kind:           {}", view.kind);
            for url in &view.urls {
                println!("server:         {url}");
            }
            println!("bind DN:        {}", view.bind_dn);
            println!("base DN:        {}", view.base_dn);
            println!(
                "certificates:   {}",
                if view.private_ca { "checked against the source's CA" } else { "checked against the system's CAs" }
            );
            println!("authenticate:   {}", view.authenticate);
            println!("user filter:    {}", view.user_filter);
            println!("group filter:   {}", view.group_filter);
            let a = &source.config.attributes;
            println!(
                "attributes:     upn={} email={} first_name={} last_name={} anchor={} member_of={} member={}{}",
                a.upn,
                a.email,
                a.first_name,
                a.last_name,
                a.anchors.join(","),
                a.member_of,
                a.member,
                a.account_control.as_deref().map(|f| format!(" account_control={f}")).unwrap_or_default()
            );
            Ok(())
        }
        DirectoryCommand::Kerberos(KerberosCommand::Check { source, keytab }) => {
            let bytes =
                std::fs::read(&keytab).with_context(|| format!("cannot read the keytab {}", keytab.display()))?;
            let (source, checks) = admin.check_kerberos(&source, &bytes).await?;
            let healthy = checks.iter().all(|check| check.ok);
            if ctx.settings.json {
                output::json(&serde_json::json!({"source": source.name, "checks": checks, "ok": healthy}))?;
            } else {
                for check in &checks {
                    println!("{} {}: {}", if check.ok { "ok  " } else { "FAIL" }, check.check, check.detail);
                }
            }
            if !healthy {
                bail!("the keytab {} will not sign anyone in against {}", keytab.display(), source.name);
            }
            Ok(())
        }
        DirectoryCommand::Kerberos(KerberosCommand::Register { source, account }) => {
            let (source, principal, registration) = admin.register_kerberos(&ctx.actor, &source, &account).await?;
            let (dn, changed) = match registration {
                tessera_directory::Registration::Registered { dn } => (dn, true),
                tessera_directory::Registration::AlreadyHeld { dn } => (dn, false),
                // Refused by the admin service before here.
                _ => bail!("the service principal was not registered"),
            };
            if ctx.settings.json {
                output::json(&serde_json::json!({"source": source.name, "service_principal": principal,
                                                 "account": dn, "changed": changed}))?;
            } else if changed {
                println!("registered {principal} on {dn}");
            } else {
                println!("{principal} is held by {dn} already: nothing to do");
            }
            Ok(())
        }
        DirectoryCommand::Test { source } => {
            let (source, probe) = admin.test_source(&source).await?;
            let report = TestReport::new(&source.name, &probe);
            if ctx.settings.json {
                output::json(&report)?;
            } else {
                for server in &report.servers {
                    match &server.error {
                        None => println!("{}: bound as the service account", server.url),
                        Some(error) => println!("{}: {error}", server.url),
                    }
                }
                match report.base_dn_found {
                    Some(true) => println!(
                        "base DN {}: {} users, {} groups",
                        source.config.base_dn,
                        report.users.unwrap_or(0),
                        report.groups.unwrap_or(0)
                    ),
                    Some(false) => println!("base DN {}: not found", source.config.base_dn),
                    None => println!("no server could be bound to"),
                }
            }
            if !report.healthy {
                bail!("directory source {} is not healthy", source.name);
            }
            Ok(())
        }
        DirectoryCommand::Sync { source, dry_run, adopt_by_upn, allow_mass_suspend, full } => {
            let options = SyncOptions { dry_run, adopt_by_upn, allow_mass_suspend, full };
            let holder = format!("cli:{}", std::process::id());
            let bar = crate::progress::SyncBar::new(&source);
            let synced = admin.sync_source_showing(&ctx.actor, &source, &holder, options, &|step| bar.show(step)).await;
            drop(bar);
            let (source, report) = synced?;
            if ctx.settings.json {
                return output::json(&report);
            }
            for message in &report.messages {
                println!("error: {message}");
            }
            let verb = if report.dry_run { "would sync" } else { "synced" };
            println!(
                "{verb} {}: {} created, {} updated, {} suspended, {} reactivated, {} adopted, {} unchanged, {} errors",
                source.name,
                report.created,
                report.updated,
                report.suspended,
                report.reactivated,
                report.adopted,
                report.unchanged,
                report.errors
            );
            println!(
                "groups: {} created, {} orphaned; memberships: {} added, {} removed",
                report.groups_created, report.groups_orphaned, report.memberships_added, report.memberships_removed
            );
            println!("read: {} ({} entries read in full)", report.read, report.read_in_full);
            Ok(())
        }
        DirectoryCommand::Remove { source } => {
            let (source, kept) = admin.remove_source(&ctx.actor, &source).await?;
            println!("removed directory source {}; its {kept} user(s) stay, as local users", source.name);
            Ok(())
        }
    }
}
