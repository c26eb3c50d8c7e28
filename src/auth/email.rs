//! Email addresses, parsed once at the edge ("parse, don't validate").

use std::fmt;

use super::AuthError;

/// A plausible email address in normal form: trimmed and lower-cased. Lower-casing the local part
/// is stricter than RFC 5321 allows in theory, but every mail provider that matters treats it
/// case-insensitively, and it makes `Alice@x` and `alice@x` one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// RFC 5321 limits: 64 octets of local part, 254 in all.
const MAX_LOCAL: usize = 64;
const MAX_TOTAL: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let normal = raw.trim().to_lowercase();
        let invalid = |why: &str| AuthError::InvalidEmail(format!("not a valid email address: {why}"));
        if normal.is_empty() {
            return Err(invalid("it is empty"));
        }
        if normal.len() > MAX_TOTAL {
            return Err(invalid("it is longer than 254 characters"));
        }
        if normal.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains spaces or control characters"));
        }
        // Quoted local parts may contain '@', but nobody signs up with one; refuse them.
        let Some((local, domain)) = normal.split_once('@') else {
            return Err(invalid("it has no @"));
        };
        if local.is_empty() || local.len() > MAX_LOCAL || domain.contains('@') {
            return Err(invalid("the part before the @ is empty, too long, or there are two @"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |label: &&str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(invalid("the domain is not a name like example.com"));
        }
        Ok(Self(normal))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or(self.0.as_str(), |(local, _)| local)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice.Smith@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "alice.smith@example.com");
        assert_eq!(email.local_part(), "alice.smith");
    }

    #[test]
    fn implausible_addresses_are_refused() {
        for raw in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "a b@example.com",
            "a@b@example.com",
            "alice@-example.com",
            "alice@example..com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn international_domains_and_plus_addresses_are_accepted() {
        assert!(Email::parse("ivan+lectures@пример.рф").is_ok());
    }
}
