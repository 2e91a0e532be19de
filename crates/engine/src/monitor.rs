//! The per-container monitor (`berth monitor ID`): mounts the rootfs,
//! writes the OCI bundle, starts the container with the runtime, reaps it
//! as its subreaper, logs its output, records its exit, cleans up.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use berth_runtime::backend::{ContainerStdio, RuntimeBackend};
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

use crate::config::ImageConfig;
use crate::container::{now_rfc3339, ContainerInfo, MountOption};
use crate::{Engine, EngineError};

/// Where a container's output is logged, inside its directory.
pub(crate) const LOG_FILE: &str = "container.log";
/// Written by `stop` and `rm` before they signal: the restart policy does
/// not bring back a container a user stopped.
pub(crate) const STOPPED_BY_USER: &str = "stopped-by-user";

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

impl Engine {
    /// Runs a container to its end; returns its exit code. With `attach`
    /// the output also goes to this process's stdout/stderr; without, the
    /// first line on stdout tells the starting CLI whether it started.
    pub fn run_monitor(&mut self, id: &str, attach: bool) -> Result<i32, EngineError> {
        let info = self.container(id)?;
        let dir = self.container_dir(&info.record.id);
        let policy: RestartPolicy = info.options.restart.parse()?;
        let mut restarts = RestartManager::new(policy);
        let stop_marker = dir.join(STOPPED_BY_USER);
        let _ = std::fs::remove_file(&stop_marker);
        let mut record = info.record.clone();
        record.restart_count = 0;
        let mut first = true;
        let code = loop {
            let (pid, outputs) = match self.start_in_monitor(&info, &dir) {
                Ok(v) => v,
                Err(e) => {
                    let _ = OverlayMount::unmount(&dir.join("rootfs"));
                    if first && !attach {
                        println!("error: {e}");
                    }
                    if info.options.auto_remove {
                        let _ = self.destroy_container(&info.record.id, &info.options.runtime);
                    } else if !first {
                        record.status = "exited".into();
                        record.monitor_pid = None;
                        record.pid = None;
                        self.store.update_container(&record)?;
                    }
                    return Err(e);
                }
            };
            let started = std::time::Instant::now();
            record.status = "running".into();
            record.pid = Some(pid);
            record.monitor_pid = Some(std::process::id());
            record.started_at = Some(now_rfc3339());
            record.finished_at = None;
            record.exit_code = None;
            self.store.update_container(&record)?;
            if first && !attach {
                println!("started");
                let _ = std::io::stdout().flush();
            }
            first = false;
            let code = self.watch(pid, outputs, &dir, &info, attach)?;
            if info.options.auto_remove {
                break code;
            }
            let _ = self
                .backend(&info.options.runtime)?
                .delete(&record.id, true);
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
        if info.options.auto_remove {
            // Deletes the runtime's container and unmounts as well.
            self.destroy_container(&record.id, &info.options.runtime)?;
        } else {
            record.status = "exited".into();
            record.exit_code = Some(code);
            record.finished_at = Some(now_rfc3339());
            record.pid = None;
            record.monitor_pid = None;
            self.store.update_container(&record)?;
        }
        Ok(code)
    }

    /// Copies the container's output to its log (and the terminal when
    /// attached) until it exits; returns its exit code.
    fn watch(
        &mut self,
        pid: u32,
        outputs: Vec<(Stream, std::io::PipeReader)>,
        dir: &Path,
        info: &ContainerInfo,
        attach: bool,
    ) -> Result<i32, EngineError> {
        let log = JsonFileWriter::open(
            &dir.join(LOG_FILE),
            LogOptions::from_log_opts(&info.options.log_opts)?,
        )?;
        let log = Arc::new(Mutex::new(log));
        let copiers: Vec<_> = outputs
            .into_iter()
            .map(|(stream, mut pipe)| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        let n = match pipe.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if attach {
                            let _ = match stream {
                                Stream::Stdout => std::io::stdout().write_all(&buf[..n]),
                                Stream::Stderr => std::io::stderr().write_all(&buf[..n]),
                            };
                        }
                        if let Ok(mut l) = log.lock() {
                            let _ = l.write(stream, &buf[..n], Utc::now());
                        }
                    }
                })
            })
            .collect();
        let code = reap(pid);
        for c in copiers {
            let _ = c.join();
        }
        if let Ok(mut l) = log.lock() {
            let _ = l.finish();
        }
        Ok(code)
    }

    /// Mounts, writes the bundle and starts the container; returns its pid
    /// and the read ends of its stdout and stderr.
    fn start_in_monitor(
        &mut self,
        info: &ContainerInfo,
        dir: &Path,
    ) -> Result<(u32, Vec<(Stream, std::io::PipeReader)>), EngineError> {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| EngineError::io("become the container's subreaper", e.into()))?;
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
        OverlayMount {
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            target: rootfs.clone(),
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
            tty: false,
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
            in_user_namespace: false,
        };
        let spec = build_spec(&run)?;
        berth_runtime::bundle::write_bundle(dir, &spec)?;

        let (out_r, out_w) = std::io::pipe().map_err(|e| EngineError::io("create a pipe", e))?;
        let (err_r, err_w) = std::io::pipe().map_err(|e| EngineError::io("create a pipe", e))?;
        let stdin = if info.options.interactive {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::null()
        };
        let stdio = ContainerStdio {
            stdin,
            stdout: out_w.into(),
            stderr: err_w.into(),
        };
        let pid = self
            .backend(&info.options.runtime)?
            .run_detached(&info.record.id, dir, stdio)?;
        Ok((pid, vec![(Stream::Stdout, out_r), (Stream::Stderr, err_r)]))
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

/// Reaps children (the runtime's leftovers are ours as subreaper) until the
/// container's init exits; returns docker's exit code for it.
fn reap(pid: u32) -> i32 {
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(Some((p, status))) if p.as_raw_nonzero().get() as u32 == pid => {
                return match (status.exit_status(), status.terminating_signal()) {
                    (Some(code), _) => code,
                    (None, Some(sig)) => 128 + sig,
                    _ => 255,
                };
            }
            Ok(_) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            // No children left: the init was reaped elsewhere.
            Err(_) => return 255,
        }
    }
}
