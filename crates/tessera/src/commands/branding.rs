//! `tessera branding`: the organization's brand on the pages users see.

use anyhow::Context;
use serde_json::json;
use tessera_admin::AdminError;
use tessera_admin::branding::LogoChange;
use tessera_core::branding::{Branding, BrandingChange};

use super::Ctx;
use super::apps::read_capped;
use crate::cli::BrandingCommand;
use crate::output;

pub async fn run(ctx: &Ctx, command: BrandingCommand) -> anyhow::Result<()> {
    let admin = ctx.admin().await?;
    let brand = match command {
        BrandingCommand::Show => admin.branding().await?,
        BrandingCommand::Set { organization, accent, help_url, logo, remove_logo } => {
            let change = BrandingChange { organization, accent, help_url };
            let logo = match (logo, remove_logo) {
                (Some(path), _) => {
                    LogoChange::Set(read_capped(&path, tessera_admin::portal_image::MAX_UPLOAD_BYTES as u64, "logo")?)
                }
                (None, true) => LogoChange::Remove,
                (None, false) => LogoChange::Keep,
            };
            admin.set_branding(&ctx.actor, &change, logo).await.map_err(|e| match e {
                // A part of the brand is refused by the flag it came in (an empty change names none).
                AdminError::Invalid { ref field, .. } if field != "branding" => {
                    let flag = format!("--{}", field.replace('_', "-"));
                    anyhow::Error::from(e).context(flag)
                }
                other => other.into(),
            })?
        }
    };
    show(ctx, &brand)
}

fn show(ctx: &Ctx, brand: &Branding) -> anyhow::Result<()> {
    let view = json!({
        "organization": brand.organization_name(),
        "accent": brand.accent_colour(),
        "help_url": brand.help_url,
        "logo": brand.logo.is_some(),
        "updated_at": (brand.updated_at > 0).then(|| tessera_core::format_millis(brand.updated_at)),
    });
    if ctx.settings.json {
        return output::json(&view).context("printing the brand");
    }
    println!("organization  {}", brand.organization_name());
    println!("accent        {}", brand.accent_colour());
    println!("help link     {}", brand.help_url.as_deref().unwrap_or("(none)"));
    println!("logo          {}", if brand.logo.is_some() { "set" } else { "(none)" });
    Ok(())
}
