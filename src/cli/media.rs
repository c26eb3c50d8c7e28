//! `lectern probe` and `lectern transcode`: the engine on a local file, no database.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use pipelines::preset::Preset;
use pipelines::refusal::{Refusal, RefusalCode};

use crate::config::{ConfigError, ProbeArgs, TranscodeArgs};
use crate::engine::{EngineRunner, Progress, RunError};

/// A media file Lectern will not take; the CLI exits with code 3 and the stable code.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub Refusal);

fn refusal_or_error(error: RunError) -> anyhow::Error {
    match error {
        RunError::Refused(refusal) => Refused(refusal).into(),
        other => anyhow::Error::new(other),
    }
}

/// Checks the file exists and is not larger than the limit before anything reads it.
fn check_file(path: &Path, max_bytes: u64) -> anyhow::Result<()> {
    let metadata = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !metadata.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    if metadata.len() > max_bytes {
        let message = format!("the file is {} bytes; the limit is {max_bytes} bytes", metadata.len());
        return Err(Refused(Refusal::new(RefusalCode::FileTooLarge, message)).into());
    }
    Ok(())
}

pub async fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.common.log_format, &args.common.log_filter);
    let limits = args.limits.resolve()?;
    let runner = EngineRunner::current_exe(args.engine.resolve()?).context("cannot find the lectern binary")?;
    check_file(&args.file, limits.max_file_bytes)?;
    let source = runner.probe(&args.file).await.map_err(refusal_or_error)?;
    let json = serde_json::to_string_pretty(&source).context("cannot encode the probe result")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{json}").context("cannot write to standard output")?;
    // Print first, then refuse: the metadata helps explain why.
    pipelines::limits::check(&source, &limits).map_err(|refusal| Refused(refusal).into())
}

fn load_preset(spec: &str) -> Result<Preset, ConfigError> {
    if pipelines::preset::BUILTIN_PRESETS.contains(&spec) {
        return Preset::builtin(spec).map_err(|e| ConfigError::new("LECTERN_PRESET", e.to_string()));
    }
    let text = std::fs::read_to_string(spec).map_err(|e| {
        ConfigError::new(
            "LECTERN_PRESET",
            format!(
                "{spec:?} is neither a built-in preset ({}) nor a readable file ({e})",
                pipelines::preset::BUILTIN_PRESETS.join(", ")
            ),
        )
    })?;
    Preset::from_toml_str(&text).map_err(|e| ConfigError::new("LECTERN_PRESET", format!("{spec}: {e}")))
}

pub async fn transcode(args: TranscodeArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.common.log_format, &args.common.log_filter);
    let limits = args.limits.resolve()?;
    let preset = load_preset(&args.preset)?;
    let runner = EngineRunner::current_exe(args.engine.resolve()?).context("cannot find the lectern binary")?;
    check_file(&args.input, limits.max_file_bytes)?;
    if args.dry_run {
        let source = runner.probe(&args.input).await.map_err(refusal_or_error)?;
        pipelines::limits::check(&source, &limits).map_err(Refused)?;
        let plan = pipelines::ladder::plan(&source, &preset).map_err(Refused)?;
        let json = serde_json::to_string_pretty(&plan).context("cannot encode the plan")?;
        writeln!(std::io::stdout().lock(), "{json}").context("cannot write to standard output")?;
        return Ok(());
    }
    if args.out.exists() {
        let mut entries =
            std::fs::read_dir(&args.out).with_context(|| format!("cannot read {}", args.out.display()))?;
        if entries.next().is_some() {
            anyhow::bail!("the output directory {} is not empty; choose a new or empty one", args.out.display());
        }
    }

    let source = runner.probe(&args.input).await.map_err(refusal_or_error)?;
    pipelines::limits::check(&source, &limits).map_err(Refused)?;
    let plan = pipelines::ladder::plan(&source, &preset).map_err(Refused)?;
    let remux = if args.preview {
        let remux = pipelines::preview::remux_plan(&source, &plan)
            .map_err(|reason| anyhow::anyhow!("this source gets no fast first package: {reason}"))?;
        Some(remux)
    } else {
        None
    };

    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let started = Instant::now();
    let mut bar = ProgressLine::new(!args.quiet, source.duration_seconds);
    let result = if let Some(remux) = &remux {
        runner.remux(&args.input, remux, &args.out, source.duration_seconds, &mut |progress| bar.update(progress)).await
    } else {
        runner
            .transcode(&args.input, &plan, &args.out, source.duration_seconds, &mut |progress| bar.update(progress))
            .await
    };
    bar.finish();
    let package = match result {
        Ok(package) => package,
        Err(error) => {
            // The directory was empty (or absent) when we began, so all of it is ours to remove.
            let _ = std::fs::remove_dir_all(&args.out);
            return Err(refusal_or_error(error));
        }
    };

    let elapsed = started.elapsed().as_secs_f64();
    let mut stdout = std::io::stdout().lock();
    let speed = package.duration_seconds / elapsed.max(1e-3);
    writeln!(stdout, "package: {}", args.out.display())?;
    let made = if args.preview { "copied" } else { "encoded" };
    writeln!(stdout, "duration: {:.2} s, {made} in {elapsed:.1} s ({speed:.2}x realtime)", package.duration_seconds)?;
    for rendition in package.video.iter().chain(&package.audio) {
        let shape = match &rendition.kind {
            pipelines::package::RenditionKind::Video { width, height, frame_rate } => {
                format!("{width}x{height} @ {:.3} fps", frame_rate.as_f64())
            }
            pipelines::package::RenditionKind::Audio { label, channels, .. } => format!("{label}, {channels} ch"),
        };
        writeln!(
            stdout,
            "  {:<10} {:<24} {:<12} avg {:>6} kb/s  peak {:>6} kb/s  {} segments",
            rendition.name,
            shape,
            rendition.codecs,
            rendition.average_bitrate / 1000,
            rendition.peak_bitrate / 1000,
            rendition.segments.len()
        )?;
    }
    writeln!(stdout, "hls: {}", args.out.join(pipelines::naming::MASTER_PLAYLIST).display())?;
    writeln!(stdout, "dash: {}", args.out.join(pipelines::naming::DASH_MANIFEST).display())?;
    Ok(())
}

/// A one-line progress display on standard error: redrawn in place on a terminal, a line every
/// tenth otherwise (logs stay readable).
struct ProgressLine {
    enabled: bool,
    terminal: bool,
    duration: Option<f64>,
    last_tenth: i64,
}

impl ProgressLine {
    fn new(enabled: bool, duration: Option<f64>) -> Self {
        Self { enabled, terminal: std::io::stderr().is_terminal(), duration, last_tenth: -1 }
    }

    fn update(&mut self, progress: Progress) {
        if !self.enabled {
            return;
        }
        let total = self.duration.map_or(String::new(), |d| format!(" / {}", clock(d)));
        let line = format!(
            "{:5.1}%  {}{total}  {:.2}x realtime",
            progress.fraction * 100.0,
            clock(progress.out_time_seconds),
            progress.speed_x_realtime
        );
        let mut stderr = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(stderr, "\r{line}  ");
        } else {
            let tenth = (progress.fraction * 10.0).floor() as i64;
            if tenth > self.last_tenth {
                self.last_tenth = tenth;
                let _ = writeln!(stderr, "{line}");
            }
        }
    }

    fn finish(&self) {
        if self.enabled && self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn clock(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
}
