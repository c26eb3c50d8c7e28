//! The engine's public API on real files: `probe` (what a file holds, or why it is refused) and
//! `transcode` (a plan into a checked package). One test binary; `common` makes the sources with
//! the `ffmpeg` CLI and checks the packages.
#![allow(clippy::unwrap_used)]

mod common;

mod probe;
mod transcode;
