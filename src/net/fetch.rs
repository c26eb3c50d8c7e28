//! The guarded fetcher: a GET that can only reach addresses [`AddressPolicy`] accepts.
//!
//! For every hop (the first URL and each redirect target) it resolves the host itself, refuses
//! when ANY resolved address is refused (a name that answers with one public and one private
//! address is an attack, not an accident), and builds a client whose only DNS answers are the
//! vetted addresses: the name is pinned to them, and every other name resolves to nothing. So a
//! rebinding DNS server cannot hand the connection a different address after the check, and
//! the HTTP library can never look a name up on its own. Redirects are not followed by the
//! library; this module follows up to `max_redirects` itself, re-vetting each target.
//!
//! Deadlines: a connect timeout, a read timeout (longest silence while reading), and a total
//! deadline for the whole download, checked as each chunk arrives. The body is a stream capped
//! at `max_bytes`: a declared `Content-Length` over the cap is refused before reading, and an
//! undeclared one is cut off when the cap is passed.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use url::{Host, Url};

use super::ssrf::{AddressPolicy, UrlRefusal};

#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub policy: AddressPolicy,
    /// Redirects followed before giving up (each target is vetted like the first URL).
    pub max_redirects: u32,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Longest time for the whole download, redirects included.
    pub total_timeout: Duration,
    /// Largest body accepted.
    pub max_bytes: u64,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            policy: AddressPolicy::default(),
            max_redirects: 5,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(3600),
            max_bytes: 50 * 1024 * 1024 * 1024,
        }
    }
}

/// Why a fetch failed. [`FetchError::is_client_error`] tells a URL that will never work (refused,
/// gone, too large) from a failure that may pass on a later attempt (network, 5xx, timeouts).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the URL is not allowed: {0}")]
    Refused(#[from] UrlRefusal),
    #[error("more than {0} redirects")]
    TooManyRedirects(u32),
    #[error("a redirect without a usable Location: {0}")]
    BadRedirect(String),
    #[error("cannot resolve {host}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server answered {status}")]
    Status { status: u16 },
    #[error("the download failed")]
    Network(#[source] reqwest::Error),
    #[error("the download did not finish within {0:?}")]
    TimedOut(Duration),
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
}

impl FetchError {
    /// `url_not_allowed`, `file_too_large` or `download_failed`.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::Refused(_) | Self::TooManyRedirects(_) => "url_not_allowed",
            Self::TooLarge { .. } => "file_too_large",
            Self::BadRedirect(_)
            | Self::Resolve { .. }
            | Self::Status { .. }
            | Self::Network(_)
            | Self::TimedOut(_) => "download_failed",
        }
    }

    /// True when retrying cannot help: the URL is refused, or the server said no (4xx) for good.
    /// Server errors, timeouts, DNS and network failures are worth another attempt.
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::Refused(_) | Self::TooManyRedirects(_) | Self::BadRedirect(_) | Self::TooLarge { .. } => true,
            // 408 and 429 say "later", not "never".
            Self::Status { status } => (400..500).contains(status) && !matches!(status, 408 | 429),
            Self::Resolve { .. } | Self::Network(_) | Self::TimedOut(_) => false,
        }
    }
}

/// A response whose status was 2xx, with its body still to be read.
pub struct FetchedBody {
    /// Where the bytes come from after redirects.
    pub final_url: Url,
    pub content_length: Option<u64>,
    pub content_type: Option<String>,
    /// The body in chunks; ends with an error past the cap or the deadline.
    pub stream: Pin<Box<dyn Stream<Item = Result<Bytes, FetchError>> + Send>>,
}

/// Fetches user-supplied URLs under the SSRF rules. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GuardedFetcher {
    settings: Arc<FetchSettings>,
}

