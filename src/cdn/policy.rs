//! The policy statement: what a signature allows. [`Policy::to_json`] is the only place in
//! Lectern that writes policy JSON, and it writes exactly what botocore's
//! `CloudFrontSigner.build_policy` writes for the same inputs (compact separators, the keys in
//! its order — `Resource`, then `Condition` with `DateLessThan`, `IpAddress`,
//! `DateGreaterThan` — and non-ASCII escaped as `\uXXXX`), so a canned policy rebuilt by the
//! verifier or by CloudFront has the very bytes that were signed.

use std::net::IpAddr;

use super::CdnError;

/// One statement. A canned policy is the special case with a resource that is the exact URL,
/// only `DateLessThan`, and no other condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The URL (with `*` and `?` wildcards in a custom policy). CloudFront allows omitting it,
    /// which then matches every URL; Lectern never writes such a policy.
    pub resource: Option<String>,
    /// Unix seconds; requests at or after this moment are refused.
    pub date_less_than: i64,
    /// Unix seconds; requests before this moment are refused.
    pub date_greater_than: Option<i64>,
    pub ip_address: Option<SourceIp>,
}

impl Policy {
    /// The policy CloudFront rebuilds for a canned signature of `url` expiring at `expires`.
    pub fn canned(url: impl Into<String>, expires: i64) -> Self {
        Self { resource: Some(url.into()), date_less_than: expires, date_greater_than: None, ip_address: None }
    }

    /// A custom policy over `resource` (wildcards allowed) until `expires`; add conditions with
    /// the builder methods.
    pub fn custom(resource: impl Into<String>, expires: i64) -> Self {
        Self::canned(resource, expires)
    }

    /// Refuses requests before `moment` (Unix seconds).
    #[must_use]
    pub fn not_before(mut self, moment: i64) -> Self {
        self.date_greater_than = Some(moment);
        self
    }

    /// Allows requests only from `ip`.
    #[must_use]
    pub fn from_ip(mut self, ip: SourceIp) -> Self {
        self.ip_address = Some(ip);
        self
    }

