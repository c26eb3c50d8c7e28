//! The messages, in English and Russian, as text and HTML. Plain Rust rather than a template
//! engine: there are few of them, every value that reaches the HTML is escaped in one place
//! ([`escape`]), and a missing translation is a compile error rather than a blank mail.

use serde::{Deserialize, Serialize};

/// The languages messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    En,
    Ru,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Ru => "ru",
        }
    }

    /// As stored in `account.locale`; anything unknown is English.
    pub fn from_stored(stored: &str) -> Self {
        if stored == "ru" { Self::Ru } else { Self::En }
    }

    /// The first language of an `Accept-Language` header that we write in, by the header's
    /// order (q-values are rarely anything but descending); English otherwise.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        for part in header.unwrap_or_default().split(',') {
            let tag = part.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            let primary = tag.split('-').next().unwrap_or_default();
            match primary {
                "ru" => return Self::Ru,
                "en" => return Self::En,
                _ => {}
            }
        }
        Self::En
    }
}

/// Which message, with its values. The tag is the job payload's `template`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum Template {
    /// Confirms that the address belongs to the account (registration or an email change).
    VerifyEmail { link: String },
    /// A link to choose a new password.
    ResetPassword { link: String },
    /// The account signed in from a device (user agent) it had not used before.
    NewSignIn { device: String, ip: String, link: String },
}

impl Template {
    /// The template's name, for logs and the redacted payload.
    pub fn name(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::ResetPassword { .. } => "reset_password",
            Self::NewSignIn { .. } => "new_sign_in",
        }
    }

    /// The links the message carries (the log transport prints them).
    pub fn links(&self) -> Vec<&str> {
        match self {
            Self::VerifyEmail { link } | Self::ResetPassword { link } | Self::NewSignIn { link, .. } => {
                vec![link.as_str()]
            }
        }
    }
}

/// A message ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A paragraph or a button in a message body; both bodies are made from the same list, so the
/// text and the HTML cannot say different things.
enum Block {
    Paragraph(String),
    Link { label: String, url: String },
}

