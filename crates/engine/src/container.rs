//! Containers: create, start (through a monitor process), stop, kill,
//! remove, wait, list, logs.
//!
//! A started container is owned by a monitor: berth re-executed as
//! `berth __monitor ROOT ID` (as podman has conmon). The monitor mounts the rootfs,
//! starts the container with the runtime, becomes its subreaper, copies its
//! output to the json-file log (and to the terminal for a foreground run),
//! records the exit code and cleans up. The CLI can exit or be killed at
//! any point; the monitor stays until the container ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_runtime::backend::{Runc, RuntimeBackend};
use berth_runtime::overlay::OverlayMount;
use berth_store::{ContainerRecord, Digest, StoreError};
use chrono::Utc;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::attach::AttachSession;
use crate::{Engine, EngineError};

/// What a container was created with, kept as JSON in the store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerOptions {
    /// The image as the user named it (docker's `Config.Image`).
    pub image: String,
    /// Arguments after the image name.
    pub cmd: Vec<String>,
    /// `--entrypoint`; `Some("")` clears the image's.
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub group_add: Vec<String>,
    pub hostname: Option<String>,
    /// `none` or `host`.
    pub network: String,
    pub auto_remove: bool,
    pub interactive: bool,
    /// `-t`: the container's stdio is a terminal.
    #[serde(default)]
    pub tty: bool,
    pub labels: BTreeMap<String, String>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub read_only: bool,
    pub security_opt: Vec<String>,
    /// `--runtime`: a runc-compatible binary name or path.
    pub runtime: String,
    /// `-v`, `--mount` and `--tmpfs`, in the order given.
    #[serde(default)]
    pub mounts: Vec<MountOption>,
    /// `--init`: a small init (tini) as pid 1 that reaps zombies and
    /// forwards signals.
    #[serde(default)]
    pub init: bool,
    /// `--stop-signal` (name or number); the image's, else SIGTERM.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `--stop-timeout` seconds; 10 when unset.
    #[serde(default)]
    pub stop_timeout: Option<u64>,
    /// `--log-opt max-size=10m,max-file=3`.
    #[serde(default)]
    pub log_opts: BTreeMap<String, String>,
    /// `--ulimit nofile=1024:2048`.
    #[serde(default)]
    pub ulimits: Vec<String>,
    /// `--restart no|on-failure[:N]|always|unless-stopped`.
    #[serde(default)]
    pub restart: String,
    /// `--health-*` and `--no-healthcheck` (docker's `Config.Healthcheck`
    /// as given); `None` leaves the image's.
    #[serde(default)]
    pub healthcheck: Option<crate::health::HealthConfig>,
}

/// A container whose monitor owns it: running (or paused), or between two
/// runs of its restart policy.
pub(crate) fn is_active(status: &str) -> bool {
    matches!(status, "running" | "restarting" | "paused")
}

/// The static init `--init` runs as pid 1: docker's own `docker-init` when
/// docker is installed, else Debian's tini-static (package `tini`).
pub(crate) fn init_binary() -> Result<PathBuf, EngineError> {
    let candidates = [
        "/usr/bin/docker-init",
        "/usr/bin/tini-static",
        "/usr/libexec/docker/docker-init",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            EngineError::InvalidContainer(
                "--init needs a static init binary: apt-get install tini".into(),
            )
        })
}

/// A mount asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountOption {
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
        mode: Option<u32>,
        options: Vec<String>,
    },
}

fn mount_error(spec: &str, why: &str) -> EngineError {
    EngineError::InvalidContainer(format!("invalid mount {spec:?}: {why}"))
}

fn absolute_target(spec: &str, target: &str) -> Result<String, EngineError> {
    if !target.starts_with('/') {
        return Err(mount_error(spec, "the container path must be absolute"));
    }
    if target == "/" {
        return Err(mount_error(spec, "the container path cannot be '/'"));
    }
    Ok(target.to_string())
}