impl GuardedFetcher {
    pub fn new(settings: FetchSettings) -> Self {
        Self { settings: Arc::new(settings) }
    }

    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// GETs `url`, following redirects, and returns the body of the first 2xx answer.
    pub async fn get(&self, url: &Url) -> Result<FetchedBody, FetchError> {
        let started = Instant::now();
        let deadline = self.settings.total_timeout;
        let response = tokio::time::timeout(deadline, self.follow(url.clone()))
            .await
            .map_err(|_| FetchError::TimedOut(deadline))??;
        let final_url = response.url().clone();
        let content_length = response.content_length();
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let limit = self.settings.max_bytes;
        if content_length.is_some_and(|length| length > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let mut received: u64 = 0;
        let stream = response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(|error| {
                if error.is_timeout() { FetchError::TimedOut(deadline) } else { FetchError::Network(error) }
            })?;
            received = received.saturating_add(chunk.len() as u64);
            if received > limit {
                return Err(FetchError::TooLarge { limit });
            }
            if started.elapsed() > deadline {
                return Err(FetchError::TimedOut(deadline));
            }
            Ok(chunk)
        });
        Ok(FetchedBody { final_url, content_length, content_type, stream: Box::pin(stream) })
    }

    async fn follow(&self, mut url: Url) -> Result<reqwest::Response, FetchError> {
        let mut redirects = 0;
        loop {
            let response = self.one_hop(&url).await?;
            let status = response.status();
            if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
                if redirects >= self.settings.max_redirects {
                    return Err(FetchError::TooManyRedirects(self.settings.max_redirects));
                }
                redirects += 1;
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .ok_or_else(|| FetchError::BadRedirect(format!("{status} without a Location header")))?;
                url = url.join(location).map_err(|e| FetchError::BadRedirect(format!("{location:?}: {e}")))?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status { status: status.as_u16() });
            }
            return Ok(response);
        }
    }

    /// One request to one vetted URL, on a client pinned to the vetted addresses.
    async fn one_hop(&self, url: &Url) -> Result<reqwest::Response, FetchError> {
        let client = self.pinned_client(url, concat!("lectern/", env!("CARGO_PKG_VERSION"), " (url import)")).await?;
        client.get(url.clone()).send().await.map_err(|error| self.send_error(error))
    }

    fn send_error(&self, error: reqwest::Error) -> FetchError {
        if error.is_timeout() {
            FetchError::TimedOut(self.settings.connect_timeout)
        } else {
            FetchError::Network(error)
        }
    }

    /// Resolves and vets `url` as a request would, without sending anything: the addresses a
    /// connection would be pinned to, or why it would be refused.
    pub async fn vet(&self, url: &Url) -> Result<Vec<SocketAddr>, FetchError> {
        let policy = &self.settings.policy;
        policy.check_parsed_url(url)?;
        let port = url.port_or_known_default().unwrap_or(80);
        match url.host() {
            Some(Host::Domain(host)) => {
                let addresses = resolve(host, port).await?;
                for address in &addresses {
                    policy.check_address(host, address.ip()).map_err(UrlRefusal::from)?;
                }
                Ok(addresses)
            }
            Some(Host::Ipv4(v4)) => Ok(vec![SocketAddr::from((v4, port))]),
            Some(Host::Ipv6(v6)) => Ok(vec![SocketAddr::from((v6, port))]),
            None => Err(UrlRefusal::NoHost.into()),
        }
    }

    /// A client that can reach only the vetted addresses of `url`'s host and follows no
    /// redirects.
    async fn pinned_client(&self, url: &Url, user_agent: &str) -> Result<reqwest::Client, FetchError> {
        let addresses = self.vet(url).await?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Environment proxies would connect somewhere we did not vet.
            .no_proxy()
            .dns_resolver(Arc::new(NoLookups))
            .connect_timeout(self.settings.connect_timeout)
            .read_timeout(self.settings.read_timeout)
            .user_agent(user_agent);
        if let Some(Host::Domain(host)) = url.host() {
            builder = builder.resolve_to_addrs(host, &addresses);
        }
        builder.build().map_err(FetchError::Network)
    }

    /// POSTs `body` to `url` (webhook sends) and returns the status and at most `max_bytes` of
    /// the answer, whatever the status. Redirects are not followed (a 3xx is just an answer),
    /// and the whole exchange must finish within `total_timeout`.
    pub async fn post(
        &self,
        url: &Url,
        user_agent: &str,
        headers: reqwest::header::HeaderMap,
        body: Bytes,
    ) -> Result<PostAnswer, FetchError> {
        let deadline = self.settings.total_timeout;
        let exchange = async {
            let client = self.pinned_client(url, user_agent).await?;
            let response =
                client.post(url.clone()).headers(headers).body(body).send().await.map_err(|e| self.send_error(e))?;
            let status = response.status().as_u16();
            let limit = usize::try_from(self.settings.max_bytes).unwrap_or(usize::MAX);
            let mut excerpt = Vec::new();
            let mut stream = response.bytes_stream();
            // Only the start of the answer matters; the rest is not read.
            while excerpt.len() < limit {
                match stream.next().await {
                    Some(Ok(chunk)) => excerpt.extend_from_slice(&chunk[..chunk.len().min(limit - excerpt.len())]),
                    // The status already arrived; a body cut short does not change it.
                    Some(Err(_)) | None => break,
                }
            }
            Ok(PostAnswer { status, excerpt: Bytes::from(excerpt) })
        };
        tokio::time::timeout(deadline, exchange).await.map_err(|_| FetchError::TimedOut(deadline))?
    }
}

/// What a server answered to [`GuardedFetcher::post`].
#[derive(Debug, Clone)]
pub struct PostAnswer {
    pub status: u16,
    /// The start of the body, at most `max_bytes`.
    pub excerpt: Bytes,
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, FetchError> {
    let resolve_error = |source| FetchError::Resolve { host: host.to_owned(), source };
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await.map_err(resolve_error)?.collect();
    if addresses.is_empty() {
        return Err(resolve_error(std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses")));
    }
    Ok(addresses)
}

/// The resolver of pinned clients: every name was resolved and vetted before the client was
/// built and is answered from the overrides, so any other lookup is a bug and fails.
struct NoLookups;

impl Resolve for NoLookups {
    fn resolve(&self, name: Name) -> Resolving {
        let message = format!("{} was not vetted; refusing to resolve it", name.as_str());
        Box::pin(async move { Err::<Addrs, Box<dyn std::error::Error + Send + Sync>>(message.into()) })
    }
}
