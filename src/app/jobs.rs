//! Every job handler this build knows, so `serve` and `worker` run the same set. Each domain
//! hands over its own (`job_handlers(&Services, &Settings)`); infrastructure jobs (deleting a
//! storage prefix, invalidating the CDN) are listed here.

use std::sync::Arc;

use super::{Services, Settings};
use crate::jobs::JobHandler;
use crate::jobs::cdn_jobs::InvalidateCdn;
use crate::jobs::storage_jobs::DeletePrefix;

pub fn handlers(services: &Services, settings: &Settings) -> Vec<Arc<dyn JobHandler>> {
    let mut handlers: Vec<Arc<dyn JobHandler>> = vec![
        Arc::new(DeletePrefix),
        Arc::new(InvalidateCdn::new(services.invalidator.clone(), Arc::clone(&services.metrics))),
    ];
    handlers.extend(crate::media::job_handlers(services, &settings.ingest));
    handlers.extend(crate::webhooks::job_handlers(services, &settings.webhooks));
    handlers.extend(crate::training::job_handlers(services, &settings.training));
    handlers.extend(crate::payments::job_handlers(services, &settings.payments));
    handlers.extend(crate::lti::job_handlers(services, &settings.lti));
    handlers.extend(crate::mail::job_handlers(&settings.mail)); // accounts (issue 21)
    handlers
}
