//! Which addresses a user-supplied URL may reach.
//!
//! The rule is "public unicast only": every special-purpose range of the IANA registries that is
//! not globally reachable is refused — loopback, private (RFC 1918, unique local `fc00::/7`),
//! link-local (`169.254/16` with the cloud metadata address `169.254.169.254`, `fe80::/10`),
//! shared address space (CGNAT `100.64/10`), unspecified, broadcast, multicast, documentation,
//! benchmarking and reserved ranges. Addresses that embed an IPv4 address (IPv4-mapped and
//! -compatible IPv6, NAT64, 6to4) are judged by the embedded address, so `::ffff:127.0.0.1`
//! is loopback. Teredo is refused outright: its embedded client address is obfuscated and the
//! relay it implies is not ours to trust.
//!
//! Operators can open holes with an allow-list of host names and CIDR blocks (for tests, or a
//! media server on the intranet); nothing else changes the rule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

/// Why an address is not public, or `None` for a public unicast address.
pub fn classify(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(address: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = address.octets();
    let reason = match (a, b, c) {
        _ if address.is_broadcast() => "broadcast",
        (0, _, _) => "unspecified",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private",
        (100, 64..=127, _) => "shared address space (CGNAT)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "deprecated 6to4 relay anycast",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    };
    Some(reason)
}

fn classify_v6(address: Ipv6Addr) -> Option<&'static str> {
    if address.is_unspecified() {
        return Some("unspecified");
    }
    if address.is_loopback() {
        return Some("loopback");
    }
    let segments = address.segments();
    let embedded_v4 = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match segments {
        // IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible (::a.b.c.d).
        [0, 0, 0, 0, 0, 0xffff, high, low] | [0, 0, 0, 0, 0, 0, high, low] => {
            return classify_v4(embedded_v4(high, low));
        }
        // NAT64 well-known prefix: the gateway will connect to the embedded address.
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => return classify_v4(embedded_v4(high, low)),
        // 6to4: 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
        [0x2002, high, low, ..] => return classify_v4(embedded_v4(high, low)),
        _ => {}
    }
    let first = segments[0];
    let reason = match first {
        _ if segments[..3] == [0x64, 0xff9b, 1] => "local-use NAT64",
        _ if segments[..4] == [0x100, 0, 0, 0] => "discard-only",
        0x2001 if segments[1] == 0 => "Teredo",
        0x2001 if segments[1] == 0xdb8 => "documentation",
        // 2001::/23: IETF protocol assignments (ORCHID, AMT, AS112, benchmarking 2001:2::/48 …).
        0x2001 if segments[1] < 0x200 => "IETF protocol assignment",
        0x3fff if segments[1] < 0x1000 => "documentation",
        0x0000..=0x00ff => "reserved",
        0xfc00..=0xfdff => "unique local (private)",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local (deprecated)",
        0xff00..=0xffff => "multicast",
        _ => return None,
    };
    Some(reason)
}

/// An address the policy refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address} is not a public address ({reason})")]
pub struct AddressRefusal {
    pub address: IpAddr,
    pub reason: &'static str,
}

/// Why a URL is refused before any network traffic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("not a valid URL: {0}")]
    Invalid(String),
    #[error("only http and https URLs can be imported, not {0}:")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error(transparent)]
    Address(#[from] AddressRefusal),
}

/// The operator's allow-list: host names (exact, case-insensitive) whose resolved addresses are
/// accepted whatever they are, and CIDR blocks whose addresses are accepted for any host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed_hosts: Vec<String>,
    allowed_networks: Vec<IpNet>,
}

