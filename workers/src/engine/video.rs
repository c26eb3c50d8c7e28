//! The video ladder: one decoder, one filter graph (per-source filters once, then a branch per
//! rung), one libx264 encoder per rung, all in this process.

use ffmpeg::{Dictionary, Packet, Rational, Rescale, codec, decoder, encoder, format, frame, picture};
use ffmpeg_next as ffmpeg;
use pipelines::plan::{Plan, VideoRung};

use super::filters::{self, POSTER_SINK, THUMBNAIL_SINK};
use super::images::ImageWriter;
use super::mux::StreamSetup;
use super::{EngineError, Outputs, ffmpeg_error};
use crate::ffi::FilterPipes;

struct RungEncoder {
    encoder: encoder::Video,
    time_base: Rational,
    keyframe_interval: i64,
    frame_duration: i64,
}

pub struct VideoLadder {
    pub stream_index: usize,
    decoder: decoder::Video,
    input_time_base: Rational,
    /// Source timestamp that maps to output time zero (the container's start time).
    origin: i64,
    graph: Option<FilterPipes>,
    spec: String,
    with_images: bool,
    encoders: Vec<RungEncoder>,
    /// Sink names, made once so the per-frame loop does not format them again.
    sink_names: Vec<String>,
    decoded: frame::Video,
    filtered: frame::Video,
    encoded: Packet,
    last_pts: Option<i64>,
    /// Where the last decoded frame ends (its pts plus its duration), for the graph's EOF.
    last_end: i64,
    /// Expected distance between frames in input ticks, for frames that carry no timestamp:
    /// the last observed gap, first estimated from the stream's average frame rate.
    frame_gap: i64,
    /// Presentation time reached by the first rung's output, in seconds.
    pub out_time_seconds: f64,
}

fn open_rung_encoder(rung: &VideoRung) -> Result<RungEncoder, EngineError> {
    let context = format!("opening libx264 for rung {}", rung.name);
    let codec = encoder::find_by_name("libx264")
        .ok_or_else(|| EngineError::Ffmpeg { context: context.clone(), source: ffmpeg::Error::EncoderNotFound })?;
    let frame_rate = Rational::new(to_i32(rung.frame_rate.num)?, to_i32(rung.frame_rate.den)?);
    let time_base = frame_rate.invert();
    let mut video = codec::context::Context::new_with_codec(codec).encoder().video().map_err(ffmpeg_error(&context))?;
    video.set_width(rung.width);
    video.set_height(rung.height);
    video.set_format(format::Pixel::YUV420P);
    video.set_time_base(time_base);
    video.set_frame_rate(Some(frame_rate));
    video.set_aspect_ratio(Rational::new(1, 1));
    video.set_gop(rung.keyframe_interval_frames);
    video.set_colorspace(ffmpeg::color::Space::BT709);
    video.set_color_primaries(ffmpeg::color::Primaries::BT709);
    video.set_color_transfer_characteristic(ffmpeg::color::TransferCharacteristic::BT709);
    video.set_color_range(ffmpeg::color::Range::MPEG);
    // Every consumer is MP4, which keeps SPS/PPS in the sample entry rather than in-band.
    video.set_flags(codec::Flags::GLOBAL_HEADER);
    let keyint = rung.keyframe_interval_frames.max(1);
    let mut options = Dictionary::new();
    options.set("preset", &rung.encoder_preset);
    options.set("profile", rung.profile.x264_name());
    options.set("crf", &format!("{}", rung.crf));
    // Fixed GOPs, no scene-cut keyframes, closed GOPs: every rung has IDR frames at exactly the
    // same instants, so segments line up across the ladder. VBV needs both figures, in kbit.
    options.set(
        "x264-params",
        &format!(
            "keyint={keyint}:min-keyint={keyint}:scenecut=0:open-gop=0:vbv-maxrate={}:vbv-bufsize={}",
            rung.max_bitrate.div_ceil(1000),
            rung.buffer_size.div_ceil(1000)
        ),
    );
    let encoder = video.open_as_with(codec, options).map_err(ffmpeg_error(&context))?;
    Ok(RungEncoder { encoder, time_base, keyframe_interval: i64::from(keyint), frame_duration: 1 })
}

