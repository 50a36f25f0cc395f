//! Cookies, read from the request and written as Set-Cookie values, with the attributes
//! DESIGN.md asks for.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

pub const SESSION: &str = "tessera_session";
pub const CSRF: &str = "tessera_csrf";
pub const BROWSER: &str = "tessera_browser";
/// Windows integrated sign-in asked of this browser (`asked`), or not to be asked again in
/// this browser session (`off`: it did not answer, its ticket was refused, or it signed out).
pub const WINDOWS: &str = "tessera_windows";
/// The admin portal's session: its own cookie, sent only to `/admin` and never cross-site.
pub const ADMIN_SESSION: &str = "tessera_admin";
const ADMIN_PATH: &str = "/admin";

/// The value of cookie `name`, if the request carries it once (duplicates are refused, so a
/// planted cookie cannot shadow ours).
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else { continue };
            if key == name {
                if found.is_some() {
                    return None;
                }
                found = Some(value.to_string());
            }
        }
    }
    found.filter(|v| {
        !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// How cookies are marked: `Secure` (and so `SameSite=None` where a cross-site POST must
/// carry them) only when the public URL is https.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Site {
    /// Rides on cross-site protocol POSTs (the IdP session, the browser binding).
    CrossSite,
    /// Only ever needed by our own forms.
    Strict,
}

impl CookiePolicy {
    pub fn set(&self, name: &str, value: &str, site: Site, max_age_seconds: Option<i64>) -> String {
        let same_site = match (site, self.secure) {
            (Site::Strict, _) => "Strict",
            (Site::CrossSite, true) => "None",
            (Site::CrossSite, false) => "Lax",
        };
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
        if self.secure {
            cookie.push_str("; Secure");
        }
        if let Some(age) = max_age_seconds {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        cookie
    }

    /// The admin session cookie: `Path=/admin`, `SameSite=Strict`, `HttpOnly`, `Secure` on https.
    pub fn admin_session(&self, value: &str) -> String {
        let mut cookie = format!("{ADMIN_SESSION}={value}; Path={ADMIN_PATH}; HttpOnly; SameSite=Strict");
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }

    pub fn clear_admin_session(&self) -> String {
        let mut cookie = format!("{ADMIN_SESSION}=; Path={ADMIN_PATH}; HttpOnly; SameSite=Strict; Max-Age=0");
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }

    pub fn clear(&self, name: &str) -> String {
        let mut cookie = format!("{name}=; Path=/; HttpOnly; Max-Age=0");
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_one_cookie_and_refuses_duplicates() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=1; tessera_session=abc_-9; b=2"));
        assert_eq!(read(&headers, SESSION).as_deref(), Some("abc_-9"));
        headers.append(COOKIE, HeaderValue::from_static("tessera_session=other"));
        assert_eq!(read(&headers, SESSION), None);
        let mut odd = HeaderMap::new();
        odd.insert(COOKIE, HeaderValue::from_static("tessera_session=a%20b"));
        assert_eq!(read(&odd, SESSION), None);
    }

    #[test]
    fn attributes_follow_the_scheme() {
        let https = CookiePolicy { secure: true };
        assert_eq!(
            https.set(SESSION, "v", Site::CrossSite, None),
            "tessera_session=v; Path=/; HttpOnly; SameSite=None; Secure"
        );
        let http = CookiePolicy { secure: false };
        assert_eq!(http.set(SESSION, "v", Site::CrossSite, None), "tessera_session=v; Path=/; HttpOnly; SameSite=Lax");
        assert!(http.set(CSRF, "v", Site::Strict, Some(60)).contains("SameSite=Strict; Max-Age=60"));
    }
}