impl AddressPolicy {
    /// Parses allow-list entries: `media.intranet`, `127.0.0.1`, `10.0.0.0/8`, `::1`,
    /// `fd00::/8`. A bare address is a block of one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut policy = Self::default();
        for entry in entries.iter().map(|e| e.as_ref().trim()).filter(|e| !e.is_empty()) {
            if let Ok(network) = entry.parse::<IpNet>() {
                policy.allowed_networks.push(network);
            } else if let Ok(address) = entry.parse::<IpAddr>() {
                policy.allowed_networks.push(IpNet::from(address));
            } else if entry.contains('/') || entry.contains(':') {
                return Err(format!("{entry:?} is neither a host name nor an address or CIDR block"));
            } else {
                policy.allowed_hosts.push(entry.trim_end_matches('.').to_ascii_lowercase());
            }
        }
        Ok(policy)
    }

    /// Whether the allow-list names this host.
    pub fn host_is_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts.contains(&host)
    }

    /// Accepts `address` when it is public, inside an allowed block, or `host` is allowed.
    pub fn check_address(&self, host: &str, address: IpAddr) -> Result<(), AddressRefusal> {
        let Some(reason) = classify(address) else {
            return Ok(());
        };
        // An allowed block also covers the mapped form of its addresses.
        let canonical = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            IpAddr::V4(_) => address,
        };
        if self.host_is_allowed(host)
            || self.allowed_networks.iter().any(|n| n.contains(&address) || n.contains(&canonical))
        {
            return Ok(());
        }
        Err(AddressRefusal { address, reason })
    }

    /// What can be decided without the network: an http(s) URL with a host, whose host, when it
    /// is an address literal, is acceptable. Host names are resolved and vetted at fetch time.
    pub fn check_url(&self, raw: &str) -> Result<Url, UrlRefusal> {
        let url = Url::parse(raw.trim()).map_err(|e| UrlRefusal::Invalid(e.to_string()))?;
        self.check_parsed_url(&url)?;
        Ok(url)
    }

    pub fn check_parsed_url(&self, url: &Url) -> Result<(), UrlRefusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefusal::Scheme(url.scheme().to_owned()));
        }
        match url.host() {
            None => Err(UrlRefusal::NoHost),
            Some(Host::Ipv4(v4)) => Ok(self.check_address(&v4.to_string(), IpAddr::V4(v4))?),
            Some(Host::Ipv6(v6)) => Ok(self.check_address(&v6.to_string(), IpAddr::V6(v6))?),
            Some(Host::Domain(_)) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test addresses parse")
    }

    #[test]
    fn every_special_purpose_range_is_refused_and_public_addresses_pass() {
        let cases: &[(&str, Option<&str>)] = &[
            // Public unicast.
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("93.184.216.34", None),
            ("172.15.255.255", None),
            ("172.32.0.1", None),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("169.253.255.255", None),
            ("192.0.1.1", None),
            ("198.17.255.255", None),
            ("198.20.0.0", None),
            ("223.255.255.255", None),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:81b::200e", None),
            ("2001:4860:4860::8888", None),
            // IPv4 special purpose.
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("10.0.0.1", Some("private")),
            ("10.255.255.255", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.254", Some("private")),
            ("192.168.1.1", Some("private")),
            ("100.64.0.1", Some("shared address space (CGNAT)")),
            ("100.127.255.254", Some("shared address space (CGNAT)")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.254", Some("loopback")),
            ("169.254.169.254", Some("link-local")),
            ("169.254.0.1", Some("link-local")),
            ("192.0.0.8", Some("IETF protocol assignment")),
            ("192.0.2.10", Some("documentation")),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.99", Some("documentation")),
            ("192.88.99.1", Some("deprecated 6to4 relay anycast")),
            ("198.18.0.1", Some("benchmarking")),
            ("198.19.255.255", Some("benchmarking")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("240.0.0.1", Some("reserved")),
            ("255.255.255.255", Some("broadcast")),
            // IPv6 special purpose.
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fc00::1", Some("unique local (private)")),
            ("fd12:3456:789a::1", Some("unique local (private)")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("fec0::1", Some("site-local (deprecated)")),
            ("ff02::1", Some("multicast")),
            ("ff0e::1", Some("multicast")),
            ("2001:db8::1", Some("documentation")),
            ("3fff::1", Some("documentation")),
            ("2001::1", Some("Teredo")),
            ("2001:2::1", Some("IETF protocol assignment")),
            ("100::1", Some("discard-only")),
            ("64:ff9b:1::1", Some("local-use NAT64")),
            ("1::1", Some("reserved")),
            // Embedded IPv4 is judged by the IPv4 address.
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("::ffff:10.1.2.3", Some("private")),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some("loopback")),
            ("::0.0.0.2", Some("unspecified")),
            ("64:ff9b::10.0.0.1", Some("private")),
            ("64:ff9b::8.8.8.8", None),
            ("2002:7f00:1::1", Some("loopback")),
            ("2002:a9fe:a9fe::1", Some("link-local")),
            ("2002:0808:0808::1", None),
        ];
        for (address, expected) in cases {
            assert_eq!(classify(ip(address)), *expected, "{address}");
        }
    }

    #[test]
    fn literal_urls_are_vetted_without_the_network() {
        let policy = AddressPolicy::default();
        let refused = |raw: &str| policy.check_url(raw).expect_err(raw);
        assert!(matches!(refused("http://127.0.0.1/a.mp4"), UrlRefusal::Address(_)));
        assert!(matches!(refused("http://169.254.169.254/latest/meta-data/"), UrlRefusal::Address(_)));
        assert!(matches!(refused("http://[::1]:8080/"), UrlRefusal::Address(_)));
        assert!(matches!(refused("http://[::ffff:7f00:1]/"), UrlRefusal::Address(_)));
        // The URL parser normalises the odd IPv4 spellings, so they cannot sneak past.
        assert!(matches!(refused("http://2130706433/"), UrlRefusal::Address(_)));
        assert!(matches!(refused("http://0x7f.1/"), UrlRefusal::Address(_)));
        assert!(matches!(refused("http://0177.0.0.1/"), UrlRefusal::Address(_)));
        assert!(matches!(refused("http://10.0.0.1.:80/"), UrlRefusal::Address(_)));
        assert!(matches!(refused("file:///etc/passwd"), UrlRefusal::Scheme(_)));
        assert!(matches!(refused("ftp://example.com/a.mp4"), UrlRefusal::Scheme(_)));
        assert!(matches!(refused("gopher://example.com/"), UrlRefusal::Scheme(_)));
        assert!(matches!(refused("not a url"), UrlRefusal::Invalid(_)));
        assert!(policy.check_url("https://example.com/lecture.mp4").is_ok());
        assert!(policy.check_url("http://93.184.216.34/lecture.mp4").is_ok());
    }

    #[test]
    fn the_allow_list_opens_named_hosts_and_blocks_only() {
        let policy =
            AddressPolicy::parse(&["127.0.0.1", "10.0.0.0/8", "Media.Intranet.", "fd00::/8"]).expect("valid entries");
        assert!(policy.check_address("anything", ip("127.0.0.1")).is_ok());
        assert!(policy.check_address("anything", ip("::ffff:127.0.0.1")).is_ok());
        assert!(policy.check_address("anything", ip("127.0.0.2")).is_err());
        assert!(policy.check_address("anything", ip("10.200.1.1")).is_ok());
        assert!(policy.check_address("anything", ip("fd00::5")).is_ok());
        assert!(policy.check_address("anything", ip("192.168.0.1")).is_err());
        assert!(policy.check_address("media.intranet", ip("192.168.0.1")).is_ok());
        assert!(policy.check_address("other.intranet", ip("169.254.169.254")).is_err());
        assert!(policy.check_url("http://127.0.0.1:9000/a.mp4").is_ok());
        assert!(AddressPolicy::parse(&["10.0.0.0/33"]).is_err());
        assert!(AddressPolicy::parse(&["not/a host"]).is_err());
    }
}
