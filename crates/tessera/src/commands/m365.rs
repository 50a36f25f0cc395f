//! `tessera m365`: federating a domain with a Microsoft 365 connector, as PowerShell to paste
//! (`command`) or done through Microsoft Graph (`preflight`, `enable`, `show`, `disable`), and
//! the users' ImmutableIDs in Entra (`users`).

use anyhow::{Context, bail};
use serde_json::Value;
use tessera_admin::{AdminService, CredentialInput, EnableRequest};
use tessera_m365::graph::{Credential, Endpoints, GRAPH_COMMAND_LINE_TOOLS, Graph};
use tessera_m365::{Protocol, Style};

use super::{Ctx, m365_users};
use crate::cli::{GraphArgs, M365Command, M365CredentialsCommand};
use crate::output;

/// The Graph session the options describe, or the stored credentials when they give none.
async fn graph(ctx: &Ctx, admin: &AdminService, args: &GraphArgs) -> anyhow::Result<Graph> {
    graph_if_any(ctx, admin, args).await?.context(
        "no Graph credentials: give --client-secret-stdin, TESSERA_M365_CLIENT_SECRET or --client-certificate FILE, \
         or store them with `tessera m365 credentials set`",
    )
}

/// Where the options (or the environment) say Graph and Entra's token endpoint are.
pub(super) fn endpoints(args: &GraphArgs) -> Endpoints {
    let mut endpoints = Endpoints::default();
    if let Some(url) = &args.graph_url {
        endpoints.graph_url = url.clone();
    }
    if let Some(url) = &args.login_url {
        endpoints.login_url = url.clone();
    }
    endpoints
}

/// The Graph session the options describe, the stored credentials when they give none, or
/// `None` when there are neither.
pub(super) async fn graph_if_any(ctx: &Ctx, admin: &AdminService, args: &GraphArgs) -> anyhow::Result<Option<Graph>> {
    let given = || args.client_id.as_deref().context("give --client-id (or TESSERA_M365_CLIENT_ID)");
    let (tenant, credential) = if let Some(path) = &args.client_certificate {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        (args.tenant.clone(), Credential::certificate(given()?, &pem)?)
    } else if args.client_secret_stdin {
        (
            args.tenant.clone(),
            Credential::secret(given()?, &super::read_password_stdin().context("the client secret")?)?,
        )
    } else if let Some(secret) = &args.client_secret {
        (args.tenant.clone(), Credential::secret(given()?, secret)?)
    } else if args.device_code {
        let client_id = args.client_id.clone().unwrap_or_else(|| GRAPH_COMMAND_LINE_TOOLS.to_string());
        (args.tenant.clone(), Credential::DeviceCode { client_id, show: Box::new(|message| eprintln!("{message}")) })
    } else if args.tenant.is_some() || args.client_id.is_some() {
        // Never a tenant or app given on the command line silently swapped for the stored ones.
        bail!(
            "--tenant and --client-id need a credential: --client-secret-stdin, TESSERA_M365_CLIENT_SECRET, \
             --client-certificate FILE or --device-code (or leave both out to use `m365 credentials set`)"
        );
    } else {
        return Ok(admin.m365_stored_graph(&endpoints(args)).await?);
    };
    let tenant = tenant.context("give --tenant (or TESSERA_M365_TENANT)")?;
    Ok(Some(Graph::new(&endpoints(args), &tenant, credential, ctx.clock.clone())?))
}

