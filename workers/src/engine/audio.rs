//! One audio rendition: decode its source stream, resample to 48 kHz stereo float planar
//! (downmixing as needed, optionally loudness-normalised), encode AAC-LC.

use ffmpeg::{ChannelLayout, Packet, Rational, Rescale, codec, decoder, encoder, filter, format, frame};
use ffmpeg_next as ffmpeg;
use pipelines::plan::AudioRendition;

use super::filters;
use super::mux::StreamSetup;
use super::{EngineError, Outputs, ffmpeg_error};
use crate::ffi::FilterPipes;

pub struct AudioTrack {
    /// Index of this rendition in the plan (and among the audio outputs).
    pub rendition_index: usize,
    pub stream_index: usize,
    decoder: decoder::Audio,
    input_time_base: Rational,
    origin: i64,
    graph: Option<FilterPipes>,
    spec: String,
    encoder: encoder::Audio,
    time_base: Rational,
    frame_size: u32,
    decoded: frame::Audio,
    filtered: frame::Audio,
    encoded: Packet,
    next_pts: i64,
    pub out_time_seconds: f64,
}

impl AudioTrack {
    pub fn new(
        input: &format::context::Input,
        rendition: &AudioRendition,
        rendition_index: usize,
        origin_seconds: f64,
    ) -> Result<Self, EngineError> {
        let stream_index = rendition.source_index;
        let stream = input
            .stream(stream_index)
            .ok_or_else(|| EngineError::InvalidPlan(format!("the source has no stream {stream_index}")))?;
        let context = format!("opening the decoder of audio stream {stream_index}");
        let mut decoder = codec::context::Context::from_parameters(stream.parameters())
            .map_err(ffmpeg_error(&context))?
            .decoder()
            .audio()
            .map_err(ffmpeg_error(&context))?;
        decoder.set_packet_time_base(stream.time_base());
        let input_time_base = stream.time_base();
        #[allow(clippy::cast_possible_truncation)]
        let origin = (origin_seconds / f64::from(input_time_base)).round() as i64;

        let context = format!("opening the AAC encoder for {}", rendition.name);
        let codec = encoder::find_by_name("aac")
            .ok_or_else(|| EngineError::Ffmpeg { context: context.clone(), source: ffmpeg::Error::EncoderNotFound })?;
        let mut audio =
            codec::context::Context::new_with_codec(codec).encoder().audio().map_err(ffmpeg_error(&context))?;
        let sample_rate =
            i32::try_from(rendition.sample_rate).map_err(|_| EngineError::InvalidPlan("sample rate".to_owned()))?;
        let time_base = Rational::new(1, sample_rate);
        audio.set_rate(sample_rate);
        audio.set_channel_layout(ChannelLayout::STEREO);
        audio.set_format(format::Sample::F32(format::sample::Type::Planar));
        audio.set_bit_rate(rendition.bitrate as usize);
        audio.set_time_base(time_base);
        audio.set_flags(codec::Flags::GLOBAL_HEADER);
        let encoder = audio.open_as(codec).map_err(ffmpeg_error(&context))?;
        let frame_size = encoder.frame_size().max(1);
        Ok(Self {
            rendition_index,
            stream_index,
            decoder,
            input_time_base,
            origin,
            graph: None,
            spec: filters::audio_chain(rendition),
            encoder,
            time_base,
            frame_size,
            decoded: frame::Audio::empty(),
            filtered: frame::Audio::empty(),
            encoded: Packet::empty(),
            next_pts: 0,
            out_time_seconds: 0.0,
        })
    }

    pub fn stream_setup(&self) -> StreamSetup {
        StreamSetup::of(&self.encoder)
    }

    pub fn send_packet(&mut self, packet: &Packet, outputs: &mut Outputs) -> Result<(), EngineError> {
        if let Err(error) = self.decoder.send_packet(packet) {
            tracing::warn!(%error, stream = self.stream_index, "audio packet rejected by the decoder");
            return Ok(());
        }
        self.receive_frames(outputs)
    }

