//! Docker's seccomp profiles: the built-in default as data, the JSON format
//! users pass with `--security-opt seccomp=profile.json`, and their
//! reduction to an OCI `LinuxSeccomp` for one container's capabilities and
//! the host architecture.
//!
//! The default profile's syscall lists and conditions are taken from moby's
//! `profiles/seccomp/default.json` (Copyright Docker, Inc., Apache License
//! 2.0): they are the behaviour docker users expect, so they are data here,
//! not policy of our own.

use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::{Deserialize, Deserializer};

use crate::RuntimeError;

/// What `--security-opt seccomp=...` asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SeccompMode {
    /// Docker's built-in profile.
    #[default]
    Default,
    /// No filter at all.
    Unconfined,
    /// A profile in docker's JSON format, already read from its file.
    Profile(serde_json::Value),
}

impl SeccompMode {
    /// Interprets the value of `--security-opt seccomp=VALUE`: `unconfined`,
    /// `builtin`, or a path to a JSON profile, which is read now (as the
    /// docker CLI does) so a later change to the file cannot alter a
    /// container that was already created.
    pub fn from_security_opt(value: &str) -> Result<Self, RuntimeError> {
        match value {
            "unconfined" => Ok(SeccompMode::Unconfined),
            "builtin" | "" => Ok(SeccompMode::Default),
            path => {
                let text = std::fs::read(path).map_err(|e| {
                    RuntimeError::Seccomp(format!("opening seccomp profile ({path}) failed: {e}"))
                })?;
                let value = serde_json::from_slice(&text).map_err(|e| {
                    RuntimeError::Seccomp(format!("decoding seccomp profile ({path}) failed: {e}"))
                })?;
                Ok(SeccompMode::Profile(value))
            }
        }
    }
}

/// A kernel release as the profile's `minKernel` conditions compare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
    /// Parses "4.8" or a full release such as "5.15.0-91-generic"
    /// (`/proc/sys/kernel/osrelease`).
    pub fn parse(text: &str) -> Option<KernelVersion> {
        let mut parts = text.trim().split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(KernelVersion { major, minor })
    }
}

impl<'de> Deserialize<'de> for KernelVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        KernelVersion::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid kernel version: {text:?}")))
    }
}

/// Docker's profile format: the OCI fields plus `archMap` and per-rule
/// `includes`/`excludes` conditions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub default_action: Option<LinuxSeccompAction>,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub architectures: Vec<Arch>,
    #[serde(default, deserialize_with = "nullable")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "nullable")]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default)]
    pub listener_path: Option<PathBuf>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub syscalls: Vec<Rule>,
}

/// Architectures to enable together when the host is `architecture`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: Arch,
    #[serde(default, deserialize_with = "nullable")]
    pub sub_architectures: Vec<Arch>,
}

/// One syscall rule, kept only when its conditions hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The single-name form older profiles use.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub names: Vec<String>,
    pub action: LinuxSeccompAction,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<LinuxSeccompArg>,
    #[serde(default)]
    pub includes: Filter,
    #[serde(default)]
    pub excludes: Filter,
}

/// A rule's condition: capabilities (all required for `includes`, any one
/// disqualifies for `excludes`), architectures in Go's naming (`amd64`,
/// `arm64`...) and a minimum kernel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, deserialize_with = "nullable")]
    pub caps: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub arches: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<KernelVersion>,
}

/// Profiles written by Go tools say `null` for empty lists.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The host's architecture in the naming profiles use for `arches`.
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        "mips" if cfg!(target_endian = "little") => "mipsle",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// libseccomp's name for a native architecture, used to pick the profile's
/// `archMap` entry.
fn seccomp_arch(native: &str) -> Option<Arch> {
    Some(match native {
        "amd64" => Arch::ScmpArchX86_64,
        "x86" => Arch::ScmpArchX86,
        "arm64" => Arch::ScmpArchAarch64,
        "arm" => Arch::ScmpArchArm,
        "riscv64" => Arch::ScmpArchRiscv64,
        "s390x" => Arch::ScmpArchS390x,
        "s390" => Arch::ScmpArchS390,
        "ppc64le" => Arch::ScmpArchPpc64le,
        "ppc64" => Arch::ScmpArchPpc64,
        "mips64" => Arch::ScmpArchMips64,
        "mips64le" => Arch::ScmpArchMipsel64,
        "mips" => Arch::ScmpArchMips,
        "mipsle" => Arch::ScmpArchMipsel,
        "loong64" => Arch::ScmpArchLoongarch64,
        _ => return None,
    })
}

