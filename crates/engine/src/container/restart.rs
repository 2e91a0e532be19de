//! `restart`: stop, then start again detached.

use std::path::Path;
use std::time::Duration;

use crate::container::ContainerStatus;
use crate::{Engine, EngineError};

impl Engine {
    /// `restart [-t N] [-s SIGNAL]`: stops the container as `stop` does
    /// (with `signal` in place of its stop signal when given), then starts
    /// it detached; a container that is not running is just started. As in
    /// docker, a manual restart is not counted in RestartCount: every start
    /// resets it.
    pub fn restart_container(
        &mut self,
        s: &str,
        timeout: Option<Duration>,
        signal: Option<i32>,
        root: &Path,
    ) -> Result<String, EngineError> {
        let info = self.container(s)?;
        if info.options.auto_remove {
            let marker = self
                .container_dir(&info.record.id)
                .join(crate::container::RESTARTING);
            std::fs::write(&marker, b"")
                .map_err(|e| EngineError::io(format!("write {}", marker.display()), e))?;
        }
        let id = match signal {
            None => self.stop_container(s, timeout)?,
            Some(signal) => self.stop_with_signal(s, timeout, signal)?,
        };
        self.start_container(&id, root, crate::StartOptions::default())?;
        self.emit(info.event(crate::events::ContainerAction::Restart));
        Ok(id)
    }

    /// `stop` with another signal than the container's: `signal`, then
    /// after the timeout `stop`'s own SIGKILL to every process.
    fn stop_with_signal(
        &mut self,
        s: &str,
        timeout: Option<Duration>,
        signal: i32,
    ) -> Result<String, EngineError> {
        let info = self.container(s)?;
        let id = info.record.id.clone();
        if !info.record.status.is_active() {
            return Ok(id);
        }
        let timeout = timeout
            .or(info.options.stop_timeout.map(Duration::from_secs))
            .unwrap_or(Duration::from_secs(10));
        // Written before the signal, so the restart policy does not bring
        // the container back in between.
        let marker = self
            .container_dir(&id)
            .join(crate::container::STOPPED_BY_USER);
        std::fs::write(&marker, b"")
            .map_err(|e| EngineError::io(format!("write {}", marker.display()), e))?;
        if info.record.status == ContainerStatus::Paused {
            self.unpause_container(&id)?;
        }
        // Not running any more (between two runs of its restart policy) is
        // fine: the wait below sees its monitor end.
        let _ = self
            .backend(&info.options.runtime)?
            .kill(&id, signal, false);
        if self.wait_container(&id, Some(timeout))?.is_none() {
            self.stop_container(&id, Some(Duration::ZERO))?;
        }
        Ok(id)
    }
}
