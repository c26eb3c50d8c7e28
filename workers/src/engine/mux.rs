//! Muxers: one fragmented MP4 per rendition (split into CMAF init and media segments once it
//! is finished) and, optionally, a progressive `download.mp4` fed with the same packets.

use std::path::{Path, PathBuf};

use ffmpeg::{Dictionary, Packet, Rational, codec, format};
use ffmpeg_next as ffmpeg;

use super::EngineError;

/// Name of the single fragmented file a rendition is muxed into before it is split.
pub const FRAGMENTED_FILE: &str = "fragmented.mp4";

/// A rendition's muxer writing `{dir}/fragmented.mp4`, one fragment per segment.
pub struct FragmentedOutput {
    pub dir: PathBuf,
    context: format::context::Output,
    time_base: Rational,
    /// Ticks added to every timestamp; see [`FragmentedOutput::create`].
    offset: i64,
}

/// How the muxer should decide where fragments (and so segments) begin.
pub enum Cut {
    /// At every keyframe; the encoder places keyframes exactly at segment boundaries.
    AtKeyframes,
    /// When a fragment reaches this many seconds (audio, where every packet is a keyframe).
    EverySeconds(u32),
    /// Only when [`FragmentedOutput::end_fragment`] says (a stream copy, whose keyframes are
    /// where the source put them); video tracks get `video_timescale` ticks per second.
    Custom { video_timescale: Option<u32> },
}

fn ffmpeg_error<C: Into<String>>(context: C) -> impl FnOnce(ffmpeg::Error) -> EngineError {
    // The context is turned into a String only when an error really happens, so the hot
    // paths that pass a literal allocate nothing on success.
    move |source| EngineError::Ffmpeg { context: context.into(), source }
}

/// A track timescale in which every frame lasts a whole number of ticks: 90 kHz when it
/// divides the frame duration (24, 25, 30, 50, 60 and 29.97 fps all do), otherwise a multiple
/// of the frame rate's numerator (24000 for 23.976 fps).
pub fn video_timescale(frame_duration: Rational) -> u32 {
    let (num, den) = (i64::from(frame_duration.numerator()), i64::from(frame_duration.denominator()));
    if num <= 0 || den <= 0 || (90_000 * num) % den == 0 {
        return 90_000;
    }
    let multiple = (10_000 + den - 1) / den;
    u32::try_from(den * multiple).unwrap_or(90_000)
}

/// What a muxer needs to know about an opened encoder's stream.
#[derive(Clone)]
pub struct StreamSetup {
    pub parameters: codec::Parameters,
    pub time_base: Rational,
    /// How far before time zero this encoder's first packet lies (B-frame delay, AAC
    /// priming); the package's common presentation offset is the largest of these.
    pub lead_seconds: f64,
}

impl StreamSetup {
    pub fn of<E: AsRef<codec::Context>>(encoder: &E) -> Self {
        Self {
            parameters: codec::Parameters::from(encoder),
            time_base: encoder.as_ref().time_base(),
            lead_seconds: crate::ffi::encoder_lead_seconds(encoder.as_ref()),
        }
    }
}

fn add_stream(context: &mut format::context::Output, setup: &StreamSetup, what: &str) -> Result<(), EngineError> {
    let codec = ffmpeg::encoder::find(setup.parameters.id());
    let mut stream = context.add_stream(codec).map_err(ffmpeg_error(format!("adding the {what} stream")))?;
    stream.set_parameters(setup.parameters.clone());
    stream.set_time_base(setup.time_base);
    Ok(())
}

