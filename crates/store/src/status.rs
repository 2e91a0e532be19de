//! A container's state, as docker names it (`State.Status`).
//!
//! It lives beside [`crate::ContainerRecord`], whose state it is, so the text
//! in the `containers` table is parsed once, where rows are read; what the
//! states mean to users (`ps`'s status text) is the engine's.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// docker's container states, stored as their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Recorded, never started (or its first start failed).
    Created,
    Running,
    /// Frozen by `pause`.
    Paused,
    /// Between two runs of its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    Exited,
    /// Could not be removed.
    Dead,
}

impl ContainerStatus {
    pub const ALL: [ContainerStatus; 7] = [
        ContainerStatus::Created,
        ContainerStatus::Running,
        ContainerStatus::Paused,
        ContainerStatus::Restarting,
        ContainerStatus::Removing,
        ContainerStatus::Exited,
        ContainerStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Restarting => "restarting",
            ContainerStatus::Removing => "removing",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Dead => "dead",
        }
    }

    /// A monitor owns the container: it runs, is paused, or waits to be
    /// restarted. `ps` without `-a` shows these; `rm` needs `-f` for them.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
        )
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is none of docker's states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid container status {0:?}: expected one of created, running, paused, restarting, removing, exited, dead")]
pub struct UnknownStatus(pub String);

impl FromStr for ContainerStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<ContainerStatus, UnknownStatus> {
        ContainerStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

impl ToSql for ContainerStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for ContainerStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<ContainerStatus> {
        value
            .as_str()?
            .parse()
            .map_err(|e: UnknownStatus| FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dockers_and_round_trip() {
        for s in ContainerStatus::ALL {
            assert_eq!(s.as_str().parse::<ContainerStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(
            "up".parse::<ContainerStatus>(),
            Err(UnknownStatus("up".into()))
        );
    }

    #[test]
    fn active_states_are_the_ones_a_monitor_owns() {
        let active: Vec<_> = ContainerStatus::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .collect();
        assert_eq!(
            active,
            [
                ContainerStatus::Running,
                ContainerStatus::Paused,
                ContainerStatus::Restarting
            ]
        );
    }
}
