//! The parent side: spawns `lectern __engine` with limits and a deadline, relays progress, and
//! turns the child's fate into a [`RunError`] callers can classify.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use pipelines::package::Package;
use pipelines::plan::Plan;
use pipelines::preview::RemuxPlan;
use pipelines::refusal::Refusal;
use pipelines::source::SourceInfo;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use super::protocol::{ChildLimits, Envelope, Event, Request};

/// Resource limits for one engine run.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// Address-space cap of the child process.
    pub memory_bytes: u64,
    /// Wall-clock deadline: `deadline_factor` × the media's duration, but at least
    /// `min_deadline`. The CPU-time cap is twice the deadline (two cores may both be busy).
    pub deadline_factor: f64,
    pub min_deadline: Duration,
    /// Probing reads only headers and a few packets: a short fixed deadline.
    pub probe_deadline: Duration,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 8 * 1024 * 1024 * 1024,
            deadline_factor: 10.0,
            min_deadline: Duration::from_secs(300),
            probe_deadline: Duration::from_secs(30),
        }
    }
}

impl EngineLimits {
    pub fn transcode_deadline(&self, duration_seconds: Option<f64>) -> Duration {
        let proportional = duration_seconds
            .filter(|d| d.is_finite() && *d > 0.0)
            .map_or(Duration::ZERO, |d| Duration::from_secs_f64((d * self.deadline_factor).min(30.0 * 24.0 * 3600.0)));
        proportional.max(self.min_deadline)
    }
}

/// How far a transcode has come, as the child reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub fraction: f64,
    pub speed_x_realtime: f64,
    pub out_time_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input is bad: a stable code for the user.
    #[error("{0}")]
    Refused(Refusal),
    /// The engine reported a failure (an FFmpeg or IO error).
    #[error("the engine failed: {0}")]
    Failed(String),
    /// The child ran past its deadline and was killed.
    #[error("the engine did not finish within {0:?}")]
    TimedOut(Duration),
    /// The child died without reporting (a crash, the memory or CPU cap, a kill).
    #[error("the engine process died ({status}){stderr}")]
    Crashed { status: String, stderr: String },
    #[error("cannot start the engine process")]
    Spawn(#[source] std::io::Error),
}

/// Spawns engine children of a given program (the running `lectern` binary, or in tests the
/// freshly built one).
#[derive(Debug, Clone)]
pub struct EngineRunner {
    program: PathBuf,
    limits: EngineLimits,
}

impl EngineRunner {
    pub fn new(program: PathBuf, limits: EngineLimits) -> Self {
        Self { program, limits }
    }

    /// A runner that re-executes the current binary.
    pub fn current_exe(limits: EngineLimits) -> std::io::Result<Self> {
        Ok(Self::new(std::env::current_exe()?, limits))
    }

    pub fn limits(&self) -> &EngineLimits {
        &self.limits
    }

    pub async fn probe(&self, input: &Path) -> Result<SourceInfo, RunError> {
        let request = Request::Probe { input: absolute(input) };
        match self.run(request, self.limits.probe_deadline, &mut |_| {}).await? {
            Event::Probed { source } => Ok(*source),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn transcode(
        &self,
        input: &Path,
        plan: &Plan,
        out_dir: &Path,
        duration_seconds: Option<f64>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Package, RunError> {
        let request =
            Request::Transcode { input: absolute(input), plan: Box::new(plan.clone()), out_dir: absolute(out_dir) };
        let deadline = self.limits.transcode_deadline(duration_seconds);
        match self.run(request, deadline, progress).await? {
            Event::Packaged { package } => Ok(*package),
            other => Err(unexpected(&other)),
        }
    }

    /// Copies the source's streams into a CMAF package without encoding. It reads the file
    /// once, so the deadline is the transcode's (generous for a copy).
    pub async fn remux(
        &self,
        input: &Path,
        plan: &RemuxPlan,
        out_dir: &Path,
        duration_seconds: Option<f64>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Package, RunError> {
        let request =
            Request::Remux { input: absolute(input), plan: Box::new(plan.clone()), out_dir: absolute(out_dir) };
        let deadline = self.limits.transcode_deadline(duration_seconds);
        match self.run(request, deadline, progress).await? {
            Event::Packaged { package } => Ok(*package),
            other => Err(unexpected(&other)),
        }
    }

    async fn run(
        &self,
        request: Request,
        deadline: Duration,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Event, RunError> {
        let limits = ChildLimits {
            memory_bytes: self.limits.memory_bytes,
            cpu_seconds: deadline.as_secs().saturating_mul(2).max(10),
        };
        let envelope = serde_json::to_vec(&Envelope { limits, request })
            .map_err(|e| RunError::Failed(format!("cannot encode the request: {e}")))?;
        let mut child = Command::new(&self.program)
            .arg("__engine")
            // The job's trace context (W3C), for whatever the child runs under (issue 19).
            .envs(crate::telemetry::current_traceparent().map(|traceparent| ("TRACEPARENT", traceparent)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Dropping the future (a cancelled job, a timed-out run) kills the child.
            .kill_on_drop(true)
            .spawn()
            .map_err(RunError::Spawn)?;
        let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(RunError::Failed("the engine process has no pipes".to_owned()));
        };

        let conversation = async {
            // One line; standard input then stays open until the conversation ends (however it
            // ends, this process dying included): the child exits when it reads end-of-file.
            stdin.write_all(&envelope).await.map_err(RunError::Spawn)?;
            stdin.write_all(b"\n").await.map_err(RunError::Spawn)?;
            stdin.flush().await.map_err(RunError::Spawn)?;
            // Keep only the end of standard error: FFmpeg can be chatty on a broken file.
            let stderr_tail = tokio::spawn(async move {
                let mut tail: VecDeque<u8> = VecDeque::new();
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stderr.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    tail.extend(&buffer[..n]);
                    while tail.len() > 4096 {
                        tail.pop_front();
                    }
                }
                String::from_utf8_lossy(&tail.into_iter().collect::<Vec<u8>>()).trim().to_owned()
            });
            let mut lines = BufReader::new(stdout).lines();
            let mut outcome = None;
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Event>(&line) {
                    Ok(Event::Progress { fraction, speed_x_realtime, out_time_seconds }) => {
                        progress(Progress { fraction, speed_x_realtime, out_time_seconds });
                    }
                    Ok(event) => outcome = Some(event),
                    Err(error) => tracing::warn!(%error, line, "unreadable line from the engine"),
                }
            }
            let status = child.wait().await.map_err(RunError::Spawn)?;
            drop(stdin);
            let stderr = stderr_tail.await.unwrap_or_default();
            match outcome {
                Some(Event::Refused { refusal }) => Err(RunError::Refused(refusal)),
                Some(Event::Failed { message }) => Err(RunError::Failed(message)),
                Some(event) if status.success() => Ok(event),
                _ => Err(RunError::Crashed {
                    status: describe(status),
                    stderr: if stderr.is_empty() { String::new() } else { format!(": {stderr}") },
                }),
            }
        };
        match tokio::time::timeout(deadline, conversation).await {
            Ok(result) => result,
            // Dropping the conversation drops the child handle, which kills the process.
            Err(_) => Err(RunError::TimedOut(deadline)),
        }
    }
}

fn unexpected(event: &Event) -> RunError {
    RunError::Failed(format!("unexpected answer from the engine: {event:?}"))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(libc_signal)) => format!("killed by signal {libc_signal}"),
        _ => "unknown status".to_owned(),
    }
}
