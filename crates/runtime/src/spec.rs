//! The OCI runtime spec (`config.json`) for `berth run`, with docker's
//! defaults: the same mounts, capabilities, masked paths, namespaces,
//! device rules, environment and option handling that `docker run` gives,
//! so programs see the same container whichever engine started them.
//!
//! The values were checked against the `config.json` dockerd writes;
//! where berth differs on purpose the item says so.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::runtime::{
    Linux, LinuxCapabilities, LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType,
    LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources, Mount, PosixRlimit,
    PosixRlimitBuilder, PosixRlimitType, Process, Root, Spec, User,
};

use crate::caps::{resolve_capabilities, to_oci};
use crate::cgroups::CgroupMode;
use crate::resources::Resources;
use crate::seccomp::{native_arch, seccomp_for, KernelVersion, SeccompMode};
use crate::units::format_tmpfs_size;
use crate::user::{ensure_home, ResolvedUser};
use crate::RuntimeError;

/// `PATH` for containers whose image sets none.
pub const DEFAULT_PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default `--shm-size`.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// Where `--init` puts the init binary, docker's path, so tools that look
/// for it (and `ps` output) match.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// Kernel interfaces that leak host information or allow host changes,
/// hidden (bind-mounted over with nothing) unless `--privileged`.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Kernel interfaces a container may read but not change.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Which network namespace the container gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// A private namespace with only loopback (`--network none`).
    #[default]
    None,
    Host,
    /// A namespace that already exists, at this path: the one the
    /// monitor made and wired to a bridge (`/proc/<pid>/fd/<n>`), or
    /// another container's (`--network container:NAME`).
    Join(PathBuf),
}

/// A volume or tmpfs the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// `-v /host:/ctr[:ro]` or `--mount type=bind`.
    Bind {
        source: PathBuf,
        destination: String,
        readonly: bool,
    },
    /// `--tmpfs /ctr[:opts]` or `--mount type=tmpfs`.
    Tmpfs {
        destination: String,
        /// `tmpfs-size`, bytes.
        size: Option<u64>,
        /// `tmpfs-mode`, permission bits.
        mode: Option<u32>,
        /// Raw `--tmpfs` options (`size=64m`, `exec`, `uid=1000`...).
        options: Vec<String>,
    },
}

/// One `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// The resources docker knows by name, and the kernel's constant for each.
const ULIMITS: [(&str, PosixRlimitType); 16] = [
    ("as", PosixRlimitType::RlimitAs),
    ("core", PosixRlimitType::RlimitCore),
    ("cpu", PosixRlimitType::RlimitCpu),
    ("data", PosixRlimitType::RlimitData),
    ("fsize", PosixRlimitType::RlimitFsize),
    ("locks", PosixRlimitType::RlimitLocks),
    ("memlock", PosixRlimitType::RlimitMemlock),
    ("msgqueue", PosixRlimitType::RlimitMsgqueue),
    ("nice", PosixRlimitType::RlimitNice),
    ("nofile", PosixRlimitType::RlimitNofile),
    ("nproc", PosixRlimitType::RlimitNproc),
    ("rss", PosixRlimitType::RlimitRss),
    ("rtprio", PosixRlimitType::RlimitRtprio),
    ("rttime", PosixRlimitType::RlimitRttime),
    ("sigpending", PosixRlimitType::RlimitSigpending),
    ("stack", PosixRlimitType::RlimitStack),
];

impl FromStr for Ulimit {
    type Err = RuntimeError;

    /// Parses docker's syntax; `-1` means unlimited.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| RuntimeError::invalid("--ulimit", reason);
        let (name, limits) = value
            .split_once('=')
            .ok_or_else(|| invalid(format!("invalid ulimit argument: {value}")))?;
        if !ULIMITS.iter().any(|(n, _)| *n == name) {
            return Err(invalid(format!("invalid ulimit type: {name}")));
        }
        let parts: Vec<&str> = limits.split(':').collect();
        if parts.len() > 2 {
            return Err(invalid(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            )));
        }
        let number = |text: &str| -> Result<u64, RuntimeError> {
            match text.parse::<i64>() {
                Ok(-1) => Ok(u64::MAX),
                Ok(n) if n >= 0 => Ok(n as u64),
                _ => Err(invalid(format!("invalid ulimit value {text:?} in {value}"))),
            }
        };
        let soft = number(parts[0])?;
        let hard = parts.get(1).map(|h| number(h)).transpose()?.unwrap_or(soft);
        if soft > hard {
            return Err(invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        Ok(Ulimit {
            name: name.to_string(),
            soft,
            hard,
        })
    }
}

