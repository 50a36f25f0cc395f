use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, bail};
use tessera_admin::{AdminError, AppSpec, KeyOptions, MetadataProtocol, NewApp, PolicyChange};
use tessera_core::app::{AttributeMapping, SettingsChange};
use tessera_core::policy::MfaRequirement;
use tessera_core::{AppKind, Application};
use tessera_web::views::{AccessView, AppView};

use super::{Ctx, all_pages};
use crate::cli::{AppAddCommand, AppCommand, CertCommand, KeyArgs, MetadataFetchArgs, SettingsArgs};
use crate::output;

const MAX_METADATA_BYTES: u64 = 1024 * 1024;

pub async fn run(ctx: &Ctx, cmd: AppCommand) -> anyhow::Result<()> {
    let admin = ctx.admin().await?;
    match cmd {
        AppCommand::Add(add) => {
            let (metadata, admin) = match &add {
                AppAddCommand::Saml { sp_metadata, sp_metadata_url, fetch, .. } => (
                    sp_metadata.as_ref().map(|p| p.display().to_string()).or_else(|| sp_metadata_url.clone()),
                    admin.with_metadata_fetch(metadata_fetch(fetch)?),
                ),
                _ => (None, admin),
            };
            let app = admin.create_app(&ctx.actor, new_app(add)?).await.map_err(|e| in_file(e, metadata))?;
            if ctx.settings.json {
                return output::json(&AppView::new(&app, admin.public_url()));
            }
            println!("created {} application {:?} ({})", app.kind.name(), app.label, app.id);
            if let Some(issuer) = &app.issuer {
                println!("issuer: {issuer}");
            }
            if let Some(der) = &app.certificates.current {
                println!("signing certificate sha256: {}", tessera_keys::certificate_thumbprint_sha256(der));
            }
            Ok(())
        }
        AppCommand::List => {
            let apps = all_pages(async |page| admin.list_apps(page).await).await?;
            if ctx.settings.json {
                return output::json(&apps.iter().map(|a| AppView::new(a, admin.public_url())).collect::<Vec<_>>());
            }
            let rows = apps
                .iter()
                .map(|a| vec![a.id.to_string(), a.kind.name().to_string(), a.label.clone(), summary(a)])
                .collect();
            output::table(&["ID", "KIND", "LABEL", "TARGET"], rows);
            Ok(())
        }
        AppCommand::Trace { app, tracing } => {
            super::admin::set_tracing(ctx, tessera_core::tracing::TraceSubject::App, &app, tracing).await
        }
        AppCommand::Show { app } => {
            let (app, groups) = admin.granted_groups(&app).await?;
            let view = AppView::new(&app, admin.public_url());
            if ctx.settings.json {
                return output::json(&view);
            }
            println!("id:          {}", app.id);
            println!("kind:        {}", app.kind.name());
            println!("label:       {}", app.label);
            println!("target:      {}", summary(&app));
            println!("issuer:      {}", app.issuer.as_deref().unwrap_or("-"));
            println!("in portal:   {}", if app.show_in_portal { "shown" } else { "hidden" });
            print_settings(&app);
            println!("groups:      {}", groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", "));
            if let Some(endpoints) = view.endpoints.as_object() {
                for (name, url) in endpoints {
                    println!("{name:<28} {}", url.as_str().unwrap_or_default());
                }
            }
            if app.kind.signs() {
                print_timeline(&admin, &app).await?;
            }
            Ok(())
        }
        AppCommand::Delete { apps, yes } => {
            let mut found = Vec::new();
            for key in &apps {
                found.push(admin.find_app(key).await?);
            }
            let confirm_count = if yes { found.len() } else { ask_count(&found)? };
            let ids: Vec<_> = found.iter().map(|a| a.id).collect();
            let deleted = admin.delete_apps(&ctx.actor, &ids, confirm_count).await?;
            if ctx.settings.json {
                return output::json(&serde_json::json!({"deleted": deleted}));
            }
            println!("deleted {deleted} application(s)");
            Ok(())
        }
        AppCommand::Grant { app, group } => {
            let (app, group, granted) = admin.grant(&ctx.actor, &app, &group).await?;
            if ctx.settings.json {
                return output::json(
                    &serde_json::json!({"app_id": app.id.to_string(), "group_id": group.id.to_string(), "granted": granted}),
                );
            }
            match granted {
                true => println!("granted {} to group {}", app.label, group.name),
                false => println!("group {} already has {}", group.name, app.label),
            }
            Ok(())
        }
        AppCommand::Revoke { app, group } => {
            let (app, group) = admin.revoke(&ctx.actor, &app, &group).await?;
            if !ctx.settings.json {
                println!("revoked {} from group {}", app.label, group.name);
            }
            Ok(())
        }
        AppCommand::Cert(CertCommand::Rotate { app, key }) => {
            let app = admin.rotate_key(&ctx.actor, &app, key_options(&key)).await?;
            if ctx.settings.json {
                return output::json(&AppView::new(&app, admin.public_url()));
            }
            println!("new signing certificate for {} is in use; give it to the relying party now", app.label);
            if let Some(der) = &app.certificates.current {
                println!("sha256 thumbprint: {}", tessera_keys::certificate_thumbprint_sha256(der));
            }
            Ok(())
        }
        AppCommand::Cert(CertCommand::Stage { app, key }) => {
            let app = admin.stage_certificate(&ctx.actor, &app, key_options(&key)).await?;
            if ctx.settings.json {
                return output::json(&AppView::new(&app, admin.public_url()));
            }
            println!(
                "staged a next certificate for {}: published now, signing once promoted (`tessera app cert promote`)",
                app.label
            );
            print_timeline(&admin, &app).await
        }
        AppCommand::Cert(CertCommand::Promote { app, grace_days, force, graph }) => {
            // Forced, nothing is asked of Graph (it may be what is broken).
            let graph = if force { None } else { super::m365::graph_if_any(ctx, &admin, &graph).await? };
            let app = admin.promote_certificate(&ctx.actor, &app, Some(grace_days), force, graph.as_ref()).await?;
            if ctx.settings.json {
                return output::json(&AppView::new(&app, admin.public_url()));
            }
            println!("the staged certificate of {} signs from now on", app.label);
            print_timeline(&admin, &app).await
        }
        AppCommand::Cert(CertCommand::ClearPrevious { app }) => {
            let (app, cleared) = admin.clear_previous_certificate(&ctx.actor, &app).await?;
            if ctx.settings.json {
                return output::json(&serde_json::json!({"cleared": cleared}));
            }
            match cleared {
                true => println!(
                    "{} no longer publishes its previous certificate; push the change with `tessera m365 enable`",
                    app.label
                ),
                false => println!("{} publishes no previous certificate", app.label),
            }
            Ok(())
        }
        AppCommand::Metadata { app, protocol } => {
            let protocol = if protocol == "wsfed" { MetadataProtocol::WsFed } else { MetadataProtocol::Saml };
            print!("{}", admin.metadata(&app, protocol).await?.xml);
            Ok(())
        }
        AppCommand::Set { app, settings, clear_attributes } => {
            let app = admin.change_settings(&ctx.actor, &app, &settings_change(&settings, clear_attributes)?).await?;
            if ctx.settings.json {
                return output::json(&AppView::new(&app, admin.public_url()));
            }
            println!("updated {}", app.label);
            print_settings(&app);
            Ok(())
        }
        AppCommand::Policy { app, require_mfa, passwordless, allowed_networks, any_network } => {
            let allowed_networks = match (any_network, allowed_networks.is_empty()) {
                (true, _) => Some(Vec::new()),
                (false, false) => Some(allowed_networks),
                (false, true) => None,
            };
            let app = admin
                .set_policy(&ctx.actor, &app, &PolicyChange { require_mfa, passwordless, allowed_networks })
                .await?;
            let policy = &app.policy;
            if ctx.settings.json {
                return output::json(policy);
            }
            println!(
                "second factor: {}",
                match policy.mfa_requirement() {
                    MfaRequirement::No => "not required",
                    MfaRequirement::Yes => "required",
                    MfaRequirement::PhishingResistant => "required, a passkey only (phishing-resistant)",
                }
            );
            println!("passwordless:  {}", if policy.passwordless { "a passkey alone signs in" } else { "no" });
            match policy.allowed_networks.is_empty() {
                true => println!("networks:      any"),
                false => println!(
                    "networks:      {}",
                    policy.allowed_networks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
            }
            Ok(())
        }
        AppCommand::Access { app, user } => {
            let (app, user, decision) = admin.check_access(&app, &user).await?;
            let view = AccessView::new(&user, &app, &decision);
            if ctx.settings.json {
                return output::json(&view);
            }
            match view.reason {
                None => println!("allowed: {} may use {}", user.email, app.label),
                Some(reason) => println!("denied: {} may not use {} ({reason})", user.email, app.label),
            }
            Ok(())
        }
    }
}

