//! The per-container monitor (`berth __monitor ROOT ID`): mounts the rootfs,
//! writes the OCI bundle, starts the container with the runtime, reaps it
//! as its subreaper, logs its output and serves it to attached clients,
//! records its exit, applies the restart policy, cleans up.
//!
//! The runtime runs in the foreground (`runc run`, not `--detach`): it
//! waits for the container, passes signals on, removes the container as
//! it exits, and exits with its code, which saves a `runc delete` per run.

mod bundle;
pub(crate) use bundle::init_binary;
mod exec;
mod health;
mod hub;
mod io;
mod network;

pub(crate) use network::ContainerNetwork;

use berth_runtime::backend::{RuntimeBackend, RuntimeExit};
use berth_runtime::logfile::{JsonFileWriter, LogOptions, Stream};
use berth_runtime::overlay::OverlayMount;
use berth_runtime::restart::{RestartManager, RestartPolicy};
use chrono::Utc;
use std::fs::File;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::container::{
    attach, now_rfc3339, ContainerInfo, ContainerStatus, LOG_FILE, RESTARTING, STOPPED_BY_USER,
};
use crate::events::ContainerAction;
use crate::volume::HostMounter;
use crate::{Engine, EngineError};
use hub::Hub;
use io::ContainerIo;

/// How the monitor was started.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonitorOptions {
    /// The starting client sends the container's input, and its end of
    /// input is the container's (`run -i`, `start -ai`).
    pub stdin_once: bool,
    /// The starting client's terminal size (rows, columns) for `-t`.
    pub tty_size: Option<(u16, u16)>,
}

impl Engine {
    /// Runs a container to its end; returns its exit code. `starter` is
    /// the client that started it (the CLI), told when it runs (or why
    /// not) and, like any later `attach` client, sent its output.
    pub fn run_monitor(
        &mut self,
        id: &str,
        starter: UnixStream,
        opts: MonitorOptions,
    ) -> Result<i32, EngineError> {
        let info = self.container(id)?;
        let dir = self.container_dir(&info.record.id);
        let backend = self.backend(&info.options.runtime)?;
        let hub = Hub::new(backend.clone(), &info.record.id, opts.stdin_once);
        hub.add_client(starter);
        let result = self.monitor_runs(&info, &dir, &backend, &hub, opts);
        // Its volumes are no longer in use by it, whether it ran or not
        // (an auto-removed container released them as it went).
        if let Err(e) = self.release_volumes(&info.record.id, &HostMounter) {
            tracing::warn!(error = %e, "could not release the container's volumes");
        }
        let _ = std::fs::remove_file(dir.join(crate::container::attach::SOCKET));
        match result {
            Ok(code) => {
                hub.broadcast(attach::kind::EXIT, &code.to_be_bytes());
                Ok(code)
            }
            Err(e) => {
                hub.broadcast(
                    attach::kind::FAILED,
                    &attach::failed_payload(e.start_failure(), &e.to_string()),
                );
                Err(e)
            }
        }
    }