impl MountOption {
    /// `-v /host:/ctr[:ro|rw]`. docker creates a missing host directory
    /// for `-v`; named volumes come with the volumes issue.
    pub fn parse_volume(spec: &str) -> Result<MountOption, EngineError> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [s, t] => (*s, *t, ""),
            [s, t, m] => (*s, *t, *m),
            _ => {
                return Err(mount_error(
                    spec,
                    "expected /host/path:/container/path[:ro]",
                ))
            }
        };
        if !source.starts_with('/') {
            return Err(mount_error(
                spec,
                "named volumes are not supported yet: give an absolute host path",
            ));
        }
        let readonly = match mode {
            "" | "rw" => false,
            "ro" => true,
            other => return Err(mount_error(spec, &format!("unknown mode {other:?}"))),
        };
        let target = absolute_target(spec, target)?;
        std::fs::create_dir_all(source)
            .map_err(|e| EngineError::io(format!("create bind source {source}"), e))?;
        Ok(MountOption::Bind {
            source: PathBuf::from(source),
            target,
            readonly,
        })
    }

    /// `--tmpfs /ctr[:opt,opt]`.
    pub fn parse_tmpfs(spec: &str) -> Result<MountOption, EngineError> {
        let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
        let target = absolute_target(spec, target)?;
        let options = opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        Ok(MountOption::Tmpfs {
            target,
            size: None,
            mode: None,
            options,
        })
    }

    /// `--mount type=bind|tmpfs,source=...,target=...,readonly,tmpfs-size=...,tmpfs-mode=...`.
    pub fn parse_mount(spec: &str) -> Result<MountOption, EngineError> {
        let mut kind = "volume";
        let (mut source, mut target, mut readonly, mut size, mut mode) =
            (None, None, false, None, None);
        for field in spec.split(',') {
            let (k, v) = field.split_once('=').unwrap_or((field, ""));
            match k {
                "type" => kind = v,
                "source" | "src" => source = Some(v.to_string()),
                "target" | "destination" | "dst" => target = Some(v.to_string()),
                "readonly" | "ro" => readonly = !matches!(v, "false" | "0"),
                "tmpfs-size" => {
                    size = Some(parse_size("tmpfs-size", v)?.max(0) as u64);
                }
                "tmpfs-mode" => {
                    mode = Some(
                        u32::from_str_radix(v, 8)
                            .map_err(|_| mount_error(spec, "tmpfs-mode must be octal"))?,
                    );
                }
                "bind-propagation" | "consistency" => {}
                other => return Err(mount_error(spec, &format!("unexpected key '{other}'"))),
            }
        }
        let target = absolute_target(
            spec,
            &target.ok_or_else(|| mount_error(spec, "target is required"))?,
        )?;
        match kind {
            "bind" => {
                let source = source.ok_or_else(|| mount_error(spec, "source is required"))?;
                if !Path::new(&source).exists() {
                    return Err(mount_error(
                        spec,
                        &format!("bind source path does not exist: {source}"),
                    ));
                }
                Ok(MountOption::Bind {
                    source: PathBuf::from(source),
                    target,
                    readonly,
                })
            }
            "tmpfs" => Ok(MountOption::Tmpfs {
                target,
                size,
                mode,
                options: Vec::new(),
            }),
            other => Err(mount_error(
                spec,
                &format!("mount type {other:?} is not supported yet"),
            )),
        }
    }
}

/// How `start_container` starts a container.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartOptions {
    /// Stay connected for the container's output.
    pub attach: bool,
    /// The attached client sends the container's input, and its end of
    /// input closes the container's (docker's StdinOnce).
    pub stdin: bool,
    /// The client's terminal size, rows and columns, for `-t`.
    pub tty_size: Option<(u16, u16)>,
}

/// A container as `ps` and `inspect` see it.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub record: ContainerRecord,
    pub options: ContainerOptions,
}

