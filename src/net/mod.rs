//! Outbound HTTP on behalf of users: URL imports and webhook sends.
//!
//! A URL a user hands us is an instruction to make a request from inside our network, which is
//! exactly what server-side request forgery abuses. So no such request is made with a plain
//! client: [`ssrf`] decides which addresses a URL may reach (public unicast only, unless an
//! operator's allow-list says otherwise) and [`fetch`] resolves the host itself, vets every
//! address, pins the connection to a vetted address (so a second DNS answer cannot swap it),
//! follows redirects by hand re-vetting each hop, and streams the body under a byte cap and
//! deadlines.

pub mod fetch;
pub mod ssrf;

pub use fetch::{FetchError, FetchSettings, GuardedFetcher, PostAnswer};
pub use ssrf::{AddressPolicy, AddressRefusal, UrlRefusal};
