//! What ffmpeg-next 9 does not wrap, or wraps at a cost: codec-parameter fields (field order,
//! profile, channel layout), pixel-format bit depth, encoder delays, sharing a packet by
//! reference, and filter sources/sinks held by pointer instead of looked up by name per frame.
//! Every unsafe block of the crate lives here so it can be reviewed in one place.
#![allow(unsafe_code)]

use std::ffi::CStr;

use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;

/// Codec-parameter fields that ffmpeg-next does not expose, copied into plain Rust values.
#[derive(Debug, Clone)]
pub struct RawParameters {
    pub field_order: pipelines::source::FieldOrder,
    pub profile_name: Option<String>,
    pub channels: u16,
    pub channel_layout: Option<String>,
    pub sample_rate: u32,
    pub bits_per_raw_sample: u8,
}

pub fn raw_parameters(parameters: &ffmpeg::codec::Parameters) -> RawParameters {
    use pipelines::source::FieldOrder;
    // SAFETY: `parameters` owns or borrows a live AVCodecParameters for the duration of this
    // call; we only read plain fields and pass pointers into it to FFmpeg's read-only helpers.
    unsafe {
        let raw = &*parameters.as_ptr();
        let field_order = match raw.field_order {
            ffi::AVFieldOrder::AV_FIELD_PROGRESSIVE => FieldOrder::Progressive,
            ffi::AVFieldOrder::AV_FIELD_TT | ffi::AVFieldOrder::AV_FIELD_TB => FieldOrder::TopFieldFirst,
            ffi::AVFieldOrder::AV_FIELD_BB | ffi::AVFieldOrder::AV_FIELD_BT => FieldOrder::BottomFieldFirst,
            _ => FieldOrder::Unknown,
        };
        let profile_name = if raw.profile < 0 {
            None
        } else {
            let name = ffi::avcodec_profile_name(raw.codec_id, raw.profile);
            if name.is_null() { None } else { Some(CStr::from_ptr(name).to_string_lossy().into_owned()) }
        };
        let channels = u16::try_from(raw.ch_layout.nb_channels.max(0)).unwrap_or(0);
        let channel_layout = if channels == 0 {
            None
        } else {
            let mut buffer = [0 as libc_char; 128];
            let written = ffi::av_channel_layout_describe(&raw.ch_layout, buffer.as_mut_ptr(), buffer.len());
            if written > 0 { Some(CStr::from_ptr(buffer.as_ptr()).to_string_lossy().into_owned()) } else { None }
        };
        RawParameters {
            field_order,
            profile_name,
            channels,
            channel_layout,
            sample_rate: u32::try_from(raw.sample_rate.max(0)).unwrap_or(0),
            bits_per_raw_sample: u8::try_from(raw.bits_per_raw_sample.clamp(0, 255)).unwrap_or(0),
        }
    }
}

#[allow(non_camel_case_types)]
type libc_char = std::ffi::c_char;

/// Bits per component of the first (luma) plane of a pixel format, e.g. 10 for `yuv420p10le`.
pub fn pixel_bit_depth(format: ffmpeg::format::Pixel) -> Option<u8> {
    let descriptor = format.descriptor()?;
    // SAFETY: `descriptor` wraps a pointer to FFmpeg's static, immutable descriptor table.
    let depth = unsafe { (*descriptor.as_ptr()).comp[0].depth };
    u8::try_from(depth).ok().filter(|depth| *depth > 0)
}

/// How far before presentation time zero an opened encoder's first packet is timed, in
/// seconds: B-frame reordering makes x264's first dts negative (`has_b_frames` frames), and
/// AAC's priming samples (`initial_padding`) make its first pts negative.
pub fn encoder_lead_seconds(context: &ffmpeg::codec::Context) -> f64 {
    // SAFETY: `context` wraps a live, opened AVCodecContext; we read plain fields.
    let (reorder_frames, padding_samples, sample_rate, frame_rate) = unsafe {
        let raw = &*context.as_ptr();
        (raw.has_b_frames, raw.initial_padding, raw.sample_rate, raw.framerate)
    };
    let mut lead: f64 = 0.0;
    if reorder_frames > 0 && frame_rate.num > 0 && frame_rate.den > 0 {
        lead = lead.max(f64::from(reorder_frames) * f64::from(frame_rate.den) / f64::from(frame_rate.num));
    }
    if padding_samples > 0 && sample_rate > 0 {
        lead = lead.max(f64::from(padding_samples) / f64::from(sample_rate));
    }
    lead
}

/// Makes `destination` a second reference to `source`'s data (no copy), replacing whatever it
/// held. ffmpeg-next's `clone_from` also makes the data writable, which copies every packet.
pub fn share_packet(destination: &mut ffmpeg::Packet, source: &ffmpeg::Packet) -> Result<(), ffmpeg::Error> {
    use ffmpeg::packet::{Mut, Ref};
    // SAFETY: both wrap live AVPackets owned by their Rust values; av_packet_unref and
    // av_packet_ref only touch those packets and their reference-counted buffers.
    let result = unsafe {
        ffi::av_packet_unref(destination.as_mut_ptr());
        ffi::av_packet_ref(destination.as_mut_ptr(), source.as_ptr())
    };
    if result < 0 { Err(ffmpeg::Error::from(result)) } else { Ok(()) }
}

