//! The child side: `lectern __engine`. Applies its own resource limits, reads one request, runs
//! the engine, and reports on standard output. It never outlives its parent: the parent keeps
//! standard input open for the whole run, and the child exits as soon as it reads end-of-file
//! there (a parent killed with SIGKILL cannot kill its child, but the kernel closes its pipes).

use std::io::{BufRead, BufWriter, Read, Write};
use std::process::ExitCode;

use rlimit::Resource;

use super::protocol::{ChildLimits, Envelope, Event, Request};

pub fn run() -> ExitCode {
    let mut input = String::new();
    match std::io::stdin().lock().read_line(&mut input) {
        Ok(0) => {
            eprintln!("engine: no request on standard input");
            return ExitCode::FAILURE;
        }
        Ok(_) => {}
        Err(error) => {
            eprintln!("engine: cannot read the request: {error}");
            return ExitCode::FAILURE;
        }
    }
    exit_when_the_parent_goes();
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
    // Transcodes and remuxes report progress as they go; the borrow of `out` ends before the
    // outcome is written.
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
    let outcome = match envelope.request {
        Request::Probe { input } => match workers::probe(&input) {
            Ok(source) => Event::Probed { source: Box::new(source) },
            Err(workers::ProbeError::Refused(refusal)) => Event::Refused { refusal },
            Err(error) => Event::Failed { message: error.to_string() },
        },
        Request::Transcode { input, plan, out_dir } => {
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

/// Watches standard input after the request: the parent writes nothing more and closes it only
/// when it has the outcome or gives up, or the kernel closes it when the parent dies. Either way
/// nobody wants the result any more, so the whole process exits at once instead of encoding on
/// as an orphan. (`PR_SET_PDEATHSIG` would need unsafe code and fires when the spawning
/// *thread* of a multi-threaded parent exits, not the process.)
fn exit_when_the_parent_goes() {
    let watcher = std::thread::Builder::new().name("parent-watch".to_owned()).spawn(|| {
        let mut buffer = [0u8; 64];
        loop {
            match std::io::stdin().lock().read(&mut buffer) {
                Ok(0) | Err(_) => {
                    // Not `eprintln!`: standard error leads to the same dead parent, and a failed
                    // write would panic this thread instead of ending the process.
                    let _ = writeln!(std::io::stderr(), "engine: the parent closed the request pipe; stopping");
                    std::process::exit(1);
                }
                // Anything more than the request is ignored.
                Ok(_) => {}
            }
        }
    });
    if let Err(error) = watcher {
        // Without the watcher the run still works; only the orphan protection is lost.
        eprintln!("engine: cannot watch the parent: {error}");
    }
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
