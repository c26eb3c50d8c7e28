use crate::common::{basic_mp4, ffmpeg, ffmpeg_piped, tempdir};
use pipelines::refusal::RefusalCode;
use pipelines::source::{FieldOrder, Rational};
use workers::probe;

fn refusal(path: &std::path::Path) -> RefusalCode {
    match probe(path) {
        Ok(info) => panic!("expected a refusal, got {info:?}"),
        Err(error) => error.refusal_code().unwrap_or_else(|| panic!("expected a refusal, got {error}")),
    }
}

#[test]
fn probing_a_plain_mp4_reports_its_streams() {
    let dir = tempdir();
    let path = basic_mp4(dir.path(), "plain.mp4", 2, "320x240", 30);
    let info = probe(&path).unwrap();
    assert!(info.container.contains("mp4"), "{}", info.container);
    assert!((info.duration_seconds.unwrap() - 2.0).abs() < 0.1);
    assert_eq!(info.size_bytes, std::fs::metadata(&path).unwrap().len());
    let video = &info.video[0];
    assert_eq!((video.codec.as_str(), video.width, video.height), ("h264", 320, 240));
    assert_eq!(video.frame_rate, Some(Rational::new(30, 1)));
    assert!(!video.variable_frame_rate);
    assert_eq!(video.pixel_format, "yuv420p");
    assert_eq!(video.bit_depth, 8);
    assert_eq!(video.rotation_degrees, 0);
    assert_eq!(video.field_order, FieldOrder::Progressive);
    assert!(video.profile.is_some());
    let audio = &info.audio[0];
    assert_eq!((audio.codec.as_str(), audio.sample_rate, audio.channels), ("aac", 44100, 1));
    assert!(audio.default);
}

#[test]
fn a_phone_video_held_upright_reports_90_degrees_clockwise() {
    // FFmpeg 5.1's muxer stores `rotate=N` as an N° counter-clockwise display matrix, so 270
    // writes what an upright phone writes: ffprobe's "rotation of -90.00 degrees", a picture
    // the player must turn 90° clockwise.
    let dir = tempdir();
    let plain = basic_mp4(dir.path(), "plain.mp4", 1, "320x240", 30);
    let plain = plain.to_str().unwrap();
    let rotated = ffmpeg(dir.path(), "rotated.mp4", &["-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=270"]);
    let info = probe(&rotated).unwrap();
    assert_eq!(info.video[0].rotation_degrees, 90);
    assert_eq!(info.video[0].display_size(), (240.0, 320.0));
}

#[test]
fn an_anamorphic_video_reports_its_pixel_aspect() {
    let dir = tempdir();
    let path = ffmpeg(
        dir.path(),
        "anamorphic.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=720x576:rate=25:duration=1,setsar=64/45",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
    );
    let info = probe(&path).unwrap();
    assert_eq!(info.video[0].sample_aspect_ratio, Rational::new(64, 45));
    assert!(info.audio.is_empty());
}

#[test]
fn hevc_10_bit_mkv_reports_depth_and_format() {
    let dir = tempdir();
    let path = ffmpeg(
        dir.path(),
        "hevc.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=24:duration=1",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-x265-params",
            "log-level=error",
        ],
    );
    let info = probe(&path).unwrap();
    assert_eq!(info.container, "matroska,webm");
    let video = &info.video[0];
    assert_eq!((video.codec.as_str(), video.bit_depth, video.pixel_format.as_str()), ("hevc", 10, "yuv420p10le"));
    assert_eq!(video.profile.as_deref(), Some("Main 10"));
}

#[test]
fn a_piped_webm_without_duration_header_gets_a_measured_duration() {
    let dir = tempdir();
    let path = ffmpeg_piped(
        dir.path(),
        "recorder.webm",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2:sample_rate=48000",
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "200k",
            "-c:a",
            "libopus",
            "-f",
            "webm",
        ],
    );
    let info = probe(&path).unwrap();
    assert_eq!(info.video[0].codec, "vp9");
    assert_eq!(info.audio[0].codec, "opus");
    let duration = info.duration_seconds.unwrap();
    assert!((duration - 2.0).abs() < 0.2, "{duration}");
}

#[test]
fn an_interlaced_video_reports_top_field_first() {
    let dir = tempdir();
    let path = ffmpeg(
        dir.path(),
        "interlaced.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=1,setfield=tff",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-flags",
            "+ildct+ilme",
        ],
    );
    let info = probe(&path).unwrap();
    assert_eq!(info.video[0].field_order, FieldOrder::TopFieldFirst);
    assert!(info.video[0].is_interlaced());
}

