//! The per-container monitor (`berth __monitor ROOT ID`): mounts the rootfs,
//! writes the OCI bundle, starts the container with the runtime, reaps it
//! as its subreaper, logs its output and serves it to attached clients,
//! records its exit, applies the restart policy, cleans up.
//!
//! The runtime runs in the foreground (`runc run`, not `--detach`): it
//! waits for the container, passes signals on, removes the container as
//! it exits, and exits with its code, which saves a `runc delete` per run.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use berth_runtime::backend::{ContainerStdio, Runc, RuntimeBackend, RuntimeExit};
use berth_runtime::cgroups::{parse_mountinfo, CgroupMode};
use berth_runtime::logfile::{JsonFileWriter, LogOptions, Stream};
use berth_runtime::overlay::OverlayMount;
use berth_runtime::resources::Resources;
use berth_runtime::restart::{RestartManager, RestartPolicy};
use berth_runtime::seccomp::{KernelVersion, SeccompMode};
use berth_runtime::spec::{
    build_spec, daemon_environment, MountSpec, NetworkMode, RunConfig, Ulimit,
};
use chrono::Utc;
use serde_json::Value;

use crate::attach;
use crate::config::ImageConfig;
use crate::container::{now_rfc3339, ContainerInfo, MountOption};
use crate::hub::Hub;
use crate::{Engine, EngineError};

/// Where a container's output is logged, inside its directory.
pub(crate) const LOG_FILE: &str = "container.log";
/// Written by `stop` and `rm` before they signal: the restart policy does
/// not bring back a container a user stopped.
pub(crate) const STOPPED_BY_USER: &str = "stopped-by-user";
/// Written by `restart` before it stops a `--rm` container: that exit does
/// not remove it (docker's restart of an auto-removed container).
pub(crate) const RESTARTING: &str = "restarting";

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// docker's rule for what runs: `--entrypoint` replaces the image's (and
/// drops its CMD), arguments after the image replace CMD.
pub(crate) fn command_line(
    info: &ContainerInfo,
    image: &ImageConfig,
) -> Result<Vec<String>, EngineError> {
    let cfg = image.container_config();
    let (entrypoint, default_cmd) = match &info.options.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (
            strings(cfg.and_then(|c| c.get("Entrypoint"))),
            strings(cfg.and_then(|c| c.get("Cmd"))),
        ),
    };
    let cmd = if info.options.cmd.is_empty() {
        default_cmd
    } else {
        info.options.cmd.clone()
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(EngineError::InvalidContainer("no command specified".into()));
    }
    Ok(args)
}

/// Image env, then `-e` (a later `KEY=` wins; a bare `KEY` takes this
/// process's value, as docker does).
pub(crate) fn environment(info: &ContainerInfo, image: &ImageConfig) -> Vec<String> {
    let mut env: Vec<String> = strings(image.container_config().and_then(|c| c.get("Env")));
    for e in &info.options.env {
        let entry = match e.split_once('=') {
            Some(_) => e.clone(),
            None => match std::env::var(e) {
                Ok(v) => format!("{e}={v}"),
                Err(_) => continue,
            },
        };
        let key = entry.split('=').next().unwrap_or_default().to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(entry);
    }
    env
}

/// How the monitor was started.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonitorOptions {
    /// The starting client sends the container's input, and its end of
    /// input is the container's (`run -i`, `start -ai`).
    pub stdin_once: bool,
    /// The starting client's terminal size (rows, columns) for `-t`.
    pub tty_size: Option<(u16, u16)>,
}

/// The container's side of its standard streams for one run, and the
/// monitor's side: where its output is read and its input written.
struct ContainerIo {
    stdio: ContainerStdio,
    outputs: Vec<(Stream, File)>,
    stdin: Option<File>,
    tty: Option<OwnedFd>,
}

