//! A browser's part in a sign-in, over plain HTTP to a running `serve`: cookies kept, redirects
//! not followed (the test reads each step), forms posted. Enough for the sign-in page and a
//! SAML request; the browser tests (interop/browser) do the rest in Chromium.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub(super) struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

pub(super) struct WebClient {
    port: u16,
    cookies: BTreeMap<String, String>,
    /// Between a request's head and its body: a slow network sends them in two packets.
    pause_before_body: Duration,
}

/// A chunked body put back together.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

impl WebClient {
    pub fn new(port: u16) -> WebClient {
        WebClient { port, cookies: BTreeMap::new(), pause_before_body: Duration::ZERO }
    }

    /// Sends what follows to another port (a load balancer in front of the node signed in on),
    /// with the cookies kept.
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// Sends each request's body that long after its head from now on.
    pub fn pause_before_body(&mut self, pause: Duration) {
        self.pause_before_body = pause;
    }

    pub fn cookie(&self, name: &str) -> String {
        self.cookies.get(name).cloned().unwrap_or_default()
    }

    fn send(&mut self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Page {
        let body = form
            .map(|fields| {
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", super::bounds::form_encode(v)))
                    .collect::<Vec<_>>()
                    .join("&")
            })
            .unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n", self.port);
        if !self.cookies.is_empty() {
            let pairs: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            head.push_str(&format!("Cookie: {}\r\n", pairs.join("; ")));
        }
        if form.is_some() {
            head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes()).unwrap();
        std::thread::sleep(self.pause_before_body);
        stream.write_all(body.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (mut location, mut chunked, mut retry_after) = (None, false, None);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "location" => location = Some(value.to_string()),
                "retry-after" => retry_after = Some(value.to_string()),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "set-cookie" => {
                    let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
                    if let Some((k, v)) = pair.split_once('=') {
                        if attributes.contains("Max-Age=0") {
                            self.cookies.remove(k.trim());
                        } else {
                            self.cookies.insert(k.trim().to_string(), v.trim().to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        let body = if chunked { dechunk(body) } else { body.to_string() };
        Page { status, location, retry_after, body }
    }

    pub fn get(&mut self, path: &str) -> Page {
        self.send("GET", path, None)
    }

    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.send("POST", path, Some(fields))
    }

    /// Signs in on the sign-in page, and acknowledges the password notice if it comes.
    pub fn sign_in(&mut self, username: &str, password: &str) -> Page {
        self.get("/login");
        let csrf = self.cookie("tessera_csrf");
        let page =
            self.post("/login", &[("username", username), ("password", password), ("csrf", &csrf), ("continue", "")]);
        if page.location.as_deref() == Some("/notice") {
            let csrf = self.cookie("tessera_csrf");
            return self.post("/notice", &[("csrf", &csrf), ("continue", "")]);
        }
        page
    }

    /// An SP-initiated SAML request as Entra sends it (POST binding, ID `id`) to the connector
    /// of `domain`, from this (signed-in) browser: the auto-POST page, or the refusal.
    pub fn entra_sign_on(&mut self, domain: &str, id: &str) -> Page {
        use base64::Engine;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        let request = format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="{id}" IssueInstant="{}" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>"#,
            tessera_core::format_millis(now as i64)
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(request);
        self.post(&format!("/m365/{domain}/saml/sso"), &[("SAMLRequest", &encoded)])
    }
}

/// HTML's character references undone (named and numeric).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else { break };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of the hidden field `name` of an auto-POST page.
pub(super) fn hidden_field(page: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')? + start;
    Some(unescape(&page[start..end]))
}
