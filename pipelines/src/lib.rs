//! The functional core of Lectern's media processing.
//!
//! Given what a probe found in a source file ([`source::SourceInfo`]) and a preset, this crate
//! decides what to make ([`plan::Plan`]) and, once the engine has made it, writes the manifests
//! that describe it ([`package::Package`]). It performs no IO of any kind: no files, no network,
//! no clocks, no FFmpeg. That keeps every decision table-testable.

pub mod dash;
pub mod hls;
pub mod ladder;
pub mod limits;
pub mod naming;
pub mod package;
pub mod plan;
pub mod preset;
pub mod refusal;
pub mod source;
pub mod storyboard;

#[cfg(test)]
mod fixtures;
