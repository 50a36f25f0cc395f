//! The organization's brand on every page its users see: its name, a logo, an accent colour
//! that stays readable, and where to get help. Validated here once for every front-end.

use serde::{Deserialize, Serialize};

use crate::{CoreError, UnixMillis, validate};

/// The least contrast an accent colour must keep against white: WCAG 2.x level AA for normal
/// text, since the accent is the colour of links on white and the background of white button
/// labels.
pub const MIN_CONTRAST: f64 = 4.5;

/// The accent when none is set (contrast 5.9 against white).
pub const DEFAULT_ACCENT: &str = "#0b57d0";

/// The brand as stored (the logo is the admin service's own PNG re-encoding, as a data URI).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branding {
    /// The organization's name as its users know it; empty: "Tessera".
    #[serde(default)]
    pub organization: String,
    /// `#rrggbb`, readable on white; `None`: [`DEFAULT_ACCENT`].
    #[serde(default)]
    pub accent: Option<String>,
    /// Where a user finds help (the service desk's page): https.
    #[serde(default)]
    pub help_url: Option<String>,
    /// `data:image/png;base64,…`.
    #[serde(default)]
    pub logo: Option<String>,
    /// When it last changed: the version in the logo's and stylesheet's URLs.
    #[serde(default)]
    pub updated_at: UnixMillis,
}

impl Branding {
    /// The name pages show.
    pub fn organization_name(&self) -> &str {
        if self.organization.is_empty() { "Tessera" } else { &self.organization }
    }

    pub fn accent_colour(&self) -> &str {
        self.accent.as_deref().unwrap_or(DEFAULT_ACCENT)
    }
}

/// A change to the brand: each `Some` replaces that part (an empty text clears it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrandingChange {
    pub organization: Option<String>,
    pub accent: Option<String>,
    pub help_url: Option<String>,
}

impl BrandingChange {
    pub fn is_empty(&self) -> bool {
        self.organization.is_none() && self.accent.is_none() && self.help_url.is_none()
    }

    /// `brand` with this change applied, every part validated.
    pub fn apply(&self, brand: &Branding) -> Result<Branding, CoreError> {
        let mut changed = brand.clone();
        if let Some(name) = &self.organization {
            changed.organization =
                if name.trim().is_empty() { String::new() } else { validate::label("organization", name)? };
        }
        if let Some(accent) = &self.accent {
            changed.accent = if accent.trim().is_empty() { None } else { Some(accent_colour(accent)?) };
        }
        if let Some(url) = &self.help_url {
            changed.help_url = if url.trim().is_empty() { None } else { Some(help_url(url)?) };
        }
        Ok(changed)
    }
}

/// An accent colour: `#rrggbb` (or `#rgb`), lower-cased, with at least [`MIN_CONTRAST`] against
/// white.
pub fn accent_colour(text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    let rgb = parse_hex_colour(text).ok_or_else(|| {
        CoreError::invalid("accent", format!("{text:?} is not a colour: give it as #rrggbb, for example #0b57d0"))
    })?;
    let ratio = contrast_ratio(rgb, [255, 255, 255]);
    if ratio < MIN_CONTRAST {
        return Err(CoreError::invalid(
            "accent",
            format!(
                "{text} is too light to read on white (contrast {ratio:.1}:1, at least {MIN_CONTRAST}:1 is needed); \
                 choose a darker shade"
            ),
        ));
    }
    Ok(format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]))
}

/// A help link: an https URL (http only for a loopback host, as elsewhere).
pub fn help_url(text: &str) -> Result<String, CoreError> {
    validate::endpoint_url("help_url", text)
}

fn parse_hex_colour(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digit = |i: usize, width: usize| u8::from_str_radix(hex.get(i..i + width)?, 16).ok();
    match hex.len() {
        6 => Some([digit(0, 2)?, digit(2, 2)?, digit(4, 2)?]),
        3 => Some([digit(0, 1)? * 17, digit(1, 1)? * 17, digit(2, 1)? * 17]),
        _ => None,
    }
}

/// WCAG 2.x contrast ratio of two sRGB colours (1 to 21).
pub fn contrast_ratio(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (relative_luminance(a), relative_luminance(b));
    let (light, dark) = if la > lb { (la, lb) } else { (lb, la) };
    (light + 0.05) / (dark + 0.05)
}

fn relative_luminance(rgb: [u8; 3]) -> f64 {
    let linear = |channel: u8| {
        let c = f64::from(channel) / 255.0;
        if c <= 0.040_45 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_follows_wcag() {
        assert!((contrast_ratio([0, 0, 0], [255, 255, 255]) - 21.0).abs() < 1e-9);
        assert!((contrast_ratio([255, 255, 255], [255, 255, 255]) - 1.0).abs() < 1e-9);
        // #767676 is the lightest grey that passes AA on white (4.54:1).
        assert!((contrast_ratio([0x76, 0x76, 0x76], [255, 255, 255]) - 4.54).abs() < 0.01);
        assert!(contrast_ratio(parse_hex_colour(DEFAULT_ACCENT).unwrap(), [255, 255, 255]) >= MIN_CONTRAST);
    }

    #[test]
    fn an_unreadable_or_malformed_accent_is_refused() {
        assert_eq!(accent_colour(" #0B57D0 ").unwrap(), "#0b57d0");
        assert_eq!(accent_colour("#036").unwrap(), "#003366");
        assert_eq!(accent_colour("#767676").unwrap(), "#767676");
        for light in ["#777777", "#ffff00", "#fff", "#87ceeb"] {
            let error = accent_colour(light).unwrap_err();
            assert_eq!(error.field(), "accent");
            assert!(error.to_string().contains("too light"), "{error}");
        }
        for bad in ["", "0b57d0", "#0b57d", "#gggggg", "blue", "#0b57d0ff", "#0b57d0;}body{", "#é12"] {
            assert!(accent_colour(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_change_validates_and_clears() {
        let brand = Branding { organization: "Contoso".into(), accent: Some("#003366".into()), ..Branding::default() };
        let cleared = BrandingChange { organization: Some(" ".into()), accent: Some(String::new()), help_url: None }
            .apply(&brand)
            .unwrap();
        assert_eq!(cleared.organization_name(), "Tessera");
        assert_eq!(cleared.accent_colour(), DEFAULT_ACCENT);
        let bad_link = BrandingChange { help_url: Some("javascript:alert(1)".into()), ..BrandingChange::default() };
        assert_eq!(bad_link.apply(&brand).unwrap_err().field(), "help_url");
        let control = BrandingChange { organization: Some("Con\u{7}toso".into()), ..BrandingChange::default() };
        assert_eq!(control.apply(&brand).unwrap_err().field(), "organization");
    }
}