    fn monitor_runs(
        &mut self,
        info: &ContainerInfo,
        dir: &Path,
        backend: &Arc<dyn RuntimeBackend>,
        hub: &Arc<Hub>,
        opts: MonitorOptions,
    ) -> Result<i32, EngineError> {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| EngineError::io("become the container's subreaper", e.into()))?;
        hub.listen(dir)?;
        let execs = exec::ExecServer::new(
            self.store.root().to_path_buf(),
            dir.to_path_buf(),
            info.clone(),
            backend.clone(),
            Arc::clone(hub),
        );
        execs.listen()?;
        // However the runs end, the execs' ends are recorded first.
        let _execs = exec::FinishOnDrop(execs);
        let net = match self.container_network(info) {
            Ok(net) => net,
            Err(e) => {
                if info.options.auto_remove {
                    let _ = self.destroy_container(&info.record.id, None, true);
                }
                return Err(e);
            }
        };
        let result = self.monitor_loop(info, dir, backend, hub, opts, &net);
        self.teardown_container_network(&info.record.id, net);
        let code = result?;
        if info.options.auto_remove && !dir.join(RESTARTING).exists() {
            // After the teardown: the network's mounts live in its
            // directory. Unmounts as well; the runtime removed its part.
            self.destroy_container(&info.record.id, None, true)?;
        }
        Ok(code)
    }

    fn monitor_loop(
        &mut self,
        info: &ContainerInfo,
        dir: &Path,
        backend: &Arc<dyn RuntimeBackend>,
        hub: &Arc<Hub>,
        opts: MonitorOptions,
        net: &network::ContainerNetwork,
    ) -> Result<i32, EngineError> {
        let policy: RestartPolicy = info.options.restart.parse()?;
        let mut restarts = RestartManager::new(policy);
        let stop_marker = dir.join(STOPPED_BY_USER);
        let _ = std::fs::remove_file(&stop_marker);
        let _ = std::fs::remove_file(dir.join(RESTARTING));
        let mut record = info.record.clone();
        record.restart_count = 0;
        let mut first = true;
        let code = loop {
            let started = self
                .acquire_volumes(&info.record.id, &HostMounter)
                .and_then(|()| self.prepare_bundle(info, dir, opts.tty_size, net))
                .and_then(|()| ContainerIo::new(info, opts.tty_size))
                .and_then(|io| {
                    let running = backend.run(&info.record.id, dir, io.stdio)?;
                    Ok((running, io.outputs, io.stdin, io.tty))
                });
            let (running, outputs, stdin, tty) = match started {
                Ok(v) => v,
                Err(e) => {
                    let _ = OverlayMount::unmount(&dir.join("rootfs"));
                    if info.options.auto_remove {
                        let _ = self.destroy_container(&info.record.id, None, true);
                    } else if !first {
                        record.status = ContainerStatus::Exited;
                        record.monitor_pid = None;
                        record.pid = None;
                        self.store.update_container(&record)?;
                    }
                    return Err(e);
                }
            };
            hub.set_input(stdin, tty, running.runtime_pid);
            let started = std::time::Instant::now();
            record.status = ContainerStatus::Running;
            record.pid = Some(running.pid);
            record.monitor_pid = Some(std::process::id());
            record.started_at = Some(now_rfc3339());
            record.finished_at = None;
            record.exit_code = None;
            self.store.update_container(&record)?;
            self.emit_current(info, ContainerAction::Start);
            let health = self.start_health_checker(info, dir);
            hub.broadcast(attach::kind::STARTED, &[]);
            first = false;
            let exit = self.watch(running.runtime_pid, outputs, dir, info, hub)?;
            health.stop();
            hub.set_input(None, None, 0);
            if let RuntimeExit::Signal(_) = exit {
                // The runtime itself was killed: the container may still
                // run, and is no longer removed for us.
                let _ = backend.kill(&info.record.id, 9, true);
                let _ = backend.delete(&info.record.id, true);
            }
            let code = match backend.exit_code(&info.record.id, dir, exit) {
                Ok(code) => code,
                Err(e) => {
                    // Created, but its process could not be executed.
                    self.emit_current(
                        info,
                        ContainerAction::Die {
                            exit_code: e.start_failure().exit_code(),
                            ran: started.elapsed(),
                        },
                    );
                    let _ = OverlayMount::unmount(&dir.join("rootfs"));
                    if info.options.auto_remove {
                        let _ = self.destroy_container(&info.record.id, None, true);
                    } else {
                        record.status = ContainerStatus::Exited;
                        record.exit_code = Some(e.start_failure().exit_code());
                        record.finished_at = Some(now_rfc3339());
                        record.monitor_pid = None;
                        record.pid = None;
                        self.store.update_container(&record)?;
                    }
                    return Err(e.into());
                }
            };
            self.emit_current(
                info,
                ContainerAction::Die {
                    exit_code: code,
                    ran: started.elapsed(),
                },
            );
            if info.options.auto_remove {
                break code;
            }
            OverlayMount::unmount(&dir.join("rootfs"))?;
            let stopped_by_user = stop_marker.exists();
            match restarts.next(code, started.elapsed(), stopped_by_user) {
                Some(delay) => {
                    record.status = ContainerStatus::Restarting;
                    record.exit_code = Some(code);
                    record.finished_at = Some(now_rfc3339());
                    record.pid = None;
                    record.restart_count += 1;
                    self.store.update_container(&record)?;
                    std::thread::sleep(delay);
                    // A stop during the back-off ends it.
                    if stop_marker.exists() {
                        break code;
                    }
                }
                None => break code,
            }
        };
        // An `--rm` container is removed by `monitor_runs`, once its
        // network is torn down.
        if !info.options.auto_remove || dir.join(RESTARTING).exists() {
            if info.options.auto_remove {
                OverlayMount::unmount(&dir.join("rootfs"))?;
            }
            record.status = ContainerStatus::Exited;
            record.exit_code = Some(code);
            record.finished_at = Some(now_rfc3339());
            record.pid = None;
            record.monitor_pid = None;
            self.store.update_container(&record)?;
        }
        Ok(code)
    }

    /// Copies the container's output to its log and to the attached
    /// clients until its runtime process exits; returns how it exited.
    fn watch(
        &mut self,
        runtime_pid: u32,
        outputs: Vec<(Stream, File)>,
        dir: &Path,
        info: &ContainerInfo,
        hub: &Arc<Hub>,
    ) -> Result<RuntimeExit, EngineError> {
        let log = JsonFileWriter::open(
            &dir.join(LOG_FILE),
            LogOptions::from_log_opts(&info.options.log_opts)?,
        )?;
        let log = Arc::new(Mutex::new(log));
        let copiers: Vec<_> = outputs
            .into_iter()
            .map(|(stream, mut source)| {
                let log = Arc::clone(&log);
                let hub = Arc::clone(hub);
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        // A terminal reads EIO once its other side is closed.
                        let n = match source.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let kind = match stream {
                            Stream::Stdout => attach::kind::STDOUT,
                            Stream::Stderr => attach::kind::STDERR,
                        };
                        hub.broadcast(kind, &buf[..n]);
                        if let Ok(mut l) = log.lock() {
                            let _ = l.write(stream, &buf[..n], Utc::now());
                        }
                    }
                })
            })
            .collect();
        let exit = reap(runtime_pid);
        for c in copiers {
            let _ = c.join();
        }
        if let Ok(mut l) = log.lock() {
            let _ = l.finish();
        }
        Ok(exit)
    }
}

/// Reaps children (orphans of the container's tree are ours as subreaper)
/// until the runtime process exits; returns how it did.
fn reap(runtime_pid: u32) -> RuntimeExit {
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(Some((p, status))) if p.as_raw_nonzero().get() as u32 == runtime_pid => {
                return berth_runtime::backend::exit_of(status);
            }
            Ok(_) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            // No children left: it was reaped elsewhere.
            Err(_) => return RuntimeExit::Code(255),
        }
    }
}
