//! What every page a user sees speaks and looks like: the language the request gets, the
//! organization's brand, and the catalog of their words. A middleware of the shell
//! (`shell::localize`) settles both once per request and keeps them beside the request's task
//! ([`Ui::scope`]), so a page (an error page included) is rendered in the user's language
//! without every handler passing them along.

pub mod brand;
pub mod catalog;
pub mod language;

use std::borrow::Borrow;
use std::future::Future;
use std::sync::Arc;

use tessera_core::branding::Branding;

pub use catalog::Arg;
pub use language::Language;

/// The cookie that keeps the user's own choice of language.
pub const LANGUAGE_COOKIE: &str = "tessera_lang";

tokio::task_local! {
    static PAGE: Ui;
}

/// A page's language and brand.
#[derive(Debug, Clone, Default)]
pub struct Ui {
    pub language: Language,
    brand: Arc<Branding>,
    /// Where the language switch comes back to: the page itself when it was asked for by a
    /// GET of one of the user's pages; else what the page says (`back_to`), or the portal.
    here: String,
    /// An admin portal page (English only, its messages its own).
    admin: bool,
}

/// The user's pages a language switch may come back to as they were asked for (a protocol
/// endpoint is not: its request would be sent again).
pub const PAGES: [&str; 6] = ["/", "/login", "/login/mfa", "/notice", "/account", "/mfa/totp"];

/// One entry of the language switch.
pub struct LanguageLink {
    pub code: &'static str,
    pub name: &'static str,
    pub href: String,
    pub current: bool,
}

impl Ui {
    /// A request's: `here` is where its language switch comes back to; `admin` for the admin
    /// portal's pages.
    pub fn for_request(language: Language, brand: Arc<Branding>, here: &str, admin: bool) -> Ui {
        Ui { language, brand, here: here.to_string(), admin }
    }

    /// Runs `work` (the request) with this as its pages' [`Ui::current`].
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        PAGE.scope(self, work).await
    }

    /// This request's ([`Ui::scope`]); English and the default brand outside a request.
    pub fn current() -> Ui {
        PAGE.try_with(Ui::clone).unwrap_or_default()
    }

    /// The same page, its language switch coming back to `path` (a page answering a form post
    /// names the page to come back to).
    pub fn back_to(mut self, path: &str) -> Ui {
        self.here = path.to_string();
        self
    }

    pub fn is_admin(&self) -> bool {
        self.admin
    }

    pub fn t(&self, key: &str) -> String {
        catalog::text(self.language, key, &[])
    }

    /// A message with one text variable.
    pub fn t1(&self, key: &str, name: &str, value: &str) -> String {
        catalog::text(self.language, key, &[(name, Arg::Text(value))])
    }

    /// A message with one count.
    pub fn tn(&self, key: &str, name: &str, count: impl Borrow<i64>) -> String {
        catalog::text(self.language, key, &[(name, Arg::Number(*count.borrow()))])
    }

    pub fn text(&self, key: &str, args: &[(&str, Arg<'_>)]) -> String {
        catalog::text(self.language, key, args)
    }

    pub fn lang(&self) -> &'static str {
        self.language.code()
    }

    pub fn date_time(&self, millis: impl Borrow<i64>) -> String {
        self.language.date_time(*millis.borrow())
    }

    pub fn date(&self, millis: impl Borrow<i64>) -> String {
        self.language.date(*millis.borrow())
    }

    pub fn organization(&self) -> &str {
        self.brand.organization_name()
    }

    pub fn logo_url(&self) -> Option<String> {
        self.brand.logo.as_ref().map(|_| format!("/branding/logo?v={}", self.brand.updated_at))
    }

    pub fn help_url(&self) -> Option<&str> {
        self.brand.help_url.as_deref()
    }

    /// The brand's stylesheet (its accent colour), versioned so a change shows at once.
    pub fn style_url(&self) -> String {
        format!("/branding/style.css?v={}", self.brand.updated_at)
    }

    pub fn languages(&self) -> Vec<LanguageLink> {
        let back = percent_encode(&self.here);
        Language::ALL
            .into_iter()
            .map(|language| LanguageLink {
                code: language.code(),
                name: language.native_name(),
                href: format!("/language/{}?back={back}", language.code()),
                current: language == self.language,
            })
            .collect()
    }
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_links_carry_the_page_encoded() {
        assert_eq!(percent_encode("/login?continue=a&b"), "/login%3Fcontinue%3Da%26b");
        let ui = Ui::for_request(Language::German, Arc::default(), "/login?continue=a", false);
        let links = ui.languages();
        assert_eq!(links[0].href, "/language/en?back=/login%3Fcontinue%3Da");
        assert!(links[1].current && !links[0].current);
    }
}
