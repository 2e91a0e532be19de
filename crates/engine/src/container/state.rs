//! A container's recorded state: finding it, and reconciling a record whose
//! monitor is gone with what the runtime says.

use berth_runtime::backend::RuntimeBackend;
use berth_runtime::overlay::OverlayMount;
use berth_store::ContainerRecord;
use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::{Engine, EngineError};

pub(crate) fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub(crate) fn process_alive(pid: Option<u32>) -> bool {
    pid.and_then(|p| i32::try_from(p).ok())
        .is_some_and(berth_store::process_alive)
}

/// Waits until process `pid` is gone, at most `timeout`; false on a
/// timeout. The process need not be our child: a pidfd becomes readable
/// when it exits, so this blocks instead of polling.
pub(crate) fn wait_process_exit(pid: Option<u32>, timeout: Option<Duration>) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) else {
        return true;
    };
    let pidfd = match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        // Gone already (ESRCH), or no pidfds: fall back to a short poll.
        Err(rustix::io::Errno::SRCH) => return true,
        Err(_) => {
            let start = Instant::now();
            while process_alive(Some(pid.as_raw_nonzero().get() as u32)) {
                if timeout.is_some_and(|t| start.elapsed() >= t) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            return true;
        }
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let left = deadline.map(|d| {
            Timespec::try_from(d.saturating_duration_since(Instant::now())).unwrap_or(Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            })
        });
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match poll(&mut fds, left.as_ref()) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return !process_alive(Some(pid.as_raw_nonzero().get() as u32)),
        }
    }
}

impl Engine {
    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.store.root().join("containers").join(id)
    }

    /// The runtime for a container's `--runtime` (`""`: the default).
    pub(crate) fn backend(&self, runtime: &str) -> Result<Arc<dyn RuntimeBackend>, EngineError> {
        Ok(self.runtimes.backend(runtime)?)
    }

    /// Finds a container by name or ID prefix, refreshing its state if its
    /// monitor died without recording how it ended.
    pub fn container(&mut self, s: &str) -> Result<ContainerInfo, EngineError> {
        let mut found = self.store.find_containers(s)?;
        let record = match found.len() {
            0 => return Err(EngineError::NoSuchContainer(s.to_string())),
            1 => found.remove(0),
            _ if found[0].name == s => found.remove(0),
            _ => return Err(EngineError::AmbiguousId(s.to_string())),
        };
        let record = self.reconcile(record)?;
        let options = serde_json::from_str(&record.config)
            .map_err(|e| EngineError::Internal(format!("stored config of {}: {e}", record.name)))?;
        Ok(ContainerInfo { record, options })
    }
    /// A container recorded as running whose monitor is gone (SIGKILLed,
    /// or the machine rebooted) is shown as it really is: still running if
    /// the runtime says so, otherwise exited with an unknown code.
    pub(crate) fn reconcile(
        &mut self,
        mut r: ContainerRecord,
    ) -> Result<ContainerRecord, EngineError> {
        if !r.status.is_active() || process_alive(r.monitor_pid) {
            return Ok(r);
        }
        let runtime = serde_json::from_str::<ContainerOptions>(&r.config)
            .map(|o| o.runtime)
            .unwrap_or_default();
        let backend = self.backend(&runtime)?;
        match backend.state(&r.id)? {
            Some(s) if s.status == "running" || s.status == "paused" => {
                crate::container::health::mark_unchecked(&self.container_dir(&r.id));
                Ok(r)
            }
            _ => {
                let _ = backend.delete(&r.id, true);
                let _ = OverlayMount::unmount(&self.container_dir(&r.id).join("rootfs"));
                r.status = ContainerStatus::Exited;
                // The code was the monitor's to record; 255 says it is lost.
                r.exit_code = Some(r.exit_code.unwrap_or(255));
                r.finished_at = Some(r.finished_at.unwrap_or_else(now_rfc3339));
                r.monitor_pid = None;
                self.store.update_container(&r)?;
                if let Ok(options) = serde_json::from_str::<ContainerOptions>(&r.config) {
                    let exit_code = r.exit_code.unwrap_or(255);
                    let ran = ran_since(r.started_at.as_deref());
                    self.emit(container_event(
                        &r,
                        &options,
                        crate::events::ContainerAction::Die { exit_code, ran },
                    ));
                }
                // The monitor would have released its volumes' mounts.
                self.release_volumes(&r.id, &crate::volume::HostMounter)?;
                Ok(r)
            }
        }
    }
}
