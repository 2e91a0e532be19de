//! Container health checks, as docker runs them.
//!
//! The check comes from the image's `Healthcheck` with the container's own
//! `--health-*` settings over it. The container's monitor runs it on a
//! thread of its own ([`HealthChecker`]) through the runtime's `exec`, and
//! keeps the result in `health.json` in the container's directory, written
//! atomically, where `inspect` and `ps` (other processes) read it.
//!
//! docker's rules: the first check runs one interval after the start (the
//! start interval while still starting within the start period); a check
//! that exits 0 makes the container healthy, `Retries` failures in a row
//! make it unhealthy, failures within the start period do not count until
//! the first success; a check running past its timeout is killed and counts
//! as a failure with exit code -1; output is kept up to 4096 bytes and the
//! log keeps the last 5 results. A paused or stopped container is reported
//! unhealthy, as docker does "for compatibility reasons".

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_runtime::backend::{ContainerStdio, ExecProcess, Runc, RuntimeBackend};
use berth_runtime::cgroups::{parse_mountinfo, CgroupMounts, FreezerState};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ImageConfig;
use crate::container::{now_rfc3339, ContainerInfo};
use crate::{Engine, EngineError};

/// The health state, inside the container's directory.
const HEALTH_FILE: &str = "health.json";
/// docker's limits on what a check leaves behind.
const MAX_OUTPUT_LEN: usize = 4096;
const MAX_LOG_ENTRIES: usize = 5;
/// docker's defaults for settings left at zero.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;
/// docker refuses durations under 1ms (other than 0, "unset").
const MINIMUM_DURATION_NS: i64 = 1_000_000;
/// How long a finished check's output may still trickle in: a process it
/// left running in the container can hold the pipe open indefinitely.
const OUTPUT_GRACE: Duration = Duration::from_millis(100);
/// How long a killed check gets to be gone.
const KILL_GRACE: Duration = Duration::from_secs(5);

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// docker's `HealthConfig`: a container's `Config.Healthcheck`, or the
/// `Healthcheck` in an image's config. Durations are nanoseconds; zero
/// means unset (the image's value, else docker's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `[]` (inherit), `["NONE"]`, `["CMD", arg...]` or `["CMD-SHELL", command]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

impl HealthConfig {
    /// docker's checks on a container's health settings (its wording).
    pub fn validate(&self) -> Result<(), EngineError> {
        for (name, value) in [
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
        ] {
            if value != 0 && value < MINIMUM_DURATION_NS {
                return Err(EngineError::InvalidContainer(format!(
                    "{name} in Healthcheck cannot be less than 1ms"
                )));
            }
        }
        if self.retries < 0 {
            return Err(EngineError::InvalidContainer(
                "Retries in Healthcheck cannot be negative".into(),
            ));
        }
        Ok(())
    }

    /// docker's merge at create: the container's settings where given,
    /// the image's for the rest.
    fn merged(container: Option<&HealthConfig>, image: Option<HealthConfig>) -> Option<Self> {
        let Some(container) = container else {
            return image;
        };
        let image = image.unwrap_or_default();
        let pick = |own: i64, inherited: i64| if own == 0 { inherited } else { own };
        Some(HealthConfig {
            test: if container.test.is_empty() {
                image.test
            } else {
                container.test.clone()
            },
            interval: pick(container.interval, image.interval),
            timeout: pick(container.timeout, image.timeout),
            start_period: pick(container.start_period, image.start_period),
            start_interval: pick(container.start_interval, image.start_interval),
            retries: pick(container.retries, image.retries),
        })
    }
}

/// A `--health-*` duration in Go's syntax (`500ms`, `1m30s`), in
/// nanoseconds.
pub fn parse_health_duration(text: &str) -> Result<i64, EngineError> {
    let nanos = berth_dockerfile::parse_go_duration(text).map_err(EngineError::InvalidContainer)?;
    i64::try_from(nanos)
        .map_err(|_| EngineError::InvalidContainer(format!("time: invalid duration {text:?}")))
}

/// `Health.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One check's result, as docker logs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// docker's `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthState {
    pub status: HealthStatus,
    /// Failed checks in a row.
    pub failing_streak: u32,
    /// The last results, oldest first.
    pub log: Vec<HealthResult>,
}

impl HealthState {
    /// The state of a (re)started container: starting again, the earlier
    /// results kept.
    fn starting(previous: Option<HealthState>) -> HealthState {
        HealthState {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: previous.map(|p| p.log).unwrap_or_default(),
        }
    }

