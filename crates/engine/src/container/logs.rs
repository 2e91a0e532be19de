//! `logs`: the container's json-file log, filtered.

use chrono::Utc;
use std::time::Duration;

use super::*;
use crate::{Engine, EngineError};

/// `logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// `--tail N`.
    pub tail: Option<usize>,
    /// `--since`, `--until`: RFC 3339 times or durations (`10m`).
    pub since: Option<String>,
    pub until: Option<String>,
    pub timestamps: bool,
    pub follow: bool,
}

/// Which stream a log record came from.
pub use berth_runtime::logfile::Stream as LogStream;

impl Engine {
    /// `logs`: the container's json-file log, filtered, record by record.
    pub fn container_logs(
        &mut self,
        s: &str,
        opts: &LogsOptions,
        emit: &mut dyn FnMut(LogStream, &[u8]) -> std::ops::ControlFlow<()>,
    ) -> Result<(), EngineError> {
        let LogsOptions {
            tail,
            since,
            until,
            timestamps,
            follow,
        } = opts;
        let (tail, timestamps, follow) = (*tail, *timestamps, *follow);
        let (since, until) = (since.as_deref(), until.as_deref());
        use berth_runtime::logfile::{parse_log_time, read_logs, ReadOptions};
        let info = self.container(s)?;
        let path = self
            .container_dir(&info.record.id)
            .join(crate::container::LOG_FILE);
        if !path.exists() {
            return Ok(());
        }
        let now = Utc::now();
        let utc = chrono::FixedOffset::east_opt(0).expect("zero offset");
        let opts = ReadOptions {
            tail,
            since: since
                .map(|v| parse_log_time("--since", v, now, utc))
                .transpose()?,
            until: until
                .map(|v| parse_log_time("--until", v, now, utc))
                .transpose()?,
        };
        if !follow {
            read_logs(&path, &opts, |entry| {
                emit(entry.stream, &entry.render(timestamps))
            })?;
            return Ok(());
        }
        // Follow until the container's monitor is gone (it has written the
        // last of the output by then), then read what is left once more.
        let monitor = info.record.monitor_pid;
        let mut last_round = false;
        berth_runtime::logfile::follow_logs(
            &path,
            &opts,
            |entry| emit(entry.stream, &entry.render(timestamps)),
            || {
                if last_round {
                    return std::ops::ControlFlow::Break(());
                }
                if process_alive(monitor) {
                    std::thread::sleep(Duration::from_millis(50));
                } else {
                    last_round = true;
                }
                std::ops::ControlFlow::Continue(())
            },
        )?;
        Ok(())
    }
}
