//! The functional core of Lectern's media processing.
//!
//! Given what a probe found in a source file ([`source::SourceInfo`]) and a preset, this crate
//! decides what to make ([`plan::Plan`]) and, once the engine has made it, writes the manifests
//! that describe it ([`package::Package`]). It performs no IO of any kind: no files, no network,
//! no clocks, no FFmpeg. That keeps every decision table-testable.
//!
//! A worker uses it in this order:
//! 1. [`limits::check`] refuses sources that are too long, too large or empty;
//! 2. [`ladder::plan`] turns the source and a [`preset::Preset`] into a [`plan::Plan`];
//! 3. the engine encodes, writing files under the names in [`naming`] and taking thumbnails
//!    and storyboard tiles where [`storyboard`] says;
//! 4. from the resulting [`package::Package`], [`hls`], [`dash`] and [`storyboard::webvtt`]
//!    write the manifests.

// The contract with the engine and the API.
pub mod package;
pub mod plan;
pub mod refusal;
pub mod source;

// Decisions.
pub mod ladder;
pub mod limits;
pub mod preset;
pub mod preview;

// Output.
pub mod dash;
pub mod hls;
pub mod naming;
pub mod storyboard;

// Probe results and packages for tests: this crate's unit tests, and other crates' tests through
// the `test-fixtures` feature (enabled from their [dev-dependencies] only).
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