/// Everything `build_spec` needs to know about the container to run.
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    /// The command, entrypoint already applied.
    pub args: Vec<String>,
    /// Image env then `-e`, in that order (later entries win).
    pub env: Vec<String>,
    /// Working directory; empty means `/`.
    pub cwd: String,
    pub user: ResolvedUser,
    pub hostname: String,
    pub tty: bool,
    /// The terminal's size (rows, columns) from its first moment: runc
    /// sizes the container's console before the process starts, where a
    /// later SIGWINCH could lose a race with the process reading it.
    pub console_size: Option<(u16, u16)>,
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub seccomp: SeccompMode,
    pub no_new_privileges: bool,
    pub mounts: Vec<MountSpec>,
    pub network: NetworkMode,
    pub resources: Resources,
    pub ulimits: Vec<Ulimit>,
    /// The engine's own hard limits by ulimit name (`nofile`...); a
    /// `--ulimit` above one is refused since the runtime could not grant it.
    pub host_hard_limits: BTreeMap<String, u64>,
    pub cgroups_path: String,
    /// The host's cgroup interface: docker gives containers a private
    /// cgroup namespace on v2 only.
    pub cgroup_mode: CgroupMode,
    pub oom_score_adj: i32,
    /// `--shm-size`; `None` is docker's 64 MiB.
    pub shm_size: Option<u64>,
    /// Files the engine generated, bind-mounted at `/etc/hosts`,
    /// `/etc/hostname` and `/etc/resolv.conf`.
    pub hosts_file: Option<PathBuf>,
    pub hostname_file: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
    /// `--init`: the host path of the init binary.
    pub init: Option<PathBuf>,
    /// The running kernel, for seccomp `minKernel` rules; `None` assumes a
    /// recent one.
    pub kernel: Option<KernelVersion>,
    /// The image's `architecture` (`amd64`, `386`...): the default seccomp
    /// filter admits 32-bit ABIs only for 32-bit images.
    pub image_arch: String,
    /// The engine itself runs in a user namespace (rootless), where the
    /// ping sysctl cannot be set.
    pub in_user_namespace: bool,
}

/// Builds the OCI spec for `c`.
pub fn build_spec(c: &RunConfig) -> Result<Spec, RuntimeError> {
    if c.args.is_empty() {
        return Err(RuntimeError::invalid("command", "no command specified"));
    }
    let cwd = if c.cwd.is_empty() {
        "/"
    } else {
        c.cwd.as_str()
    };
    if !cwd.starts_with('/') {
        return Err(RuntimeError::invalid(
            "--workdir",
            format!("the working directory '{cwd}' is invalid, it needs to be an absolute path"),
        ));
    }
    if !(-1000..=1000).contains(&c.oom_score_adj) {
        return Err(RuntimeError::invalid(
            "--oom-score-adj",
            format!(
                "invalid value {}, range for oom score adj is [-1000, 1000]",
                c.oom_score_adj
            ),
        ));
    }
    let caps = resolve_capabilities(&c.cap_add, &c.cap_drop, c.privileged)?;
    let resources = c.resources.normalized()?;

    let mut args = c.args.clone();
    if c.init.is_some() {
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    let mut env = daemon_environment(&c.hostname, c.tty, &c.env);
    ensure_home(&mut env, &c.user.home);

    let mut user = User::default();
    user.set_uid(c.user.uid)
        .set_gid(c.user.gid)
        .set_additional_gids(Some(if c.user.additional_gids.is_empty() {
            vec![c.user.gid]
        } else {
            c.user.additional_gids.clone()
        }));

    let oci_caps = to_oci(&caps)?
        .into_iter()
        .collect::<std::collections::HashSet<_>>();
    let mut capabilities = LinuxCapabilities::default();
    // Like execve for a non-root user, only the bounding set survives.
    let root = c.user.uid == 0;
    capabilities
        .set_bounding(Some(oci_caps.clone()))
        .set_effective(root.then(|| oci_caps.clone()))
        .set_permitted(root.then_some(oci_caps))
        .set_inheritable(None)
        .set_ambient(None);

    let rlimits = rlimits(&c.ulimits, &c.host_hard_limits)?;
    let mut process = Process::default();
    process
        .set_terminal(c.tty.then_some(true))
        .set_console_size(
            c.tty
                .then_some(c.console_size)
                .flatten()
                .and_then(|(rows, cols)| {
                    // Both fields set: building cannot fail.
                    oci_spec::runtime::BoxBuilder::default()
                        .height(u64::from(rows))
                        .width(u64::from(cols))
                        .build()
                        .ok()
                }),
        )
        .set_user(user)
        .set_args(Some(args))
        .set_env(Some(env))
        .set_cwd(PathBuf::from(cwd))
        .set_capabilities(Some(capabilities))
        .set_rlimits((!rlimits.is_empty()).then_some(rlimits))
        .set_no_new_privileges(c.no_new_privileges.then_some(true))
        .set_apparmor_profile(None)
        .set_oom_score_adj(Some(c.oom_score_adj))
        .set_selinux_label(None)
        .set_io_priority(None)
        .set_scheduler(None)
        .set_exec_cpu_affinity(None);

    let seccomp = if c.privileged {
        None
    } else {
        seccomp_for(&c.seccomp, &caps, native_arch(), &c.image_arch, c.kernel)?
    };

    let mut linux = Linux::default();
    linux
        .set_uid_mappings(None)
        .set_gid_mappings(None)
        .set_sysctl(sysctls(c))
        .set_resources(Some(linux_resources(&resources, c.privileged)))
        .set_cgroups_path((!c.cgroups_path.is_empty()).then(|| PathBuf::from(&c.cgroups_path)))
        .set_namespaces(Some(namespaces(c)))
        .set_devices(Some(default_devices()))
        .set_seccomp(seccomp)
        .set_rootfs_propagation(None)
        .set_masked_paths((!c.privileged).then(|| MASKED_PATHS.map(String::from).to_vec()))
        .set_readonly_paths((!c.privileged).then(|| READONLY_PATHS.map(String::from).to_vec()))
        .set_mount_label(None)
        .set_intel_rdt(None)
        .set_personality(None);

    let mut root_fs = Root::default();
    root_fs
        .set_path(c.rootfs.clone())
        .set_readonly(c.readonly_rootfs.then_some(true));

    let mut spec = Spec::default();
    spec.set_version("1.0.2-dev".to_string())
        .set_root(Some(root_fs))
        .set_mounts(Some(mounts(c)?))
        .set_process(Some(process))
        .set_hostname((!c.hostname.is_empty()).then(|| c.hostname.clone()))
        .set_domainname(None)
        .set_hooks(None)
        .set_annotations(None)
        .set_linux(Some(linux));
    tracing::debug!(
        args = ?c.args,
        privileged = c.privileged,
        "built OCI spec"
    );
    Ok(spec)
}

/// Docker's process environment: `PATH`, `HOSTNAME`, `TERM` for a tty,
/// then the container's own variables replacing or extending those. An
/// entry without `=` removes the variable.
pub fn daemon_environment(hostname: &str, tty: bool, env: &[String]) -> Vec<String> {
    let mut out = vec![
        format!("PATH={DEFAULT_PATH_ENV}"),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        out.push("TERM=xterm".to_string());
    }
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    for entry in env {
        let name = key(entry);
        let existing = out.iter().position(|e| key(e) == name);
        match (entry.contains('='), existing) {
            (true, Some(i)) => out[i] = entry.clone(),
            (true, None) => out.push(entry.clone()),
            (false, Some(i)) => {
                out.remove(i);
            }
            (false, None) => {}
        }
    }
    out
}

fn rlimits(
    ulimits: &[Ulimit],
    host_hard_limits: &BTreeMap<String, u64>,
) -> Result<Vec<PosixRlimit>, RuntimeError> {
    ulimits
        .iter()
        .map(|u| {
            let typ = ULIMITS
                .iter()
                .find(|(n, _)| *n == u.name)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    RuntimeError::invalid("--ulimit", format!("invalid ulimit type: {}", u.name))
                })?;
            if u.soft > u.hard {
                return Err(RuntimeError::invalid(
                    "--ulimit",
                    format!(
                        "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                        u.soft, u.hard
                    ),
                ));
            }
            if let Some(&limit) = host_hard_limits.get(&u.name) {
                if u.hard > limit {
                    return Err(RuntimeError::UlimitAboveHardLimit {
                        name: u.name.clone(),
                        requested: u.hard,
                        limit,
                    });
                }
            }
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(u.soft)
                .hard(u.hard)
                .build()
                .map_err(|e| RuntimeError::invalid("--ulimit", e.to_string()))
        })
        .collect()
}

