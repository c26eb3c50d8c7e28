//! A real SMTP server for the account tests: PyPI `aiosmtpd` on 127.0.0.1, with its Mailbox
//! handler writing every message it accepts into a maildir. Messages are read back with Python's
//! own `email` package (an independent MIME parser), so a malformed message fails the test.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lectern::mail::{MailSettings, MailTransport, SmtpSecurity, SmtpSettings};

/// `python` of `.tools/accounts-venv` (scripts/install-account-tools.sh).
pub fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/accounts-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/install-account-tools.sh` (aiosmtpd and pyotp from PyPI)",
        python.display()
    );
    python
}

pub struct SmtpServer {
    child: tokio::process::Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

/// One received message, as Python's `email` package reads it.
#[derive(Debug, serde::Deserialize)]
pub struct Received {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Received {
    /// The first `http(s)://` URL of the text body.
    pub fn link(&self) -> String {
        self.text
            .split_whitespace()
            .find(|word| word.starts_with("http://") || word.starts_with("https://"))
            .unwrap_or_else(|| panic!("no link in {:?}", self.text))
            .to_owned()
    }

    /// The `token` query parameter of [`Received::link`].
    pub fn token(&self) -> String {
        let link = url::Url::parse(&self.link()).expect("a URL");
        link.query_pairs().find(|(name, _)| name == "token").expect("a token parameter").1.into_owned()
    }
}

const READ_MAILDIR: &str = r#"
import email, email.policy, json, mailbox, sys
out = []
for key, message in sorted(mailbox.Maildir(sys.argv[1], create=False).items(), key=lambda kv: kv[1].get_date()):
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    text = parsed.get_body(('plain',))
    html = parsed.get_body(('html',))
    out.append({
        "to": str(parsed["To"]), "from": str(parsed["From"]), "subject": str(parsed["Subject"]),
        "text": text.get_content() if text else "", "html": html.get_content() if html else "",
    })
print(json.dumps(out))
"#;

impl SmtpServer {
    /// Starts the server on a free port and waits until it accepts connections.
    pub async fn start() -> Self {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        let port = probe.local_addr().expect("address").port();
        drop(probe);
        Self::start_on(port).await
    }

    /// Starts the server on `port` (e.g. where an earlier one was stopped).
    pub async fn start_on(port: u16) -> Self {
        let maildir = tempfile::tempdir().expect("temp dir");
        let child = tokio::process::Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on 127.0.0.1:{port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, port, maildir }
    }

    /// Mail settings that send to this server (plain SMTP on loopback).
    pub fn settings(&self) -> MailSettings {
        MailSettings {
            transport: MailTransport::Smtp(SmtpSettings {
                host: "127.0.0.1".to_owned(),
                port: self.port,
                security: SmtpSecurity::None,
                username: None,
                password: None,
                timeout: Duration::from_secs(5),
            }),
            from: "Lectern Test <noreply@lectern.test>".to_owned(),
            product_name: "Lectern Test".to_owned(),
        }
    }

    /// Every message received so far, oldest first.
    pub async fn messages(&self) -> Vec<Received> {
        let dir = self.maildir.path().join("mail");
        if !dir.join("new").exists() {
            return Vec::new();
        }
        let output = tokio::process::Command::new(python())
            .args(["-c", READ_MAILDIR])
            .arg(&dir)
            .output()
            .await
            .expect("python runs");
        assert!(output.status.success(), "reading the maildir: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("json")
    }

    /// Waits (up to 20 s) for the `n`-th message (counting from 1) to `to`, and returns it.
    pub async fn wait_for(&self, to: &str, n: usize) -> Received {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut mine: Vec<Received> =
                self.messages().await.into_iter().filter(|message| message.to.contains(to)).collect();
            if mine.len() >= n {
                return mine.swap_remove(n - 1);
            }
            assert!(Instant::now() < deadline, "no message {n} to {to} arrived (have {})", mine.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many messages were received in all.
    pub async fn count(&self) -> usize {
        self.messages().await.len()
    }

    /// Stops the server (later sends fail and are retried).
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}