    pub fn finish(&mut self, outputs: &mut Outputs) -> Result<(), EngineError> {
        let _ = self.decoder.send_eof();
        self.receive_frames(outputs)?;
        if let Some(graph) = self.graph.as_mut() {
            graph.flush().map_err(ffmpeg_error("flushing the audio filter graph"))?;
        }
        self.drain_graph(outputs)?;
        self.encoder.send_eof().map_err(ffmpeg_error("flushing the AAC encoder"))?;
        self.receive_packets(outputs)
    }

    fn receive_frames(&mut self, outputs: &mut Outputs) -> Result<(), EngineError> {
        while self.decoder.receive_frame(&mut self.decoded).is_ok() {
            let pts = self.decoded.timestamp().map(|pts| pts - self.origin);
            self.decoded.set_pts(pts);
            if self.graph.is_none() {
                self.graph = Some(self.build_graph()?);
            }
            if let Some(graph) = self.graph.as_mut() {
                graph.push(&mut self.decoded).map_err(ffmpeg_error("feeding the audio filter graph"))?;
            }
            self.drain_graph(outputs)?;
        }
        Ok(())
    }

    fn build_graph(&self) -> Result<FilterPipes, EngineError> {
        let context = "building the audio filter graph";
        let frame = &self.decoded;
        let layout = frame.channel_layout();
        // A layout with unspecified order (raw PCM) is read as the default for its count.
        let mask = if layout.is_empty() || layout.bits() == 0 {
            ChannelLayout::default(i32::from(frame.channels())).bits()
        } else {
            layout.bits()
        };
        let args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{mask:x}",
            self.input_time_base.numerator(),
            self.input_time_base.denominator(),
            frame.rate(),
            frame.format().name(),
        );
        let mut graph = filter::Graph::new();
        let abuffer = filter::find("abuffer").ok_or(ffmpeg::Error::FilterNotFound).map_err(ffmpeg_error(context))?;
        let sink = filter::find("abuffersink").ok_or(ffmpeg::Error::FilterNotFound).map_err(ffmpeg_error(context))?;
        graph.add(&abuffer, "in", &args).map_err(ffmpeg_error(format!("{context} ({args})")))?;
        graph.add(&sink, "out", "").map_err(ffmpeg_error(context))?;
        graph
            .output("in", 0)
            .and_then(|parser| parser.input("out", 0))
            .and_then(|parser| parser.parse(&format!("[in]{}[out]", self.spec)))
            .map_err(ffmpeg_error(format!("{context} `{}`", self.spec)))?;
        graph.validate().map_err(ffmpeg_error(context))?;
        let mut pipes = FilterPipes::new(graph, "in", &["out".to_owned()]).map_err(ffmpeg_error(context))?;
        // The AAC encoder takes exactly `frame_size` samples per frame.
        pipes.set_frame_size(0, self.frame_size);
        Ok(pipes)
    }

    fn drain_graph(&mut self, outputs: &mut Outputs) -> Result<(), EngineError> {
        let Some(graph) = self.graph.as_mut() else {
            return Ok(());
        };
        let sink_time_base = graph.time_base(0);
        while graph.pull(0, &mut self.filtered).is_ok() {
            let pts = self.filtered.pts().map_or(self.next_pts, |pts| pts.rescale(sink_time_base, self.time_base));
            let pts = pts.max(self.next_pts);
            self.filtered.set_pts(Some(pts));
            self.next_pts = pts + i64::try_from(self.filtered.samples()).unwrap_or(0);
            #[allow(clippy::cast_precision_loss)]
            let seconds = self.next_pts as f64 * f64::from(self.time_base);
            self.out_time_seconds = seconds;
            self.encoder.send_frame(&self.filtered).map_err(ffmpeg_error("encoding AAC"))?;
            while self.encoder.receive_packet(&mut self.encoded).is_ok() {
                outputs.write_audio(self.rendition_index, &mut self.encoded, self.time_base)?;
            }
        }
        Ok(())
    }

    fn receive_packets(&mut self, outputs: &mut Outputs) -> Result<(), EngineError> {
        while self.encoder.receive_packet(&mut self.encoded).is_ok() {
            outputs.write_audio(self.rendition_index, &mut self.encoded, self.time_base)?;
        }
        Ok(())
    }
}
