//! `training.sweep`, periodic: ends enrolments whose end date passed (their passes already stop
//! opening anything at that time; this records it, sends the event and ends live sessions), and
//! refreshes lesson durations from versions published since they were snapshotted.

use std::time::Duration;

use async_trait::async_trait;

use super::courses;
use super::enrollments::{self, EnrollmentStatus};
use crate::jobs::{JobContext, JobError, JobHandler};

/// Enrolments expired per run; the next run takes the rest.
const BATCH: i64 = 500;

pub struct TrainingSweep {
    every: Duration,
}

impl TrainingSweep {
    pub const KIND: &'static str = "training.sweep";

    pub fn new(every: Duration) -> Self {
        Self { every }
    }
}

#[async_trait]
impl JobHandler for TrainingSweep {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn every(&self) -> Option<Duration> {
        Some(self.every)
    }

    async fn run(&self, context: JobContext, _payload: serde_json::Value) -> Result<(), JobError> {
        let retry = |error: super::TrainingError| JobError::retry(crate::error_chain(&error));
        let pool = &context.pool;
        let due = enrollments::due_to_expire(pool, BATCH).await.map_err(retry)?;
        for enrollment_id in &due {
            let mut tx = pool.begin().await.map_err(|e| retry(e.into()))?;
            let (row, changed) =
                enrollments::set_status(&mut tx, *enrollment_id, EnrollmentStatus::Expired, Some("expired"))
                    .await
                    .map_err(retry)?;
            tx.commit().await.map_err(|e| retry(e.into()))?;
            if changed {
                enrollments::after_access_lost(pool, row.course_id, row.account_id).await;
            }
        }
        if !due.is_empty() {
            tracing::info!(expired = due.len(), "enrolments past their end date expired");
        }
        let lessons = courses::video_lessons(pool).await.map_err(retry)?;
        let assets: Vec<uuid::Uuid> = lessons.iter().map(|(_, asset, _)| *asset).collect();
        let mut refreshed = 0;
        for chunk in assets.chunks(1000) {
            for current in crate::media::versions::current_durations(pool, chunk).await.map_err(|e| retry(e.into()))? {
                let stale = lessons.iter().any(|(_, asset, version)| {
                    *asset == current.asset_id && version.is_none_or(|v| v < current.version)
                });
                if stale {
                    let ms = i32::try_from(current.duration_ms).unwrap_or(i32::MAX);
                    refreshed +=
                        courses::set_duration(pool, current.asset_id, current.version, ms).await.map_err(retry)?;
                }
            }
        }
        if refreshed > 0 {
            tracing::info!(refreshed, "lesson durations refreshed from newly published versions");
        }
        Ok(())
    }
}
