//! Mail arguments: the transport (log or SMTP), the sender and the product's name.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{ConfigError, parse_duration, secret_value};
use crate::mail::{MailSettings, MailTransport, SmtpSecurity, SmtpSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MailTransportArg {
    /// Write messages and their links to the log (the embedded default).
    Log,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpSecurityArg {
    Starttls,
    Tls,
    None,
}

/// Outgoing mail (verification links, password resets, notifications).
#[derive(Debug, Args)]
pub struct MailArgs {
    /// `log` writes each message to the log instead of sending it; `smtp` sends it.
    #[arg(long, env = "LECTERN_MAIL_TRANSPORT", value_enum, default_value_t = MailTransportArg::Log)]
    pub mail_transport: MailTransportArg,
    /// The `From:` of every message, e.g. `Lectern <noreply@example.com>`.
    #[arg(long, env = "LECTERN_MAIL_FROM", default_value = "Lectern <noreply@localhost>")]
    pub mail_from: String,
    /// The product's name as messages show it.
    #[arg(long, env = "LECTERN_MAIL_PRODUCT_NAME", default_value = "Lectern")]
    pub mail_product_name: String,
    /// The SMTP server (with `LECTERN_MAIL_TRANSPORT=smtp`).
    #[arg(long, env = "LECTERN_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// Its port; unset: 587 with STARTTLS, 465 with TLS, 25 without.
    #[arg(long, env = "LECTERN_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// `starttls` (must succeed), `tls` (from the first byte) or `none` (local relays only).
    #[arg(long, env = "LECTERN_SMTP_SECURITY", value_enum, default_value_t = SmtpSecurityArg::Starttls)]
    pub smtp_security: SmtpSecurityArg,
    /// User name for SMTP AUTH; needs `LECTERN_SMTP_PASSWORD` (or `_FILE`).
    #[arg(long, env = "LECTERN_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// Password for SMTP AUTH (or `LECTERN_SMTP_PASSWORD_FILE`).
    #[arg(long, env = "LECTERN_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// How long connecting and each SMTP command may take.
    #[arg(long, env = "LECTERN_SMTP_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub smtp_timeout: Duration,
}

impl MailArgs {
    pub fn resolve(&self) -> Result<MailSettings, ConfigError> {
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "LECTERN_MAIL_FROM",
                "must be a mailbox like `Lectern <noreply@example.com>`",
            ));
        }
        if self.mail_product_name.trim().is_empty() {
            return Err(ConfigError::new("LECTERN_MAIL_PRODUCT_NAME", "must not be empty"));
        }
        let transport = match self.mail_transport {
            MailTransportArg::Log => MailTransport::Log,
            MailTransportArg::Smtp => {
                let host = self.smtp_host.clone().filter(|host| !host.trim().is_empty()).ok_or_else(|| {
                    ConfigError::new("LECTERN_SMTP_HOST", "is required with LECTERN_MAIL_TRANSPORT=smtp")
                })?;
                let security = match self.smtp_security {
                    SmtpSecurityArg::Starttls => SmtpSecurity::StartTls,
                    SmtpSecurityArg::Tls => SmtpSecurity::Tls,
                    SmtpSecurityArg::None => SmtpSecurity::None,
                };
                let port = self.smtp_port.unwrap_or(match security {
                    SmtpSecurity::StartTls => 587,
                    SmtpSecurity::Tls => 465,
                    SmtpSecurity::None => 25,
                });
                let password = secret_value("LECTERN_SMTP_PASSWORD", self.smtp_password.as_deref())?;
                let username = self.smtp_username.clone().filter(|name| !name.is_empty());
                if username.is_some() != password.is_some() {
                    return Err(ConfigError::new(
                        "LECTERN_SMTP_USERNAME",
                        "LECTERN_SMTP_USERNAME and LECTERN_SMTP_PASSWORD go together",
                    ));
                }
                if !(Duration::from_millis(100)..=Duration::from_secs(300)).contains(&self.smtp_timeout) {
                    return Err(ConfigError::new("LECTERN_SMTP_TIMEOUT", "must be between 100ms and 5m"));
                }
                MailTransport::Smtp(SmtpSettings {
                    host,
                    port,
                    security,
                    username,
                    password: password.map(Into::into),
                    timeout: self.smtp_timeout,
                })
            }
        };
        Ok(MailSettings {
            transport,
            from: self.mail_from.clone(),
            product_name: self.mail_product_name.trim().to_owned(),
        })
    }
}