impl FragmentedOutput {
    /// `offset_seconds` is added to every timestamp so that no rendition has a negative decode
    /// time: fragmented MP4 has no edit list, so the muxer would otherwise shift each file to
    /// zero on its own and the renditions would drift apart by their different delays.
    pub fn create(dir: &Path, encoder: &StreamSetup, cut: &Cut, offset_seconds: f64) -> Result<Self, EngineError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| EngineError::Io { context: format!("creating {}", dir.display()), source })?;
        let path = dir.join(FRAGMENTED_FILE);
        let mut context =
            format::output_as(&path, "mp4").map_err(ffmpeg_error(format!("creating {}", path.display())))?;
        add_stream(&mut context, encoder, "rendition")?;
        let mut options = Dictionary::new();
        // Without an edit list the MP4 muxer would otherwise shift every track to start at
        // zero, undoing the shifts that keep rungs and audio presenting their first frame
        // and first sound at the same instant.
        options.set("avoid_negative_ts", "make_non_negative");
        // With `frag_discont` and no edit list, each fragment's tfdt is exactly the decode
        // time we give it; with an edit list the muxer would re-base it on the first pts.
        options.set("use_editlist", "0");
        // `skip_trailer` leaves out the `mfra` index, which would otherwise trail the last
        // segment; `default_base_moof` makes every fragment self-contained, as CMAF wants.
        match cut {
            Cut::AtKeyframes => {
                options.set("movflags", "+frag_keyframe+empty_moov+default_base_moof+frag_discont+skip_trailer");
                options.set("video_track_timescale", &video_timescale(encoder.time_base).to_string());
            }
            Cut::EverySeconds(seconds) => {
                options.set("movflags", "+empty_moov+default_base_moof+frag_discont+skip_trailer");
                options.set("frag_duration", &(u64::from(*seconds) * 1_000_000).to_string());
            }
            Cut::Custom { video_timescale } => {
                options.set("movflags", "+frag_custom+empty_moov+default_base_moof+frag_discont+skip_trailer");
                if let Some(timescale) = video_timescale {
                    options.set("video_track_timescale", &timescale.to_string());
                }
            }
        }
        {
            let _unused = context
                .write_header_with(options)
                .map_err(ffmpeg_error(format!("writing the header of {}", path.display())))?;
        }
        let time_base = context.stream(0).map_or(encoder.time_base, |stream| stream.time_base());
        #[allow(clippy::cast_possible_truncation)]
        let offset = (offset_seconds / f64::from(time_base)).round() as i64;
        Ok(Self { dir: dir.to_path_buf(), context, time_base, offset })
    }

    /// Writes one encoded packet whose timestamps are in `encoder_time_base`.
    pub fn write(&mut self, packet: &mut Packet, encoder_time_base: Rational) -> Result<(), EngineError> {
        packet.set_stream(0);
        packet.rescale_ts(encoder_time_base, self.time_base);
        packet.set_pts(packet.pts().map(|pts| pts + self.offset));
        packet.set_dts(packet.dts().map(|dts| dts + self.offset));
        packet.write_interleaved(&mut self.context).map_err(|source| EngineError::Ffmpeg {
            context: format!("writing a packet to {}", self.dir.display()),
            source,
        })
    }

    /// Closes the current fragment: the next packet written begins a new segment.
    pub fn end_fragment(&mut self) -> Result<(), EngineError> {
        crate::ffi::flush_fragment(&mut self.context).map_err(|source| EngineError::Ffmpeg {
            context: format!("ending a fragment of {}", self.dir.display()),
            source,
        })
    }

    pub fn finish(mut self) -> Result<PathBuf, EngineError> {
        self.context.write_trailer().map_err(ffmpeg_error(format!("finishing {}", self.dir.display())))?;
        Ok(self.dir.join(FRAGMENTED_FILE))
    }
}

/// The progressive download: one video rung and the default audio, `moov` moved to the front.
pub struct DownloadOutput {
    context: format::context::Output,
    video_time_base: Rational,
    audio_time_base: Option<Rational>,
    path: PathBuf,
    /// Reused for every packet: a second reference to the rendition's packet data.
    copy: Packet,
}

impl DownloadOutput {
    pub fn create(path: &Path, video: &StreamSetup, audio: Option<&StreamSetup>) -> Result<Self, EngineError> {
        let mut context =
            format::output_as(&path, "mp4").map_err(ffmpeg_error(format!("creating {}", path.display())))?;
        add_stream(&mut context, video, "download video")?;
        if let Some(audio) = audio {
            add_stream(&mut context, audio, "download audio")?;
        }
        let mut options = Dictionary::new();
        options.set("movflags", "+faststart");
        {
            let _unused = context
                .write_header_with(options)
                .map_err(ffmpeg_error(format!("writing the header of {}", path.display())))?;
        }
        let video_time_base = context.stream(0).map_or(video.time_base, |stream| stream.time_base());
        let audio_time_base = context.stream(1).map(|stream| stream.time_base());
        Ok(Self { context, video_time_base, audio_time_base, path: path.to_path_buf(), copy: Packet::empty() })
    }

    /// Writes a copy of a packet already written to a rendition (the rendition's muxer consumes
    /// its own copy). `is_video` picks the stream.
    pub fn write_copy(
        &mut self,
        packet: &Packet,
        encoder_time_base: Rational,
        is_video: bool,
    ) -> Result<(), EngineError> {
        let (stream, time_base) = if is_video {
            (0, self.video_time_base)
        } else {
            match self.audio_time_base {
                Some(time_base) => (1, time_base),
                None => return Ok(()),
            }
        };
        crate::ffi::share_packet(&mut self.copy, packet).map_err(|source| EngineError::Ffmpeg {
            context: "sharing a packet with the download".to_owned(),
            source,
        })?;
        let copy = &mut self.copy;
        copy.set_stream(stream);
        copy.rescale_ts(encoder_time_base, time_base);
        copy.write_interleaved(&mut self.context).map_err(|source| EngineError::Ffmpeg {
            context: format!("writing a packet to {}", self.path.display()),
            source,
        })
    }

    pub fn finish(mut self) -> Result<(), EngineError> {
        self.context.write_trailer().map_err(ffmpeg_error(format!("finishing {}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::video_timescale;
    use ffmpeg_next::Rational;

    #[test]
    fn video_timescales_give_whole_frame_durations() {
        assert_eq!(video_timescale(Rational::new(1, 30)), 90_000);
        assert_eq!(video_timescale(Rational::new(1001, 30000)), 90_000);
        assert_eq!(video_timescale(Rational::new(1, 25)), 90_000);
        assert_eq!(video_timescale(Rational::new(1001, 24000)), 24_000);
        assert_eq!(video_timescale(Rational::new(1, 7)), 10_003);
        assert_eq!(video_timescale(Rational::new(1, 17)), 10_013);
    }
}