/// A configured filter graph with its source and sinks looked up once. ffmpeg-next can only
/// reach a filter through `Graph::get(name)`, which allocates a C string per call; in the
/// per-frame loop that is several allocations a frame. The raw filter pointers here belong to
/// `graph`, which this struct owns, so they live exactly as long as the struct.
pub struct FilterPipes {
    /// Never read: owned so that the filter pointers below stay valid.
    #[allow(dead_code)]
    graph: ffmpeg::filter::Graph,
    source: *mut ffi::AVFilterContext,
    sinks: Vec<*mut ffi::AVFilterContext>,
}

impl FilterPipes {
    /// Looks up the source named `source` and the sinks named in `sinks` (in that order; sink
    /// `i` below means `sinks[i]`).
    pub fn new(mut graph: ffmpeg::filter::Graph, source: &str, sinks: &[String]) -> Result<Self, ffmpeg::Error> {
        let mut lookup = |name: &str| -> Result<*mut ffi::AVFilterContext, ffmpeg::Error> {
            let mut context = graph.get(name).ok_or(ffmpeg::Error::FilterNotFound)?;
            // SAFETY: this only reads the pointer of a filter context owned by `graph`; it
            // stays valid until `graph` is freed, which happens when this struct is dropped.
            Ok(unsafe { context.as_mut_ptr() })
        };
        let source = lookup(source)?;
        let sinks = sinks.iter().map(|name| lookup(name)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { graph, source, sinks })
    }

    /// Feeds a frame; its data references move into the graph and the frame is left blank.
    pub fn push(&mut self, frame: &mut ffmpeg::Frame) -> Result<(), ffmpeg::Error> {
        // SAFETY: `self.source` is a live buffer/abuffer context of `self.graph`; `frame` is a
        // live AVFrame we hold mutably, which av_buffersrc_add_frame may reset.
        let result = unsafe { ffi::av_buffersrc_add_frame(self.source, frame.as_mut_ptr()) };
        if result < 0 { Err(ffmpeg::Error::from(result)) } else { Ok(()) }
    }

    /// Signals the end of input where the last frame ended.
    pub fn flush(&mut self) -> Result<(), ffmpeg::Error> {
        // SAFETY: `self.source` is a live buffer source context of `self.graph`; a null frame
        // is FFmpeg's documented end-of-stream marker.
        let result = unsafe { ffi::av_buffersrc_add_frame(self.source, std::ptr::null_mut()) };
        if result < 0 { Err(ffmpeg::Error::from(result)) } else { Ok(()) }
    }

    /// Signals the end of input at `pts` (in the source's time base).
    pub fn close(&mut self, pts: i64) -> Result<(), ffmpeg::Error> {
        // SAFETY: `self.source` is a live buffer source context of `self.graph`.
        let result = unsafe { ffi::av_buffersrc_close(self.source, pts, 0) };
        if result < 0 { Err(ffmpeg::Error::from(result)) } else { Ok(()) }
    }

    /// Takes the next frame out of sink `index`; `Err` when it has none for now (EAGAIN) or
    /// ever again (EOF).
    pub fn pull(&mut self, index: usize, frame: &mut ffmpeg::Frame) -> Result<(), ffmpeg::Error> {
        let sink = *self.sinks.get(index).ok_or(ffmpeg::Error::FilterNotFound)?;
        // SAFETY: `sink` is a live buffersink context of `self.graph`; `frame` is a live
        // AVFrame we hold mutably, emptied before FFmpeg writes into it.
        let result = unsafe {
            ffi::av_frame_unref(frame.as_mut_ptr());
            ffi::av_buffersink_get_frame(sink, frame.as_mut_ptr())
        };
        if result < 0 { Err(ffmpeg::Error::from(result)) } else { Ok(()) }
    }

    pub fn time_base(&self, index: usize) -> ffmpeg::Rational {
        match self.sinks.get(index) {
            // SAFETY: a live, configured buffersink context of `self.graph`.
            Some(sink) => unsafe { ffi::av_buffersink_get_time_base(*sink) }.into(),
            None => ffmpeg::Rational::new(0, 1),
        }
    }

    /// Makes an audio sink return frames of exactly `samples` samples (the encoder's size).
    pub fn set_frame_size(&mut self, index: usize, samples: u32) {
        if let Some(sink) = self.sinks.get(index) {
            // SAFETY: a live, configured abuffersink context of `self.graph`.
            unsafe { ffi::av_buffersink_set_frame_size(*sink, samples) };
        }
    }
}

/// Clears a copied stream's codec tag, so the MP4 muxer chooses the tag its format uses for
/// the codec instead of checking the source container's tag against its own table.
pub fn clear_codec_tag(parameters: &mut ffmpeg::codec::Parameters) {
    // SAFETY: `parameters` owns a live AVCodecParameters; `codec_tag` is a plain integer field.
    unsafe {
        (*parameters.as_mut_ptr()).codec_tag = 0;
    }
}

/// Ends the current fragment of an MP4 muxer opened with `movflags=+frag_custom`: every packet
/// written so far goes into one `moof`+`mdat`, and the next packet begins a new fragment.
pub fn flush_fragment(output: &mut ffmpeg::format::context::Output) -> Result<(), ffmpeg::Error> {
    // SAFETY: `output` owns a live AVFormatContext whose header has been written. A null
    // packet is the documented way to ask a muxer with AVFMT_ALLOW_FLUSH (the MP4 muxer) to
    // flush; first the interleaving queue is drained the same way.
    let result = unsafe {
        let context = output.as_mut_ptr();
        let drained = ffi::av_interleaved_write_frame(context, std::ptr::null_mut());
        if drained < 0 { drained } else { ffi::av_write_frame(context, std::ptr::null_mut()) }
    };
    if result < 0 { Err(ffmpeg::Error::from(result)) } else { Ok(()) }
}