fn show_value(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) if s.chars().count() > 60 => format!("{}…", s.chars().take(57).collect::<String>()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn run(ctx: &Ctx, cmd: M365Command) -> anyhow::Result<()> {
    match cmd {
        M365Command::Command { app, protocol, style } => {
            let (protocol, style) = (protocol.parse::<Protocol>()?, style.parse::<Style>()?);
            let (command, powershell) = ctx.admin().await?.federation_command(&app, protocol, style).await?;
            if ctx.settings.json {
                return output::json(&serde_json::json!({
                    "domain": command.domain,
                    "display_name": command.display_name,
                    "issuer_uri": command.issuer_uri,
                    "passive_sign_in_uri": command.passive_sign_in_uri,
                    "active_sign_in_uri": command.active_sign_in_uri,
                    "metadata_exchange_uri": command.metadata_exchange_uri,
                    "sign_out_uri": command.sign_out_uri,
                    "signing_certificate": command.signing_certificate,
                    "next_signing_certificate": command.next_signing_certificate,
                    "powershell": powershell,
                }));
            }
            print!("{powershell}");
            Ok(())
        }
        M365Command::Preflight { domain, app, graph: args } => {
            let admin = ctx.admin().await?;
            let graph = graph(ctx, &admin, &args).await?;
            let report = admin.m365_preflight(&graph, &domain, app.as_deref(), false).await?;
            if ctx.settings.json {
                output::json(&report)?;
            } else {
                let rows = report
                    .checks
                    .iter()
                    .map(|c| {
                        vec![
                            c.name.to_string(),
                            if c.ok { "ok" } else { "FAIL" }.into(),
                            c.severity.into(),
                            c.detail.clone(),
                        ]
                    })
                    .collect();
                output::table(&["CHECK", "RESULT", "SEVERITY", "DETAIL"], rows);
            }
            if !report.ok {
                bail!("preflight failed: {}", report.failures().join("; "));
            }
            Ok(())
        }
        M365Command::Enable { domain, app, protocol, mfa_behavior, take_over, dry_run, graph: args } => {
            let admin = ctx.admin().await?;
            let graph = graph(ctx, &admin, &args).await?;
            let request = EnableRequest {
                domain,
                app,
                protocol: protocol.parse()?,
                mfa: mfa_behavior.parse()?,
                take_over,
                dry_run,
            };
            let plan = admin.m365_enable(&ctx.actor, &graph, &request).await?;
            if ctx.settings.json {
                return output::json(&plan);
            }
            let verb = match (plan.action, dry_run) {
                ("none", _) => format!("{} is federated with its connector already: nothing to change", plan.domain),
                ("create", true) => format!("would federate {}:", plan.domain),
                ("create", false) => format!("federated {}:", plan.domain),
                (_, true) => format!("would change {}:", plan.domain),
                (_, false) => format!("changed {}:", plan.domain),
            };
            println!("{verb}");
            if let Some(from) = &plan.taken_over_from {
                println!("  taken over from {from}, in place");
            }
            for change in &plan.changes {
                println!("  {}: {} -> {}", change.field, show_value(&change.from), show_value(&change.to));
            }
            Ok(())
        }
        M365Command::Show { domain, app, graph: args } => {
            let admin = ctx.admin().await?;
            let graph = graph(ctx, &admin, &args).await?;
            let Some(domain) = domain else {
                let domains = admin.m365_domains(&graph).await?;
                if ctx.settings.json {
                    return output::json(&domains);
                }
                let rows = domains
                    .iter()
                    .map(|d| {
                        vec![
                            show_value(&d["domain"]),
                            show_value(&d["authenticationType"]),
                            show_value(&d["connector"]),
                            if d["isDefault"] == true {
                                "default"
                            } else if d["isInitial"] == true {
                                "initial"
                            } else {
                                ""
                            }
                            .into(),
                        ]
                    })
                    .collect();
                output::table(&["DOMAIN", "AUTHENTICATION", "CONNECTOR", ""], rows);
                return Ok(());
            };
            let shown = admin.m365_show(&graph, &domain, app.as_deref()).await?;
            if ctx.settings.json {
                return output::json(&shown);
            }
            println!(
                "{}: {}",
                shown["domain"].as_str().unwrap_or_default(),
                shown["authenticationType"].as_str().unwrap_or_default()
            );
            if let Some(config) = shown["federationConfiguration"].as_object() {
                for field in tessera_m365::federation::FIELDS {
                    println!("  {field}: {}", show_value(config.get(field).unwrap_or(&Value::Null)));
                }
            }
            for difference in shown["differences"].as_array().into_iter().flatten() {
                println!(
                    "  differs: {} is {} in Graph, {} for the connector",
                    difference["field"].as_str().unwrap_or_default(),
                    show_value(&difference["graph"]),
                    show_value(&difference["app"])
                );
            }
            Ok(())
        }
        M365Command::Credentials(cmd) => credentials(ctx, cmd).await,
        M365Command::Users { domain, fix, from_entra, dry_run, graph: args } => {
            let admin = ctx.admin().await?;
            let graph = graph(ctx, &admin, &args).await?;
            if fix {
                let done = admin.m365_users_fix(&ctx.actor, &graph, &domain, dry_run).await?;
                return m365_users::fixed(ctx, &done);
            }
            if from_entra {
                let done = admin.m365_users_from_entra(&ctx.actor, &graph, &domain, dry_run).await?;
                return m365_users::copied(ctx, &done);
            }
            let report = admin.m365_users(&graph, &domain).await?;
            m365_users::report(ctx, &report)
        }
        M365Command::Disable { domain, dry_run, graph: args } => {
            let admin = ctx.admin().await?;
            let graph = graph(ctx, &admin, &args).await?;
            let done = admin.m365_disable(&ctx.actor, &graph, &domain, dry_run).await?;
            if ctx.settings.json {
                return output::json(&done);
            }
            match (done.action, dry_run) {
                ("managed", _) => println!("{} is Managed already: nothing to change", done.domain),
                (_, true) => println!("would return {} to Managed", done.domain),
                _ => println!(
                    "{} is Managed: its users now need cloud passwords (or password hash sync); Microsoft documents up to 2 hours for the change to reach every sign-in",
                    done.domain
                ),
            }
            Ok(())
        }
    }
}

async fn credentials(ctx: &Ctx, cmd: M365CredentialsCommand) -> anyhow::Result<()> {
    let admin = ctx.admin().await?;
    match cmd {
        M365CredentialsCommand::Set { tenant, client_id, client_secret_stdin: _, client_certificate } => {
            let input = match client_certificate {
                Some(path) => CredentialInput::CertificatePem(
                    std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
                ),
                None => CredentialInput::Secret(super::read_password_stdin().context("the client secret")?),
            };
            let stored = admin.m365_set_credentials(&ctx.actor, &tenant, &client_id, input).await?;
            if ctx.settings.json {
                return output::json(&stored);
            }
            println!("stored the {} of app {} for tenant {}", stored.kind, stored.client_id, stored.tenant);
            Ok(())
        }
        M365CredentialsCommand::Show => {
            let stored = admin.m365_stored_credentials().await?;
            if ctx.settings.json {
                return output::json(&stored);
            }
            match stored {
                Some(s) => println!("tenant {}, app {}, {}", s.tenant, s.client_id, s.kind),
                None => println!("no Graph credentials are stored"),
            }
            Ok(())
        }
        M365CredentialsCommand::Delete => {
            let deleted = admin.m365_delete_credentials(&ctx.actor).await?;
            if ctx.settings.json {
                return output::json(&serde_json::json!({"deleted": deleted}));
            }
            println!(
                "{}",
                if deleted { "forgot the stored Graph credentials" } else { "no Graph credentials were stored" }
            );
            Ok(())
        }
    }
}
