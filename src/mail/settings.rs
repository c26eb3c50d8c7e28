//! Resolved mail settings (see `crate::config::mail` for the variables).

use std::time::Duration;

use secrecy::SecretString;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain TCP, upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465, "SMTPS").
    Tls,
    /// No TLS at all: only for a relay on the same host or a test server.
    None,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// Both or neither: AUTH (PLAIN or LOGIN, whichever the server offers) after TLS.
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// How long connecting and each SMTP command may take.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum MailTransport {
    /// Write each message (and its links) to the log instead of sending it.
    Log,
    Smtp(SmtpSettings),
}

#[derive(Debug, Clone)]
pub struct MailSettings {
    pub transport: MailTransport,
    /// The `From:` mailbox, e.g. `Lectern <noreply@example.com>`.
    pub from: String,
    /// The product's name as messages show it.
    pub product_name: String,
}

impl Default for MailSettings {
    /// The embedded default: the log transport.
    fn default() -> Self {
        Self {
            transport: MailTransport::Log,
            from: "Lectern <noreply@localhost>".to_owned(),
            product_name: "Lectern".to_owned(),
        }
    }
}
