//! The health-check flags `run` and `create` share, checked as docker's
//! CLI and daemon check them.

use anyhow::{bail, Result};
use berth_engine::{parse_health_duration, HealthConfig};

#[derive(clap::Args)]
pub struct HealthArgs {
    /// Command to run to check health
    #[arg(long, value_name = "STRING")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_health_duration, allow_hyphen_values = true)]
    pub health_interval: i64,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long,
        value_name = "INT",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub health_retries: i64,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_health_duration, allow_hyphen_values = true)]
    pub health_start_interval: i64,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_health_duration, allow_hyphen_values = true)]
    pub health_start_period: i64,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_health_duration, allow_hyphen_values = true)]
    pub health_timeout: i64,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,
}

impl HealthArgs {
    /// The container's `Config.Healthcheck`: `None` when no flag was given
    /// (the image's check applies), `NONE` for `--no-healthcheck`.
    pub fn config(&self) -> Result<Option<HealthConfig>> {
        let cmd = self.health_cmd.clone().filter(|c| !c.is_empty());
        // In docker's order of checking.
        let numbers = [
            ("--health-interval", self.health_interval),
            ("--health-timeout", self.health_timeout),
            ("--health-retries", self.health_retries),
            ("--health-start-period", self.health_start_period),
            ("--health-start-interval", self.health_start_interval),
        ];
        let any_setting = cmd.is_some() || numbers.iter().any(|(_, n)| *n != 0);
        if self.no_healthcheck {
            if any_setting {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..HealthConfig::default()
            }));
        }
        if !any_setting {
            return Ok(None);
        }
        if let Some((flag, _)) = numbers.iter().find(|(_, n)| *n < 0) {
            bail!("{flag} cannot be negative");
        }
        let config = HealthConfig {
            test: cmd
                .map(|c| vec!["CMD-SHELL".to_string(), c])
                .unwrap_or_default(),
            interval: self.health_interval,
            timeout: self.health_timeout,
            start_period: self.health_start_period,
            start_interval: self.health_start_interval,
            retries: self.health_retries,
        };
        config.validate()?;
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        health: HealthArgs,
    }

    fn config(args: &[&str]) -> Result<Option<HealthConfig>> {
        let flags = Flags::try_parse_from(std::iter::once("run").chain(args.iter().copied()))?;
        flags.health.config()
    }

    fn error(args: &[&str]) -> String {
        format!("{:#}", config(args).unwrap_err())
    }

    #[test]
    fn no_flags_leave_the_images_check() {
        assert_eq!(config(&[]).unwrap(), None);
    }

    #[test]
    fn flags_make_a_shell_check_with_their_durations() {
        let c = config(&[
            "--health-cmd",
            "test -e /tmp/ok",
            "--health-interval",
            "200ms",
            "--health-timeout=1m30s",
            "--health-retries",
            "2",
            "--health-start-period",
            "1.5s",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            c,
            HealthConfig {
                test: vec!["CMD-SHELL".into(), "test -e /tmp/ok".into()],
                interval: 200_000_000,
                timeout: 90_000_000_000,
                start_period: 1_500_000_000,
                start_interval: 0,
                retries: 2,
            }
        );
        // Settings without a command keep the image's command.
        let c = config(&["--health-retries", "5"]).unwrap().unwrap();
        assert!(c.test.is_empty());
        assert_eq!(c.retries, 5);
    }

    #[test]
    fn no_healthcheck_disables_and_conflicts_with_settings() {
        assert_eq!(
            config(&["--no-healthcheck"]).unwrap().unwrap().test,
            ["NONE"]
        );
        assert_eq!(
            error(&["--no-healthcheck", "--health-cmd", "true"]),
            "--no-healthcheck conflicts with --health-* options"
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_flag() {
        let e = error(&["--health-interval", "abc"]);
        assert!(
            e.contains("--health-interval") && e.contains("time: invalid duration \"abc\""),
            "{e}"
        );
        assert_eq!(
            error(&["--health-timeout=-1s"]),
            "--health-timeout cannot be negative"
        );
        assert_eq!(
            error(&["--health-retries", "-1"]),
            "--health-retries cannot be negative"
        );
        assert_eq!(
            error(&["--health-interval", "500us"]),
            "Interval in Healthcheck cannot be less than 1ms"
        );
    }
}
