//! What a container's state says to a user: docker's status text (`ps`'s
//! STATUS column, the API's `Status`), rendered once for both front ends.
//!
//! The state itself is [`ContainerStatus`] (docker's `State.Status`
//! names), kept on the store's record so it is parsed where rows are read.

use berth_store::ContainerRecord;
pub use berth_store::ContainerStatus;
use chrono::{DateTime, Utc};

use super::health::HealthStatus;
use super::ContainerInfo;
use crate::Engine;

/// go-units' `HumanDuration`: "Less than a second", "About a minute",
/// "3 hours", "2 weeks" (negative durations count as none).
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let minutes = secs / 60;
    let hours = (secs as f64 / 3600.0 + 0.5) as i64;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", secs / 3600 / 24 / 365)
    }
}

fn parse_time(t: Option<&str>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// docker's `State.String()` at `now`: "Up 3 minutes (healthy)",
/// "Up 5 seconds (Paused)", "Restarting (1) 3 seconds ago",
/// "Exited (0) 2 seconds ago", "Created". `health` is the container's
/// health status, if it has checks; only a running container shows it.
pub fn status_text(
    record: &ContainerRecord,
    health: Option<HealthStatus>,
    now: DateTime<Utc>,
) -> String {
    let started = parse_time(record.started_at.as_deref());
    let finished = parse_time(record.finished_at.as_deref());
    let for_ = |t: Option<DateTime<Utc>>| human_duration((now - t.unwrap_or(now)).num_seconds());
    let code = record.exit_code.unwrap_or(0);
    match record.status {
        ContainerStatus::Paused => format!("Up {} (Paused)", for_(started)),
        ContainerStatus::Restarting => format!("Restarting ({code}) {} ago", for_(finished)),
        ContainerStatus::Running => match health {
            Some(HealthStatus::Starting) => format!("Up {} (health: starting)", for_(started)),
            Some(h) => format!("Up {} ({})", for_(started), h.as_str()),
            None => format!("Up {}", for_(started)),
        },
        ContainerStatus::Removing => "Removal In Progress".into(),
        ContainerStatus::Dead => "Dead".into(),
        // Never started, or its first start failed.
        ContainerStatus::Created => "Created".into(),
        ContainerStatus::Exited if started.is_none() => "Created".into(),
        ContainerStatus::Exited => match finished {
            Some(_) => format!("Exited ({code}) {} ago", for_(finished)),
            None => String::new(),
        },
    }
}

impl Engine {
    /// The container's status text now, its health read from its checks.
    pub fn container_status_text(&self, info: &ContainerInfo) -> String {
        let health = self.container_health(&info.record.id).map(|h| h.status);
        status_text(&info.record, health, Utc::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn record(status: ContainerStatus) -> ContainerRecord {
        ContainerRecord {
            id: "c".into(),
            name: "web".into(),
            image_id: format!("sha256:{}", "a".repeat(64)).parse().unwrap(),
            config: String::new(),
            status,
            created_at: "2024-01-01T00:00:00Z".into(),
            started_at: None,
            finished_at: None,
            pid: None,
            monitor_pid: None,
            exit_code: None,
            restart_count: 0,
        }
    }

    fn at(now: DateTime<Utc>, ago: Duration) -> Option<String> {
        Some((now - ago).to_rfc3339())
    }

    #[test]
    fn texts_are_dockers() {
        let now = Utc::now();
        let mut r = record(ContainerStatus::Created);
        assert_eq!(status_text(&r, None, now), "Created");

        r.status = ContainerStatus::Running;
        r.started_at = at(now, Duration::minutes(3));
        assert_eq!(status_text(&r, None, now), "Up 3 minutes");
        let healthy = Some(HealthStatus::Healthy);
        assert_eq!(status_text(&r, healthy, now), "Up 3 minutes (healthy)");
        let unhealthy = Some(HealthStatus::Unhealthy);
        assert_eq!(status_text(&r, unhealthy, now), "Up 3 minutes (unhealthy)");
        let starting = Some(HealthStatus::Starting);
        assert_eq!(
            status_text(&r, starting, now),
            "Up 3 minutes (health: starting)"
        );
        r.started_at = at(now, Duration::zero());
        assert_eq!(status_text(&r, None, now), "Up Less than a second");

        r.status = ContainerStatus::Paused;
        r.started_at = at(now, Duration::seconds(5));
        assert_eq!(status_text(&r, healthy, now), "Up 5 seconds (Paused)");

        r.status = ContainerStatus::Restarting;
        r.exit_code = Some(1);
        r.finished_at = at(now, Duration::seconds(3));
        assert_eq!(status_text(&r, None, now), "Restarting (1) 3 seconds ago");

        r.status = ContainerStatus::Exited;
        r.exit_code = Some(0);
        r.finished_at = at(now, Duration::seconds(2));
        assert_eq!(status_text(&r, healthy, now), "Exited (0) 2 seconds ago");
        r.exit_code = Some(137);
        r.finished_at = at(now, Duration::hours(2));
        assert_eq!(status_text(&r, None, now), "Exited (137) 2 hours ago");
        // A container whose first start failed never ran.
        r.started_at = None;
        assert_eq!(status_text(&r, None, now), "Created");

        assert_eq!(
            status_text(&record(ContainerStatus::Removing), None, now),
            "Removal In Progress"
        );
        assert_eq!(
            status_text(&record(ContainerStatus::Dead), None, now),
            "Dead"
        );
    }

    #[test]
    fn durations_match_go_units() {
        assert_eq!(human_duration(-5), "Less than a second");
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }
}