pub fn render(template: &Template, locale: Locale, product: &str) -> Rendered {
    let (subject, blocks) = match (template, locale) {
        (Template::VerifyEmail { link }, Locale::En) => (
            format!("Confirm your email address for {product}"),
            vec![
                Block::Paragraph(format!("Please confirm that this address belongs to your {product} account.")),
                Block::Link { label: "Confirm my email address".to_owned(), url: link.clone() },
                Block::Paragraph(
                    "The link works once and expires in 24 hours. If you did not ask for this, ignore this message."
                        .to_owned(),
                ),
            ],
        ),
        (Template::VerifyEmail { link }, Locale::Ru) => (
            format!("Подтвердите адрес электронной почты для {product}"),
            vec![
                Block::Paragraph(format!("Подтвердите, что этот адрес принадлежит вашей учётной записи {product}.")),
                Block::Link { label: "Подтвердить адрес".to_owned(), url: link.clone() },
                Block::Paragraph(
                    "Ссылка действует один раз и в течение 24 часов. Если вы ничего не запрашивали, просто \
                     проигнорируйте это письмо."
                        .to_owned(),
                ),
            ],
        ),
        (Template::ResetPassword { link }, Locale::En) => (
            format!("Reset your {product} password"),
            vec![
                Block::Paragraph(format!("Someone asked to reset the password of your {product} account.")),
                Block::Link { label: "Choose a new password".to_owned(), url: link.clone() },
                Block::Paragraph(
                    "The link works once and expires in one hour. Choosing a new password signs out every \
                     device. If it was not you, ignore this message: your password stays as it is."
                        .to_owned(),
                ),
            ],
        ),
        (Template::ResetPassword { link }, Locale::Ru) => (
            format!("Сброс пароля {product}"),
            vec![
                Block::Paragraph(format!("Кто-то запросил сброс пароля вашей учётной записи {product}.")),
                Block::Link { label: "Выбрать новый пароль".to_owned(), url: link.clone() },
                Block::Paragraph(
                    "Ссылка действует один раз и в течение часа. После смены пароля все устройства выйдут из \
                     учётной записи. Если это были не вы, проигнорируйте письмо: пароль останется прежним."
                        .to_owned(),
                ),
            ],
        ),
        (Template::NewSignIn { device, ip, link }, Locale::En) => (
            format!("New sign-in to your {product} account"),
            vec![
                Block::Paragraph(format!("Your {product} account was just signed in to from a new device.")),
                Block::Paragraph(format!("Device: {device}\nAddress: {ip}")),
                Block::Paragraph(
                    "If this was you, there is nothing to do. If not, change your password and sign the device out:"
                        .to_owned(),
                ),
                Block::Link { label: "Your signed-in devices".to_owned(), url: link.clone() },
            ],
        ),
        (Template::NewSignIn { device, ip, link }, Locale::Ru) => (
            format!("Новый вход в учётную запись {product}"),
            vec![
                Block::Paragraph(format!("В вашу учётную запись {product} только что вошли с нового устройства.")),
                Block::Paragraph(format!("Устройство: {device}\nАдрес: {ip}")),
                Block::Paragraph(
                    "Если это были вы, ничего делать не нужно. Если нет, смените пароль и завершите сеанс устройства:"
                        .to_owned(),
                ),
                Block::Link { label: "Ваши устройства".to_owned(), url: link.clone() },
            ],
        ),
    };
    let mut text = String::new();
    let mut html = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif;line-height:1.5\">",
        locale.as_str(),
        escape(&subject)
    );
    for block in &blocks {
        match block {
            Block::Paragraph(paragraph) => {
                text.push_str(paragraph);
                text.push_str("\n\n");
                html.push_str(&format!("<p>{}</p>", escape(paragraph).replace('\n', "<br>")));
            }
            Block::Link { label, url } => {
                // On a line of its own in the text, so mail clients make the whole URL a link.
                text.push_str(&format!("{label}:\n{url}\n\n"));
                html.push_str(&format!("<p><a href=\"{}\">{}</a></p>", escape(url), escape(label)));
            }
        }
    }
    text.push_str(&format!("— {product}\n"));
    html.push_str(&format!("<p>— {}</p></body></html>", escape(product)));
    Rendered { subject, text, html }
}

/// HTML-escapes text and attribute values.
pub fn escape(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_first_language_we_write_in() {
        assert_eq!(Locale::from_accept_language(Some("ru-RU,ru;q=0.9,en;q=0.8")), Locale::Ru);
        assert_eq!(Locale::from_accept_language(Some("de-DE, en;q=0.5, ru;q=0.1")), Locale::En);
        assert_eq!(Locale::from_accept_language(Some("fr")), Locale::En);
        assert_eq!(Locale::from_accept_language(None), Locale::En);
    }

    #[test]
    fn both_bodies_carry_the_link_and_the_html_escapes_it() {
        let link = "https://lectern.example/settings/verify-email?token=a&b=<c>".to_owned();
        for locale in [Locale::En, Locale::Ru] {
            let rendered = render(&Template::VerifyEmail { link: link.clone() }, locale, "Acme <Learn>");
            assert!(rendered.text.contains(&link), "{locale:?}");
            assert!(rendered.html.contains("token=a&amp;b=&lt;c&gt;"), "{locale:?}");
            assert!(rendered.html.contains("Acme &lt;Learn&gt;"), "{locale:?}");
            assert!(!rendered.html.contains("<Learn>"), "{locale:?}");
        }
    }

    #[test]
    fn russian_messages_are_in_russian() {
        let rendered =
            render(&Template::ResetPassword { link: "https://x.example/r".to_owned() }, Locale::Ru, "Lectern");
        assert!(rendered.subject.starts_with("Сброс пароля"));
        assert!(rendered.text.contains("Выбрать новый пароль"));
    }
}