fn namespaces(c: &RunConfig) -> Vec<LinuxNamespace> {
    let mut kinds = vec![LinuxNamespaceType::Mount];
    let network_path = match &c.network {
        NetworkMode::Host => None,
        NetworkMode::None => Some(None),
        NetworkMode::Join(path) => Some(Some(path.clone())),
    };
    kinds.extend([
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
    ]);
    if c.cgroup_mode == CgroupMode::Unified {
        kinds.push(LinuxNamespaceType::Cgroup);
    }
    let mut namespaces: Vec<LinuxNamespace> = kinds
        .into_iter()
        .map(|typ| {
            let mut ns = LinuxNamespace::default();
            ns.set_typ(typ);
            ns
        })
        .collect();
    if let Some(path) = network_path {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(LinuxNamespaceType::Network);
        ns.set_path(path);
        namespaces.insert(1, ns);
    }
    namespaces
}

/// Docker's sysctls for a private network namespace: unprivileged ping and
/// low ports, since the default capabilities would allow both anyway.
fn sysctls(c: &RunConfig) -> Option<HashMap<String, String>> {
    if c.network == NetworkMode::Host {
        return None;
    }
    let mut map = HashMap::new();
    if !c.in_user_namespace {
        map.insert(
            "net.ipv4.ping_group_range".to_string(),
            "0 2147483647".to_string(),
        );
    }
    map.insert(
        "net.ipv4.ip_unprivileged_port_start".to_string(),
        "0".to_string(),
    );
    Some(map)
}

/// The character devices every container gets: (path, major, minor).
const DEFAULT_DEVICES: [(&str, i64, i64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Listed explicitly (runc would add them implicitly) so any runtime
/// creates the same nodes.
fn default_devices() -> Vec<LinuxDevice> {
    DEFAULT_DEVICES
        .iter()
        .map(|(path, major, minor)| {
            let mut d = LinuxDevice::default();
            d.set_path(PathBuf::from(path))
                .set_typ(LinuxDeviceType::C)
                .set_major(*major)
                .set_minor(*minor)
                .set_file_mode(Some(0o666))
                .set_uid(Some(0))
                .set_gid(Some(0));
            d
        })
        .collect()
}

fn device_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(allow)
        .set_typ(typ)
        .set_major(major)
        .set_minor(minor)
        .set_access(Some(access.to_string()));
    rule
}

/// Deny everything, then allow creating any device node (`mknod` is
/// harmless without access) and using the standard ones, including the
/// terminal devices: docker's rules plus those runc appends implicitly.
/// `--privileged` allows all devices.
fn device_rules(privileged: bool) -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    if privileged {
        return vec![device_rule(true, None, None, None, "rwm")];
    }
    let mut rules = vec![
        device_rule(false, None, None, None, "rwm"),
        device_rule(true, Some(C), Some(-1), Some(-1), "m"),
        device_rule(true, Some(B), Some(-1), Some(-1), "m"),
    ];
    for (_, major, minor) in DEFAULT_DEVICES {
        rules.push(device_rule(true, Some(C), Some(major), Some(minor), "rwm"));
    }
    rules.push(device_rule(true, Some(C), Some(5), Some(1), "rwm")); // /dev/console
    rules.push(device_rule(true, Some(C), Some(5), Some(2), "rwm")); // /dev/ptmx
    rules.push(device_rule(true, Some(C), Some(136), Some(-1), "rwm")); // /dev/pts/*
    rules
}

