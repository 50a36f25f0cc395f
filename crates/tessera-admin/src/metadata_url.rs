//! SP metadata fetched from a URL, without letting the URL reach into Tessera's own network
//! (SECURITY.md, "SSRF in metadata URL import"): https only; the host resolved once, each of
//! its addresses checked, and the connection made to the checked address (no second lookup for
//! a rebinding DNS server to answer differently); redirects followed by hand, a few at most,
//! each hop checked the same way; no proxy; the body capped while it is read; the whole fetch
//! within a deadline. A host the administrator names (`serve --allow-metadata-host`) skips the
//! address check, for an SP that lives on the internal network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

use crate::AdminError;

/// The largest metadata document taken (the parser's own cap).
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// The whole fetch, redirects and body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REDIRECTS: usize = 3;
const FIELD: &str = "sp_metadata_url";

fn refused(message: impl Into<String>) -> AdminError {
    AdminError::invalid(FIELD, message)
}

/// How metadata is fetched: which hosts may be internal, and which extra certificate
/// authorities are trusted beside the system's.
#[derive(Debug, Clone, Default)]
pub struct MetadataFetch {
    allowed_hosts: Vec<String>,
    extra_roots: Vec<reqwest::Certificate>,
    timeout: Option<Duration>,
}

impl MetadataFetch {
    /// `allowed_hosts` as written in URLs (a name or an address); `ca_pem` a PEM bundle of
    /// authorities trusted for metadata hosts besides the system's.
    pub fn new(allowed_hosts: &[String], ca_pem: Option<&[u8]>) -> Result<Self, AdminError> {
        let extra_roots = match ca_pem {
            Some(pem) => reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| AdminError::invalid("metadata_ca_file", format!("not a PEM certificate bundle: {e}")))?,
            None => Vec::new(),
        };
        if ca_pem.is_some() && extra_roots.is_empty() {
            return Err(AdminError::invalid("metadata_ca_file", "the file holds no certificate"));
        }
        let allowed_hosts = allowed_hosts
            .iter()
            .map(|h| h.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        Ok(MetadataFetch { allowed_hosts, extra_roots, timeout: None })
    }

    /// A shorter deadline than [`FETCH_TIMEOUT`] (tests of a server that never answers).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The document at `url`, or why it was not fetched.
    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, AdminError> {
        let timeout = self.timeout.unwrap_or(FETCH_TIMEOUT);
        let url = parse(url)?;
        match tokio::time::timeout(timeout, self.follow(url)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(refused(format!("the metadata did not arrive within {} s", timeout.as_secs_f32()))),
        }
    }

    async fn follow(&self, mut url: Url) -> Result<Vec<u8>, AdminError> {
        for _ in 0..=MAX_REDIRECTS {
            let client = self.client_for(&url).await?;
            let response = client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/samlmetadata+xml, application/xml, text/xml")
                .send()
                .await
                .map_err(|e| refused(format!("{} could not be fetched: {}", url, describe(&e))))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| refused(format!("{url} redirects without saying where")))?;
                let next =
                    url.join(location).map_err(|_| refused(format!("{url} redirects to an unreadable address")))?;
                url = parse(next.as_str())?;
                continue;
            }
            if !status.is_success() {
                return Err(refused(format!("{url} answered {status}")));
            }
            return read_capped(response, &url).await;
        }
        Err(refused(format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// A client that connects to `url`'s host at the one address checked for it.
    async fn client_for(&self, url: &Url) -> Result<reqwest::Client, AdminError> {
        let host = url.host().ok_or_else(|| refused("the URL names no host"))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let written =
            url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let allowed = self.allowed_hosts.contains(&written);
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .connect_timeout(FETCH_TIMEOUT)
            .user_agent(concat!("Tessera/", env!("CARGO_PKG_VERSION"), " (SP metadata)"));
        for root in &self.extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        match host {
            Host::Ipv4(ip) => check(IpAddr::V4(ip), &written, allowed)?,
            Host::Ipv6(ip) => check(IpAddr::V6(ip), &written, allowed)?,
            Host::Domain(domain) => {
                let addresses: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
                    .await
                    .map_err(|_| refused(format!("{domain} does not resolve")))?
                    .collect();
                let first = *addresses.first().ok_or_else(|| refused(format!("{domain} does not resolve")))?;
                for address in &addresses {
                    check(address.ip(), &written, allowed)?;
                }
                builder = builder.resolve(domain, first);
            }
        }
        builder.build().map_err(|e| refused(format!("the fetch could not be prepared: {e}")))
    }
}

/// An https URL without credentials in it.
fn parse(url: &str) -> Result<Url, AdminError> {
    let parsed = Url::parse(url.trim()).map_err(|_| refused(format!("{url:?} is not a URL")))?;
    if parsed.scheme() != "https" {
        return Err(refused(format!("only https URLs are fetched, not {}:", parsed.scheme())));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refused("a metadata URL carries no user name or password"));
    }
    if parsed.host().is_none() {
        return Err(refused("the URL names no host"));
    }
    Ok(parsed)
}

