//! Starting a container through its monitor, and stopping, killing,
//! waiting for, pausing and removing it.

use berth_runtime::overlay::OverlayMount;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::events::ContainerAction;
use crate::volume::{HostMounter, VolumeMounter};
use crate::{Engine, EngineError};

impl Engine {
    /// Starts a container through its monitor and returns once it runs.
    /// With `opts.attach` the connection to the monitor is returned, for
    /// the container's output (and input); `None` when the container
    /// already ran or nothing was to be attached.
    pub fn start_container(
        &mut self,
        s: &str,
        root: &Path,
        opts: StartOptions,
    ) -> Result<Option<AttachSession>, EngineError> {
        let info = self.container(s)?;
        if info.record.status == ContainerStatus::Paused {
            return Err(EngineError::Conflict(
                "cannot start a paused container, try unpause instead".into(),
            ));
        }
        if info.record.status.is_active() {
            return Ok(None);
        }
        let exe =
            std::env::current_exe().map_err(|e| EngineError::io("find the berth binary", e))?;
        let dir = self.container_dir(&info.record.id);
        // The monitor's own messages, for when something goes wrong.
        let monitor_log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("monitor.log"))
            .map_err(|e| {
                EngineError::io(format!("open {}", dir.join("monitor.log").display()), e)
            })?;
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| EngineError::io("connect to the container monitor", e))?;
        // The monitor's command line (berth's cli reads it: cmd/monitor.rs).
        let mut cmd = Command::new(exe);
        cmd.arg("__monitor").arg(root).arg(&info.record.id);
        if opts.attach && opts.stdin {
            cmd.arg("--stdin-once");
        }
        if let Some((rows, cols)) = opts.tty_size {
            cmd.arg("--tty-size").arg(format!("{rows}x{cols}"));
        }
        // The monitor's stdin is its connection to us; its own process
        // group keeps a Ctrl-C meant for the CLI away from it.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(monitor_log);
        cmd.spawn()
            .map_err(|e| EngineError::io("start the container monitor", e))?;
        drop(cmd);
        let mut session = AttachSession::new(ours)?;
        session.wait_started()?;
        Ok(opts.attach.then_some(session))
    }

    /// `attach`: a connection to a running container's monitor.
    pub fn attach_container(&mut self, s: &str) -> Result<AttachSession, EngineError> {
        let info = self.container(s)?;
        if info.record.status != ContainerStatus::Running {
            return Err(EngineError::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        AttachSession::connect(&self.container_dir(&info.record.id), attach::SOCKET)
    }

    /// `kill -s SIGNAL`.
    pub fn kill_container(&mut self, s: &str, signal: i32) -> Result<String, EngineError> {
        let info = self.container(s)?;
        if info.record.status != ContainerStatus::Running {
            return Err(EngineError::NotRunning(info.record.id.clone()));
        }
        self.backend(&info.options.runtime)?
            .kill(&info.record.id, signal, false)?;
        self.emit(info.event(ContainerAction::Kill { signal }));
        Ok(info.record.id)
    }

    /// Waits until the container's monitor is gone; returns the exit code.
    pub fn wait_container(
        &mut self,
        s: &str,
        timeout: Option<Duration>,
    ) -> Result<Option<i32>, EngineError> {
        let start = Instant::now();
        let info = self.container(s)?;
        let id = info.record.id.clone();
        if info.record.status.is_active() {
            let left = timeout.map(|t| t.saturating_sub(start.elapsed()));
            if !wait_process_exit(info.record.monitor_pid, left) {
                return Ok(None);
            }
        }
        match self.store.container(&id)? {
            Some(r) => Ok(self.reconcile(r)?.exit_code),
            // Removed by its monitor (--rm): the code was printed by it.
            None => Ok(None),
        }
    }

    /// `stop -t`: the stop signal (SIGTERM unless the container or its
    /// image names another), then SIGKILL to every process after the
    /// timeout (`-t`, else `--stop-timeout`, else 10 s).
    pub fn stop_container(
        &mut self,
        s: &str,
        timeout: Option<Duration>,
    ) -> Result<String, EngineError> {
        let info = self.container(s)?;
        let id = info.record.id.clone();
        if !info.record.status.is_active() {
            return Ok(id);
        }
        let timeout = timeout
            .or(info.options.stop_timeout.map(Duration::from_secs))
            .unwrap_or(Duration::from_secs(10));
        let image_signal = crate::image::config::ImageConfig::parse(
            &self.store.content().read(&info.record.image_id)?,
        )
        .ok()
        .and_then(|c| {
            c.container_config()
                .and_then(|c| c.get("StopSignal"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        });
        let signal = match info.options.stop_signal.clone().or(image_signal) {
            Some(sig) => parse_signal(&sig)?,
            None => 15,
        };
        self.mark_stopped_by_user(&id);
        self.thaw_if_paused(&info)?;
        let backend = self.backend(&info.options.runtime)?;
        if backend.kill(&id, signal, false).is_ok() {
            self.emit(info.event(ContainerAction::Kill { signal }));
        }
        if self.wait_container(&id, Some(timeout))?.is_none()
            && self.store.container(&id)?.is_some()
        {
            if backend.kill(&id, 9, true).is_ok() {
                self.emit(info.event(ContainerAction::Kill { signal: 9 }));
            }
            self.wait_container(&id, None)?;
        }
        self.emit(info.event(ContainerAction::Stop));
        Ok(id)
    }

    /// `rm [-f] [-v]`: a running container needs `force` (it is killed
    /// first); `volumes` removes its anonymous volumes too (never named
    /// ones), unless another container uses them.
    pub fn remove_container(
        &mut self,
        s: &str,
        force: bool,
        volumes: bool,
    ) -> Result<String, EngineError> {
        let info = self.container(s)?;
        let id = info.record.id.clone();
        if info.record.status.is_active() {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    info.record.name
                )));
            }
            self.mark_stopped_by_user(&id);
            self.thaw_if_paused(&info)?;
            let backend = self.backend(&info.options.runtime)?;
            if backend.kill(&id, 9, true).is_ok() {
                self.emit(info.event(ContainerAction::Kill { signal: 9 }));
            }
            self.wait_container(&id, None)?;
        }
        self.destroy_container(&id, Some(&info.options.runtime), volumes)?;
        Ok(id)
    }

    /// Tells the monitor not to apply the restart policy to this exit.
    fn mark_stopped_by_user(&self, id: &str) {
        let _ = std::fs::write(
            self.container_dir(id)
                .join(crate::container::STOPPED_BY_USER),
            b"",
        );
    }

    /// Removes a container that does not run: its runtime state (when
    /// `runtime` may still have some), rootfs mount, directory and record,
    /// its share of its volumes' mounts, and with `anonymous_volumes` the
    /// anonymous volumes no other container uses.
    pub(crate) fn destroy_container(
        &mut self,
        id: &str,
        runtime: Option<&str>,
        anonymous_volumes: bool,
    ) -> Result<(), EngineError> {
        if let Some(runtime) = runtime {
            let _ = self.backend(runtime)?.delete(id, true);
        }
        // Its port forwards, which the store's rows going would forget.
        self.release_network(id)?;
        let record = self.store.container(id)?;
        let dir = self.container_dir(id);
        OverlayMount::unmount(&dir.join("rootfs"))?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io(format!("remove {}", dir.display()), e)),
        }
        self.release_volumes(id, &HostMounter)?;
        let removed = self
            .store
            .delete_container_with_volumes(id, anonymous_volumes, |data| {
                HostMounter.unmount(data)
            })?;
        if let Some(r) = record {
            let options = serde_json::from_str(&r.config).unwrap_or_default();
            self.emit(container_event(&r, &options, ContainerAction::Destroy));
        }
        for v in removed {
            self.emit_volume(&v, crate::events::VolumeAction::Destroy);
        }
        Ok(())
    }
}

