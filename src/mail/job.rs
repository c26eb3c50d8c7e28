//! `mail.send`: one message per job, retried with the queue's backoff while the server is
//! unreachable or answers 4xx, failed at once on a permanent (5xx) refusal.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Mailer, OutgoingMail, SendError};
use crate::jobs::{EnqueueOptions, JobContext, JobError, JobHandler, JobId};

pub struct SendMail {
    mailer: Arc<Mailer>,
}

impl SendMail {
    pub const KIND: &'static str = "mail.send";

    pub fn new(mailer: Arc<Mailer>) -> Self {
        Self { mailer }
    }
}

/// Queues a message in the caller's transaction, so it is sent exactly when the change it reports
/// commits. Eight attempts: with the queue's backoff they span about an hour of SMTP outage.
pub async fn enqueue_in(conn: &mut sqlx::PgConnection, mail: &OutgoingMail) -> Result<JobId, sqlx::Error> {
    let payload = serde_json::to_value(mail).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    crate::jobs::queue::enqueue_in(
        conn,
        SendMail::KIND,
        &payload,
        EnqueueOptions { max_attempts: Some(8), ..EnqueueOptions::default() },
    )
    .await
}

#[async_trait]
impl JobHandler for SendMail {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    #[tracing::instrument(skip_all, fields(template = tracing::field::Empty))]
    async fn run(&self, context: JobContext, payload: serde_json::Value) -> Result<(), JobError> {
        let mail: OutgoingMail =
            serde_json::from_value(payload).map_err(|e| JobError::abort("invalid_payload", e.to_string()))?;
        tracing::Span::current().record("template", mail.template.name());
        let outcome = self.mailer.send(&mail).await;
        let terminal = match &outcome {
            Ok(()) | Err(SendError::Permanent(_)) => true,
            Err(SendError::Transient(_)) => context.is_final_attempt(),
        };
        if terminal {
            // The link's token is single-use but valid until spent or expired: keep no copy of it
            // in a job that will not send it again.
            let redacted = serde_json::json!({
                "to": mail.to,
                "locale": mail.locale,
                "template": mail.template.name(),
                "redacted": true,
            });
            if let Err(error) =
                crate::jobs::queue::replace_payload(&context.pool, context.job_id, &context.worker_id, &redacted).await
            {
                tracing::warn!(%error, "cannot redact the sent message's payload");
            }
        }
        match outcome {
            Ok(()) => {
                tracing::info!(template = mail.template.name(), event = "mail_sent", "mail sent");
                Ok(())
            }
            Err(SendError::Permanent(message)) => Err(JobError::abort("mail_refused", message)),
            Err(SendError::Transient(message)) => Err(JobError::retry(message)),
        }
    }
}