pub(crate) fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// docker-style names: an adjective and a scientist-ish noun.
fn random_name() -> String {
    const ADJ: [&str; 16] = [
        "brave", "calm", "eager", "fond", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nifty", "proud", "quirky", "sharp", "tender", "witty",
    ];
    const NOUN: [&str; 16] = [
        "babbage", "curie", "darwin", "euler", "fermi", "galois", "hopper", "kepler", "lovelace",
        "noether", "pascal", "ritchie", "shannon", "tesla", "turing", "wozniak",
    ];
    let mut r = rand::thread_rng();
    format!(
        "{}_{}{}",
        ADJ[r.gen_range(0..16)],
        NOUN[r.gen_range(0..16)],
        r.gen_range(0..100)
    )
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
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

    pub(crate) fn backend(&self, runtime: &str) -> Result<Runc, EngineError> {
        let name = if runtime.is_empty() { "runc" } else { runtime };
        Ok(Runc::new(name, &self.store.root().join("runc"))?)
    }

    /// `create`: records the container and prepares its directories.
    pub fn create_container(
        &mut self,
        name: Option<&str>,
        opts: ContainerOptions,
    ) -> Result<String, EngineError> {
        let image = self.resolve_image(&opts.image)?;
        if !matches!(opts.network.as_str(), "none" | "host") {
            return Err(EngineError::InvalidContainer(format!(
                "network {:?} is not supported yet: use --network none or --network host",
                opts.network
            )));
        }
        let policy: berth_runtime::restart::RestartPolicy = opts.restart.parse()?;
        if opts.auto_remove && policy != berth_runtime::restart::RestartPolicy::No {
            return Err(EngineError::InvalidContainer(
                "Conflicting options: --restart and --rm".into(),
            ));
        }
        let name = match name {
            Some(n) if !valid_name(n.trim_start_matches('/')) => {
                return Err(EngineError::InvalidContainer(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )))
            }
            Some(n) => n.trim_start_matches('/').to_string(),
            None => random_name(),
        };
        let id: String = {
            let mut r = rand::thread_rng();
            (0..32).map(|_| format!("{:02x}", r.gen::<u8>())).collect()
        };
        let dir = self.container_dir(&id);
        for sub in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| EngineError::io(format!("create {}", dir.display()), e))?;
        }
        let record = ContainerRecord {
            id: id.clone(),
            name,
            image_id: image,
            config: serde_json::to_string(&opts).expect("options serialize"),
            status: "created".into(),
            created_at: now_rfc3339(),
            started_at: None,
            finished_at: None,
            pid: None,
            monitor_pid: None,
            exit_code: None,
            restart_count: 0,
        };
        if let Err(e) = self.store.insert_container(&record) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        Ok(id)
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
        let options = serde_json::from_str(&record.config).map_err(|e| {
            EngineError::InvalidContainer(format!("stored config of {}: {e}", record.name))
        })?;
        Ok(ContainerInfo { record, options })
    }

    pub fn list_containers(&mut self) -> Result<Vec<ContainerInfo>, EngineError> {
        let records = self.store.list_containers()?;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let r = self.reconcile(r)?;
            let options = serde_json::from_str(&r.config).unwrap_or_default();
            out.push(ContainerInfo { record: r, options });
        }
        Ok(out)
    }

    /// A container recorded as running whose monitor is gone (SIGKILLed,
    /// or the machine rebooted) is shown as it really is: still running if
    /// the runtime says so, otherwise exited with an unknown code.
    fn reconcile(&mut self, mut r: ContainerRecord) -> Result<ContainerRecord, EngineError> {
        if !is_active(&r.status) || process_alive(r.monitor_pid) {
            return Ok(r);
        }
        let runtime = serde_json::from_str::<ContainerOptions>(&r.config)
            .map(|o| o.runtime)
            .unwrap_or_default();
        let backend = self.backend(&runtime)?;
        match backend.state(&r.id)? {
            Some(s) if s.status == "running" || s.status == "paused" => {
                crate::health::mark_unchecked(&self.container_dir(&r.id));
                Ok(r)
            }
            _ => {
                let _ = backend.delete(&r.id, true);
                let _ = OverlayMount::unmount(&self.container_dir(&r.id).join("rootfs"));
                r.status = "exited".into();
                // The code was the monitor's to record; 255 says it is lost.
                r.exit_code = Some(r.exit_code.unwrap_or(255));
                r.finished_at = Some(r.finished_at.unwrap_or_else(now_rfc3339));
                r.monitor_pid = None;
                self.store.update_container(&r)?;
                Ok(r)
            }
        }
    }

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
        if is_active(&info.record.status) {
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
        if info.record.status != "running" {
            return Err(EngineError::InvalidContainer(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        AttachSession::connect(&self.container_dir(&info.record.id))
    }

    /// `kill -s SIGNAL`.
    pub fn kill_container(&mut self, s: &str, signal: i32) -> Result<String, EngineError> {
        let info = self.container(s)?;
        if info.record.status != "running" {
            return Err(EngineError::NotRunning(info.record.id.clone()));
        }
        self.backend(&info.options.runtime)?
            .kill(&info.record.id, signal, false)?;
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
        if is_active(&info.record.status) {
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
        if !is_active(&info.record.status) {
            return Ok(id);
        }
        let timeout = timeout
            .or(info.options.stop_timeout.map(Duration::from_secs))
            .unwrap_or(Duration::from_secs(10));
        let image_signal =
            crate::config::ImageConfig::parse(&self.store.content().read(&info.record.image_id)?)
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
        let _ = backend.kill(&id, signal, false);
        if self.wait_container(&id, Some(timeout))?.is_none()
            && self.store.container(&id)?.is_some()
        {
            let _ = backend.kill(&id, 9, true);
            self.wait_container(&id, None)?;
        }
        Ok(id)
    }

    /// `rm [-f]`: a running container needs `force` (it is killed first).
    pub fn remove_container(&mut self, s: &str, force: bool) -> Result<String, EngineError> {
        let info = self.container(s)?;
        let id = info.record.id.clone();
        if is_active(&info.record.status) {
            if !force {
                return Err(EngineError::InvalidContainer(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    info.record.name
                )));
            }
            self.mark_stopped_by_user(&id);
            self.thaw_if_paused(&info)?;
            let backend = self.backend(&info.options.runtime)?;
            let _ = backend.kill(&id, 9, true);
            self.wait_container(&id, None)?;
        }
        self.destroy_container(&id, Some(&info.options.runtime))?;
        Ok(id)
    }

    /// Tells the monitor not to apply the restart policy to this exit.
    fn mark_stopped_by_user(&self, id: &str) {
        let _ = std::fs::write(
            self.container_dir(id).join(crate::monitor::STOPPED_BY_USER),
            b"",
        );
    }

    /// Removes everything a container has: runtime state, mount, files, row.
    /// Removes a container that does not run: its runtime state (when
    /// `runtime` may still have some), rootfs mount, directory and record.
    pub(crate) fn destroy_container(
        &mut self,
        id: &str,
        runtime: Option<&str>,
    ) -> Result<(), EngineError> {
        if let Some(runtime) = runtime {
            let _ = self.backend(runtime)?.delete(id, true);
        }
        let dir = self.container_dir(id);
        OverlayMount::unmount(&dir.join("rootfs"))?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io(format!("remove {}", dir.display()), e)),
        }
        self.store.delete_container(id)?;
        Ok(())
    }

    /// Containers that use an image, for `rmi`.
    pub(crate) fn containers_using(
        &self,
        image: &Digest,
    ) -> Result<Vec<ContainerRecord>, StoreError> {
        Ok(self
            .store
            .list_containers()?
            .into_iter()
            .filter(|c| &c.image_id == image)
            .collect())
    }
}

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

