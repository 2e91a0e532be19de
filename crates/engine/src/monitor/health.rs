//! The health checks a monitor runs: //!
//! The check comes from the image's `Healthcheck` with the container's own
//! `--health-*` settings over it. The container's monitor runs it on a
//! thread of its own ([`HealthChecker`]) through the runtime's `exec`, and
//! keeps the result in `health.json` in the container's directory, written
//! atomically, where `inspect` and `ps` (other processes) read it.
//!

use berth_runtime::backend::{ContainerStdio, ExecProcess, RuntimeBackend};
use berth_runtime::cgroups::{parse_mountinfo, CgroupMounts, FreezerState};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::container::health::{
    configured, read_health, write_health, HealthConfig, HealthResult, HealthState, HealthStatus,
};
use crate::container::{now_rfc3339, ContainerInfo};
use crate::events::ContainerAction;
use crate::image::config::ImageConfig;
use crate::{Engine, EngineError};

/// docker's limit on the output a check leaves behind.
const MAX_OUTPUT_LEN: usize = 4096;

/// docker's defaults for settings left at zero.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;

/// How long a finished check's output may still trickle in: a process it
/// left running in the container can hold the pipe open indefinitely.
const OUTPUT_GRACE: Duration = Duration::from_millis(100);
/// How long a killed check gets to be gone.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// What a check runs and when, docker's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Probe {
    command: Vec<String>,
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    start_interval: Duration,
    retries: u32,
}

fn duration_or(nanos: i64, default: Duration) -> Duration {
    match u64::try_from(nanos) {
        Ok(n) if n > 0 => Duration::from_nanos(n),
        _ => default,
    }
}

impl Probe {
    /// `None` when there is nothing to run: no test, `NONE`, or a type
    /// docker does not know (which it only warns about).
    fn resolve(config: &HealthConfig, shell: &[String]) -> Option<Probe> {
        let (kind, args) = config.test.split_first()?;
        let command = match kind.as_str() {
            "CMD" => args.to_vec(),
            "CMD-SHELL" => shell.iter().chain(args).cloned().collect(),
            "NONE" => return None,
            other => {
                tracing::warn!(kind = other, "unknown healthcheck type (expected CMD)");
                return None;
            }
        };
        Some(Probe {
            command,
            interval: duration_or(config.interval, DEFAULT_INTERVAL),
            timeout: duration_or(config.timeout, DEFAULT_TIMEOUT),
            start_period: duration_or(config.start_period, Duration::ZERO),
            start_interval: duration_or(config.start_interval, DEFAULT_START_INTERVAL),
            retries: u32::try_from(config.retries)
                .ok()
                .filter(|r| *r > 0)
                .unwrap_or(DEFAULT_RETRIES),
        })
    }