fn check(ip: IpAddr, host: &str, allowed: bool) -> Result<(), AdminError> {
    match internal_kind(ip) {
        Some(kind) if !allowed => Err(refused(format!(
            "{host} is {ip}, {kind}: metadata is not fetched from Tessera's own network \
             (serve --allow-metadata-host {host} allows it)"
        ))),
        _ => Ok(()),
    }
}

/// What kind of address that an outside URL must not reach `ip` is, if it is one.
pub fn internal_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => v4_kind(ip),
        IpAddr::V6(ip) => v6_kind(ip),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata services live there)")
    } else if a == 0 || ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("not a unicast internet address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a carrier-grade NAT address")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("a benchmarking address")
    } else if ip.is_documentation() || (a == 192 && b == 0 && c == 0) {
        Some("a reserved address")
    } else {
        None
    }
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(high) << 16 | u32::from(low))
}

/// IPv6 is refused unless it is global unicast (`2000::/3`) and none of the ranges that carry
/// an IPv4 address (judged as that address) or reach a local network.
fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), SIIT (::ffff:0:a.b.c.d),
    // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48), 6to4 (2002::/16).
    let carried = match s {
        [0, 0, 0, 0, 0, 0xffff, h, l] | [0, 0, 0, 0, 0, 0, h, l] | [0, 0, 0, 0, 0xffff, 0, h, l] => {
            Some(embedded_v4(h, l))
        }
        [0x64, 0xff9b, 0, 0, 0, 0, h, l] | [0x64, 0xff9b, 1, _, _, _, h, l] => Some(embedded_v4(h, l)),
        [0x2002, h, l, ..] => Some(embedded_v4(h, l)),
        _ => None,
    };
    if let Some(v4) = carried {
        return v4_kind(v4);
    }
    if s[0] & 0xe000 != 0x2000 {
        return Some(if s[0] & 0xfe00 == 0xfc00 {
            "a unique local (private) address"
        } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
            "a link-local or site-local address"
        } else {
            "not a global unicast address"
        });
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        Some("a documentation address")
    } else if s[0] == 0x2001 && s[1] == 0 {
        Some("a Teredo address")
    } else {
        None
    }
}

async fn read_capped(mut response: reqwest::Response, url: &Url) -> Result<Vec<u8>, AdminError> {
    let too_large = || refused(format!("{url} sent more than 1 MiB: that is not SP metadata"));
    if response.content_length().is_some_and(|length| length > MAX_METADATA_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| refused(format!("{url} could not be read: {}", describe(&e))))?
    {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error in one line, with its deepest cause (which says what went wrong).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() { "no answer in time".to_string() } else { tessera_m365::graph::deepest(error) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<&'static str> {
        internal_kind(text.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_named() {
        for internal in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.5",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:5",
            "2002:a00:5::1",
            "::127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "fec0::1",
            "2001::1",
            "100::1",
        ] {
            assert!(kind(internal).is_some(), "{internal}");
        }
        for public in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"] {
            assert_eq!(kind(public), None, "{public}");
        }
    }

    #[tokio::test]
    async fn addresses_written_any_way_are_refused_before_a_connection() {
        // A short deadline: a refusal comes from the checks, never from a connection tried.
        let fetch = MetadataFetch::default().with_timeout(Duration::from_millis(500));
        for (url, said) in [
            ("https://127.0.0.1/metadata.xml", "loopback"),
            ("https://169.254.169.254/latest/meta-data/", "link-local"),
            ("https://10.0.0.5/", "private"),
            ("https://[::1]/", "loopback"),
            ("https://[::127.0.0.1]/", "loopback"),
            ("https://[fc00::1]/", "unique local"),
            ("https://0x7f000001/", "loopback"),
            ("https://2130706433/", "loopback"),
            ("https://0177.0.0.1/", "loopback"),
            ("https://localhost/", "loopback"),
            ("http://example.com/metadata.xml", "only https"),
            ("file:///etc/passwd", "only https"),
            ("ftp://example.com/", "only https"),
            ("https://user:secret@example.com/", "user name"),
            ("not a url", "is not a URL"),
        ] {
            let started = std::time::Instant::now();
            let refused = fetch.fetch(url).await.unwrap_err();
            let message = refused.to_string();
            assert!(message.contains(said), "{url}: {message}");
            assert!(started.elapsed() < Duration::from_millis(400), "{url}: refused by a check, not a timeout");
        }
    }

    #[test]
    fn allowed_hosts_are_taken_as_written() {
        let fetch = MetadataFetch::new(&["SP.Internal.example".into(), "[::1]".into()], None).unwrap();
        assert_eq!(fetch.allowed_hosts, ["sp.internal.example", "::1"]);
        assert!(MetadataFetch::new(&[], Some(b"not pem")).is_err());
    }
}
