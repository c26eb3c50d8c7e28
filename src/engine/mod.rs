//! Running the media engine (`workers`) out of process.
//!
//! Every probe and transcode runs in a child process — `lectern __engine`, the same binary —
//! with a memory cap, a CPU-time cap and a wall-clock deadline proportional to the media's
//! duration. A crash, a runaway allocation or a hang inside FFmpeg on a hostile file therefore
//! costs one attempt of one job, never the worker, the API or the CLI that asked.
//!
//! The protocol is one JSON request line on the child's standard input, which the parent then
//! keeps open (the child exits at end-of-file, so it dies with its parent, even a SIGKILLed one),
//! and JSON lines on its standard output (progress events, then exactly one outcome). FFmpeg's own logging goes to
//! standard error, which the parent keeps the tail of for diagnostics.

pub mod child;
pub mod manifests;
pub mod protocol;
pub mod runner;
pub mod scratch;

pub use runner::{EngineLimits, EngineRunner, Progress, RunError};

use std::path::PathBuf;

/// How engine children are started: their limits, the `lectern` binary that runs them, and the
/// scratch directory jobs give them.
#[derive(Debug, Clone, Default)]
pub struct EngineSettings {
    pub limits: EngineLimits,
    /// The `lectern` binary that runs engine children; `None` re-executes the current one (tests
    /// point it at the built binary, since their own executable is a test harness).
    pub program: Option<PathBuf>,
    /// Scratch directory for files being probed and transcoded; `None`: the system's.
    pub work_dir: Option<PathBuf>,
}

impl EngineSettings {
    /// A runner of engine children as these settings configure them.
    pub fn runner(&self) -> std::io::Result<EngineRunner> {
        match &self.program {
            Some(program) => Ok(EngineRunner::new(program.clone(), self.limits)),
            None => EngineRunner::current_exe(self.limits),
        }
    }
}
