//! Outgoing mail: messages to people (verification links, password resets, notifications),
//! rendered from English and Russian templates and sent by the durable `mail.send` job, never
//! inline in a request, so a slow or absent SMTP server cannot slow an API answer and a message
//! survives a crash between the request and the send.
//!
//! A request enqueues an [`OutgoingMail`] (recipient, locale, which template and its values) in
//! the transaction of the change it reports; the job renders it with the product's name and hands
//! it to the configured [`transport`]: SMTP (lettre, STARTTLS or TLS, optional AUTH) or the log
//! transport of the embedded default, which writes the message and its links to the log so that a
//! newcomer can click through without a mail server.

mod job;
mod settings;
pub mod templates;
mod transport;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use job::{SendMail, enqueue_in};
pub use settings::{MailSettings, MailTransport, SmtpSecurity, SmtpSettings};
pub use templates::{Locale, Template};
pub use transport::{Mailer, SendError};

/// A message waiting to be sent: the job's payload. Links in it carry single-use tokens, so the
/// job replaces the payload with a redacted copy once the message is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutgoingMail {
    pub to: String,
    pub locale: Locale,
    #[serde(flatten)]
    pub template: Template,
}

/// The mail job, for the composition root.
pub fn job_handlers(mailer: &Arc<Mailer>) -> Vec<Arc<dyn crate::jobs::JobHandler>> {
    vec![Arc::new(SendMail::new(Arc::clone(mailer)))]
}