/// The certificates and the dates of a rollover, one line each.
async fn print_timeline(admin: &tessera_admin::AdminService, app: &tessera_core::Application) -> anyhow::Result<()> {
    let timeline = admin.certificate_timeline(&app.id.to_string()).await?;
    if let Some(c) = &timeline.current {
        println!("signing:   sha256 {} (expires {})", c.sha256, c.not_after);
    }
    if let Some(c) = &timeline.staged {
        println!("staged:    sha256 {} (expires {})", c.sha256, c.not_after);
    }
    if let (Some(c), Some(until)) = (&timeline.previous, &timeline.previous_published_until) {
        println!("previous:  sha256 {} (published as next until {until})", c.sha256);
    }
    if let Some(at) = &timeline.automatic_stage_at {
        println!("automatic: stage from {at}");
    }
    if let Some(at) = &timeline.automatic_promote_at {
        println!("automatic: promote from {at}");
    }
    Ok(())
}

fn key_options(key: &KeyArgs) -> KeyOptions {
    KeyOptions { bits: Some(key.key_bits), validity_days: Some(key.cert_validity_days) }
}

/// A metadata file that cannot be used is named in the error.
fn in_file(e: AdminError, file: Option<String>) -> anyhow::Error {
    match (&e, file) {
        (AdminError::Invalid { field, .. }, Some(file)) if field == "sp_metadata" => {
            anyhow::Error::from(e).context(format!("cannot use {file}"))
        }
        _ => e.into(),
    }
}

