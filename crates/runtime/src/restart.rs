//! `--restart` policies and docker's restart back-off, as a pure state
//! machine the engine's supervisor drives with exit events.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::RuntimeError;

/// The first delay, doubled after each quick failure.
const INITIAL_DELAY: Duration = Duration::from_millis(100);
/// The longest a crash-looping container waits between attempts.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long counts as healthy and resets the back-off.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// When a container is restarted after its main process exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart on non-zero exit; `max_retries` 0 means without limit.
    OnFailure {
        max_retries: u32,
    },
    Always,
    /// Like `always`, except after the user stopped the container: it then
    /// also stays down when the engine comes back.
    UnlessStopped,
}

impl RestartPolicy {
    /// Docker's policy name, as `inspect` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// `inspect`'s `MaximumRetryCount`.
    pub fn maximum_retry_count(&self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => *max_retries,
            _ => 0,
        }
    }

    /// Whether a container that was running when the engine went away is
    /// started again when it returns (docker's daemon-start behaviour).
    pub fn restarts_with_engine(&self, stopped_by_user: bool) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::UnlessStopped => !stopped_by_user,
            RestartPolicy::No | RestartPolicy::OnFailure { .. } => false,
        }
    }
}

impl FromStr for RestartPolicy {
    type Err = RuntimeError;

    /// Parses `--restart` with docker's messages; empty means `no`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let err = |msg: String| RuntimeError::RestartPolicy(msg);
        let (name, count) = match value.split_once(':') {
            Some(("", _)) => {
                return Err(err(
                    "invalid restart policy format: no policy provided before colon".into(),
                ))
            }
            Some((name, count)) => (name, count),
            None => (value, ""),
        };
        let count: i64 = if count.is_empty() {
            0
        } else {
            count.parse().map_err(|_| {
                err("invalid restart policy format: maximum retry count must be an integer".into())
            })?
        };
        let no_count = |policy: RestartPolicy| {
            if count == 0 {
                return Ok(policy);
            }
            let mut msg =
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                    .to_string();
            if count < 0 {
                msg.push_str(" and cannot be negative");
            }
            Err(err(msg))
        };
        match name {
            "" | "no" => no_count(RestartPolicy::No),
            "always" => no_count(RestartPolicy::Always),
            "unless-stopped" => no_count(RestartPolicy::UnlessStopped),
            "on-failure" => {
                let max_retries = u32::try_from(count).map_err(|_| {
                    err("invalid restart policy: maximum retry count cannot be negative".into())
                })?;
                Ok(RestartPolicy::OnFailure { max_retries })
            }
            other => Err(err(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            ))),
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::OnFailure { max_retries } if *max_retries > 0 => {
                write!(f, "on-failure:{max_retries}")
            }
            other => f.write_str(other.name()),
        }
    }
}

/// Decides, exit after exit, whether and when to restart. One per
/// container start: a user's `start` begins a fresh count.
#[derive(Debug, Clone)]
pub struct RestartManager {
    policy: RestartPolicy,
    delay: Option<Duration>,
    restart_count: u32,
}

impl RestartManager {
    pub fn new(policy: RestartPolicy) -> RestartManager {
        RestartManager {
            policy,
            delay: None,
            restart_count: 0,
        }
    }

    /// Restarts decided so far (`inspect`'s `RestartCount`).
    pub fn restart_count(&self) -> u32 {
        self.restart_count
    }

    /// Called when the main process exited after running `ran_for`:
    /// returns how long to wait before restarting, or `None` to stay down.
    /// A user's stop always wins over the policy.
    pub fn next(
        &mut self,
        exit_code: i32,
        ran_for: Duration,
        stopped_by_user: bool,
    ) -> Option<Duration> {
        if self.policy == RestartPolicy::No || stopped_by_user {
            return None;
        }
        if ran_for >= RESET_AFTER {
            self.delay = None;
        }
        let delay = match self.delay {
            None => INITIAL_DELAY,
            Some(d) => (d * 2).min(MAX_DELAY),
        };
        self.delay = Some(delay);
        let restart = match self.policy {
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                exit_code != 0 && (max_retries == 0 || self.restart_count < max_retries)
            }
            RestartPolicy::No => false,
        };
        if !restart {
            return None;
        }
        self.restart_count += 1;
        tracing::debug!(
            policy = %self.policy,
            exit_code,
            restart_count = self.restart_count,
            delay_ms = delay.as_millis() as u64,
            "scheduling restart"
        );
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Duration = Duration::from_secs(1);

