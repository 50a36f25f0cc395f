//! Who is asking, by network address: the peer, or what a trusted proxy says the peer was.
//! Forwarded headers from anyone else are ignored (SECURITY.md §1.5, catalog 26).

use std::net::IpAddr;

use axum::http::HeaderMap;
use tessera_auth::client::ClientAddresses;
use tessera_core::policy::Cidr;

fn trusted(ip: IpAddr, proxies: &[Cidr]) -> bool {
    proxies.iter().any(|p| p.contains(ip))
}

/// One X-Forwarded-For entry: an address, optionally with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    entry.rsplit_once(':').and_then(|(ip, port)| port.parse::<u16>().ok().and(ip.parse().ok()))
}

/// The client's addresses, or `None` when a trusted proxy's header cannot be read: the request
/// is then refused rather than attributed to the proxy (which allow-lists often cover).
pub fn client_addresses(peer: IpAddr, headers: &HeaderMap, proxies: &[Cidr]) -> Option<ClientAddresses> {
    if !trusted(peer, proxies) {
        return Some(ClientAddresses { client: peer, presented: vec![peer.to_string()] });
    }
    // Each proxy appends the address it received from: walk from the right, past our own
    // proxies, to the first address they did not vouch for. Anything left of it is whatever
    // the client chose to send, and is not read.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        client = parse_hop(hop)?;
        if !trusted(client, proxies) {
            break;
        }
    }
    let mut presented = vec![client.to_string()];
    if let Some(value) = headers.get("x-ms-forwarded-client-ip") {
        let ip = parse_hop(value.to_str().ok()?)?;
        if ip != client {
            presented.push(ip.to_string());
        }
    }
    Some(ClientAddresses { client, presented })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    fn client(peer: &str, xff: &str) -> Option<String> {
        let proxies = vec!["10.0.0.0/8".parse().unwrap()];
        client_addresses(peer.parse().unwrap(), &headers(xff), &proxies).map(|c| c.client.to_string())
    }

    #[test]
    fn forwarded_headers_only_from_trusted_proxies() {
        assert_eq!(client("198.51.100.7", "10.1.1.1").as_deref(), Some("198.51.100.7"));
        assert_eq!(client("10.0.0.2", "203.0.113.9, 10.0.0.3").as_deref(), Some("203.0.113.9"));
        assert_eq!(
            client("10.0.0.2", "1.2.3.4, 203.0.113.9").as_deref(),
            Some("203.0.113.9"),
            "only the right-most untrusted hop"
        );
        assert_eq!(client("10.0.0.2", "203.0.113.9:5678").as_deref(), Some("203.0.113.9"), "ports are allowed");
        assert_eq!(client("10.0.0.2", "[2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn garbage_the_client_sent_left_of_the_real_hop_is_not_read() {
        assert_eq!(client("10.0.0.2", "x, 203.0.113.9").as_deref(), Some("203.0.113.9"));
    }

    /// SECURITY.md §5 item 26: Exchange's `x-ms-forwarded-client-ip` is read from a trusted
    /// proxy only, and then only adds an address every one of which must be familiar.
    #[test]
    fn x_ms_forwarded_client_ip_from_an_untrusted_peer_is_ignored() {
        let proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert("x-ms-forwarded-client-ip", HeaderValue::from_static("10.9.9.9"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.9.9.9"));
        let direct = client_addresses("198.51.100.7".parse().unwrap(), &h, &proxies).unwrap();
        assert_eq!(
            (direct.client.to_string(), direct.presented),
            ("198.51.100.7".to_string(), vec!["198.51.100.7".to_string()])
        );
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        let proxied = client_addresses("10.0.0.2".parse().unwrap(), &h, &proxies).unwrap();
        assert_eq!(proxied.client.to_string(), "203.0.113.9");
        assert_eq!(proxied.presented, vec!["203.0.113.9".to_string(), "10.9.9.9".to_string()]);
        h.insert("x-ms-forwarded-client-ip", HeaderValue::from_static("junk"));
        assert!(client_addresses("10.0.0.2".parse().unwrap(), &h, &proxies).is_none(), "unreadable: refused");
    }

    #[test]
    fn an_unreadable_hop_is_never_attributed_to_the_proxy() {
        assert_eq!(client("10.0.0.2", "not-an-ip"), None);
        assert_eq!(client("10.0.0.2", "203.0.113.9, junk"), None);
    }
}
