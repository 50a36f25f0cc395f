//! Who is asking, by network address: the peer, or what a trusted proxy says the peer was.
//! Forwarded headers from anyone else are ignored (SECURITY.md §1.5, catalog 26).

use std::net::IpAddr;

use axum::http::HeaderMap;
use tessera_core::policy::Cidr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddresses {
    /// The address decisions are made for (networks, throttling).
    pub client: IpAddr,
    /// Every address the request presents: all must be familiar for a familiar location.
    pub presented: Vec<String>,
}

fn trusted(ip: IpAddr, proxies: &[Cidr]) -> bool {
    proxies.iter().any(|p| p.contains(ip))
}

pub fn client_addresses(peer: IpAddr, headers: &HeaderMap, proxies: &[Cidr]) -> ClientAddresses {
    if !trusted(peer, proxies) {
        return ClientAddresses { client: peer, presented: vec![peer.to_string()] };
    }
    // X-Forwarded-For is appended to by each proxy: walk it from the right, past our own
    // proxies, to the first address they did not vouch for.
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|ip| ip.trim().parse().ok())
        .collect();
    let mut client = peer;
    for ip in chain.iter().rev() {
        client = *ip;
        if !trusted(*ip, proxies) {
            break;
        }
    }
    let mut presented = vec![client.to_string()];
    let exchange = headers
        .get("x-ms-forwarded-client-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    if let Some(ip) = exchange.filter(|ip| *ip != client) {
        presented.push(ip.to_string());
    }
    ClientAddresses { client, presented }
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

    #[test]
    fn forwarded_headers_only_from_trusted_proxies() {
        let proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let spoofed = client_addresses("198.51.100.7".parse().unwrap(), &headers("10.1.1.1"), &proxies);
        assert_eq!(spoofed.client.to_string(), "198.51.100.7");
        let via_proxy = client_addresses("10.0.0.2".parse().unwrap(), &headers("203.0.113.9, 10.0.0.3"), &proxies);
        assert_eq!(via_proxy.client.to_string(), "203.0.113.9");
        let forged_left = client_addresses("10.0.0.2".parse().unwrap(), &headers("1.2.3.4, 203.0.113.9"), &proxies);
        assert_eq!(forged_left.client.to_string(), "203.0.113.9", "only the right-most untrusted hop counts");
        let garbage = client_addresses("10.0.0.2".parse().unwrap(), &headers("not-an-ip"), &proxies);
        assert_eq!(garbage.client.to_string(), "10.0.0.2");
    }
}