#[test]
fn a_video_with_irregular_frame_times_is_flagged_variable_frame_rate() {
    let dir = tempdir();
    let path = ffmpeg(
        dir.path(),
        "vfr.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30:duration=3,settb=1/1000,setpts=N*40+mod(N\\,2)*15",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-fps_mode",
            "vfr",
        ],
    );
    let info = probe(&path).unwrap();
    assert!(info.video[0].variable_frame_rate);
}

#[test]
fn yuv444_odd_sized_video_reports_its_format_and_size() {
    let dir = tempdir();
    let path = ffmpeg(
        dir.path(),
        "444.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=1,scale=641:361",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv444p",
        ],
    );
    let video = &probe(&path).unwrap().video[0];
    assert_eq!((video.width, video.height, video.pixel_format.as_str()), (641, 361, "yuv444p"));
    assert_eq!(video.profile.as_deref(), Some("High 4:4:4 Predictive"));
}

#[test]
fn two_audio_languages_are_both_reported_with_tags() {
    let dir = tempdir();
    let path = ffmpeg(
        dir.path(),
        "langs.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=1",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=660:duration=1",
            "-map",
            "0",
            "-map",
            "1",
            "-map",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:1",
            "language=rus",
            "-metadata:s:a:1",
            "title=Russian",
            "-disposition:a:0",
            "default",
            "-disposition:a:1",
            "0",
        ],
    );
    let info = probe(&path).unwrap();
    assert_eq!(info.audio.len(), 2);
    assert_eq!(info.audio[0].language.as_deref(), Some("eng"));
    assert_eq!(info.audio[1].language.as_deref(), Some("rus"));
    assert_eq!(info.audio[1].title.as_deref(), Some("Russian"));
    assert!(info.audio[0].default);
    assert!(!info.audio[1].default);
}

#[test]
fn prores_mov_and_audio_only_m4a_are_probed() {
    let dir = tempdir();
    let prores = ffmpeg(
        dir.path(),
        "prores.mov",
        &["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "prores_ks", "-profile:v", "0"],
    );
    let video = &probe(&prores).unwrap().video[0];
    assert_eq!(video.codec, "prores");
    assert_eq!(video.pixel_format, "yuv422p10le");
    let m4a = ffmpeg(dir.path(), "voice.m4a", &["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac"]);
    let info = probe(&m4a).unwrap();
    assert!(info.video.is_empty());
    assert_eq!(info.audio.len(), 1);
}

#[test]
fn cover_art_in_an_audio_file_is_not_a_video_stream() {
    let dir = tempdir();
    let png = ffmpeg(dir.path(), "cover.png", &["-f", "lavfi", "-i", "color=red:size=64x64", "-frames:v", "1"]);
    let png = png.to_str().unwrap();
    let path = ffmpeg(
        dir.path(),
        "song.m4a",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=duration=1",
            "-i",
            png,
            "-map",
            "0",
            "-map",
            "1",
            "-c:a",
            "aac",
            "-c:v",
            "png",
            "-disposition:v:0",
            "attached_pic",
        ],
    );
    let info = probe(&path).unwrap();
    assert!(info.video.is_empty(), "{:?}", info.video);
    assert_eq!(info.audio.len(), 1);
}

#[test]
fn an_empty_file_is_refused_as_empty_file() {
    let dir = tempdir();
    let path = dir.path().join("empty.mp4");
    std::fs::write(&path, b"").unwrap();
    assert_eq!(refusal(&path), RefusalCode::EmptyFile);
}

#[test]
fn random_bytes_and_text_are_refused_as_not_a_media_file() {
    let dir = tempdir();
    let random = dir.path().join("random.bin");
    let bytes: Vec<u8> = (0u32..65536).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&random, bytes).unwrap();
    assert_eq!(refusal(&random), RefusalCode::NotAMediaFile);
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "Lesson one: hello.\nThis is not a video.\n".repeat(50)).unwrap();
    assert_eq!(refusal(&text), RefusalCode::NotAMediaFile);
    let text_as_mp4 = dir.path().join("notes.mp4");
    std::fs::write(&text_as_mp4, "Lesson one: hello.\n".repeat(50)).unwrap();
    assert_eq!(refusal(&text_as_mp4), RefusalCode::NotAMediaFile);
}

#[test]
fn still_images_are_refused_as_no_playable_streams() {
    let dir = tempdir();
    let png = ffmpeg(dir.path(), "still.png", &["-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"]);
    assert_eq!(refusal(&png), RefusalCode::NoPlayableStreams);
    let jpeg = ffmpeg(dir.path(), "still.jpg", &["-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"]);
    assert_eq!(refusal(&jpeg), RefusalCode::NoPlayableStreams);
}

#[test]
fn an_mp4_cut_in_half_is_refused_as_truncated() {
    let dir = tempdir();
    let faststart = ffmpeg(
        dir.path(),
        "faststart.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-movflags",
            "+faststart",
        ],
    );
    let bytes = std::fs::read(&faststart).unwrap();
    let half = dir.path().join("half.mp4");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(refusal(&half), RefusalCode::TruncatedFile);
}