fn print_settings(app: &Application) {
    let attributes = |mappings: &[AttributeMapping]| {
        mappings
            .iter()
            .map(|m| {
                format!(
                    "{}={}",
                    m.name,
                    serde_json::to_value(m.source)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &app.kind {
        AppKind::M365(c) => {
            println!("idp url:     {}", c.idp_path());
            println!("login url:   {}", c.login_url());
            println!(
                "attributes:  IDPEmail=upn{}",
                if c.attributes.is_empty() { String::new() } else { format!(", {}", attributes(&c.attributes)) }
            );
            println!(
                "signed requests: {}",
                if c.require_signed_requests { "required (Entra's certificate registered)" } else { "not required" }
            );
            println!(
                "device realms: {}",
                if c.device_realms.is_empty() {
                    "none (no hybrid join tokens)".to_string()
                } else {
                    c.device_realms.join(", ")
                }
            );
        }
        AppKind::Saml(c) => {
            println!(
                "name id:     {} from {}",
                c.name_id_format,
                serde_json::to_value(c.name_id_source)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            );
            println!("attributes:  {}", attributes(&c.attribute_mappings));
            println!(
                "signing:     assertion {}, response {}",
                if c.sign_assertion { "signed" } else { "unsigned" },
                if c.sign_response { "signed" } else { "unsigned" }
            );
        }
        AppKind::WsFed(c) => {
            println!("realm:       {}", c.realm);
            println!("reply urls:  {}", c.reply_urls.join(", "));
            println!(
                "name id:     from {}",
                serde_json::to_value(c.name_id_source)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            );
            println!("claims:      {}", attributes(&c.attribute_mappings));
        }
        AppKind::Bookmark { .. } => {}
    }
}

fn summary(app: &Application) -> String {
    match &app.kind {
        AppKind::M365(c) => c.domain.clone(),
        AppKind::Saml(c) => c.entity_id.clone(),
        AppKind::WsFed(c) => c.realm.clone(),
        AppKind::Bookmark { url } => url.clone(),
    }
}

/// The settings flags as a change to apply.
fn settings_change(args: &SettingsArgs, clear_attributes: bool) -> anyhow::Result<SettingsChange> {
    let attributes = if clear_attributes {
        Some(Vec::new())
    } else if args.attributes.is_empty() {
        None
    } else {
        Some(args.attributes.iter().map(|a| AttributeMapping::parse(a)).collect::<Result<Vec<_>, _>>()?)
    };
    let entra_certificate = match &args.entra_sp_metadata {
        Some(path) => {
            let bytes = read_capped(path, MAX_METADATA_BYTES, "Entra SP metadata")?;
            Some(tessera_admin::entra_certificate(&bytes).with_context(|| format!("cannot use {}", path.display()))?)
        }
        None => None,
    };
    let require_signed_requests = match (&entra_certificate, args.no_signed_requests) {
        (Some(_), _) => Some(true),
        (None, true) => Some(false),
        (None, false) => None,
    };
    let device_realms = match (args.device_realms.is_empty(), args.no_device_realms) {
        (_, true) => Some(Vec::new()),
        (false, false) => Some(args.device_realms.clone()),
        (true, false) => None,
    };
    Ok(SettingsChange {
        attributes,
        login_url: args.login_url.clone(),
        require_signed_requests,
        entra_certificate,
        device_realms,
        name_id_format: args.name_id_format.clone(),
        name_id_source: args.name_id_source.as_deref().map(str::parse).transpose()?,
        sign_assertion: args.sign_assertion,
        sign_response: args.sign_response,
        allow_sha1: args.allow_sha1,
        idp_initiated: args.idp_initiated,
    })
}

/// The `app add` flags as the admin service takes them; files are read here.
fn new_app(add: AppAddCommand) -> anyhow::Result<NewApp> {
    let (spec, label, settings, portal) = match add {
        AppAddCommand::M365 { domain, label, idp_path, settings, portal } => {
            (AppSpec::M365 { domain, idp_path }, label, settings_change(&settings, false)?, portal)
        }
        AppAddCommand::Saml { label, sp_metadata, sp_metadata_url, settings, portal, .. } => {
            let spec = match (sp_metadata, sp_metadata_url) {
                (Some(path), _) => {
                    AppSpec::Saml { sp_metadata: read_capped(&path, MAX_METADATA_BYTES, "SP metadata")? }
                }
                (None, Some(url)) => AppSpec::SamlMetadataUrl { url },
                (None, None) => bail!("give --sp-metadata FILE or --sp-metadata-url URL"),
            };
            (spec, Some(label), settings_change(&settings, false)?, portal)
        }
        AppAddCommand::Wsfed { label, realm, reply_urls, settings, portal } => {
            (AppSpec::WsFed { realm, reply_urls }, Some(label), settings_change(&settings, false)?, portal)
        }
        AppAddCommand::Bookmark { label, url, portal } => {
            (AppSpec::Bookmark { url }, Some(label), SettingsChange::default(), portal)
        }
    };
    Ok(NewApp {
        spec,
        label,
        description: portal.description,
        portal_image: portal
            .portal_image
            .as_deref()
            .map(|path| read_capped(path, tessera_admin::portal_image::MAX_UPLOAD_BYTES as u64, "portal image"))
            .transpose()?,
        show_in_portal: !portal.hide_in_portal,
        settings,
        key: key_options(&portal.key),
    })
}

pub fn read_capped(path: &Path, cap: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path).with_context(|| format!("cannot read {what} file {}", path.display()))?.len();
    if size > cap {
        bail!("{what} file {} is larger than {cap} bytes", path.display());
    }
    std::fs::read(path).with_context(|| format!("cannot read {what} file {}", path.display()))
}

/// The rules SP metadata is fetched by, from `serve`'s or `app add saml`'s options.
pub fn metadata_fetch(args: &MetadataFetchArgs) -> anyhow::Result<tessera_admin::metadata_url::MetadataFetch> {
    let ca = match &args.metadata_ca_file {
        Some(path) => Some(read_capped(path, MAX_METADATA_BYTES, "metadata CA")?),
        None => None,
    };
    tessera_admin::metadata_url::MetadataFetch::new(&args.allow_metadata_hosts, ca.as_deref())
        .context("--metadata-ca-file")
}

/// The seed product's safeguard: the admin types how many applications are going.
fn ask_count(apps: &[Application]) -> anyhow::Result<usize> {
    let labels: Vec<&str> = apps.iter().map(|a| a.label.as_str()).collect();
    eprint!(
        "Deleting {} application(s): {}.\nType the number of applications to delete: ",
        apps.len(),
        labels.join(", ")
    );
    std::io::stderr().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("no confirmation given on standard input; nothing deleted (pass --yes to skip the question)");
    }
    line.trim().parse::<usize>().map_err(|_| anyhow::anyhow!("{:?} is not a number; nothing deleted", line.trim()))
}