impl Engine {
    /// `pause`: freezes every process of the container (cgroup freezer).
    pub fn pause_container(&mut self, s: &str) -> Result<String, EngineError> {
        let mut info = self.container(s)?;
        match info.record.status {
            ContainerStatus::Running => {}
            ContainerStatus::Paused => {
                return Err(EngineError::Conflict(format!(
                    "container {} is already paused",
                    info.record.id
                )))
            }
            _ => return Err(EngineError::NotRunning(info.record.id)),
        }
        self.backend(&info.options.runtime)?
            .pause(&info.record.id)?;
        info.record.status = ContainerStatus::Paused;
        self.store.update_container(&info.record)?;
        self.emit(info.event(ContainerAction::Pause));
        Ok(info.record.id)
    }

    /// `unpause`.
    pub fn unpause_container(&mut self, s: &str) -> Result<String, EngineError> {
        let mut info = self.container(s)?;
        if info.record.status != ContainerStatus::Paused {
            return Err(EngineError::Conflict(format!(
                "container {} is not paused",
                info.record.id
            )));
        }
        self.backend(&info.options.runtime)?
            .resume(&info.record.id)?;
        info.record.status = ContainerStatus::Running;
        self.store.update_container(&info.record)?;
        self.emit(info.event(ContainerAction::Unpause));
        Ok(info.record.id)
    }

    /// Thaws a paused container before it is signalled: frozen processes
    /// cannot act on a signal, not even SIGKILL on cgroup v1.
    fn thaw_if_paused(&mut self, info: &ContainerInfo) -> Result<(), EngineError> {
        if info.record.status == ContainerStatus::Paused {
            self.unpause_container(&info.record.id)?;
        }
        Ok(())
    }
}