/// `--memory 512m` and friends, with docker's units and errors.
pub fn parse_size(flag: &str, value: &str) -> Result<i64, EngineError> {
    Ok(berth_runtime::units::parse_size(flag, value)?)
}

/// `--cpus 1.5` as nano-CPUs.
pub fn parse_cpus(value: &str) -> Result<i64, EngineError> {
    Ok(berth_runtime::units::parse_cpus(value)?)
}

/// A signal by number or name (`9`, `KILL`, `SIGKILL`, `RTMIN+3`), as
/// docker's signal table knows them.
pub fn parse_signal(s: &str) -> Result<i32, EngineError> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    const SIGNALS: [(&str, i32); 35] = [
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("ILL", 4),
        ("TRAP", 5),
        ("ABRT", 6),
        ("IOT", 6),
        ("BUS", 7),
        ("FPE", 8),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("STKFLT", 16),
        ("CHLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("VTALRM", 26),
        ("PROF", 27),
        ("WINCH", 28),
        ("IO", 29),
        ("POLL", 29),
        ("PWR", 30),
        ("SYS", 31),
        ("RTMIN", 34),
        ("RTMAX", 64),
    ];
    let realtime = |base: &str, sign: i32| {
        let n: i32 = name.strip_prefix(base)?.parse().ok()?;
        let signal = if sign > 0 { 34 + n } else { 64 - n };
        (1..=15).contains(&n).then_some(signal)
    };
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .or_else(|| realtime("RTMIN+", 1))
        .or_else(|| realtime("RTMAX-", -1))
        .ok_or_else(|| EngineError::InvalidContainer(format!("invalid signal: {s}")))
}

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
            .join(crate::monitor::LOG_FILE);
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