fn linux_resources(r: &Resources, privileged: bool) -> LinuxResources {
    let mut res = LinuxResources::default();
    res.set_devices(Some(device_rules(privileged)));
    if r.memory.is_some() || r.memory_swap.is_some() {
        let mut memory = LinuxMemory::default();
        memory.set_limit(r.memory).set_swap(r.memory_swap);
        res.set_memory(Some(memory));
    }
    let (quota, period) = r.cfs_quota_period();
    let shares = r.cpu_shares.filter(|s| *s > 0);
    if shares.is_some() || quota.is_some() || period.is_some() {
        let mut cpu = LinuxCpu::default();
        cpu.set_shares(shares).set_quota(quota).set_period(period);
        res.set_cpu(Some(cpu));
    }
    if let Some(limit) = r.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        res.set_pids(Some(pids));
    }
    res
}

fn mount(destination: &str, typ: &str, source: &Path, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination))
        .set_typ(Some(typ.to_string()))
        .set_source(Some(source.to_path_buf()))
        .set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

/// The kernel filesystems every container gets, in docker's order.
fn default_mounts(shm_size: u64) -> Vec<Mount> {
    let shm = format!("size={shm_size}");
    vec![
        mount(
            "/proc",
            "proc",
            Path::new("proc"),
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev",
            "tmpfs",
            Path::new("tmpfs"),
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            Path::new("devpts"),
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            Path::new("sysfs"),
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            Path::new("cgroup"),
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            Path::new("mqueue"),
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            Path::new("shm"),
            &["nosuid", "noexec", "nodev", "mode=1777", &shm],
        ),
    ]
}

/// `filepath.Clean` for absolute container paths.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn destination(raw: &str) -> Result<String, RuntimeError> {
    if !raw.starts_with('/') {
        return Err(RuntimeError::invalid(
            "mount destination",
            format!("'{raw}' must be an absolute path"),
        ));
    }
    let cleaned = clean(raw);
    if cleaned == "/" {
        return Err(RuntimeError::invalid(
            "mount destination",
            "destination can't be '/'",
        ));
    }
    Ok(cleaned)
}

/// How a mount option interacts with others: options in the same group
/// override each other, the last one winning (docker's MergeTmpfsOptions).
fn option_group(option: &str) -> Option<&'static str> {
    Some(match option {
        "ro" | "rw" => "ro",
        "suid" | "nosuid" => "suid",
        "dev" | "nodev" => "dev",
        "exec" | "noexec" => "exec",
        "sync" | "async" => "sync",
        "dirsync" => "dirsync",
        "mand" | "nomand" => "mand",
        "atime" | "noatime" => "atime",
        "diratime" | "nodiratime" => "diratime",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
        | "runbindable" => "propagation",
        _ => return None,
    })
}

