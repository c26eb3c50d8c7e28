//! Transcoding backends: turning a probed source and its `pipelines` plan into an HLS/DASH
//! package in object storage.
//!
//! Two backends are meant to sit behind the `transcoder` setting
//! (`LECTERN_TRANSCODER=local|mediaconvert`): the local engine (`crate::engine`, ffmpeg in a
//! sandboxed child process) and AWS Elemental MediaConvert ([`mediaconvert`]). Both take the
//! same plan — ladder, segment length, rate control, audio, thumbnails — so the choice changes
//! where the work runs and what it costs, not what viewers get. The asset pipeline's
//! `media.transcode` job picks one; until that job exists, this module is called directly.

pub mod mediaconvert;