/// The OCI filter for `mode`, or `None` when the container runs unconfined.
/// `capabilities` is the container's bounding set (kernel names), `arch` the
/// host in profile naming (see [`native_arch`]), `image_arch` the image's
/// architecture, and `kernel` the running kernel, `None` meaning "recent
/// enough for every `minKernel`".
///
/// The default profile differs from docker's in one way: it lists the
/// host's 32-bit sibling ABIs (x86 and x32 on amd64, arm on arm64) only for
/// an image built for one of them. Any other container's 32-bit syscalls are
/// refused outright (the process gets SIGSYS). That is stricter than docker,
/// and it makes the filter a third of the size: runc compiles it at every
/// start, and this alone takes 13 ms off each `run` (docs/benchmarks.md).
pub fn seccomp_for(
    mode: &SeccompMode,
    capabilities: &[String],
    arch: &str,
    image_arch: &str,
    kernel: Option<KernelVersion>,
) -> Result<Option<LinuxSeccomp>, RuntimeError> {
    match mode {
        SeccompMode::Unconfined => Ok(None),
        SeccompMode::Default => {
            let mut filter = convert(&default_profile(), capabilities, arch, kernel)?;
            if !is_compat_arch(arch, image_arch) {
                if let (Some(f), Some(native)) = (filter.as_mut(), seccomp_arch(arch)) {
                    f.set_architectures(Some(vec![native]));
                    if arch == "amd64" {
                        drop_syscalls(f, X86_32_ONLY);
                    }
                }
            }
            Ok(filter)
        }
        SeccompMode::Profile(json) => {
            let profile: Profile = serde_json::from_value(json.clone()).map_err(|e| {
                RuntimeError::Seccomp(format!("decoding seccomp profile failed: {e}"))
            })?;
            convert(&profile, capabilities, arch, kernel)
        }
    }
}

/// Syscalls of docker's profile that exist only for 32-bit x86 (none of
/// them has an x86_64 number). A filter for x86_64 alone gains nothing from
/// them, and each costs libseccomp a failed lookup when runc compiles the
/// filter: about 2 ms of every start.
const X86_32_ONLY: &[&str] = &[
    "_llseek",
    "_newselect",
    "chown32",
    "clock_adjtime64",
    "clock_getres_time64",
    "clock_gettime64",
    "clock_nanosleep_time64",
    "fadvise64_64",
    "fchown32",
    "fcntl64",
    "fstat64",
    "fstatat64",
    "fstatfs64",
    "ftruncate64",
    "futex_time64",
    "getegid32",
    "geteuid32",
    "getgid32",
    "getgroups32",
    "getresgid32",
    "getresuid32",
    "getuid32",
    "io_pgetevents_time64",
    "ipc",
    "lchown32",
    "lstat64",
    "mmap2",
    "mq_timedreceive_time64",
    "mq_timedsend_time64",
    "ppoll_time64",
    "pselect6_time64",
    "recv",
    "recvmmsg_time64",
    "rt_sigtimedwait_time64",
    "sched_rr_get_interval_time64",
    "semtimedop_time64",
    "send",
    "sendfile64",
    "setfsgid32",
    "setfsuid32",
    "setgid32",
    "setgroups32",
    "setregid32",
    "setresgid32",
    "setresuid32",
    "setreuid32",
    "setuid32",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "stat64",
    "statfs64",
    "timer_gettime64",
    "timer_settime64",
    "timerfd_gettime64",
    "timerfd_settime64",
    "truncate64",
    "ugetrlimit",
    "utimensat_time64",
    "waitpid",
];

