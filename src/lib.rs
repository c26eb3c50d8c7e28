//! Lectern: media ingest and streaming delivery for course video.
//!
//! See `ARCHITECTURE.md` for the codemap and the invariants.

pub mod storage;