fn to_i32(value: u32) -> Result<i32, EngineError> {
    i32::try_from(value).map_err(|_| EngineError::InvalidPlan(format!("{value} does not fit a rational")))
}

impl VideoLadder {
    pub fn new(
        input: &format::context::Input,
        plan: &Plan,
        stream_index: usize,
        origin_seconds: f64,
        poster_window_seconds: f64,
        with_images: bool,
    ) -> Result<Self, EngineError> {
        let stream = input
            .stream(stream_index)
            .ok_or_else(|| EngineError::InvalidPlan(format!("the source has no stream {stream_index}")))?;
        let context = format!("opening the decoder of video stream {stream_index}");
        let mut decoder_context =
            codec::context::Context::from_parameters(stream.parameters()).map_err(ffmpeg_error(&context))?;
        decoder_context.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        let mut decoder = decoder_context.decoder().video().map_err(ffmpeg_error(&context))?;
        decoder.set_packet_time_base(stream.time_base());
        let input_time_base = stream.time_base();
        #[allow(clippy::cast_possible_truncation)]
        let origin = (origin_seconds / f64::from(input_time_base)).round() as i64;
        let average_rate = stream.avg_frame_rate();
        let frame_gap = if average_rate.numerator() > 0 && average_rate.denominator() > 0 {
            #[allow(clippy::cast_possible_truncation)]
            let ticks = (1.0 / (f64::from(average_rate) * f64::from(input_time_base))).round() as i64;
            ticks.max(1)
        } else {
            1
        };
        let encoders = plan.video.iter().map(open_rung_encoder).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            stream_index,
            decoder,
            input_time_base,
            origin,
            graph: None,
            spec: filters::video_graph(plan, with_images, poster_window_seconds),
            with_images,
            sink_names: (0..plan.video.len()).map(filters::rung_sink).collect(),
            encoders,
            decoded: frame::Video::empty(),
            filtered: frame::Video::empty(),
            encoded: Packet::empty(),
            last_pts: None,
            last_end: 0,
            frame_gap,
            out_time_seconds: 0.0,
        })
    }

    pub fn stream_setup(&self, rung: usize) -> Option<StreamSetup> {
        self.encoders.get(rung).map(|rung| StreamSetup::of(&rung.encoder))
    }

    pub fn send_packet(
        &mut self,
        packet: &Packet,
        outputs: &mut Outputs,
        images: Option<&mut ImageWriter>,
    ) -> Result<(), EngineError> {
        if let Err(error) = self.decoder.send_packet(packet) {
            // A damaged packet costs a frame or two, not the whole job.
            tracing::warn!(%error, "video packet rejected by the decoder");
            return Ok(());
        }
        self.receive_frames(outputs, images)
    }

    pub fn finish(&mut self, outputs: &mut Outputs, mut images: Option<&mut ImageWriter>) -> Result<(), EngineError> {
        // The decoder may refuse EOF when it already failed; what it holds is then lost anyway.
        let _ = self.decoder.send_eof();
        self.receive_frames(outputs, images.as_deref_mut())?;
        if let Some(graph) = self.graph.as_mut() {
            // Closing at the end of the last frame (not at its start) lets `fps` emit the
            // last frame instead of treating it as zero-length.
            graph.close(self.last_end).map_err(ffmpeg_error("flushing the video filter graph"))?;
            self.drain_graph(outputs, images)?;
        }
        for index in 0..self.encoders.len() {
            self.encoders[index].encoder.send_eof().map_err(ffmpeg_error("flushing libx264"))?;
            self.receive_packets(index, outputs)?;
        }
        Ok(())
    }

    fn receive_frames(
        &mut self,
        outputs: &mut Outputs,
        mut images: Option<&mut ImageWriter>,
    ) -> Result<(), EngineError> {
        while self.decoder.receive_frame(&mut self.decoded).is_ok() {
            let pts = match (self.decoded.timestamp(), self.last_pts) {
                // Timestamps must increase; a repeated or backward one is nudged forward and
                // the fps filter then drops or keeps the frame as the rate requires.
                (Some(pts), Some(last)) if pts - self.origin <= last => last + 1,
                (Some(pts), _) => pts - self.origin,
                // No timestamp at all: assume one frame after the previous one.
                (None, Some(last)) => last + self.frame_gap,
                (None, None) => 0,
            };
            if let Some(last) = self.last_pts
                && pts - last > 1
            {
                self.frame_gap = pts - last;
            }
            let duration = self.decoded.packet().duration;
            self.last_end = pts + if duration > 0 { duration } else { self.frame_gap };
            self.last_pts = Some(pts);
            self.decoded.set_pts(Some(pts));
            if self.graph.is_none() {
                self.graph = Some(self.build_graph()?);
            }
            if let Some(graph) = self.graph.as_mut() {
                graph.push(&mut self.decoded).map_err(ffmpeg_error("feeding the video filter graph"))?;
            }
            self.drain_graph(outputs, images.as_deref_mut())?;
        }
        Ok(())
    }

    /// Builds the graph from the first decoded frame, whose size and format are the truth
    /// (container headers of browser recordings are sometimes vague).
    /// Sinks are numbered rungs first, then the thumbnail and poster sinks.
    fn build_graph(&self) -> Result<FilterPipes, EngineError> {
        let mut sinks = self.sink_names.clone();
        if self.with_images {
            sinks.push(THUMBNAIL_SINK.to_owned());
            sinks.push(POSTER_SINK.to_owned());
        }
        let graph = filters::build_video_graph(&self.decoded, self.input_time_base, &sinks, &self.spec)?;
        FilterPipes::new(graph, "in", &sinks).map_err(ffmpeg_error("looking up the video graph's sinks"))
    }

    fn drain_graph(&mut self, outputs: &mut Outputs, images: Option<&mut ImageWriter>) -> Result<(), EngineError> {
        let Some(graph) = self.graph.as_mut() else {
            return Ok(());
        };
        let n_rungs = self.encoders.len();
        for index in 0..n_rungs {
            let sink_time_base = graph.time_base(index);
            while graph.pull(index, &mut self.filtered).is_ok() {
                let rung = &mut self.encoders[index];
                let pts = self.filtered.pts().unwrap_or(0).max(0);
                let pts = pts.rescale(sink_time_base, rung.time_base);
                self.filtered.set_pts(Some(pts));
                // Forcing the picture type backs up the fixed GOP: a keyframe at every
                // segment boundary even if the encoder were configured otherwise.
                let kind = if pts % rung.keyframe_interval == 0 { picture::Type::I } else { picture::Type::None };
                self.filtered.set_kind(kind);
                rung.encoder.send_frame(&self.filtered).map_err(ffmpeg_error("encoding with libx264"))?;
                if index == 0 {
                    #[allow(clippy::cast_precision_loss)]
                    let seconds = (pts + 1) as f64 * f64::from(rung.time_base);
                    self.out_time_seconds = seconds;
                }
                Self::receive_packets_of(rung, index, &mut self.encoded, outputs)?;
            }
        }
        if let Some(images) = images {
            for (sink, is_thumbnail) in [(n_rungs, true), (n_rungs + 1, false)] {
                let sink_time_base = graph.time_base(sink);
                while graph.pull(sink, &mut self.filtered).is_ok() {
                    #[allow(clippy::cast_precision_loss)]
                    let seconds = self.filtered.pts().unwrap_or(0) as f64 * f64::from(sink_time_base);
                    if is_thumbnail {
                        images.thumbnail(&mut self.filtered)?;
                    } else {
                        images.poster_candidate(&self.filtered, seconds)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn receive_packets(&mut self, index: usize, outputs: &mut Outputs) -> Result<(), EngineError> {
        Self::receive_packets_of(&mut self.encoders[index], index, &mut self.encoded, outputs)
    }

    fn receive_packets_of(
        rung: &mut RungEncoder,
        index: usize,
        packet: &mut Packet,
        outputs: &mut Outputs,
    ) -> Result<(), EngineError> {
        while rung.encoder.receive_packet(packet).is_ok() {
            // libx264 on FFmpeg 5.1 leaves the duration at zero; the muxer would then make the
            // last sample of every fragment zero-length.
            packet.set_duration(rung.frame_duration);
            outputs.write_video(index, packet, rung.time_base)?;
        }
        Ok(())
    }
}