/// Removes `names` from every rule of `filter`, and rules left empty.
fn drop_syscalls(filter: &mut LinuxSeccomp, names: &[&str]) {
    let Some(rules) = filter.syscalls().clone() else {
        return;
    };
    let rules = rules
        .into_iter()
        .filter_map(|mut rule| {
            let kept: Vec<String> = rule
                .names()
                .iter()
                .filter(|n| !names.contains(&n.as_str()))
                .cloned()
                .collect();
            (!kept.is_empty()).then(|| {
                rule.set_names(kept);
                rule
            })
        })
        .collect();
    filter.set_syscalls(Some(rules));
}

/// Whether an `image_arch` image runs on an `arch` host through one of the
/// host's 32-bit sibling ABIs.
fn is_compat_arch(arch: &str, image_arch: &str) -> bool {
    matches!(
        (arch, image_arch),
        ("amd64", "386") | ("arm64", "arm") | ("s390x", "s390")
    )
}

/// Keeps the rules whose conditions hold for this container and host.
pub fn convert(
    profile: &Profile,
    capabilities: &[String],
    arch: &str,
    kernel: Option<KernelVersion>,
) -> Result<Option<LinuxSeccomp>, RuntimeError> {
    let Some(default_action) = profile.default_action else {
        if profile.syscalls.is_empty() {
            // Docker's convention: an empty profile disables seccomp.
            return Ok(None);
        }
        return Err(RuntimeError::Seccomp("defaultAction is required".into()));
    };
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(RuntimeError::Seccomp(
            "both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'"
                .into(),
        ));
    }
    let mut architectures = profile.architectures.clone();
    if let Some(native) = seccomp_arch(arch) {
        if let Some(entry) = profile.arch_map.iter().find(|m| m.architecture == native) {
            architectures.push(entry.architecture);
            architectures.extend(entry.sub_architectures.iter().copied());
        }
    }
    let kernel_at_least = |min: &KernelVersion| kernel.is_none_or(|k| k >= *min);
    let has_cap = |cap: &String| capabilities.contains(cap);

    let mut syscalls = Vec::new();
    for rule in &profile.syscalls {
        let names = match (&rule.name, rule.names.is_empty()) {
            (Some(_), false) => {
                return Err(RuntimeError::Seccomp(
                    "both 'name' and 'names' are specified, use either 'name' or 'names'".into(),
                ))
            }
            (Some(name), true) => vec![name.clone()],
            (None, _) => rule.names.clone(),
        };
        let ex = &rule.excludes;
        if ex.arches.iter().any(|a| a == arch)
            || ex.caps.iter().any(has_cap)
            || ex.min_kernel.as_ref().is_some_and(kernel_at_least)
        {
            continue;
        }
        let inc = &rule.includes;
        if (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch))
            || !inc.caps.iter().all(has_cap)
            || inc.min_kernel.as_ref().is_some_and(|m| !kernel_at_least(m))
        {
            continue;
        }
        let mut call = LinuxSyscall::default();
        call.set_names(names)
            .set_action(rule.action)
            .set_errno_ret(rule.errno_ret)
            .set_args((!rule.args.is_empty()).then(|| rule.args.clone()));
        syscalls.push(call);
    }

    let mut seccomp = LinuxSeccomp::default();
    seccomp
        .set_default_action(default_action)
        .set_default_errno_ret(profile.default_errno_ret)
        .set_architectures((!architectures.is_empty()).then_some(architectures))
        .set_flags((!profile.flags.is_empty()).then(|| profile.flags.clone()))
        .set_listener_path(profile.listener_path.clone())
        .set_listener_metadata(profile.listener_metadata.clone())
        .set_syscalls(Some(syscalls));
    Ok(Some(seccomp))
}

