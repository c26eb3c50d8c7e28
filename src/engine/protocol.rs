//! The messages between the parent and the engine child process.

use std::path::PathBuf;

use pipelines::package::Package;
use pipelines::plan::Plan;
use pipelines::preview::RemuxPlan;
use pipelines::refusal::Refusal;
use pipelines::source::SourceInfo;
use serde::{Deserialize, Serialize};

/// What the parent writes to the child's standard input.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub limits: ChildLimits,
    pub request: Request,
}

/// Limits the child applies to itself before touching the input.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ChildLimits {
    /// Address-space cap in bytes (RLIMIT_AS).
    pub memory_bytes: u64,
    /// CPU-time cap in seconds (RLIMIT_CPU); the kernel kills the child past it.
    pub cpu_seconds: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Probe {
        input: PathBuf,
    },
    Transcode {
        input: PathBuf,
        plan: Box<Plan>,
        out_dir: PathBuf,
    },
    /// Copy the source's H.264/AAC into CMAF without encoding (the fast first package); the
    /// answer is `Packaged` like a transcode's.
    Remux {
        input: PathBuf,
        plan: Box<RemuxPlan>,
        out_dir: PathBuf,
    },
}

/// What the child writes, one JSON object per line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Progress {
        fraction: f64,
        speed_x_realtime: f64,
        out_time_seconds: f64,
    },
    Probed {
        source: Box<SourceInfo>,
    },
    Packaged {
        package: Box<Package>,
    },
    /// The input is bad; the code is stable.
    Refused {
        refusal: Refusal,
    },
    /// The engine failed for another reason (an FFmpeg error, an IO error).
    Failed {
        message: String,
    },
}
