//! The organization's brand on the pages users see: kept as one setting, changed with its
//! audit event in one transaction. A logo is an untrusted upload, checked and re-encoded as the
//! portal's tile images are.

use serde_json::json;
use tessera_core::branding::{Branding, BrandingChange};
use tessera_core::{Actor, AuditAction, NewAuditEvent};

use crate::portal_image::normalize_within;
use crate::{AdminError, AdminService};

/// The setting holding the brand (JSON).
pub const SETTING_BRANDING: &str = "branding";
/// The box a logo is fitted into: shown at most 48 CSS pixels high and 200 wide, at twice the
/// density for sharp screens.
pub const LOGO_WIDTH: u32 = 400;
pub const LOGO_HEIGHT: u32 = 96;

/// What happens to the logo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LogoChange {
    #[default]
    Keep,
    /// An upload (PNG, JPEG or WebP).
    Set(Vec<u8>),
    Remove,
}

impl AdminService {
    /// The brand as set (the default when none is).
    pub async fn branding(&self) -> Result<Branding, AdminError> {
        match self.store.get_setting(SETTING_BRANDING).await? {
            Some(text) if !text.is_empty() => serde_json::from_str(&text)
                .map_err(|e| AdminError::Store(tessera_store::StoreError::Corrupt(format!("{SETTING_BRANDING}: {e}")))),
            _ => Ok(Branding::default()),
        }
    }

    /// Changes the brand: every part is checked before anything is written, and nothing is
    /// written (nor audited) when the change is empty.
    pub async fn set_branding(
        &self,
        actor: &Actor,
        change: &BrandingChange,
        logo: LogoChange,
    ) -> Result<Branding, AdminError> {
        if change.is_empty() && logo == LogoChange::Keep {
            return Err(AdminError::invalid(
                "branding",
                "nothing to change: give an organization name, accent, help link or logo",
            ));
        }
        let before = self.branding().await?;
        let mut brand = change.apply(&before)?;
        let logo_summary = match logo {
            LogoChange::Keep => None,
            LogoChange::Set(upload) => {
                let png = normalize_within(&upload, "logo", LOGO_WIDTH, LOGO_HEIGHT)?;
                brand.logo = Some(crate::portal_image::png_data_uri(&png));
                Some("set")
            }
            LogoChange::Remove => {
                brand.logo = None;
                Some("removed")
            }
        };
        brand.updated_at = self.clock_now().max(before.updated_at + 1);
        let text = serde_json::to_string(&brand)
            .map_err(|e| AdminError::Store(tessera_store::StoreError::Corrupt(e.to_string())))?;
        let summary = json!({
            "organization": change.organization.as_ref().map(|_| &brand.organization),
            "accent": change.accent.as_ref().map(|_| &brand.accent),
            "help_url": change.help_url.as_ref().map(|_| &brand.help_url),
            "logo": logo_summary,
        });
        let event = NewAuditEvent::new(AuditAction::BrandingSet, "branding", SETTING_BRANDING, summary);
        self.store.change_setting(actor, SETTING_BRANDING, Some(&text), event).await?;
        Ok(brand)
    }
}
