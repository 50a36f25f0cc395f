use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use tessera_core::app::{AttributeMapping, M365Config, SettingsChange, default_m365_label};
use tessera_core::{AppKind, Application, NewApplication};
use tessera_keys::KeySize;
use tessera_web::views::{AccessView, AppView};

use super::{Ctx, all_pages};
use crate::cli::{AppAddCommand, AppCommand, CertCommand, KeyArgs, SettingsArgs};
use crate::output;

const MAX_PORTAL_IMAGE_BYTES: u64 = 256 * 1024;
const MAX_METADATA_BYTES: u64 = 1024 * 1024;

pub async fn run(ctx: &Ctx, cmd: AppCommand) -> anyhow::Result<()> {
    match cmd {
        AppCommand::Add(add) => {
            let public_url = ctx.public_url().await?;
            let (new, key_args) = new_application(&public_url, add)?;
            let key = match new.kind.signs() {
                true => {
                    let size = KeySize::from_bits(key_args.key_bits)?;
                    Some(ctx.keys().await?.new_key(new.id, &new.label, size, key_args.cert_validity_days).await?)
                }
                false => None,
            };
            let app = ctx.store.create_app(&ctx.actor, new, key).await?;
            if ctx.settings.json {
                return output::json(&AppView::new(&app, &public_url));
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
            let apps = all_pages(async |page| ctx.store.list_apps(page).await).await?;
            let public_url = ctx.public_url().await?;
            if ctx.settings.json {
                return output::json(&apps.iter().map(|a| AppView::new(a, &public_url)).collect::<Vec<_>>());
            }
            let rows = apps
                .iter()
                .map(|a| vec![a.id.to_string(), a.kind.name().to_string(), a.label.clone(), summary(a)])
                .collect();
            output::table(&["ID", "KIND", "LABEL", "TARGET"], rows);
            Ok(())
        }
        AppCommand::Show { app } => {
            let app = ctx.store.find_app(&app).await?;
            let public_url = ctx.public_url().await?;
            let view = AppView::new(&app, &public_url);
            if ctx.settings.json {
                return output::json(&view);
            }
            let groups = ctx.store.granted_groups(app.id).await?;
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
            Ok(())
        }
        AppCommand::Delete { apps, yes } => {
            let mut found = Vec::new();
            for key in &apps {
                found.push(ctx.store.find_app(key).await?);
            }
            let confirm_count = if yes { found.len() } else { ask_count(&found)? };
            let ids: Vec<_> = found.iter().map(|a| a.id).collect();
            let deleted = ctx.store.delete_apps(&ctx.actor, &ids, confirm_count).await?;
            if ctx.settings.json {
                return output::json(&serde_json::json!({"deleted": deleted}));
            }
            println!("deleted {deleted} application(s)");
            Ok(())
        }
        AppCommand::Grant { app, group } => {
            let app = ctx.store.find_app(&app).await?;
            let group = ctx.store.find_group(&group).await?;
            let granted = ctx.store.grant(&ctx.actor, app.id, group.id).await?;
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
            let app = ctx.store.find_app(&app).await?;
            let group = ctx.store.find_group(&group).await?;
            if !ctx.store.revoke(&ctx.actor, app.id, group.id).await? {
                bail!("group {} is not granted {}", group.name, app.label);
            }
            if !ctx.settings.json {
                println!("revoked {} from group {}", app.label, group.name);
            }
            Ok(())
        }
        AppCommand::Cert(CertCommand::Rotate { app, key }) => {
            let app = ctx.store.find_app(&app).await?;
            if !app.kind.signs() {
                bail!("{} is a bookmark: it signs nothing and has no certificate", app.label);
            }
            let size = KeySize::from_bits(key.key_bits)?;
            ctx.keys().await?.rotate(&ctx.actor, app.id, &app.label, size, key.cert_validity_days).await?;
            let app = ctx.store.find_app(&app.id.to_string()).await?;
            let view = AppView::new(&app, &ctx.public_url().await?);
            if ctx.settings.json {
                return output::json(&view);
            }
            println!("new signing certificate for {} is in use; give it to the relying party now", app.label);
            if let Some(der) = &app.certificates.current {
                println!("sha256 thumbprint: {}", tessera_keys::certificate_thumbprint_sha256(der));
            }
            Ok(())
        }
        AppCommand::Metadata { app, protocol } => {
            let app = ctx.store.find_app(&app).await?;
            let public_url = ctx.public_url().await?;
            let xml = match protocol.as_str() {
                "wsfed" => tessera_protocols::wsfed::for_application(&app, &public_url)?,
                _ => tessera_protocols::saml2::idp_metadata::for_application(&app, &public_url)?,
            };
            print!("{xml}");
            Ok(())
        }
        AppCommand::Set { app, settings, clear_attributes } => {
            let app = ctx.store.find_app(&app).await?;
            let change = settings_change(&settings, clear_attributes)?;
            if change.is_empty() {
                bail!("nothing to change: give at least one setting (see tessera app set --help)");
            }
            let kind = change.apply(&app.kind)?;
            let app = ctx.store.update_app_kind(&ctx.actor, app.id, &kind).await?;
            if ctx.settings.json {
                return output::json(&AppView::new(&app, &ctx.public_url().await?));
            }
            println!("updated {}", app.label);
            print_settings(&app);
            Ok(())
        }
        AppCommand::Policy { app, require_mfa, allowed_networks, any_network } => {
            let app = ctx.store.find_app(&app).await?;
            let mut policy = app.policy.clone();
            let changing = require_mfa.is_some() || !allowed_networks.is_empty() || any_network;
            if let Some(require) = require_mfa {
                policy.require_mfa = require;
            }
            if any_network {
                policy.allowed_networks.clear();
            } else if !allowed_networks.is_empty() {
                policy.allowed_networks = allowed_networks
                    .iter()
                    .map(|n| n.parse::<tessera_core::policy::Cidr>())
                    .collect::<Result<Vec<_>, _>>()?;
            }
            if changing {
                ctx.store.set_app_policy(&ctx.actor, app.id, &policy).await?;
            }
            if ctx.settings.json {
                return output::json(&policy);
            }
            println!("second factor: {}", if policy.require_mfa { "required" } else { "not required" });
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
            let app = ctx.store.find_app(&app).await?;
            let user = ctx.store.find_user(&user).await?;
            let view = AccessView::new(&user, &app, &ctx.store.check_access(user.id, app.id).await?);
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
            let config = tessera_protocols::saml2::sp_metadata::parse_sp_metadata(&bytes)
                .with_context(|| format!("cannot use {}", path.display()))?;
            if config.entity_id != tessera_core::app::ENTRA_RELYING_PARTY {
                bail!("{} is not Entra ID's SP metadata (entity ID {})", path.display(), config.entity_id);
            }
            let Some(certificate) = config.certificate else {
                bail!("{} carries no signing certificate", path.display());
            };
            Some(certificate)
        }
        None => None,
    };
    let require_signed_requests = match (&entra_certificate, args.no_signed_requests) {
        (Some(_), _) => Some(true),
        (None, true) => Some(false),
        (None, false) => None,
    };
    Ok(SettingsChange {
        attributes,
        login_url: args.login_url.clone(),
        require_signed_requests,
        entra_certificate,
        name_id_format: args.name_id_format.clone(),
        name_id_source: args.name_id_source.as_deref().map(str::parse).transpose()?,
        sign_assertion: args.sign_assertion,
        sign_response: args.sign_response,
        allow_sha1: args.allow_sha1,
        idp_initiated: args.idp_initiated,
    })
}

fn new_application(public_url: &str, add: AppAddCommand) -> anyhow::Result<(NewApplication, KeyArgs)> {
    let (kind, label, portal) = match add {
        AppAddCommand::M365 { domain, label, idp_path, settings, portal } => {
            let label = label.unwrap_or_else(|| default_m365_label(&domain));
            let mut config = M365Config::for_domain(&domain);
            config.idp_path = idp_path;
            let kind = settings_change(&settings, false)?.apply(&AppKind::M365(config))?;
            (kind, label, portal)
        }
        AppAddCommand::Saml { label, sp_metadata, settings, portal } => {
            let bytes = read_capped(&sp_metadata, MAX_METADATA_BYTES, "SP metadata")?;
            let config = tessera_protocols::saml2::sp_metadata::parse_sp_metadata(&bytes)
                .with_context(|| format!("cannot use {}", sp_metadata.display()))?;
            let kind = settings_change(&settings, false)?.apply(&AppKind::Saml(config))?;
            (kind, label, portal)
        }
        AppAddCommand::Wsfed { label, realm, reply_urls, settings, portal } => {
            let config = tessera_core::WsFedRpConfig::new(&realm, &reply_urls, Vec::new());
            let kind = settings_change(&settings, false)?.apply(&AppKind::WsFed(config))?;
            (kind, label, portal)
        }
        AppAddCommand::Bookmark { label, url, portal } => (AppKind::Bookmark { url }, label, portal),
    };
    let image = portal.portal_image.as_deref().map(portal_image_uri).transpose()?;
    let new =
        NewApplication::new(public_url, &label, portal.description.as_deref(), image, !portal.hide_in_portal, kind)?;
    Ok((new, portal.key))
}

fn read_capped(path: &Path, cap: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path).with_context(|| format!("cannot read {what} file {}", path.display()))?.len();
    if size > cap {
        bail!("{what} file {} is larger than {cap} bytes", path.display());
    }
    std::fs::read(path).with_context(|| format!("cannot read {what} file {}", path.display()))
}

/// A PNG or JPEG file as a data URI; the type is taken from the file's bytes, not its name.
fn portal_image_uri(path: &Path) -> anyhow::Result<String> {
    let bytes = read_capped(path, MAX_PORTAL_IMAGE_BYTES, "portal image")?;
    let mime = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else {
        bail!("portal image {} is neither PNG nor JPEG", path.display());
    };
    Ok(format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
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
