//! Who is asking, by network address, as the sign-in rules see it. Reading the addresses from
//! a request (and believing forwarded headers only from trusted proxies) is the web edge's job.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddresses {
    /// The address decisions are made for (networks, throttling).
    pub client: IpAddr,
    /// Every address the request presents: all must be familiar for a familiar location.
    pub presented: Vec<String>,
}

impl ClientAddresses {
    /// A client that presents only its own address.
    pub fn direct(client: IpAddr) -> Self {
        ClientAddresses { client, presented: vec![client.to_string()] }
    }

    /// The key password-spray throttling counts by: the address, or for IPv6 its /64, since
    /// one host commonly holds a whole /64.
    pub fn throttle_key(&self) -> String {
        match self.client {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_throttled_by_its_64() {
        let key = |ip: &str| ClientAddresses::direct(ip.parse().unwrap()).throttle_key();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
    }
}