/// Syscalls every container may make, whatever its capabilities.
const DEFAULT_ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Syscalls that only make sense, or are only safe, with a capability.
const CAPABILITY_GATED: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Architecture-specific syscalls, keyed by the arches that have them.
const ARCH_SPECIFIC: &[(&[&str], &[&str])] = &[
    (&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (
        &["s390", "s390x"],
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    (&["riscv64"], &["riscv_flush_icache"]),
];

/// `personality(2)` domains a container may switch to: PER_LINUX,
/// PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the 0xffffffff query.
const PERSONALITY_ALLOWED: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: without
/// CAP_SYS_ADMIN, `clone` is allowed only when none of these is set.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// ENOSYS, so that libcs fall back from `clone3` to `clone`, whose flags
/// the filter can inspect (it cannot see into `clone3`'s struct).
const ENOSYS: u32 = 38;

/// AF_VSOCK: blocked so containers cannot reach the host's vsock services.
const AF_VSOCK: u64 = 40;

fn allow(names: &[&str]) -> Rule {
    Rule {
        names: names.iter().map(|n| n.to_string()).collect(),
        action: LinuxSeccompAction::ScmpActAllow,
        ..Rule::default()
    }
}

fn arg(index: usize, value: u64, op: LinuxSeccompOperator) -> LinuxSeccompArg {
    LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op)
        .build()
        .expect("every field of a seccomp argument is set")
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Docker's default profile: deny with EPERM, allow the common syscalls,
/// open the rest according to capabilities and architecture.
pub fn default_profile() -> Profile {
    use LinuxSeccompOperator::{ScmpCmpEq, ScmpCmpMaskedEq, ScmpCmpNe};
    let mut rules = vec![allow(DEFAULT_ALLOWED)];
    rules.push(Rule {
        includes: Filter {
            min_kernel: Some(KernelVersion { major: 4, minor: 8 }),
            ..Filter::default()
        },
        ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
    });
    rules.push(Rule {
        args: vec![arg(0, AF_VSOCK, ScmpCmpNe)],
        ..allow(&["socket"])
    });
    for domain in PERSONALITY_ALLOWED {
        rules.push(Rule {
            args: vec![arg(0, domain, ScmpCmpEq)],
            ..allow(&["personality"])
        });
    }
    for (arches, names) in ARCH_SPECIFIC {
        rules.push(Rule {
            includes: Filter {
                arches: strings(arches),
                ..Filter::default()
            },
            ..allow(names)
        });
    }
    let sys_admin = || strings(&["CAP_SYS_ADMIN"]);
    let s390 = || strings(&["s390", "s390x"]);
    for (cap, names) in CAPABILITY_GATED {
        rules.push(Rule {
            includes: Filter {
                caps: strings(&[cap]),
                ..Filter::default()
            },
            ..allow(names)
        });
        if *cap == "CAP_SYS_ADMIN" {
            rules.push(Rule {
                args: vec![arg(0, CLONE_NAMESPACE_FLAGS, ScmpCmpMaskedEq)],
                excludes: Filter {
                    caps: sys_admin(),
                    arches: s390(),
                    ..Filter::default()
                },
                ..allow(&["clone"])
            });
            // s390 passes the flags as clone's second argument.
            rules.push(Rule {
                args: vec![arg(1, CLONE_NAMESPACE_FLAGS, ScmpCmpMaskedEq)],
                includes: Filter {
                    arches: s390(),
                    ..Filter::default()
                },
                excludes: Filter {
                    caps: sys_admin(),
                    ..Filter::default()
                },
                ..allow(&["clone"])
            });
            rules.push(Rule {
                action: LinuxSeccompAction::ScmpActErrno,
                errno_ret: Some(ENOSYS),
                excludes: Filter {
                    caps: sys_admin(),
                    ..Filter::default()
                },
                ..allow(&["clone3"])
            });
        }
    }
    let arch_map = [
        (
            Arch::ScmpArchX86_64,
            vec![Arch::ScmpArchX86, Arch::ScmpArchX32],
        ),
        (Arch::ScmpArchAarch64, vec![Arch::ScmpArchArm]),
        (
            Arch::ScmpArchMips64,
            vec![Arch::ScmpArchMips, Arch::ScmpArchMips64n32],
        ),
        (
            Arch::ScmpArchMips64n32,
            vec![Arch::ScmpArchMips, Arch::ScmpArchMips64],
        ),
        (
            Arch::ScmpArchMipsel64,
            vec![Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
        ),
        (
            Arch::ScmpArchMipsel64n32,
            vec![Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64],
        ),
        (Arch::ScmpArchS390x, vec![Arch::ScmpArchS390]),
        (Arch::ScmpArchRiscv64, vec![]),
    ];
    Profile {
        default_action: Some(LinuxSeccompAction::ScmpActErrno),
        default_errno_ret: Some(1), // EPERM
        arch_map: arch_map
            .into_iter()
            .map(|(architecture, sub_architectures)| ArchMap {
                architecture,
                sub_architectures,
            })
            .collect(),
        syscalls: rules,
        ..Profile::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{resolve_capabilities, DEFAULT_CAPABILITIES};

    /// What the kernel would do for `name(args)`: the first rule naming the
    /// syscall whose argument checks pass decides, else the default action.
    fn verdict(s: &LinuxSeccomp, name: &str, args: &[u64]) -> LinuxSeccompAction {
        for rule in s.syscalls().as_deref().unwrap_or_default() {
            if !rule.names().iter().any(|n| n == name) {
                continue;
            }
            let ok = rule.args().as_deref().unwrap_or_default().iter().all(|a| {
                let v = args.get(a.index()).copied().unwrap_or(0);
                match a.op() {
                    LinuxSeccompOperator::ScmpCmpEq => v == a.value(),
                    LinuxSeccompOperator::ScmpCmpNe => v != a.value(),
                    LinuxSeccompOperator::ScmpCmpMaskedEq => {
                        v & a.value() == a.value_two().unwrap_or(0)
                    }
                    other => panic!("operator {other:?} not modelled"),
                }
            });
            if ok {
                return rule.action();
            }
        }
        s.default_action()
    }

    fn allowed(s: &LinuxSeccomp, name: &str, args: &[u64]) -> bool {
        verdict(s, name, args) == LinuxSeccompAction::ScmpActAllow
    }

    fn default_filter(caps: &[String]) -> LinuxSeccomp {
        seccomp_for(&SeccompMode::Default, caps, "amd64", "amd64", None)
            .unwrap()
            .unwrap()
    }

    fn defaults() -> Vec<String> {
        strings(&DEFAULT_CAPABILITIES)
    }

    #[test]
    fn default_denies_with_eperm() {
        let s = default_filter(&defaults());
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
    }

    #[test]
    fn dangerous_syscalls_are_denied_by_default() {
        let s = default_filter(&defaults());
        for name in [
            "unshare",
            "mount",
            "keyctl",
            "bpf",
            "add_key",
            "kexec_load",
            "setns",
            "reboot",
            "init_module",
            "ptrace_nope",
        ] {
            assert!(!allowed(&s, name, &[]), "{name} should be denied");
        }
    }

    #[test]
    fn everyday_syscalls_are_allowed() {
        let s = default_filter(&defaults());
        for name in [
            "read",
            "write",
            "openat",
            "execve",
            "exit_group",
            "arch_prctl",
            "chroot",
            "ptrace",
        ] {
            assert!(allowed(&s, name, &[]), "{name} should be allowed");
        }
        // Plain fork-style clone is fine; namespace flags are not.
        assert!(allowed(&s, "clone", &[0x11 /* SIGCHLD */]));
        assert!(!allowed(&s, "clone", &[0x1000_0000 /* CLONE_NEWUSER */]));
        assert!(!allowed(&s, "clone", &[0x2000_0000 /* CLONE_NEWPID */]));
        // clone3 answers ENOSYS so libc falls back to clone.
        assert_eq!(verdict(&s, "clone3", &[]), LinuxSeccompAction::ScmpActErrno);
        let clone3 = s
            .syscalls()
            .as_deref()
            .unwrap()
            .iter()
            .find(|r| r.names().iter().any(|n| n == "clone3"))
            .unwrap();
        assert_eq!(clone3.errno_ret(), Some(38));
    }

    #[test]
    fn personality_and_vsock_are_argument_filtered() {
        let s = default_filter(&defaults());
        assert!(allowed(&s, "personality", &[0]));
        assert!(allowed(&s, "personality", &[0xffff_ffff]));
        assert!(!allowed(
            &s,
            "personality",
            &[0x0040_0000 /* READ_IMPLIES_EXEC */]
        ));
        assert!(allowed(&s, "socket", &[2 /* AF_INET */]));
        assert!(!allowed(&s, "socket", &[40 /* AF_VSOCK */]));
    }

    #[test]
    fn sys_admin_opens_namespaces_and_mounts() {
        let caps = resolve_capabilities(&["SYS_ADMIN".to_string()], &[], false).unwrap();
        let s = default_filter(&caps);
        for name in ["unshare", "mount", "setns", "umount2", "clone3"] {
            assert!(allowed(&s, name, &[]), "{name}");
        }
        assert!(allowed(&s, "clone", &[0x1000_0000]));
        // Still not: no capability unlocks these in the default profile.
        assert!(!allowed(&s, "keyctl", &[]));
        assert!(!allowed(&s, "kexec_load", &[]));
    }

    #[test]
    fn other_capabilities_unlock_their_syscalls() {
        let s = default_filter(&defaults());
        assert!(!allowed(&s, "init_module", &[]));
        assert!(!allowed(&s, "settimeofday", &[]));
        let caps = resolve_capabilities(
            &strings(&["SYS_MODULE", "SYS_TIME", "SYS_PTRACE", "BPF"]),
            &[],
            false,
        )
        .unwrap();
        let s = default_filter(&caps);
        for name in ["init_module", "finit_module", "settimeofday", "kcmp", "bpf"] {
            assert!(allowed(&s, name, &[]), "{name}");
        }
        assert!(!allowed(&s, "unshare", &[]));
    }

    #[test]
    fn dropping_sys_chroot_removes_chroot() {
        let caps = resolve_capabilities(&[], &strings(&["SYS_CHROOT"]), false).unwrap();
        let s = default_filter(&caps);
        assert!(!allowed(&s, "chroot", &[]));
    }

    #[test]
    fn arch_specific_rules_follow_the_host() {
        let arm = seccomp_for(&SeccompMode::Default, &defaults(), "arm64", "arm", None)
            .unwrap()
            .unwrap();
        assert!(allowed(&arm, "cacheflush", &[]));
        assert!(!allowed(&arm, "arch_prctl", &[]));
        assert_eq!(
            arm.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        let s390 = seccomp_for(&SeccompMode::Default, &defaults(), "s390x", "s390x", None)
            .unwrap()
            .unwrap();
        assert!(allowed(&s390, "clone", &[0, 0x11]));
        assert!(!allowed(&s390, "clone", &[0, 0x1000_0000]));
    }

    #[test]
    fn min_kernel_gates_rules() {
        let old = Some(KernelVersion { major: 4, minor: 4 });
        let s = seccomp_for(&SeccompMode::Default, &defaults(), "amd64", "amd64", old)
            .unwrap()
            .unwrap();
        assert!(!allowed(&s, "ptrace", &[]));
        let new = KernelVersion::parse("6.1.0-18-amd64");
        assert_eq!(new, Some(KernelVersion { major: 6, minor: 1 }));
        let s = seccomp_for(&SeccompMode::Default, &defaults(), "amd64", "amd64", new)
            .unwrap()
            .unwrap();
        assert!(allowed(&s, "ptrace", &[]));
    }

    #[test]
    fn unconfined_means_no_filter() {
        let mode = SeccompMode::from_security_opt("unconfined").unwrap();
        assert_eq!(mode, SeccompMode::Unconfined);
        assert!(seccomp_for(&mode, &defaults(), "amd64", "amd64", None)
            .unwrap()
            .is_none());
        assert_eq!(
            SeccompMode::from_security_opt("builtin").unwrap(),
            SeccompMode::Default
        );
    }

    #[test]
    fn custom_profile_file_is_converted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.json");
        std::fs::write(
            &path,
            r#"{
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [
                    {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                    {"names": ["chmod", "fchmod"], "action": "SCMP_ACT_ERRNO", "args": null},
                    {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
                    {"names": ["reboot"], "action": "SCMP_ACT_ALLOW",
                     "includes": {"caps": ["CAP_SYS_BOOT"]}, "comment": "only with the cap"},
                    {"names": ["getpid"], "action": "SCMP_ACT_KILL",
                     "excludes": {"arches": ["amd64"]}},
                    {"names": ["uname"], "action": "SCMP_ACT_LOG",
                     "includes": {"minKernel": "99.0"}}
                ]
            }"#,
        )
        .unwrap();
        let mode = SeccompMode::from_security_opt(path.to_str().unwrap()).unwrap();
        let s = seccomp_for(&mode, &defaults(), "amd64", "amd64", None)
            .unwrap()
            .unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64][..])
        );
        let rules = s.syscalls().as_deref().unwrap();
        // reboot (no CAP_SYS_BOOT) and getpid (amd64 excluded) drop out; uname's
        // minKernel counts as met when the kernel is unknown.
        let names: Vec<_> = rules.iter().map(|r| r.names().join(",")).collect();
        assert_eq!(names, ["mkdir", "chmod,fchmod", "kill", "uname"]);
        assert_eq!(rules[0].errno_ret(), Some(13));
        assert_eq!(
            verdict(&s, "kill", &[1, 9]),
            LinuxSeccompAction::ScmpActErrno
        );
        assert_eq!(
            verdict(&s, "kill", &[1, 15]),
            LinuxSeccompAction::ScmpActAllow
        );
        let old = Some(KernelVersion {
            major: 5,
            minor: 10,
        });
        let s = seccomp_for(&mode, &defaults(), "amd64", "amd64", old)
            .unwrap()
            .unwrap();
        assert_eq!(s.syscalls().as_deref().unwrap().len(), 3);
    }

    #[test]
    fn custom_profile_with_arch_map_picks_the_host_entry() {
        let json = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "archMap": [
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}
            ],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
        });
        let s = seccomp_for(
            &SeccompMode::Profile(json),
            &defaults(),
            "amd64",
            "amd64",
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64][..])
        );
    }

    #[test]
    fn broken_profiles_are_reported() {
        let bad = |v: serde_json::Value| {
            seccomp_for(
                &SeccompMode::Profile(v),
                &defaults(),
                "amd64",
                "amd64",
                None,
            )
            .unwrap_err()
            .to_string()
        };
        assert!(bad(serde_json::json!({"defaultAction": "SCMP_ACT_NOPE"}))
            .starts_with("seccomp profile: decoding"));
        assert!(bad(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]
        }))
        .contains("both 'architectures' and 'archMap'"));
        assert!(bad(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]
        }))
        .contains("both 'name' and 'names'"));
        assert!(bad(
            serde_json::json!({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
        )
        .contains("defaultAction is required"));
        // Docker treats an empty profile as "no seccomp".
        assert!(seccomp_for(
            &SeccompMode::Profile(serde_json::json!({})),
            &defaults(),
            "amd64",
            "amd64",
            None
        )
        .unwrap()
        .is_none());
        let missing = SeccompMode::from_security_opt("/nonexistent/profile.json").unwrap_err();
        assert!(missing
            .to_string()
            .contains("opening seccomp profile (/nonexistent/profile.json) failed"));
    }

    #[test]
    fn default_profile_serializes_like_dockers() {
        let s = default_filter(&defaults());
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        let clone = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"] == serde_json::json!(["clone"]))
            .unwrap();
        assert_eq!(
            clone["args"],
            serde_json::json!([{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}])
        );
    }

    #[test]
    fn sibling_abis_are_listed_only_for_images_built_for_them() {
        let native = |image_arch| {
            seccomp_for(
                &SeccompMode::Default,
                &defaults(),
                "amd64",
                image_arch,
                None,
            )
            .unwrap()
            .unwrap()
            .architectures()
            .clone()
            .unwrap()
        };
        assert_eq!(native("amd64"), vec![Arch::ScmpArchX86_64]);
        assert_eq!(native(""), vec![Arch::ScmpArchX86_64]);
        let names = |image_arch| -> Vec<String> {
            seccomp_for(
                &SeccompMode::Default,
                &defaults(),
                "amd64",
                image_arch,
                None,
            )
            .unwrap()
            .unwrap()
            .syscalls()
            .clone()
            .unwrap()
            .iter()
            .flat_map(|r| r.names().clone())
            .collect()
        };
        let native_names = names("amd64");
        assert!(native_names.iter().any(|n| n == "chown"));
        assert!(!native_names.iter().any(|n| n == "chown32"));
        assert!(names("386").iter().any(|n| n == "chown32"));
        assert_eq!(
            native("386"),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
    }

    #[test]
    fn native_arch_is_known_to_the_default_profile() {
        assert!(seccomp_arch(native_arch()).is_some(), "{}", native_arch());
    }
}