    /// The wait before the next check, from the end of the last one:
    /// the start interval while starting within the start period, and no
    /// later than the start period's end.
    fn next_wait(&self, since_start: Duration, status: HealthStatus) -> Duration {
        if since_start >= self.start_period {
            return self.interval;
        }
        let rest_of_start_period = self.start_period - since_start;
        if rest_of_start_period < self.interval {
            return rest_of_start_period;
        }
        if status == HealthStatus::Starting {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// Go's `time.Duration` text (`300ms`, `1m30s`, `1.5s`), as docker's
/// timeout message shows it.
fn go_duration(d: Duration) -> String {
    fn decimal(value: u128, scale: u128) -> String {
        let (whole, fraction) = (value / scale, value % scale);
        if fraction == 0 {
            return whole.to_string();
        }
        let width = scale.ilog10() as usize;
        let digits = format!("{fraction:0width$}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
    let nanos = d.as_nanos();
    match nanos {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", decimal(n, 1_000)),
        n if n < 1_000_000_000 => format!("{}ms", decimal(n, 1_000_000)),
        n => {
            let secs = n / 1_000_000_000;
            let (hours, minutes) = (secs / 3600, secs / 60 % 60);
            let seconds = decimal(n % 60_000_000_000, 1_000_000_000);
            match (hours, minutes) {
                (0, 0) => format!("{seconds}s"),
                (0, m) => format!("{m}m{seconds}s"),
                (h, m) => format!("{h}h{m}m{seconds}s"),
            }
        }
    }
}

/// What `CMD-SHELL` runs its command with: the image's `SHELL`, else
/// `/bin/sh -c`.
fn shell(image: &ImageConfig) -> Vec<String> {
    image
        .container_config()
        .and_then(|c| c.get("Shell"))
        .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

impl Engine {
    /// Starts checking a container that just started, if it has a health
    /// check. Failing to start the checks does not fail the container.
    pub(crate) fn start_health_checker(&self, info: &ContainerInfo, dir: &Path) -> HealthChecker {
        match self.health_checker(info, dir) {
            Ok(Some(checker)) => HealthChecker::start(checker),
            Ok(None) => HealthChecker::none(),
            Err(e) => {
                tracing::warn!(id = %info.record.id, error = %e, "cannot start health checks");
                HealthChecker::none()
            }
        }
    }

    fn health_checker(
        &self,
        info: &ContainerInfo,
        dir: &Path,
    ) -> Result<Option<Checker>, EngineError> {
        let image = ImageConfig::parse(&self.store.content().read(&info.record.image_id)?)?;
        let Some(probe) = configured(info, &image).and_then(|c| Probe::resolve(&c, &shell(&image)))
        else {
            return Ok(None);
        };
        Ok(Some(Checker {
            id: info.record.id.clone(),
            backend: self.backend(&info.options.runtime)?,
            probe,
            dir: dir.to_path_buf(),
            cgroups: std::fs::read_to_string("/proc/self/mountinfo")
                .ok()
                .and_then(|m| parse_mountinfo(&m)),
            events: HealthEvents {
                root: self.store.root().to_path_buf(),
                info: info.clone(),
                reported: HealthStatus::Starting,
                journal: None,
            },
        }))
    }
}

/// A running container's health checks, on a thread of the monitor; stop
/// it when the container exits (dropping it stops it too).
pub(crate) struct HealthChecker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HealthChecker {
    fn none() -> HealthChecker {
        HealthChecker {
            stop: None,
            thread: None,
        }
    }

    fn start(checker: Checker) -> HealthChecker {
        let state = HealthState::starting(read_health(&checker.dir));
        checker.save(&state);
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("health".into())
            .spawn(move || checker.run(state, stopped));
        match thread {
            Ok(thread) => HealthChecker {
                stop: Some(stop),
                thread: Some(thread),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the health check thread");
                HealthChecker::none()
            }
        }
    }

    /// Stops the checks (a check under way ends with the container) and
    /// waits for the thread.
    pub(crate) fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// What the checking thread owns.
struct Checker {
    id: String,
    backend: Arc<dyn RuntimeBackend>,
    probe: Probe,
    dir: PathBuf,
    cgroups: Option<CgroupMounts>,
    events: HealthEvents,
}

/// Emits `health_status` when the status changes, as moby does (not for
/// the `starting` every start begins with).
struct HealthEvents {
    root: PathBuf,
    info: ContainerInfo,
    reported: HealthStatus,
    /// This thread's own handle on the store, opened at the first change.
    journal: Option<Engine>,
}

impl HealthEvents {
    fn report(&mut self, status: HealthStatus) {
        if status == self.reported {
            return;
        }
        self.reported = status;
        if self.journal.is_none() {
            self.journal = Engine::open(&self.root)
                .map_err(|e| tracing::warn!(error = %e, "health events not recorded"))
                .ok();
        }
        if let Some(engine) = &self.journal {
            engine.emit_current(&self.info, ContainerAction::HealthStatus(status));
        }
    }
}

impl Checker {
    fn run(mut self, mut state: HealthState, stop: Receiver<()>) {
        let started = Instant::now();
        loop {
            let wait = self.probe.next_wait(started.elapsed(), state.status);
            if !matches!(stop.recv_timeout(wait), Err(RecvTimeoutError::Timeout)) {
                break;
            }
            if self.paused() {
                if state.status != HealthStatus::Unhealthy {
                    state.status = HealthStatus::Unhealthy;
                    self.save(&state);
                    self.events.report(state.status);
                }
                continue;
            }
            let check_started = Instant::now();
            let result = self.check();
            // A check cut short by the container's exit says nothing.
            if !matches!(stop.try_recv(), Err(TryRecvError::Empty)) {
                break;
            }
            let within_start_period =
                check_started.duration_since(started) < self.probe.start_period;
            state.record(result, within_start_period, self.probe.retries);
            self.save(&state);
            self.events.report(state.status);
        }
        state.status = HealthStatus::Unhealthy;
        self.save(&state);
    }

    fn save(&self, state: &HealthState) {
        if let Err(e) = write_health(&self.dir, state) {
            tracing::warn!(id = %self.id, error = %e, "cannot record the container's health");
        }
    }

    /// A frozen container cannot run a check (the runtime refuses).
    fn paused(&self) -> bool {
        self.cgroups.as_ref().is_some_and(|mounts| {
            matches!(
                mounts
                    .manager()
                    .freezer_state(&format!("/berth/{}", self.id)),
                Ok(FreezerState::Frozen | FreezerState::Freezing)
            )
        })
    }

    fn check(&self) -> HealthResult {
        let start = now_rfc3339();
        let (exit_code, output) = self.exec_check().unwrap_or_else(|e| (-1, e.to_string()));
        HealthResult {
            start,
            end: now_rfc3339(),
            exit_code,
            output,
        }
    }

    /// Runs the check in the container as the container's user, in its
    /// working directory, with its environment; returns the exit code and
    /// the output (stdout and stderr together).
    fn exec_check(&self) -> Result<(i64, String), EngineError> {
        let (output, writer) = std::io::pipe().map_err(|e| EngineError::io("create a pipe", e))?;
        let stderr = writer
            .try_clone()
            .map_err(|e| EngineError::io("duplicate a pipe", e))?;
        let process = ExecProcess {
            args: self.probe.command.clone(),
            ..ExecProcess::default()
        };
        let stdio = ContainerStdio {
            stdin: std::process::Stdio::null(),
            stdout: writer.into(),
            stderr: stderr.into(),
        };
        let running = self.backend.spawn_exec(&self.id, &process, stdio)?;
        let output = OutputReader::start(output);
        if let Some(code) = running.wait_timeout(self.probe.timeout)? {
            return Ok((code.into(), output.finish()));
        }
        running.kill();
        let _ = running.wait_timeout(KILL_GRACE);
        let limit = go_duration(self.probe.timeout);
        let message = match output.finish() {
            out if out.is_empty() => format!("Health check exceeded timeout ({limit})"),
            out => format!("Health check exceeded timeout ({limit}): {out}"),
        };
        Ok((-1, message))
    }
}

/// A check's output as docker keeps it: the first 4096 bytes, and "..."
/// when there was more.
#[derive(Debug, Default)]
struct LimitedOutput {
    bytes: Vec<u8>,
    truncated: bool,
}

impl LimitedOutput {
    fn push(&mut self, data: &[u8]) {
        let room = MAX_OUTPUT_LEN.saturating_sub(self.bytes.len());
        let kept = room.min(data.len());
        self.bytes.extend_from_slice(&data[..kept]);
        self.truncated |= kept < data.len();
    }

    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        if self.truncated {
            format!("{text}...")
        } else {
            text.into_owned()
        }
    }
}

/// Drains a check's output pipe on a thread of its own, so the check never
/// blocks on a full pipe.
struct OutputReader {
    collected: Arc<Mutex<LimitedOutput>>,
    done: Receiver<()>,
}

impl OutputReader {
    fn start(mut pipe: std::io::PipeReader) -> OutputReader {
        let collected = Arc::new(Mutex::new(LimitedOutput::default()));
        let (done_tx, done) = mpsc::channel();
        let sink = Arc::clone(&collected);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().expect("output lock").push(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let _ = done_tx.send(());
        });
        OutputReader { collected, done }
    }

    /// The output, once the pipe is closed (or after a short grace).
    fn finish(self) -> String {
        let _ = self.done.recv_timeout(OUTPUT_GRACE);
        self.collected.lock().expect("output lock").text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::health::parse_health_duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn config(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: test.iter().map(|s| s.to_string()).collect(),
            ..HealthConfig::default()
        }
    }

    fn sh() -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into()]
    }

    #[test]
    fn no_healthcheck_resolves_to_no_probe() {
        assert_eq!(Probe::resolve(&config(&["NONE"]), &sh()), None);
    }

    #[test]
    fn probes_take_dockers_defaults_and_shell() {
        let probe = Probe::resolve(&config(&["CMD-SHELL", "test -e /ok"]), &sh()).unwrap();
        assert_eq!(
            probe,
            Probe {
                command: vec!["/bin/sh".into(), "-c".into(), "test -e /ok".into()],
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(30),
                start_period: Duration::ZERO,
                start_interval: Duration::from_secs(5),
                retries: 3,
            }
        );
        let powershell = vec!["pwsh".to_string(), "-c".to_string()];
        let probe = Probe::resolve(&config(&["CMD-SHELL", "x"]), &powershell).unwrap();
        assert_eq!(probe.command, ["pwsh", "-c", "x"]);
        let probe = Probe::resolve(
            &HealthConfig {
                test: vec!["CMD".into(), "curl".into(), "-f".into()],
                interval: 200_000_000,
                timeout: 300_000_000,
                retries: 2,
                ..HealthConfig::default()
            },
            &sh(),
        )
        .unwrap();
        assert_eq!(probe.command, ["curl", "-f"]);
        assert_eq!(
            (probe.interval, probe.timeout, probe.retries),
            (ms(200), ms(300), 2)
        );
        for nothing in [&[][..], &["NONE"], &["HTTP", "x"]] {
            assert_eq!(Probe::resolve(&config(nothing), &sh()), None, "{nothing:?}");
        }
    }

    #[test]
    fn durations_parse_and_print_as_in_go() {
        assert_eq!(parse_health_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_health_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(
            parse_health_duration("abc").unwrap_err().to_string(),
            "time: invalid duration \"abc\""
        );
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(5), "5ns"),
            (Duration::from_micros(1500), "1.5ms"),
            (ms(300), "300ms"),
            (Duration::from_secs(30), "30s"),
            (ms(1500), "1.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (ms(3_661_250), "1h1m1.25s"),
        ] {
            assert_eq!(go_duration(d), text);
        }
    }

    #[test]
    fn waits_follow_the_start_interval_within_the_start_period() {
        let probe = Probe {
            command: vec![],
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            start_period: Duration::from_secs(60),
            start_interval: Duration::from_secs(5),
            retries: 3,
        };
        let s = Duration::from_secs;
        assert_eq!(probe.next_wait(s(0), HealthStatus::Starting), s(5));
        assert_eq!(probe.next_wait(s(0), HealthStatus::Healthy), s(30));
        // The first regular check comes right at the end of the start period.
        assert_eq!(probe.next_wait(s(50), HealthStatus::Starting), s(10));
        assert_eq!(probe.next_wait(s(60), HealthStatus::Starting), s(30));
        let no_start_period = Probe {
            start_period: Duration::ZERO,
            ..probe
        };
        assert_eq!(
            no_start_period.next_wait(s(0), HealthStatus::Starting),
            s(30)
        );
    }

    #[test]
    fn output_is_cut_at_4096_bytes() {
        let mut out = LimitedOutput::default();
        out.push(b"ok\n");
        assert_eq!(out.text(), "ok\n");
        out.push(&[b'x'; 5000]);
        let text = out.text();
        assert_eq!(text.len(), 4096 + 3);
        assert!(text.starts_with("ok\nxxx") && text.ends_with("x..."));
    }
}
