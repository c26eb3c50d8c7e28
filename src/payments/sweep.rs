//! `payments.sweep`, periodic: expires entitlements whose end date passed (a one-time purchase's
//! access period, a cancelled subscription's period end, a past-due grace), which suspends the
//! enrolments they held and ends the learners' playback sessions. Until the sweep runs, the
//! access endpoint already reports such an entitlement as expired, but the enrolment's pass
//! stays open: access can outlive its end by at most one sweep interval.

use std::time::Duration;

use async_trait::async_trait;

use super::entitlements;
use crate::jobs::{JobContext, JobError, JobHandler};

const BATCH: i64 = 500;

pub struct PaymentSweep {
    every: Duration,
}

impl PaymentSweep {
    pub const KIND: &'static str = "payments.sweep";

    pub fn new(every: Duration) -> Self {
        Self { every }
    }
}

#[async_trait]
impl JobHandler for PaymentSweep {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn every(&self) -> Option<Duration> {
        Some(self.every)
    }

    async fn run(&self, context: JobContext, _payload: serde_json::Value) -> Result<(), JobError> {
        let expired = entitlements::expire_due(&context.pool, BATCH)
            .await
            .map_err(|error| JobError::retry(crate::error_chain(&error)))?;
        if expired > 0 {
            tracing::info!(expired, "entitlements past their end date expired");
        }
        Ok(())
    }
}
