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

pub use runner::{EngineLimits, EngineRunner, Progress, RunError};