impl ContainerIo {
    /// Pipes; or, for `-t`, a terminal whose other side the runtime
    /// takes as its own and mirrors into the container's terminal.
    fn new(info: &ContainerInfo, size: Option<(u16, u16)>) -> Result<ContainerIo, EngineError> {
        let io_err = |what: &str, e: std::io::Error| EngineError::io(what.to_string(), e);
        if info.options.tty {
            use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
            let sys = |what: &str, e: rustix::io::Errno| io_err(what, e.into());
            let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
                .map_err(|e| sys("open a terminal", e))?;
            grantpt(&master).map_err(|e| sys("open a terminal", e))?;
            unlockpt(&master).map_err(|e| sys("open a terminal", e))?;
            let name = ptsname(&master, Vec::new()).map_err(|e| sys("open a terminal", e))?;
            let (rows, cols) = size.unwrap_or((24, 80));
            let winsize = rustix::termios::Winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            rustix::termios::tcsetwinsize(&master, winsize)
                .map_err(|e| sys("size the terminal", e))?;
            let slave = rustix::fs::open(
                name.as_c_str(),
                rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| sys("open a terminal", e))?;
            let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| io_err("open a terminal", e));
            let stdio = ContainerStdio {
                stdin: dup(&slave)?.into(),
                stdout: dup(&slave)?.into(),
                stderr: slave.into(),
            };
            return Ok(ContainerIo {
                stdio,
                outputs: vec![(Stream::Stdout, File::from(dup(&master)?))],
                stdin: Some(File::from(dup(&master)?)),
                tty: Some(master),
            });
        }
        let (out_r, out_w) = std::io::pipe().map_err(|e| io_err("create a pipe", e))?;
        let (err_r, err_w) = std::io::pipe().map_err(|e| io_err("create a pipe", e))?;
        let (stdin, writer) = if info.options.interactive {
            let (r, w) = std::io::pipe().map_err(|e| io_err("create a pipe", e))?;
            (Stdio::from(r), Some(File::from(OwnedFd::from(w))))
        } else {
            (Stdio::null(), None)
        };
        Ok(ContainerIo {
            stdio: ContainerStdio {
                stdin,
                stdout: out_w.into(),
                stderr: err_w.into(),
            },
            outputs: vec![
                (Stream::Stdout, File::from(OwnedFd::from(out_r))),
                (Stream::Stderr, File::from(OwnedFd::from(err_r))),
            ],
            stdin: writer,
            tty: None,
        })
    }
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
        let _ = std::fs::remove_file(dir.join(crate::attach::SOCKET));
        match result {
            Ok(code) => {
                hub.broadcast(attach::kind::EXIT, &code.to_be_bytes());
                Ok(code)
            }
            Err(e) => {
                hub.broadcast(attach::kind::FAILED, e.to_string().as_bytes());
                Err(e)
            }
        }
    }

    fn monitor_runs(
        &mut self,
        info: &ContainerInfo,
        dir: &Path,
        backend: &Runc,
        hub: &Arc<Hub>,
        opts: MonitorOptions,
    ) -> Result<i32, EngineError> {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| EngineError::io("become the container's subreaper", e.into()))?;
        hub.listen(dir)?;
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
                .prepare_bundle(info, dir, opts.tty_size)
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
                        let _ = self.destroy_container(&info.record.id, None);
                    } else if !first {
                        record.status = "exited".into();
                        record.monitor_pid = None;
                        record.pid = None;
                        self.store.update_container(&record)?;
                    }
                    return Err(e);
                }
            };
            hub.set_input(stdin, tty, running.runtime_pid);
            let started = std::time::Instant::now();
            record.status = "running".into();
            record.pid = Some(running.pid);
            record.monitor_pid = Some(std::process::id());
            record.started_at = Some(now_rfc3339());
            record.finished_at = None;
            record.exit_code = None;
            self.store.update_container(&record)?;
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
                    let _ = OverlayMount::unmount(&dir.join("rootfs"));
                    if info.options.auto_remove {
                        let _ = self.destroy_container(&info.record.id, None);
                    } else {
                        record.status = "exited".into();
                        record.exit_code = Some(start_failure_code(&e.to_string()));
                        record.finished_at = Some(now_rfc3339());
                        record.monitor_pid = None;
                        record.pid = None;
                        self.store.update_container(&record)?;
                    }
                    return Err(e.into());
                }
            };
            if info.options.auto_remove {
                break code;
            }
            OverlayMount::unmount(&dir.join("rootfs"))?;
            let stopped_by_user = stop_marker.exists();
            match restarts.next(code, started.elapsed(), stopped_by_user) {
                Some(delay) => {
                    record.status = "restarting".into();
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
        if info.options.auto_remove && !dir.join(RESTARTING).exists() {
            // Unmounts as well; the runtime removed its part already.
            self.destroy_container(&record.id, None)?;
        } else {
            if info.options.auto_remove {
                OverlayMount::unmount(&dir.join("rootfs"))?;
            }
            record.status = "exited".into();
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

    /// Mounts the container's rootfs and writes its OCI bundle.
    pub(crate) fn prepare_bundle(
        &mut self,
        info: &ContainerInfo,
        dir: &Path,
        tty_size: Option<(u16, u16)>,
    ) -> Result<(), EngineError> {
        let image_id = &info.record.image_id;
        let image = ImageConfig::parse(&self.store.content().read(image_id)?)?;
        let layers_dir = self.store.layers_dir();
        let mut lower: Vec<_> = self
            .store
            .overlay_lower_links(image_id)?
            .iter()
            .map(|l| layers_dir.join(l))
            .collect();
        lower.reverse();
        let rootfs = dir.join("rootfs");
        if info.options.auto_remove {
            // A volatile overlay leaves this mark, and overlay refuses to
            // mount the layer again while it exists; the layer of a
            // restarted --rm container is kept anyway.
            let _ = std::fs::remove_dir_all(dir.join("work/work/incompat"));
        }
        OverlayMount {
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            target: rootfs.clone(),
            volatile: info.options.auto_remove,
        }
        .mount()?;

        let cfg = image.container_config();
        let hostname = info
            .options
            .hostname
            .clone()
            .unwrap_or_else(|| info.record.id[..12].to_string());
        let user_spec = info
            .options
            .user
            .clone()
            .or_else(|| {
                cfg.and_then(|c| c.get("User"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let user = berth_runtime::user::resolve_user(&rootfs, &user_spec, &info.options.group_add)?;
        let cwd = info
            .options
            .workdir
            .clone()
            .or_else(|| {
                cfg.and_then(|c| c.get("WorkingDir"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into());
        let mut env = daemon_environment(&hostname, false, &environment(info, &image));
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={}", user.home));
        }

        let hosts = dir.join("hosts");
        let hostname_file = dir.join("hostname");
        let resolv = dir.join("resolv.conf");
        let write = |p: &Path, text: &str| {
            std::fs::write(p, text)
                .map_err(|e| EngineError::io(format!("write {}", p.display()), e))
        };
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        if info.options.network == "host" {
            write(
                &hosts,
                &std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
            )?;
            write(&resolv, &host_resolv)?;
        } else {
            write(&hosts, &format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t{hostname}\n"))?;
            // No network: only the search and options lines make sense.
            let kept: String = host_resolv
                .lines()
                .filter(|l| !l.trim_start().starts_with("nameserver"))
                .map(|l| format!("{l}\n"))
                .collect();
            write(&resolv, &kept)?;
        }
        write(&hostname_file, &format!("{hostname}\n"))?;

        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let cgroup_mode = parse_mountinfo(&mountinfo)
            .map(|m| m.mode)
            .unwrap_or(CgroupMode::Legacy);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|k| KernelVersion::parse(k.trim()));
        let mut seccomp = SeccompMode::Default;
        let mut no_new_privileges = false;
        for opt in &info.options.security_opt {
            match opt.split_once(['=', ':']) {
                Some(("seccomp", v)) => seccomp = SeccompMode::from_security_opt(v)?,
                _ if opt == "no-new-privileges"
                    || opt == "no-new-privileges=true"
                    || opt == "no-new-privileges:true" =>
                {
                    no_new_privileges = true
                }
                _ => {
                    return Err(EngineError::InvalidContainer(format!(
                        "invalid --security-opt: {opt:?}"
                    )))
                }
            }
        }
        let run = RunConfig {
            args: command_line(info, &image)?,
            env,
            cwd,
            user,
            hostname,
            tty: info.options.tty,
            console_size: tty_size,
            rootfs,
            readonly_rootfs: info.options.read_only,
            privileged: info.options.privileged,
            cap_add: info.options.cap_add.clone(),
            cap_drop: info.options.cap_drop.clone(),
            seccomp,
            no_new_privileges,
            mounts: info
                .options
                .mounts
                .iter()
                .map(|m| match m {
                    MountOption::Bind {
                        source,
                        target,
                        readonly,
                    } => MountSpec::Bind {
                        source: source.clone(),
                        destination: target.clone(),
                        readonly: *readonly,
                    },
                    MountOption::Tmpfs {
                        target,
                        size,
                        mode,
                        options,
                    } => MountSpec::Tmpfs {
                        destination: target.clone(),
                        size: *size,
                        mode: *mode,
                        options: options.clone(),
                    },
                })
                .collect(),
            network: if info.options.network == "host" {
                NetworkMode::Host
            } else {
                NetworkMode::None
            },
            resources: Resources {
                memory: info.options.memory,
                memory_swap: info.options.memory_swap,
                cpu_shares: info.options.cpu_shares,
                nano_cpus: info.options.nano_cpus,
                pids_limit: info.options.pids_limit,
                ..Resources::default()
            }
            .normalized()?,
            ulimits: info
                .options
                .ulimits
                .iter()
                .map(|u| u.parse())
                .collect::<Result<Vec<Ulimit>, _>>()?,
            host_hard_limits: hard_limits(),
            cgroups_path: format!("/berth/{}", info.record.id),
            cgroup_mode,
            oom_score_adj: 0,
            shm_size: None,
            hosts_file: Some(hosts),
            hostname_file: Some(hostname_file),
            resolv_conf: Some(resolv),
            init: if info.options.init {
                Some(crate::container::init_binary()?)
            } else {
                None
            },
            kernel,
            image_arch: image.str("architecture").unwrap_or_default().to_string(),
            in_user_namespace: false,
        };
        let spec = build_spec(&run)?;
        berth_runtime::bundle::write_bundle(dir, &spec)?;
        Ok(())
    }
}

/// This process's hard limits by `--ulimit` name: a container cannot be
/// given more (raising a hard limit needs CAP_SYS_RESOURCE).
fn hard_limits() -> BTreeMap<String, u64> {
    use rustix::process::{getrlimit, Resource};
    let names = [
        ("core", Resource::Core),
        ("cpu", Resource::Cpu),
        ("data", Resource::Data),
        ("fsize", Resource::Fsize),
        ("locks", Resource::Locks),
        ("memlock", Resource::Memlock),
        ("msgqueue", Resource::Msgqueue),
        ("nice", Resource::Nice),
        ("nofile", Resource::Nofile),
        ("nproc", Resource::Nproc),
        ("rss", Resource::Rss),
        ("rtprio", Resource::Rtprio),
        ("rttime", Resource::Rttime),
        ("sigpending", Resource::Sigpending),
        ("stack", Resource::Stack),
        ("as", Resource::As),
    ];
    names
        .into_iter()
        .map(|(n, r)| (n.to_string(), getrlimit(r).maximum.unwrap_or(u64::MAX)))
        .collect()
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

/// docker's exit code for a process that could not be executed: 127 when
/// it is not found, 126 when it cannot be run.
pub(crate) fn start_failure_code(message: &str) -> i32 {
    if message.contains("no such file or directory")
        || message.contains("executable file not found")
    {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        125
    }
}