#[test]
fn an_mp4_whose_trailing_moov_was_cut_off_is_refused_as_truncated() {
    let dir = tempdir();
    let path = basic_mp4(dir.path(), "moov_at_end.mp4", 2, "320x240", 25);
    let bytes = std::fs::read(&path).unwrap();
    // Keep the header and media data, drop the last few kilobytes where the moov lives.
    let cut = dir.path().join("no_moov.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() - 2000]).unwrap();
    assert_eq!(refusal(&cut), RefusalCode::TruncatedFile);
}

#[test]
fn a_tiny_file_declaring_a_huge_picture_probes_quickly() {
    let dir = tempdir();
    let path = ffmpeg(
        dir.path(),
        "huge.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=black:size=8192x4320:rate=1:duration=1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-frames:v",
            "1",
        ],
    );
    let started = std::time::Instant::now();
    let info = probe(&path).unwrap();
    assert!(started.elapsed().as_secs_f64() < 1.0, "{:?}", started.elapsed());
    assert_eq!(info.video[0].width, 8192);
}

#[test]
fn an_mkv_cut_short_is_refused_as_truncated_but_a_live_webm_is_not() {
    let dir = tempdir();
    let mkv = ffmpeg(
        dir.path(),
        "whole.mkv",
        &["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-c:v", "libx264", "-preset", "ultrafast"],
    );
    let bytes = std::fs::read(&mkv).unwrap();
    let cut = dir.path().join("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(refusal(&cut), RefusalCode::TruncatedFile);
    let live = ffmpeg_piped(
        dir.path(),
        "live.webm",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=1",
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-b:v",
            "200k",
            "-f",
            "webm",
        ],
    );
    assert!(probe(&live).is_ok());
}

#[test]
fn a_browser_style_webm_with_jittery_frame_times_is_flagged_variable_frame_rate() {
    let dir = tempdir();
    let path = ffmpeg_piped(
        dir.path(),
        "jitter.webm",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30:duration=3,settb=1/1000,setpts=N*40+mod(N\\,2)*15",
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-b:v",
            "200k",
            "-fps_mode",
            "vfr",
            "-f",
            "webm",
        ],
    );
    let info = probe(&path).unwrap();
    assert!(info.video[0].variable_frame_rate);
    assert!(info.duration_seconds.unwrap() > 3.0);
}

#[test]
fn a_stream_whose_codec_has_no_decoder_is_refused_as_unsupported_codec() {
    let dir = tempdir();
    let path = ffmpeg(
        dir.path(),
        "mpeg4.mkv",
        &["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "mpeg4"],
    );
    // Renaming the track's CodecID (same length) leaves a well-formed file whose codec no
    // FFmpeg decoder knows.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(8).position(|window| window == b"V_MPEG4/").unwrap();
    bytes[at..at + 8].copy_from_slice(b"V_ZZZZZ/");
    let unknown = dir.path().join("unknown.mkv");
    std::fs::write(&unknown, bytes).unwrap();
    assert_eq!(refusal(&unknown), RefusalCode::UnsupportedCodec);
}

#[test]
fn junk_after_a_complete_mp4_is_tolerated() {
    let dir = tempdir();
    let path = basic_mp4(dir.path(), "whole.mp4", 1, "320x240", 25);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0, 0, 0x10, 0, b'f', b'r', b'e', b'e', 1, 2, 3]);
    let padded = dir.path().join("padded.mp4");
    std::fs::write(&padded, bytes).unwrap();
    assert!(probe(&padded).is_ok());
}

#[test]
fn damaged_headers_and_cuts_never_panic_the_probe() {
    let dir = tempdir();
    let sources = [
        basic_mp4(dir.path(), "a.mp4", 1, "160x120", 25),
        ffmpeg(
            dir.path(),
            "b.mkv",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x120:rate=25:duration=1",
                "-f",
                "lavfi",
                "-i",
                "sine=duration=1",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-c:a",
                "libopus",
            ],
        ),
    ];
    let mut state = 0x2545_f491_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for source in &sources {
        let original = std::fs::read(source).unwrap();
        for round in 0..30 {
            let mut bytes = original.clone();
            // Flip a few bytes in the first 4 KiB (where the headers live), sometimes cut.
            for _ in 0..4 {
                let at = (next() as usize) % bytes.len().min(4096);
                bytes[at] ^= (next() & 0xff) as u8 | 1;
            }
            if round % 3 == 0 {
                bytes.truncate((next() as usize) % bytes.len() + 1);
            }
            let path = dir.path().join(format!("damaged_{round}"));
            std::fs::write(&path, &bytes).unwrap();
            // Any answer is fine; returning at all is the point.
            let _ = probe(&path);
        }
    }
}