    fn parse(s: &str) -> Result<RestartPolicy, String> {
        s.parse::<RestartPolicy>().map_err(|e| e.to_string())
    }

    #[test]
    fn parses_docker_policies() {
        assert_eq!(parse("").unwrap(), RestartPolicy::No);
        assert_eq!(parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(parse("always").unwrap(), RestartPolicy::Always);
        assert_eq!(
            parse("unless-stopped").unwrap(),
            RestartPolicy::UnlessStopped
        );
        assert_eq!(
            parse("on-failure").unwrap(),
            RestartPolicy::OnFailure { max_retries: 0 }
        );
        assert_eq!(
            parse("on-failure:5").unwrap(),
            RestartPolicy::OnFailure { max_retries: 5 }
        );
        assert_eq!(
            parse("on-failure:").unwrap(),
            RestartPolicy::OnFailure { max_retries: 0 }
        );
        assert_eq!(parse("always:0").unwrap(), RestartPolicy::Always);
    }

    #[test]
    fn parse_errors_are_dockers() {
        assert_eq!(
            parse(":3").unwrap_err(),
            "invalid restart policy format: no policy provided before colon"
        );
        assert_eq!(
            parse("on-failure:x").unwrap_err(),
            "invalid restart policy format: maximum retry count must be an integer"
        );
        assert_eq!(
            parse("always:3").unwrap_err(),
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        );
        assert_eq!(
            parse("no:-1").unwrap_err(),
            "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"
        );
        assert_eq!(
            parse("on-failure:-2").unwrap_err(),
            "invalid restart policy: maximum retry count cannot be negative"
        );
        assert_eq!(
            parse("sometimes").unwrap_err(),
            "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:3",
        ] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
        let p = parse("on-failure:3").unwrap();
        assert_eq!((p.name(), p.maximum_retry_count()), ("on-failure", 3));
    }

    #[test]
    fn backoff_doubles_from_100ms_and_caps_at_a_minute() {
        let mut m = RestartManager::new(RestartPolicy::Always);
        let delays: Vec<u64> = (0..12)
            .map(|_| m.next(1, QUICK, false).unwrap().as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
        );
        assert_eq!(m.restart_count(), 12);
    }

    #[test]
    fn a_healthy_run_resets_the_backoff() {
        let mut m = RestartManager::new(RestartPolicy::Always);
        for _ in 0..5 {
            m.next(0, QUICK, false);
        }
        assert_eq!(
            m.next(0, Duration::from_secs(10), false),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            m.next(0, Duration::from_secs(9), false),
            Some(Duration::from_millis(200))
        );
    }

    #[test]
    fn no_never_restarts() {
        let mut m = RestartManager::new(RestartPolicy::No);
        assert_eq!(m.next(1, QUICK, false), None);
        assert_eq!(m.restart_count(), 0);
    }

    #[test]
    fn on_failure_honours_exit_code_and_retry_limit() {
        let mut m = RestartManager::new(RestartPolicy::OnFailure { max_retries: 2 });
        assert_eq!(m.next(0, QUICK, false), None, "success is not a failure");
        assert_eq!(m.next(1, QUICK, false), Some(Duration::from_millis(200)));
        assert_eq!(m.next(137, QUICK, false), Some(Duration::from_millis(400)));
        assert_eq!(m.next(1, QUICK, false), None, "retries exhausted");
        assert_eq!(m.restart_count(), 2);
        let mut unlimited = RestartManager::new(RestartPolicy::OnFailure { max_retries: 0 });
        for _ in 0..50 {
            assert!(unlimited.next(2, QUICK, false).is_some());
        }
    }

    #[test]
    fn user_stop_wins_over_every_policy() {
        for p in [
            RestartPolicy::Always,
            RestartPolicy::UnlessStopped,
            RestartPolicy::OnFailure { max_retries: 0 },
        ] {
            let mut m = RestartManager::new(p);
            assert_eq!(m.next(1, QUICK, true), None, "{p}");
        }
    }

    #[test]
    fn engine_restart_behaviour() {
        assert!(RestartPolicy::Always.restarts_with_engine(true));
        assert!(RestartPolicy::UnlessStopped.restarts_with_engine(false));
        assert!(!RestartPolicy::UnlessStopped.restarts_with_engine(true));
        assert!(!RestartPolicy::OnFailure { max_retries: 1 }.restarts_with_engine(false));
        assert!(!RestartPolicy::No.restarts_with_engine(false));
    }
}