/// Keys a tmpfs `key=value` option may have.
const TMPFS_DATA_KEYS: [&str; 7] = [
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// Deduplicates tmpfs options keeping the last of each kind, in order.
fn merge_tmpfs_options(options: &[String]) -> Result<Vec<String>, RuntimeError> {
    let mut seen: Vec<&str> = Vec::new();
    let mut merged: Vec<String> = Vec::new();
    for option in options.iter().rev() {
        if option == "defaults" {
            continue;
        }
        let key = match option_group(option) {
            Some(group) => group,
            None => match option.split_once('=') {
                Some((k, _)) if TMPFS_DATA_KEYS.contains(&k) => k,
                _ => {
                    return Err(RuntimeError::invalid(
                        "tmpfs option",
                        format!("{option:?} is not a valid tmpfs option"),
                    ))
                }
            },
        };
        if !seen.contains(&key) {
            seen.push(key);
            merged.insert(0, option.clone());
        }
    }
    Ok(merged)
}

/// The user's mounts and the engine's network files, sorted so parents are
/// mounted before children.
fn user_mounts(c: &RunConfig) -> Result<Vec<(String, Mount)>, RuntimeError> {
    let mut out: Vec<(String, Mount)> = Vec::new();
    for spec in &c.mounts {
        let (dest, m) = match spec {
            MountSpec::Bind {
                source,
                destination: raw,
                readonly,
            } => {
                let dest = destination(raw)?;
                if !source.is_absolute() {
                    return Err(RuntimeError::invalid(
                        "mount source",
                        format!("'{}' must be an absolute path", source.display()),
                    ));
                }
                let mut opts = vec!["rbind"];
                if *readonly {
                    opts.push("ro");
                }
                opts.push("rprivate");
                let m = mount(&dest, "bind", source, &opts);
                (dest, m)
            }
            MountSpec::Tmpfs {
                destination: raw,
                size,
                mode,
                options,
            } => {
                let dest = destination(raw)?;
                let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
                    .map(String::from)
                    .to_vec();
                if let Some(mode) = mode {
                    opts.push(format!("mode={mode:o}"));
                }
                if let Some(size) = size {
                    opts.push(format!("size={}", format_tmpfs_size(*size)));
                }
                opts.extend(options.iter().cloned());
                let merged = merge_tmpfs_options(&opts)?;
                let refs: Vec<&str> = merged.iter().map(String::as_str).collect();
                let m = mount(&dest, "tmpfs", Path::new("tmpfs"), &refs);
                (dest, m)
            }
        };
        if out.iter().any(|(d, _)| *d == dest) {
            return Err(RuntimeError::invalid(
                "mount destination",
                format!("duplicate mount point: {dest}"),
            ));
        }
        out.push((dest, m));
    }
    let network_files = [
        ("/etc/resolv.conf", &c.resolv_conf),
        ("/etc/hostname", &c.hostname_file),
        ("/etc/hosts", &c.hosts_file),
    ];
    for (dest, source) in network_files {
        let Some(source) = source else { continue };
        if out.iter().any(|(d, _)| d == dest) {
            continue; // the user's own file wins, as in docker
        }
        // Writable like docker's, unless the whole rootfs is read-only.
        let mut opts = vec!["rbind"];
        if c.readonly_rootfs {
            opts.push("ro");
        }
        opts.push("rprivate");
        out.push((dest.to_string(), mount(dest, "bind", source, &opts)));
    }
    out.sort_by_key(|(dest, _)| dest.matches('/').count());
    Ok(out)
}

fn mounts(c: &RunConfig) -> Result<Vec<Mount>, RuntimeError> {
    let user = user_mounts(c)?;
    let user_dests: Vec<&str> = user.iter().map(|(d, _)| d.as_str()).collect();
    let user_dev = user_dests.contains(&"/dev");
    let mut mounts: Vec<Mount> = default_mounts(c.shm_size.unwrap_or(DEFAULT_SHM_SIZE))
        .into_iter()
        .filter(|m| {
            let dest = m.destination().to_string_lossy();
            let overridden = user_dests.contains(&dest.as_ref());
            let under_user_dev = user_dev && dest.starts_with("/dev/");
            !overridden && !under_user_dev
        })
        .collect();
    if let Some(init) = &c.init {
        mounts.push(mount(INIT_PATH, "bind", init, &["bind", "ro"]));
    }
    for m in mounts.iter_mut() {
        let dest = m.destination().to_string_lossy().into_owned();
        let options = m.options_mut().get_or_insert_with(Vec::new);
        if c.readonly_rootfs
            && !matches!(
                dest.as_str(),
                "/proc" | "/dev/pts" | "/dev/shm" | "/dev/mqueue" | "/dev"
            )
            && !options.iter().any(|o| o == "ro")
        {
            options.push("ro".to_string());
        }
        if c.privileged && (dest == "/sys" || m.typ().as_deref() == Some("cgroup")) {
            m.options_mut()
                .get_or_insert_with(Vec::new)
                .retain(|o| o != "ro");
        }
    }
    mounts.extend(user.into_iter().map(|(_, m)| m));
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::capability_mask;
    use oci_spec::runtime::Capability;
    use serde_json::{json, Value};

    fn base() -> RunConfig {
        RunConfig {
            args: vec!["sleep".into(), "60".into()],
            hostname: "42a49426cf4b".into(),
            rootfs: PathBuf::from("/var/lib/berth/rootfs"),
            cgroups_path: "/berth/42a49426cf4b".into(),
            cgroup_mode: CgroupMode::Hybrid,
            user: ResolvedUser {
                additional_gids: vec![0],
                home: "/root".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn json_of(c: &RunConfig) -> Value {
        serde_json::to_value(build_spec(c).unwrap()).unwrap()
    }

    fn caps_mask(v: &Value, set: &str) -> Option<u64> {
        let list = v["process"]["capabilities"][set].as_array()?;
        let names: Vec<String> = list
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        Some(capability_mask(&names))
    }

    #[test]
    fn default_spec_matches_docker() {
        let v = json_of(&base());
        assert_eq!(v["ociVersion"], "1.0.2-dev");
        assert_eq!(v["hostname"], "42a49426cf4b");
        assert_eq!(v["root"], json!({"path": "/var/lib/berth/rootfs"}));
        let p = &v["process"];
        assert_eq!(p["args"], json!(["sleep", "60"]));
        assert_eq!(p["cwd"], "/");
        assert_eq!(
            p["env"],
            json!([
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOSTNAME=42a49426cf4b",
                "HOME=/root"
            ])
        );
        assert_eq!(
            p["user"],
            json!({"uid": 0, "gid": 0, "additionalGids": [0]})
        );
        assert_eq!(p["oomScoreAdj"], 0);
        assert!(p.get("terminal").is_none());
        assert!(
            p.get("rlimits").is_none(),
            "docker sets no rlimits by default"
        );
        assert!(p.get("noNewPrivileges").is_none());
        assert!(p.get("apparmorProfile").is_none());
        for set in ["bounding", "effective", "permitted"] {
            assert_eq!(caps_mask(&v, set), Some(0xa80425fb), "{set}");
        }
        assert!(p["capabilities"].get("inheritable").is_none());
        assert!(p["capabilities"].get("ambient").is_none());

        let l = &v["linux"];
        assert_eq!(l["cgroupsPath"], "/berth/42a49426cf4b");
        assert_eq!(
            l["namespaces"],
            json!([{"type": "mount"}, {"type": "network"}, {"type": "uts"}, {"type": "pid"}, {"type": "ipc"}])
        );
        assert_eq!(l["maskedPaths"], json!(MASKED_PATHS));
        assert_eq!(l["readonlyPaths"], json!(READONLY_PATHS));
        assert_eq!(
            l["sysctl"],
            json!({"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"})
        );
        assert_eq!(l["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(l.get("uidMappings").is_none());
        assert!(l.get("rootfsPropagation").is_none());
    }

    #[test]
    fn default_mounts_match_docker() {
        let v = json_of(&base());
        assert_eq!(
            v["mounts"],
            json!([
                {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}
            ])
        );
    }

    #[test]
    fn devices_and_device_rules() {
        let v = json_of(&base());
        let rules = v["linux"]["resources"]["devices"].as_array().unwrap();
        assert_eq!(rules[0], json!({"allow": false, "access": "rwm"}));
        assert_eq!(
            rules[1],
            json!({"allow": true, "type": "c", "major": -1, "minor": -1, "access": "m"})
        );
        assert_eq!(
            rules[2],
            json!({"allow": true, "type": "b", "major": -1, "minor": -1, "access": "m"})
        );
        let allowed: Vec<(i64, i64)> = rules[3..]
            .iter()
            .map(|r| {
                assert_eq!(r["access"], "rwm");
                assert_eq!(r["type"], "c");
                (r["major"].as_i64().unwrap(), r["minor"].as_i64().unwrap())
            })
            .collect();
        // null zero full random urandom tty console ptmx pts/*
        assert_eq!(
            allowed,
            [
                (1, 3),
                (1, 5),
                (1, 7),
                (1, 8),
                (1, 9),
                (5, 0),
                (5, 1),
                (5, 2),
                (136, -1)
            ]
        );
        let devices = v["linux"]["devices"].as_array().unwrap();
        assert_eq!(devices.len(), 6);
        assert_eq!(
            devices[0],
            json!({"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0})
        );
    }

    #[test]
    fn tty_workdir_env_and_user() {
        let mut c = base();
        c.tty = true;
        c.cwd = "/tmp".into();
        c.env = vec![
            "FOO=bar".into(),
            "PATH=/custom".into(),
            "HOSTNAME".into(),
            "HOME=/x".into(),
        ];
        c.user = ResolvedUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![1000, 27],
            home: "/home/u".into(),
        };
        let v = json_of(&c);
        let p = &v["process"];
        assert_eq!(p["terminal"], true);
        assert!(p.get("consoleSize").is_none(), "no size known: none set");
        c.console_size = Some((33, 101));
        let p = json_of(&c)["process"].clone();
        assert_eq!(
            p["consoleSize"],
            serde_json::json!({"height": 33, "width": 101})
        );
        assert_eq!(p["cwd"], "/tmp");
        assert_eq!(
            p["env"],
            json!(["PATH=/custom", "TERM=xterm", "FOO=bar", "HOME=/x"])
        );
        assert_eq!(
            p["user"],
            json!({"uid": 1000, "gid": 1000, "additionalGids": [1000, 27]})
        );
        // Non-root processes keep only the bounding set, as after execve.
        assert_eq!(caps_mask(&v, "bounding"), Some(0xa80425fb));
        assert!(p["capabilities"].get("effective").is_none());
        assert!(p["capabilities"].get("permitted").is_none());
    }

    #[test]
    fn cap_add_drop_reach_spec_and_seccomp() {
        let mut c = base();
        c.cap_add = vec!["sys_admin".into()];
        c.cap_drop = vec!["NET_RAW".into()];
        let spec = build_spec(&c).unwrap();
        let bounding = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .clone()
            .unwrap();
        assert!(bounding.contains(&Capability::SysAdmin));
        assert!(!bounding.contains(&Capability::NetRaw));
        let seccomp = spec.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
        let unshare_allowed = seccomp
            .syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .any(|r| r.names().iter().any(|n| n == "unshare"));
        assert!(unshare_allowed);
        c.cap_add = vec!["NOT_A_CAP".into()];
        assert!(matches!(
            build_spec(&c),
            Err(RuntimeError::UnknownCapability(_))
        ));
    }

    #[test]
    fn privileged_opens_everything() {
        let mut c = base();
        c.privileged = true;
        c.seccomp = SeccompMode::Default;
        let v = json_of(&c);
        assert_eq!(
            caps_mask(&v, "effective"),
            Some(crate::caps::capability_mask(
                &crate::caps::grantable_capabilities()
            ))
        );
        let l = &v["linux"];
        assert!(l.get("maskedPaths").is_none());
        assert!(l.get("readonlyPaths").is_none());
        assert!(l.get("seccomp").is_none());
        assert_eq!(
            l["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
        let sys = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys")
            .unwrap();
        assert_eq!(sys["options"], json!(["nosuid", "noexec", "nodev"]));
        let cg = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys/fs/cgroup")
            .unwrap();
        assert_eq!(cg["options"], json!(["nosuid", "noexec", "nodev"]));
    }

    #[test]
    fn seccomp_unconfined_and_no_new_privileges() {
        let mut c = base();
        c.seccomp = SeccompMode::Unconfined;
        c.no_new_privileges = true;
        let v = json_of(&c);
        assert!(v["linux"].get("seccomp").is_none());
        assert_eq!(v["process"]["noNewPrivileges"], true);
    }

    #[test]
    fn host_network_and_cgroup_namespace() {
        let mut c = base();
        c.network = NetworkMode::Host;
        c.cgroup_mode = CgroupMode::Unified;
        let v = json_of(&c);
        assert_eq!(
            v["linux"]["namespaces"],
            json!([{"type": "mount"}, {"type": "uts"}, {"type": "pid"}, {"type": "ipc"}, {"type": "cgroup"}])
        );
        assert!(v["linux"].get("sysctl").is_none());
        let mut rootless = base();
        rootless.in_user_namespace = true;
        let v = json_of(&rootless);
        assert_eq!(
            v["linux"]["sysctl"],
            json!({"net.ipv4.ip_unprivileged_port_start": "0"})
        );
    }

    #[test]
    fn a_joined_network_namespace_has_its_path() {
        let mut c = base();
        c.network = NetworkMode::Join("/proc/42/fd/7".into());
        let v = json_of(&c);
        assert_eq!(
            v["linux"]["namespaces"][1],
            json!({"type": "network", "path": "/proc/42/fd/7"})
        );
        assert_eq!(
            v["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"],
            "0"
        );
    }

    #[test]
    fn resources_reach_the_spec() {
        let mut c = base();
        c.resources = Resources {
            memory: Some(64 << 20),
            nano_cpus: Some(1_500_000_000),
            pids_limit: Some(100),
            cpu_shares: Some(512),
            ..Default::default()
        };
        let v = json_of(&c);
        let r = &v["linux"]["resources"];
        assert_eq!(r["memory"], json!({"limit": 67108864, "swap": 134217728}));
        assert_eq!(
            r["cpu"],
            json!({"shares": 512, "quota": 150000, "period": 100000})
        );
        assert_eq!(r["pids"], json!({"limit": 100}));
        c.resources = Resources {
            memory: Some(1024),
            ..Default::default()
        };
        assert!(build_spec(&c).unwrap_err().to_string().contains("6MB"));
    }

    #[test]
    fn ulimits_are_checked_against_host_hard_limits() {
        let mut c = base();
        c.ulimits = vec![
            "nofile=1000:2000".parse().unwrap(),
            "core=-1".parse().unwrap(),
        ];
        c.host_hard_limits =
            BTreeMap::from([("nofile".to_string(), 4096), ("core".to_string(), u64::MAX)]);
        let v = json_of(&c);
        assert_eq!(
            v["process"]["rlimits"],
            json!([
                {"type": "RLIMIT_NOFILE", "hard": 2000, "soft": 1000},
                {"type": "RLIMIT_CORE", "hard": u64::MAX, "soft": u64::MAX}
            ])
        );
        c.ulimits = vec!["nofile=1024:8192".parse().unwrap()];
        let err = build_spec(&c).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ulimit nofile: 8192 exceeds the current hard limit 4096"
        );
    }

    #[test]
    fn ulimit_parsing_errors() {
        let e = |s: &str| s.parse::<Ulimit>().unwrap_err().to_string();
        assert_eq!(
            "nproc=5".parse::<Ulimit>().unwrap(),
            Ulimit {
                name: "nproc".into(),
                soft: 5,
                hard: 5
            }
        );
        assert_eq!(
            e("nofile"),
            "invalid --ulimit: invalid ulimit argument: nofile"
        );
        assert_eq!(e("bogus=1"), "invalid --ulimit: invalid ulimit type: bogus");
        assert_eq!(
            e("nofile=10:5"),
            "invalid --ulimit: ulimit soft limit must be less than or equal to hard limit: 10 > 5"
        );
        assert!(e("nofile=1:2:3").contains("too many limit value arguments"));
        assert!(e("nofile=x").contains("invalid ulimit value"));
        assert!(e("nofile=-2").contains("invalid ulimit value"));
    }

    #[test]
    fn user_mounts_are_sorted_and_shaped_like_docker() {
        let mut c = base();
        c.readonly_rootfs = true;
        c.shm_size = Some(1 << 20);
        c.mounts = vec![
            MountSpec::Tmpfs {
                destination: "/run".into(),
                size: None,
                mode: None,
                options: vec!["size=1m".into(), "mode=700".into()],
            },
            MountSpec::Bind {
                source: "/srv/data".into(),
                destination: "/data/".into(),
                readonly: true,
            },
            MountSpec::Bind {
                source: "/srv/cache".into(),
                destination: "/data/cache".into(),
                readonly: false,
            },
        ];
        c.resolv_conf = Some("/b/resolv.conf".into());
        c.hostname_file = Some("/b/hostname".into());
        c.hosts_file = Some("/b/hosts".into());
        let v = json_of(&c);
        assert_eq!(v["root"]["readonly"], true);
        let mounts = v["mounts"].as_array().unwrap();
        let shm = &mounts[6];
        assert_eq!(
            shm["options"],
            json!(["nosuid", "noexec", "nodev", "mode=1777", "size=1048576"])
        );
        let user: Vec<&Value> = mounts[7..].iter().collect();
        let dests: Vec<&str> = user
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/run",
                "/data",
                "/data/cache",
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts"
            ]
        );
        assert_eq!(user[0]["type"], "tmpfs");
        assert_eq!(
            user[0]["options"],
            json!(["noexec", "nosuid", "nodev", "rprivate", "size=1m", "mode=700"])
        );
        assert_eq!(user[1]["options"], json!(["rbind", "ro", "rprivate"]));
        assert_eq!(user[2]["options"], json!(["rbind", "rprivate"]));
        assert_eq!(
            *user[3],
            json!({"destination": "/etc/resolv.conf", "type": "bind", "source": "/b/resolv.conf", "options": ["rbind", "ro", "rprivate"]})
        );
    }

    #[test]
    fn network_files_are_writable_unless_read_only() {
        let mut c = base();
        c.hosts_file = Some("/b/hosts".into());
        let v = json_of(&c);
        let hosts = v["mounts"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(hosts["options"], json!(["rbind", "rprivate"]));
    }

    #[test]
    fn user_mounts_override_defaults_and_network_files() {
        let mut c = base();
        c.hosts_file = Some("/b/hosts".into());
        c.mounts = vec![
            MountSpec::Bind {
                source: "/my/hosts".into(),
                destination: "/etc/hosts".into(),
                readonly: true,
            },
            MountSpec::Tmpfs {
                destination: "/dev/shm".into(),
                size: Some(128 << 20),
                mode: Some(0o1777),
                options: vec![],
            },
        ];
        let v = json_of(&c);
        let mounts = v["mounts"].as_array().unwrap();
        let shm: Vec<&Value> = mounts
            .iter()
            .filter(|m| m["destination"] == "/dev/shm")
            .collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(
            shm[0]["options"],
            json!([
                "noexec",
                "nosuid",
                "nodev",
                "rprivate",
                "mode=1777",
                "size=128m"
            ])
        );
        let hosts: Vec<&Value> = mounts
            .iter()
            .filter(|m| m["destination"] == "/etc/hosts")
            .collect();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0]["source"], "/my/hosts");

        c.mounts = vec![MountSpec::Bind {
            source: "/dev".into(),
            destination: "/dev".into(),
            readonly: false,
        }];
        let v = json_of(&c);
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            ["/proc", "/sys", "/sys/fs/cgroup", "/dev", "/etc/hosts"]
        );
    }

    #[test]
    fn tmpfs_options_merge_last_wins() {
        let merged = merge_tmpfs_options(
            &[
                "noexec", "nosuid", "nodev", "rprivate", "exec", "size=1m", "size=2m", "shared",
                "defaults",
            ]
            .map(String::from),
        )
        .unwrap();
        assert_eq!(merged, ["nosuid", "nodev", "exec", "size=2m", "shared"]);
        let err = merge_tmpfs_options(&["bogus=1".to_string()]).unwrap_err();
        assert!(err
            .to_string()
            .contains("\"bogus=1\" is not a valid tmpfs option"));
    }

    #[test]
    fn bad_mounts_are_refused() {
        let mut c = base();
        c.mounts = vec![MountSpec::Bind {
            source: "/a".into(),
            destination: "relative".into(),
            readonly: false,
        }];
        assert!(build_spec(&c)
            .unwrap_err()
            .to_string()
            .contains("must be an absolute path"));
        c.mounts = vec![MountSpec::Bind {
            source: "/a".into(),
            destination: "/x/..".into(),
            readonly: false,
        }];
        assert!(build_spec(&c)
            .unwrap_err()
            .to_string()
            .contains("can't be '/'"));
        c.mounts = vec![MountSpec::Bind {
            source: "rel".into(),
            destination: "/x".into(),
            readonly: false,
        }];
        assert!(build_spec(&c)
            .unwrap_err()
            .to_string()
            .contains("mount source"));
        c.mounts = vec![
            MountSpec::Bind {
                source: "/a".into(),
                destination: "/x".into(),
                readonly: false,
            },
            MountSpec::Tmpfs {
                destination: "/x/".into(),
                size: None,
                mode: None,
                options: vec![],
            },
        ];
        assert!(build_spec(&c)
            .unwrap_err()
            .to_string()
            .contains("duplicate mount point: /x"));
    }

    #[test]
    fn init_wraps_the_command() {
        let mut c = base();
        c.init = Some("/usr/libexec/berth/init".into());
        c.readonly_rootfs = true;
        let v = json_of(&c);
        assert_eq!(
            v["process"]["args"],
            json!(["/sbin/docker-init", "--", "sleep", "60"])
        );
        let init = &v["mounts"][7];
        assert_eq!(
            *init,
            json!({"destination": "/sbin/docker-init", "type": "bind", "source": "/usr/libexec/berth/init", "options": ["bind", "ro"]})
        );
    }

    #[test]
    fn invalid_process_settings_are_refused() {
        let mut c = base();
        c.args.clear();
        assert_eq!(
            build_spec(&c).unwrap_err().to_string(),
            "invalid command: no command specified"
        );
        let mut c = base();
        c.cwd = "tmp".into();
        assert!(build_spec(&c)
            .unwrap_err()
            .to_string()
            .contains("needs to be an absolute path"));
        let mut c = base();
        c.oom_score_adj = 1001;
        assert!(build_spec(&c)
            .unwrap_err()
            .to_string()
            .contains("[-1000, 1000]"));
        c.oom_score_adj = -500;
        assert_eq!(json_of(&c)["process"]["oomScoreAdj"], -500);
    }

    #[test]
    fn environment_rules() {
        let env = daemon_environment(
            "h",
            false,
            &["A=1".into(), "A=2".into(), "B".into(), "PATH".into()],
        );
        assert_eq!(env, ["HOSTNAME=h", "A=2"]);
    }

    #[test]
    fn spec_round_trips_through_json() {
        let spec = build_spec(&base()).unwrap();
        let text = serde_json::to_string(&spec).unwrap();
        let back: Spec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, spec);
    }
}
