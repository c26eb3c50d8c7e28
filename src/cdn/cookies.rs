//! Signed cookies: the same signature as a signed URL, carried in `CloudFront-*` cookies so one
//! grant covers every request of a player without rewriting its URLs.

/// The name/value pairs of a signature, in the order CloudFront documents them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCookies {
    pub pairs: Vec<(&'static str, String)>,
}

/// The attributes every `Set-Cookie` of one grant carries. The defaults are what CloudFront
/// recommends: `Path=/`, `Secure`, `HttpOnly`, no `Expires`/`Max-Age` (the browser forgets the
/// cookies when it closes; the policy's own expiry still applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAttributes {
    domain: Option<String>,
    path: String,
    secure: bool,
    http_only: bool,
}

impl Default for CookieAttributes {
    fn default() -> Self {
        Self { domain: None, path: "/".to_owned(), secure: true, http_only: true }
    }
}

impl CookieAttributes {
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    #[must_use]
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    #[must_use]
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }
}

impl SignedCookies {
    /// One `Set-Cookie` value per pair, e.g.
    /// `CloudFront-Policy=…; Domain=cdn.example; Path=/; Secure; HttpOnly`.
    pub fn set_cookie_headers(&self, attributes: &CookieAttributes) -> Vec<String> {
        self.pairs
            .iter()
            .map(|(name, value)| {
                let mut header = format!("{name}={value}");
                if let Some(domain) = &attributes.domain {
                    header.push_str(&format!("; Domain={domain}"));
                }
                header.push_str(&format!("; Path={}", attributes.path));
                if attributes.secure {
                    header.push_str("; Secure");
                }
                if attributes.http_only {
                    header.push_str("; HttpOnly");
                }
                header
            })
            .collect()
    }

    /// The pairs as one `Cookie` request header value, as a browser would send them.
    pub fn cookie_header(&self) -> String {
        self.pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
    }
}
