//! Container health: docker's health-check settings, and the state the
//! monitor's checks leave in `health.json` for `inspect` and `ps`.
//!
//! docker's rules: the first check runs one interval after the start (the
//! start interval while still starting within the start period); a check
//! that exits 0 makes the container healthy, `Retries` failures in a row
//! make it unhealthy, failures within the start period do not count until
//! the first success; a check running past its timeout is killed and counts
//! as a failure with exit code -1; output is kept up to 4096 bytes and the
//! log keeps the last 5 results. A paused or stopped container is reported
//! unhealthy, as docker does "for compatibility reasons".

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write;
use std::path::Path;

use super::{now_rfc3339, ContainerInfo};
use crate::image::config::ImageConfig;
use crate::{Engine, EngineError};

/// The health state, inside the container's directory.
const HEALTH_FILE: &str = "health.json";
/// docker's limit on the results the log keeps.
const MAX_LOG_ENTRIES: usize = 5;

/// docker refuses durations under 1ms (other than 0, "unset").
const MINIMUM_DURATION_NS: i64 = 1_000_000;

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
                return Err(EngineError::Invalid(format!(
                    "{name} in Healthcheck cannot be less than 1ms"
                )));
            }
        }
        if self.retries < 0 {
            return Err(EngineError::Invalid(
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
    let nanos = berth_dockerfile::parse_go_duration(text).map_err(EngineError::Invalid)?;
    i64::try_from(nanos)
        .map_err(|_| EngineError::Invalid(format!("time: invalid duration {text:?}")))
}

/// `Health.Status` (defined with the events, which carry it).
pub use crate::events::HealthStatus;

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
    pub(crate) fn starting(previous: Option<HealthState>) -> HealthState {
        HealthState {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: previous.map(|p| p.log).unwrap_or_default(),
        }
    }

    /// Takes a check's result into account. `within_start_period`: the
    /// check started before the start period ended.
    pub(crate) fn record(&mut self, result: HealthResult, within_start_period: bool, retries: u32) {
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

/// The container's health check, if it has one: its own settings over its
/// image's.
pub(crate) fn configured(info: &ContainerInfo, image: &ImageConfig) -> Option<HealthConfig> {
    let from_image = image
        .container_config()
        .and_then(|c| c.get("Healthcheck"))
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    HealthConfig::merged(info.options.healthcheck.as_ref(), from_image)
}

pub(crate) fn read_health(dir: &Path) -> Option<HealthState> {
    let text = std::fs::read(dir.join(HEALTH_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Replaces `health.json` in one rename, so a reader never sees half of it.
pub(crate) fn write_health(dir: &Path, state: &HealthState) -> std::io::Result<()> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(merged.test, ["NONE"]);
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