impl Engine {
    /// What the container runs (or ran): its image's entrypoint and command
    /// with the container's overrides, as `ps` shows it.
    pub fn container_command(&self, info: &ContainerInfo) -> Vec<String> {
        self.store
            .content()
            .read(&info.record.image_id)
            .ok()
            .and_then(|raw| crate::config::ImageConfig::parse(&raw).ok())
            .and_then(|image| crate::monitor::command_line(info, &image).ok())
            .unwrap_or_default()
    }

    /// `inspect CONTAINER`: docker's JSON shape for the fields berth has.
    pub fn inspect_container(&mut self, s: &str) -> Result<serde_json::Value, EngineError> {
        use serde_json::json;
        let info = self.container(s)?;
        let r = &info.record;
        let o = &info.options;
        let image = crate::config::ImageConfig::parse(&self.store.content().read(&r.image_id)?)?;
        let args = crate::monitor::command_line(&info, &image).unwrap_or_default();
        let dir = self.container_dir(&r.id);
        let layers_dir = self.store.layers_dir();
        let mut lower: Vec<String> = self
            .store
            .overlay_lower_links(&r.image_id)?
            .iter()
            .map(|l| layers_dir.join(l).display().to_string())
            .collect();
        lower.reverse();
        let running = matches!(r.status.as_str(), "running" | "paused");
        let mounts: Vec<serde_json::Value> = o
            .mounts
            .iter()
            .map(|m| match m {
                MountOption::Bind { source, target, readonly } => json!({
                    "Type": "bind", "Source": source, "Destination": target, "Mode": if *readonly { "ro" } else { "" },
                    "RW": !readonly, "Propagation": "rprivate",
                }),
                MountOption::Tmpfs { target, .. } => json!({
                    "Type": "tmpfs", "Source": "", "Destination": target, "Mode": "", "RW": true, "Propagation": "",
                }),
            })
            .collect();
        let binds: Vec<String> = o
            .mounts
            .iter()
            .filter_map(|m| match m {
                MountOption::Bind {
                    source,
                    target,
                    readonly,
                } => Some(format!(
                    "{}:{target}{}",
                    source.display(),
                    if *readonly { ":ro" } else { "" }
                )),
                MountOption::Tmpfs { .. } => None,
            })
            .collect();
        let cfg = image.container_config();
        let entrypoint = match &o.entrypoint {
            Some(e) if e.is_empty() => serde_json::Value::Null,
            Some(e) => json!([e]),
            None => cfg
                .and_then(|c| c.get("Entrypoint"))
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        };
        let cmd = if o.cmd.is_empty() {
            if o.entrypoint.is_some() {
                serde_json::Value::Null
            } else {
                cfg.and_then(|c| c.get("Cmd"))
                    .cloned()
                    .unwrap_or(serde_json::Value::Null)
            }
        } else {
            json!(o.cmd)
        };
        let zero = "0001-01-01T00:00:00Z";
        let mut inspected = json!({
            "Id": r.id,
            "Created": r.created_at,
            "Path": args.first().cloned().unwrap_or_default(),
            "Args": args.get(1..).unwrap_or_default(),
            "State": {
                "Status": r.status,
                "Running": running,
                "Paused": r.status == "paused",
                "Restarting": r.status == "restarting",
                "OOMKilled": false,
                "Dead": false,
                "Pid": if running { r.pid.unwrap_or(0) } else { 0 },
                "ExitCode": r.exit_code.unwrap_or(0),
                "Error": "",
                "StartedAt": r.started_at.clone().unwrap_or_else(|| zero.into()),
                "FinishedAt": r.finished_at.clone().unwrap_or_else(|| zero.into()),
            },
            "Image": r.image_id.to_string(),
            "ResolvConfPath": dir.join("resolv.conf"),
            "HostnamePath": dir.join("hostname"),
            "HostsPath": dir.join("hosts"),
            "LogPath": dir.join(crate::monitor::LOG_FILE),
            "Name": format!("/{}", r.name),
            "RestartCount": r.restart_count,
            "Driver": "overlay",
            "Platform": "linux",
            "HostConfig": {
                "Binds": if binds.is_empty() { serde_json::Value::Null } else { json!(binds) },
                "NetworkMode": o.network,
                "AutoRemove": o.auto_remove,
                "Privileged": o.privileged,
                "ReadonlyRootfs": o.read_only,
                "CapAdd": if o.cap_add.is_empty() { serde_json::Value::Null } else { json!(o.cap_add) },
                "CapDrop": if o.cap_drop.is_empty() { serde_json::Value::Null } else { json!(o.cap_drop) },
                "SecurityOpt": if o.security_opt.is_empty() { serde_json::Value::Null } else { json!(o.security_opt) },
                "Memory": o.memory.unwrap_or(0),
                "MemorySwap": o.memory_swap.unwrap_or(0),
                "NanoCpus": o.nano_cpus.unwrap_or(0),
                "CpuShares": o.cpu_shares.unwrap_or(0),
                "PidsLimit": o.pids_limit,
                "Runtime": if o.runtime.is_empty() { "runc" } else { o.runtime.as_str() },
                "RestartPolicy": { "Name": if o.restart.is_empty() { "no" } else { o.restart.split(':').next().unwrap_or("no") }, "MaximumRetryCount": o.restart.split_once(':').and_then(|(_, n)| n.parse::<u64>().ok()).unwrap_or(0) },
            },
            "GraphDriver": {
                "Data": {
                    "LowerDir": lower.join(":"),
                    "MergedDir": dir.join("rootfs"),
                    "UpperDir": dir.join("upper"),
                    "WorkDir": dir.join("work"),
                },
                "Name": "overlay",
            },
            "Mounts": mounts,
            "Config": {
                "Hostname": o.hostname.clone().unwrap_or_else(|| r.id[..12].to_string()),
                "Domainname": "",
                "User": o.user.clone().or_else(|| cfg.and_then(|c| c.get("User")).and_then(|u| u.as_str()).map(str::to_string)).unwrap_or_default(),
                "AttachStdin": o.interactive,
                "AttachStdout": true,
                "AttachStderr": true,
                "Tty": o.tty,
                "OpenStdin": o.interactive,
                "StdinOnce": o.interactive,
                "Env": crate::monitor::environment(&info, &image),
                "Cmd": cmd,
                "Image": o.image,
                "Volumes": serde_json::Value::Null,
                "WorkingDir": o.workdir.clone().or_else(|| cfg.and_then(|c| c.get("WorkingDir")).and_then(|w| w.as_str()).map(str::to_string)).unwrap_or_default(),
                "Entrypoint": entrypoint,
                "OnBuild": serde_json::Value::Null,
                "Labels": o.labels,
            },
        });
        self.inspect_health(&mut inspected, &info, &image);
        Ok(inspected)
    }
}

