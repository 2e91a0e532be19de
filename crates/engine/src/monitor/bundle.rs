//! The container's rootfs and OCI bundle, made before each start.

use berth_runtime::cgroups::{parse_mountinfo, CgroupMode};
use berth_runtime::overlay::OverlayMount;
use berth_runtime::resources::Resources;
use berth_runtime::seccomp::{KernelVersion, SeccompMode};
use berth_runtime::spec::{
    build_spec, daemon_environment, MountSpec, NetworkMode, RunConfig, Ulimit,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

use std::path::PathBuf;

use crate::container::{command_line, environment, ContainerInfo, MountOption};
use crate::image::config::ImageConfig;
use crate::{Engine, EngineError};

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
            EngineError::Invalid("--init needs a static init binary: apt-get install tini".into())
        })
}

impl Engine {
    /// Mounts the container's rootfs and writes its OCI bundle.
    pub(crate) fn prepare_bundle(
        &mut self,
        info: &ContainerInfo,
        dir: &Path,
        tty_size: Option<(u16, u16)>,
        net: &super::network::ContainerNetwork,
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
        if let (Some(resolv_text), Some(hosts_text)) = (&net.resolv_conf, &net.hosts) {
            write(&hosts, hosts_text)?;
            write(&resolv, resolv_text)?;
        } else if info.options.network == "host" {
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
                    return Err(EngineError::Invalid(format!(
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
                net.mode.clone()
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
                Some(init_binary()?)
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
