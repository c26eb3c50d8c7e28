//! Filter-graph descriptions: the per-source chain applied once (deinterlace, rotate,
//! tone-map, pixel format) and the per-rung branches (frame rate, scale).

use ffmpeg::{Rational, filter, frame};
use ffmpeg_next as ffmpeg;
use pipelines::plan::{ImagePlan, Plan};

use super::{EngineError, ffmpeg_error};

/// Sink names of the video graph.
pub fn rung_sink(index: usize) -> String {
    format!("rung{index}")
}
pub const THUMBNAIL_SINK: &str = "thumbnails";
pub const POSTER_SINK: &str = "poster";

/// Whether libavfilter in this FFmpeg build has the named filter.
fn has_filter(name: &str) -> bool {
    ffmpeg_next::filter::find(name).is_some()
}

/// The chain from the decoded picture to upright, progressive, SDR, 8-bit 4:2:0.
pub fn source_chain(plan: &Plan) -> String {
    let filters = &plan.video_filters;
    let mut chain: Vec<String> = Vec::new();
    if filters.deinterlace {
        // One output frame per frame (not per field): the planned rate decides the output.
        chain.push(
            if has_filter("bwdif") { "bwdif=mode=send_frame:deint=all" } else { "yadif=mode=send_frame" }.to_owned(),
        );
    }
    match filters.rotate_degrees % 360 {
        90 => chain.push("transpose=clock".to_owned()),
        180 => chain.push("hflip,vflip".to_owned()),
        270 => chain.push("transpose=cclock".to_owned()),
        _ => {}
    }
    if filters.tone_map_to_sdr {
        if has_filter("zscale") && has_filter("tonemap") {
            chain.push(
                "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,\
                 zscale=t=bt709:m=bt709:r=tv"
                    .to_owned(),
            );
        } else {
            // Without zimg the best libavfilter can do is a matrix/primaries conversion; the
            // picture will look flat, but it plays.
            tracing::warn!("zscale or tonemap missing: HDR is converted with `colorspace`, not tone-mapped");
            chain.push("colorspace=all=bt709:iall=bt2020:fast=1".to_owned());
        }
    }
    chain.push("format=yuv420p".to_owned());
    chain.join(",")
}

/// The whole graph spec: `[in]` → source chain → split → one branch per rung and per image
/// kind, each ending at a sink labelled with its name.
pub fn video_graph(plan: &Plan, with_images: bool, poster_window_seconds: f64) -> String {
    let n_branches = plan.video.len() + if with_images { 2 } else { 0 };
    let mut spec = format!("[in]{},split={n_branches}", source_chain(plan));
    for index in 0..n_branches {
        spec.push_str(&format!("[b{index}]"));
    }
    spec.push(';');
    for (index, rung) in plan.video.iter().enumerate() {
        spec.push_str(&format!(
            "[b{index}]fps=fps={}/{}:start_time=0,scale={}:{}:flags=bicubic,setsar=1[{}];",
            rung.frame_rate.num,
            rung.frame_rate.den,
            rung.width,
            rung.height,
            rung_sink(index)
        ));
    }
    if with_images {
        let images: &ImagePlan = &plan.images;
        let first = plan.video.len();
        let interval = images.thumbnail_interval_seconds.max(1);
        // The first frame at or after each multiple of the interval; `prev_selected_t` keeps
        // one frame per instant even when the source rate is irregular.
        spec.push_str(&format!(
            "[b{first}]select='isnan(prev_selected_t)+gte(floor(t/{interval})\\,floor(prev_selected_t/{interval})+1)',\
             scale={}:{}:flags=bicubic,format=yuvj420p[{THUMBNAIL_SINK}];",
            images.thumbnail_width, images.thumbnail_height
        ));
        spec.push_str(&format!(
            "[b{}]select='lt(t\\,{poster_window_seconds:.3})*(isnan(prev_selected_t)+gte(t-prev_selected_t\\,0.5))',\
             scale={}:{}:flags=bicubic,format=yuvj420p[{POSTER_SINK}];",
            first + 1,
            images.poster_width,
            images.poster_height
        ));
    }
    spec.pop();
    spec
}

/// The audio chain: optional EBU R128 normalisation, then 48 kHz stereo float planar with
/// timestamps made continuous from zero.
pub fn audio_chain(rendition: &pipelines::plan::AudioRendition) -> String {
    let mut chain = String::new();
    if let Some(target) = rendition.loudness {
        chain.push_str(&format!(
            "loudnorm=I={}:TP={}:LRA={},",
            target.integrated_lufs, target.true_peak_db, target.loudness_range_lu
        ));
    }
    chain.push_str(&format!(
        "aresample={}:async=1:first_pts=0,aformat=sample_fmts=fltp:sample_rates={}:channel_layouts=stereo",
        rendition.sample_rate, rendition.sample_rate
    ));
    chain
}

/// Builds a video graph: a `buffer` source named `in` described by `frame`, one `buffersink`
/// per name in `sinks`, joined by `spec` (which labels them `[in]` and `[name]`).
pub fn build_video_graph(
    frame: &frame::Video,
    input_time_base: Rational,
    sinks: &[String],
    spec: &str,
) -> Result<filter::Graph, EngineError> {
    let context = "building the video filter graph";
    let mut graph = filter::Graph::new();
    let pixel_format = frame.format().descriptor().map_or("yuv420p", |d| d.name());
    let aspect = frame.aspect_ratio();
    let aspect = if aspect.numerator() > 0 && aspect.denominator() > 0 { aspect } else { Rational::new(1, 1) };
    let args = format!(
        "video_size={}x{}:pix_fmt={pixel_format}:time_base={}/{}:pixel_aspect={}/{}",
        frame.width(),
        frame.height(),
        input_time_base.numerator(),
        input_time_base.denominator(),
        aspect.numerator(),
        aspect.denominator()
    );
    let buffer = filter::find("buffer").ok_or(ffmpeg::Error::FilterNotFound).map_err(ffmpeg_error(context))?;
    let sink = filter::find("buffersink").ok_or(ffmpeg::Error::FilterNotFound).map_err(ffmpeg_error(context))?;
    graph.add(&buffer, "in", &args).map_err(ffmpeg_error(format!("{context} ({args})")))?;
    for name in sinks {
        graph.add(&sink, name, "").map_err(ffmpeg_error(context))?;
    }
    let mut parser = graph.output("in", 0).map_err(ffmpeg_error(context))?;
    for name in sinks {
        parser = parser.input(name, 0).map_err(ffmpeg_error(context))?;
    }
    parser.parse(spec).map_err(ffmpeg_error(format!("{context} `{spec}`")))?;
    graph.validate().map_err(ffmpeg_error(context))?;
    Ok(graph)
}