    /// Takes a check's result into account. `within_start_period`: the
    /// check started before the start period ended.
    fn record(&mut self, result: HealthResult, within_start_period: bool, retries: u32) {
        let passed = result.exit_code == 0;
        self.push(result);
        if passed {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(self.status == HealthStatus::Starting && within_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
    }
}

impl HealthState {
    /// Appends to the log, which keeps the last [`MAX_LOG_ENTRIES`].
    fn push(&mut self, result: HealthResult) {
        if self.log.len() >= MAX_LOG_ENTRIES {
            self.log.drain(..=self.log.len() - MAX_LOG_ENTRIES);
        }
        self.log.push(result);
    }
}

/// The log entry of a container whose checks stopped.
const UNCHECKED: &str = "health checks stopped: the container's monitor, which runs them, is gone";

/// Marks a running container whose monitor is gone as unhealthy: nothing
/// checks it any more (nor collects its output or restarts it), so its
/// last status would claim what nobody knows. Done once; a container
/// without health checks has nothing to mark.
pub(crate) fn mark_unchecked(dir: &Path) {
    let Some(mut state) = read_health(dir) else {
        return;
    };
    if state.log.last().is_some_and(|r| r.output == UNCHECKED) {
        return;
    }
    let now = now_rfc3339();
    state.push(HealthResult {
        start: now.clone(),
        end: now,
        exit_code: -1,
        output: UNCHECKED.into(),
    });
    state.status = HealthStatus::Unhealthy;
    if let Err(error) = write_health(dir, &state) {
        tracing::debug!(dir = %dir.display(), %error, "health state not updated");
    }
}

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

/// The container's health check, if it has one: its own settings over its
/// image's.
fn configured(info: &ContainerInfo, image: &ImageConfig) -> Option<HealthConfig> {
    let from_image = image
        .container_config()
        .and_then(|c| c.get("Healthcheck"))
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    HealthConfig::merged(info.options.healthcheck.as_ref(), from_image)
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

fn read_health(dir: &Path) -> Option<HealthState> {
    let text = std::fs::read(dir.join(HEALTH_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Replaces `health.json` in one rename, so a reader never sees half of it.
fn write_health(dir: &Path, state: &HealthState) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(&serde_json::to_vec(state).expect("health state serializes"))?;
    file.persist(dir.join(HEALTH_FILE))?;
    Ok(())
}

impl Engine {
    /// The container's health, once it started with a health check.
    pub fn container_health(&self, id: &str) -> Option<HealthState> {
        read_health(&self.container_dir(id))
    }

    /// `inspect`'s `State.Health` and `Config.Healthcheck`, present only
    /// when there is something to show, as in docker.
    pub(crate) fn inspect_health(
        &self,
        inspected: &mut Value,
        info: &ContainerInfo,
        image: &ImageConfig,
    ) {
        let Some(config) = configured(info, image) else {
            return;
        };
        if let Some(health) = self.container_health(&info.record.id) {
            inspected["State"]["Health"] = serde_json::to_value(health).expect("serializes");
        }
        inspected["Config"]["Healthcheck"] = serde_json::to_value(config).expect("serializes");
    }

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
    backend: Runc,
    probe: Probe,
    dir: PathBuf,
    cgroups: Option<CgroupMounts>,
}

impl Checker {
    fn run(self, mut state: HealthState, stop: Receiver<()>) {
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
        let mut running = self.backend.spawn_exec(&self.id, &process, stdio)?;
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

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn config(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: test.iter().map(|s| s.to_string()).collect(),
            ..HealthConfig::default()
        }
    }

    fn result(exit_code: i64) -> HealthResult {
        HealthResult {
            start: "s".into(),
            end: "e".into(),
            exit_code,
            output: String::new(),
        }
    }

    fn sh() -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into()]
    }

    #[test]
    fn container_settings_override_the_images_field_by_field() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval: 5_000_000_000,
            retries: 7,
            ..HealthConfig::default()
        };
        assert_eq!(
            HealthConfig::merged(None, Some(image.clone())),
            Some(image.clone())
        );
        assert_eq!(HealthConfig::merged(None, None), None);
        let own = HealthConfig {
            interval: 200_000_000,
            ..HealthConfig::default()
        };
        assert_eq!(
            HealthConfig::merged(Some(&own), Some(image.clone())),
            Some(HealthConfig {
                interval: 200_000_000,
                ..image.clone()
            })
        );
        let own = config(&["CMD-SHELL", "check"]);
        assert_eq!(
            HealthConfig::merged(Some(&own), Some(image.clone()))
                .unwrap()
                .test,
            ["CMD-SHELL", "check"]
        );
        // --no-healthcheck wins over the image's check.
        let none = config(&["NONE"]);
        let merged = HealthConfig::merged(Some(&none), Some(image)).unwrap();
        assert_eq!(Probe::resolve(&merged, &sh()), None);
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
    fn validation_uses_dockers_limits_and_words() {
        assert!(config(&["CMD", "true"]).validate().is_ok());
        let short = HealthConfig {
            interval: 500_000,
            ..HealthConfig::default()
        };
        assert_eq!(
            short.validate().unwrap_err().to_string(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        let negative = HealthConfig {
            timeout: -1,
            ..HealthConfig::default()
        };
        assert_eq!(
            negative.validate().unwrap_err().to_string(),
            "Timeout in Healthcheck cannot be less than 1ms"
        );
        let retries = HealthConfig {
            retries: -1,
            ..HealthConfig::default()
        };
        assert_eq!(
            retries.validate().unwrap_err().to_string(),
            "Retries in Healthcheck cannot be negative"
        );
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
    fn failures_in_a_row_make_it_unhealthy_and_a_success_healthy() {
        let mut state = HealthState::starting(None);
        state.record(result(1), false, 2);
        assert_eq!(
            (state.status, state.failing_streak),
            (HealthStatus::Starting, 1)
        );
        state.record(result(1), false, 2);
        assert_eq!(
            (state.status, state.failing_streak),
            (HealthStatus::Unhealthy, 2)
        );
        state.record(result(-1), false, 2);
        assert_eq!(
            (state.status, state.failing_streak),
            (HealthStatus::Unhealthy, 3)
        );
        state.record(result(0), false, 2);
        assert_eq!(
            (state.status, state.failing_streak),
            (HealthStatus::Healthy, 0)
        );
        // Healthy stays healthy until the retries run out.
        state.record(result(2), false, 2);
        assert_eq!(
            (state.status, state.failing_streak),
            (HealthStatus::Healthy, 1)
        );
    }

    #[test]
    fn the_start_period_forgives_failures_until_the_first_success() {
        let mut state = HealthState::starting(None);
        state.record(result(1), true, 1);
        state.record(result(1), true, 1);
        assert_eq!(
            (state.status, state.failing_streak),
            (HealthStatus::Starting, 0)
        );
        state.record(result(0), true, 1);
        assert_eq!(state.status, HealthStatus::Healthy);
        // Once healthy, failures count even within the start period.
        state.record(result(1), true, 1);
        assert_eq!(
            (state.status, state.failing_streak),
            (HealthStatus::Unhealthy, 1)
        );
    }

    #[test]
    fn the_log_keeps_the_last_five_and_survives_a_restart() {
        let mut state = HealthState::starting(None);
        for code in 0..7 {
            state.record(result(code), false, 3);
        }
        let codes: Vec<i64> = state.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, [2, 3, 4, 5, 6]);
        assert_eq!(state.status, HealthStatus::Unhealthy);
        let restarted = HealthState::starting(Some(state.clone()));
        assert_eq!(restarted.status, HealthStatus::Starting);
        assert_eq!(restarted.failing_streak, 0);
        assert_eq!(restarted.log, state.log);
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

    #[test]
    fn state_is_written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_health(dir.path()), None);
        let mut state = HealthState::starting(None);
        state.record(result(0), false, 3);
        write_health(dir.path(), &state).unwrap();
        assert_eq!(read_health(dir.path()), Some(state.clone()));
        let json: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(HEALTH_FILE)).unwrap()).unwrap();
        assert_eq!(json["Status"], "healthy");
        assert_eq!(json["FailingStreak"], 0);
        assert_eq!(json["Log"][0]["ExitCode"], 0);
        // Only the file itself is left: the temporary one was renamed.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn config_serializes_as_dockers() {
        let c = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval: 200_000_000,
            ..HealthConfig::default()
        };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"Test": ["CMD", "true"], "Interval": 200_000_000})
        );
        let parsed: HealthConfig =
            serde_json::from_value(serde_json::json!({"Test": ["NONE"], "Retries": 4})).unwrap();
        assert_eq!(parsed.retries, 4);
    }
}
