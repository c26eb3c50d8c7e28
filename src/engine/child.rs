//! The child side: `lectern __engine`. Applies its own resource limits, reads one request, runs
//! the engine, and reports on standard output.

use std::io::{BufWriter, Read, Write};
use std::process::ExitCode;

use rlimit::Resource;

use super::protocol::{ChildLimits, Envelope, Event, Request};

pub fn run() -> ExitCode {
    let mut input = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("engine: cannot read the request: {error}");
        return ExitCode::FAILURE;
    }
    let envelope: Envelope = match serde_json::from_str(&input) {
        Ok(envelope) => envelope,
        Err(error) => {
            eprintln!("engine: malformed request: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = apply_limits(envelope.limits) {
        eprintln!("engine: cannot apply resource limits: {error}");
        return ExitCode::FAILURE;
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    let outcome = match envelope.request {
        Request::Probe { input } => match workers::probe(&input) {
            Ok(source) => Event::Probed { source: Box::new(source) },
            Err(workers::ProbeError::Refused(refusal)) => Event::Refused { refusal },
            Err(error) => Event::Failed { message: error.to_string() },
        },
        Request::Transcode { input, plan, out_dir } => {
            let mut report = |progress: workers::Progress| {
                emit(
                    &mut out,
                    &Event::Progress {
                        fraction: progress.fraction,
                        speed_x_realtime: progress.speed_x_realtime,
                        out_time_seconds: progress.out_time_seconds,
                    },
                );
            };
            let result = workers::transcode(&input, &plan, &out_dir, &mut report);
            match result.and_then(|package| {
                super::manifests::write(&out_dir, &package, Some(&plan.images))?;
                Ok(package)
            }) {
                Ok(package) => Event::Packaged { package: Box::new(package) },
                Err(error) => Event::Failed { message: error.to_string() },
            }
        }
        Request::Remux { input, plan, out_dir } => {
            let mut report = |progress: workers::Progress| {
                emit(
                    &mut out,
                    &Event::Progress {
                        fraction: progress.fraction,
                        speed_x_realtime: progress.speed_x_realtime,
                        out_time_seconds: progress.out_time_seconds,
                    },
                );
            };
            match workers::remux(&input, &plan, &out_dir, &mut report).and_then(|package| {
                super::manifests::write(&out_dir, &package, None)?;
                Ok(package)
            }) {
                Ok(package) => Event::Packaged { package: Box::new(package) },
                Err(error) => Event::Failed { message: error.to_string() },
            }
        }
    };
    emit(&mut out, &outcome);
    ExitCode::SUCCESS
}

fn emit(out: &mut impl Write, event: &Event) {
    // If the parent has gone away there is nobody to tell; the write error is moot.
    if let Ok(line) = serde_json::to_string(event) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

fn apply_limits(limits: ChildLimits) -> std::io::Result<()> {
    Resource::AS.set(limits.memory_bytes, limits.memory_bytes)?;
    // Soft limit first: the kernel sends SIGXCPU at the soft limit and SIGKILL at the hard one.
    Resource::CPU.set(limits.cpu_seconds, limits.cpu_seconds.saturating_add(5))?;
    // A crashing decoder must not fill the disk with core dumps.
    Resource::CORE.set(0, 0)?;
    Ok(())
}