    /// The compact JSON that is signed (see the module documentation for why it looks exactly
    /// like this).
    pub fn to_json(&self) -> String {
        let mut json = String::from(r#"{"Statement":[{"#);
        if let Some(resource) = &self.resource {
            json.push_str(r#""Resource":"#);
            push_json_string(&mut json, resource);
            json.push(',');
        }
        json.push_str(&format!(r#""Condition":{{"DateLessThan":{{"AWS:EpochTime":{}}}"#, self.date_less_than));
        if let Some(ip) = &self.ip_address {
            json.push_str(r#","IpAddress":{"AWS:SourceIp":"#);
            push_json_string(&mut json, ip.as_str());
            json.push('}');
        }
        if let Some(moment) = self.date_greater_than {
            json.push_str(&format!(r#","DateGreaterThan":{{"AWS:EpochTime":{moment}}}"#));
        }
        json.push_str("}}]}");
        json
    }

    /// Reads a policy as CloudFront does: exactly one statement, `DateLessThan` required, the
    /// order of keys irrelevant, unknown conditions refused. Any deviation is
    /// `signature_invalid`.
    pub fn parse(bytes: &[u8]) -> Result<Self, CdnError> {
        use serde_json::Value;
        let invalid = || CdnError::SignatureInvalid;
        let document: Value = serde_json::from_slice(bytes).map_err(|_| invalid())?;
        let statements = document.get("Statement").and_then(Value::as_array).ok_or_else(invalid)?;
        let [statement] = statements.as_slice() else { return Err(invalid()) };
        let statement = statement.as_object().ok_or_else(invalid)?;
        if statement.keys().any(|key| key != "Resource" && key != "Condition") {
            return Err(invalid());
        }
        let resource = match statement.get("Resource") {
            None => None,
            Some(value) => Some(value.as_str().ok_or_else(invalid)?.to_owned()),
        };
        let condition = statement.get("Condition").and_then(Value::as_object).ok_or_else(invalid)?;
        let epoch = |name: &str| -> Result<Option<i64>, CdnError> {
            match condition.get(name) {
                None => Ok(None),
                Some(value) => value.get("AWS:EpochTime").and_then(Value::as_i64).map(Some).ok_or_else(invalid),
            }
        };
        let date_less_than = epoch("DateLessThan")?.ok_or_else(invalid)?;
        let date_greater_than = epoch("DateGreaterThan")?;
        let ip_address = match condition.get("IpAddress") {
            None => None,
            Some(value) => {
                let text = value.get("AWS:SourceIp").and_then(Value::as_str).ok_or_else(invalid)?;
                Some(SourceIp::parse(text).map_err(|_| invalid())?)
            }
        };
        if condition.keys().any(|key| !matches!(key.as_str(), "DateLessThan" | "DateGreaterThan" | "IpAddress")) {
            return Err(invalid());
        }
        Ok(Self { resource, date_less_than, date_greater_than, ip_address })
    }

    /// Whether `url` (the request URL without the signing parameters) is one this policy
    /// covers: CloudFront's wildcards, `*` for any run of characters (also none) and `?` for
    /// exactly one. No resource covers everything.
    pub fn covers(&self, url: &str) -> bool {
        self.resource.as_deref().is_none_or(|pattern| wildcard_match(pattern, url))
    }
}

/// The `AWS:SourceIp` condition: one address or one CIDR block. A bare address is written with
/// `/32` (IPv4, as botocore does) or `/128` (IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIp {
    text: String,
    network: IpAddr,
    prefix: u8,
}

impl SourceIp {
    pub fn parse(raw: &str) -> Result<Self, CdnError> {
        let invalid = || CdnError::InvalidSourceIp(raw.to_owned());
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (raw, None),
        };
        let network: IpAddr = address.parse().map_err(|_| invalid())?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(text) => text.parse::<u8>().ok().filter(|p| *p <= width).ok_or_else(invalid)?,
            None => width,
        };
        let text = if raw.contains('/') { raw.to_owned() } else { format!("{raw}/{width}") };
        Ok(Self { text, network, prefix })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `ip` is inside the block. An IPv4 address seen as IPv6 (`::ffff:a.b.c.d`, what
    /// a dual-stack listener reports) is compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Appends `text` as a JSON string the way Python's `json.dumps` does by default
/// (`ensure_ascii`): everything outside printable ASCII as `\uXXXX` (lower-case hex, UTF-16
/// surrogate pairs above the BMP), the short escapes for the usual control characters.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            other => {
                let mut units = [0u16; 2];
                for unit in other.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Glob matching over characters with `*` (any run) and `?` (one character), in linear space
/// with the classic single backtrack point.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canned_policy_is_the_compact_json_cloudfront_rebuilds() {
        let policy = Policy::canned("https://d111111abcdef8.cloudfront.net/image.jpg?size=large", 1_767_290_400);
        assert_eq!(
            policy.to_json(),
            r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/image.jpg?size=large","Condition":{"DateLessThan":{"AWS:EpochTime":1767290400}}}]}"#
        );
    }

    #[test]
    fn custom_conditions_follow_botocores_order() {
        let policy = Policy::custom("https://cdn.example/assets/*", 200)
            .not_before(100)
            .from_ip(SourceIp::parse("192.0.2.7").expect("address"));
        assert_eq!(
            policy.to_json(),
            r#"{"Statement":[{"Resource":"https://cdn.example/assets/*","Condition":{"DateLessThan":{"AWS:EpochTime":200},"IpAddress":{"AWS:SourceIp":"192.0.2.7/32"},"DateGreaterThan":{"AWS:EpochTime":100}}}]}"#
        );
        assert_eq!(Policy::parse(policy.to_json().as_bytes()), Ok(policy));
    }

    #[test]
    fn strings_are_escaped_like_pythons_json_dumps() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\né\u{7f}😀/");
        assert_eq!(out, r#""a\"b\\c\n\u00e9\u007f\ud83d\ude00/""#);
    }

    #[test]
    fn wildcards_match_like_cloudfronts() {
        let policy = |resource: &str| Policy::custom(resource, 0);
        assert!(
            policy("http://d.net/*game_download.zip*").covers("http://d.net/example_game_download.zip?license=yes")
        );
        assert!(policy("http://d.net/*game_download.zip*").covers("http://d.net/game_download.zip"));
        assert!(policy("https://cdn/assets/a/v1/*").covers("https://cdn/assets/a/v1/720p/seg_1.m4s"));
        assert!(!policy("https://cdn/assets/a/v1/*").covers("https://cdn/assets/a/v2/720p/seg_1.m4s"));
        assert!(policy("https://cdn/seg_?.m4s").covers("https://cdn/seg_1.m4s"));
        assert!(!policy("https://cdn/seg_?.m4s").covers("https://cdn/seg_10.m4s"));
        assert!(!policy("https://cdn/seg_?.m4s").covers("https://cdn/seg_.m4s"));
        assert!(policy("*").covers(""));
        assert!(!policy("https://cdn/a").covers("https://cdn/a/b"));
        assert!(policy("*a").covers("*ba"));
        assert!(Policy { resource: None, ..policy("") }.covers("anything"));
    }

    #[test]
    fn source_ip_blocks_contain_what_cidr_says() {
        let block = SourceIp::parse("192.0.2.0/24").expect("block");
        assert!(block.contains("192.0.2.200".parse().expect("ip")));
        assert!(block.contains("::ffff:192.0.2.1".parse().expect("ip")));
        assert!(!block.contains("192.0.3.1".parse().expect("ip")));
        assert!(SourceIp::parse("0.0.0.0/0").expect("any").contains("203.0.113.1".parse().expect("ip")));
        let v6 = SourceIp::parse("2001:db8::/32").expect("v6");
        assert!(v6.contains("2001:db8::1".parse().expect("ip")));
        assert!(!v6.contains("192.0.2.1".parse().expect("ip")));
        assert_eq!(SourceIp::parse("2001:db8::1").expect("v6").as_str(), "2001:db8::1/128");
        for bad in ["192.0.2.0/33", "300.1.1.1", "host", "1.2.3.4/x"] {
            assert!(SourceIp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_policies_are_invalid_signatures() {
        for bad in [
            "not json",
            r#"{"Statement":[]}"#,
            r#"{"Statement":[{"Resource":"x","Condition":{}}]}"#,
            r#"{"Statement":[{"Resource":"x","Condition":{"DateLessThan":{"AWS:EpochTime":"1"}}}]}"#,
            r#"{"Statement":[{"Resource":"x","Condition":{"DateLessThan":{"AWS:EpochTime":1},"Other":{}}}]}"#,
        ] {
            assert_eq!(Policy::parse(bad.as_bytes()), Err(CdnError::SignatureInvalid), "{bad}");
        }
    }
}