/// `exec` options.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub detach: bool,
    pub interactive: bool,
    pub privileged: bool,
    /// `-t`: the process gets a terminal mirroring the caller's.
    pub tty: bool,
    /// The caller's terminal size (rows, columns), which the process's
    /// terminal has from the start.
    pub tty_size: Option<(u16, u16)>,
}

impl Engine {
    /// `exec`: runs a command in a running container; returns its exit code
    /// (0 once started with `detach`).
    pub fn exec_container(&mut self, s: &str, opts: &ExecOptions) -> Result<i32, EngineError> {
        use berth_runtime::backend::{ContainerStdio, ExecConsole, ExecProcess};
        let info = self.container(s)?;
        if info.record.status == "paused" {
            return Err(EngineError::InvalidContainer(format!(
                "container {} is paused, unpause the container before exec",
                info.record.id
            )));
        }
        if info.record.status != "running" {
            return Err(EngineError::InvalidContainer(format!(
                "container {} is not running",
                info.record.id
            )));
        }
        if opts.cmd.is_empty() {
            return Err(EngineError::InvalidContainer("exec needs a command".into()));
        }
        let user = match &opts.user {
            Some(u) => {
                let rootfs = self.container_dir(&info.record.id).join("rootfs");
                let r = berth_runtime::user::resolve_user(&rootfs, u, &[])?;
                Some((r.uid, r.gid, r.additional_gids))
            }
            None => None,
        };
        let process = ExecProcess {
            args: opts.cmd.clone(),
            env: opts.env.clone(),
            cwd: opts.workdir.clone(),
            user,
            all_capabilities: opts.privileged,
            detach: opts.detach,
            tty: opts.tty,
            console: opts
                .tty_size
                .filter(|_| opts.tty && !opts.detach)
                .map(|(rows, cols)| ExecConsole {
                    bundle: self.container_dir(&info.record.id),
                    rows,
                    cols,
                }),
        };
        let quiet = || {
            if opts.detach {
                Stdio::null()
            } else {
                Stdio::inherit()
            }
        };
        let stdin = if opts.interactive && !opts.detach {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let stdio = ContainerStdio {
            stdin,
            stdout: quiet(),
            stderr: quiet(),
        };
        Ok(self
            .backend(&info.options.runtime)?
            .exec(&info.record.id, &process, stdio)?)
    }
}

impl Engine {
    /// `rename OLD NEW`.
    pub fn rename_container(&mut self, s: &str, new_name: &str) -> Result<(), EngineError> {
        let name = new_name.trim_start_matches('/');
        if !valid_name(name) {
            return Err(EngineError::InvalidContainer(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let mut info = self.container(s)?;
        if self
            .store
            .find_containers(name)?
            .iter()
            .any(|c| c.name == name)
        {
            return Err(StoreError::NameInUse(name.to_string()).into());
        }
        info.record.name = name.to_string();
        self.store.update_container(&info.record)?;
        Ok(())
    }

    /// `container prune`: removes every container that is not running;
    /// returns their IDs.
    pub fn prune_containers(&mut self) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        for c in self.list_containers()? {
            if !is_active(&c.record.status) {
                self.destroy_container(&c.record.id, Some(&c.options.runtime))?;
                removed.push(c.record.id);
            }
        }
        Ok(removed)
    }

    /// The host pids of a running container's processes, from its cgroup.
    pub fn container_pids(&mut self, s: &str) -> Result<Vec<u32>, EngineError> {
        let info = self.container(s)?;
        if info.record.status != "running" {
            return Err(EngineError::NotRunning(info.record.id));
        }
        let id = &info.record.id;
        let candidates = [
            PathBuf::from(format!("/sys/fs/cgroup/pids/berth/{id}/cgroup.procs")),
            PathBuf::from(format!("/sys/fs/cgroup/memory/berth/{id}/cgroup.procs")),
            PathBuf::from(format!("/sys/fs/cgroup/berth/{id}/cgroup.procs")),
        ];
        for path in candidates {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect());
            }
        }
        Err(EngineError::InvalidContainer(format!(
            "cannot find the cgroup of container {id}"
        )))
    }
}

impl Engine {
    /// `pause`: freezes every process of the container (cgroup freezer).
    pub fn pause_container(&mut self, s: &str) -> Result<String, EngineError> {
        let mut info = self.container(s)?;
        match info.record.status.as_str() {
            "running" => {}
            "paused" => {
                return Err(EngineError::InvalidContainer(format!(
                    "container {} is already paused",
                    info.record.id
                )))
            }
            _ => return Err(EngineError::NotRunning(info.record.id)),
        }
        self.backend(&info.options.runtime)?
            .pause(&info.record.id)?;
        info.record.status = "paused".into();
        self.store.update_container(&info.record)?;
        Ok(info.record.id)
    }

    /// `unpause`.
    pub fn unpause_container(&mut self, s: &str) -> Result<String, EngineError> {
        let mut info = self.container(s)?;
        if info.record.status != "paused" {
            return Err(EngineError::InvalidContainer(format!(
                "container {} is not paused",
                info.record.id
            )));
        }
        self.backend(&info.options.runtime)?
            .resume(&info.record.id)?;
        info.record.status = "running".into();
        self.store.update_container(&info.record)?;
        Ok(info.record.id)
    }

    /// Thaws a paused container before it is signalled: frozen processes
    /// cannot act on a signal, not even SIGKILL on cgroup v1.
    fn thaw_if_paused(&mut self, info: &ContainerInfo) -> Result<(), EngineError> {
        if info.record.status == "paused" {
            self.unpause_container(&info.record.id)?;
        }
        Ok(())
    }
}
