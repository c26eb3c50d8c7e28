//! The conformance cases: each takes a `Harness` and must pass against every backend.

mod objects;
mod transfers;

pub use objects::*;
pub use transfers::*;
