//! Handing a rendered message to SMTP or to the log.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::OutgoingMail;
use super::settings::{MailSettings, MailTransport, SmtpSecurity};
use super::templates::{self, Rendered};

/// Why a message was not sent, split the way the job needs it.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message itself cannot be sent (an address the server or we refuse): retrying is futile.
    #[error("{0}")]
    Permanent(String),
    /// The server or the network failed; another attempt may succeed.
    #[error("{0}")]
    Transient(String),
}

/// The configured transport with the sender and product name. Built once per process; the SMTP
/// transport keeps a small pool of connections.
pub struct Mailer {
    settings: MailSettings,
    from: Mailbox,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Default for Mailer {
    /// The log transport with the default sender.
    fn default() -> Self {
        Self::new(MailSettings::default()).expect("the default sender is a valid mailbox")
    }
}

impl Mailer {
    /// Checks the sender and prepares the transport; nothing is connected until the first send.
    pub fn new(settings: MailSettings) -> Result<Self, String> {
        let from: Mailbox =
            settings.from.parse().map_err(|error| format!("{:?} is not a mailbox ({error})", settings.from))?;
        let smtp = match &settings.transport {
            MailTransport::Log => None,
            MailTransport::Smtp(smtp) => {
                let builder = match smtp.security {
                    SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                        .map_err(|error| format!("cannot prepare TLS for {} ({error})", smtp.host))?,
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                        .map_err(|error| format!("cannot prepare TLS for {} ({error})", smtp.host))?,
                    SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
                };
                let mut builder = builder.port(smtp.port).timeout(Some(smtp.timeout));
                if let (Some(username), Some(password)) = (&smtp.username, &smtp.password) {
                    builder =
                        builder.credentials(Credentials::new(username.clone(), password.expose_secret().to_owned()));
                }
                Some(builder.build())
            }
        };
        Ok(Self { settings, from, smtp })
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// Renders and sends one message.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        let rendered = templates::render(&mail.template, mail.locale, &self.settings.product_name);
        let Some(smtp) = &self.smtp else {
            // The embedded default: the whole message, so a newcomer can follow its links.
            tracing::info!(
                to = %mail.to,
                template = mail.template.name(),
                subject = %rendered.subject,
                links = ?mail.template.links(),
                event = "mail_logged",
                "mail (log transport; set LECTERN_MAIL_TRANSPORT=smtp to send it):\n{}",
                rendered.text
            );
            return Ok(());
        };
        let message = self.message(&mail.to, rendered)?;
        match smtp.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::Permanent(format!("the server refused it: {error}"))),
            Err(error) => Err(SendError::Transient(crate::error_chain(&error))),
        }
    }

    fn message(&self, to: &str, rendered: Rendered) -> Result<Message, SendError> {
        let to: Mailbox =
            to.parse().map_err(|error| SendError::Permanent(format!("{to:?} is not a mailbox ({error})")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(rendered.text))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(rendered.html)),
            )
            .map_err(|error| SendError::Permanent(format!("cannot build the message ({error})")))
    }
}
