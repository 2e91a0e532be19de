//! Facts about the host, read from /proc, /sys and /etc.

use std::path::Path;

use berth_runtime::cgroups::{parse_mountinfo, CgroupMode, CgroupMounts};

/// The first line of a kernel file under /proc, trimmed.
fn proc_line(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub(crate) fn kernel_version() -> String {
    proc_line("/proc/sys/kernel/osrelease")
}

pub(crate) fn hostname() -> String {
    proc_line("/proc/sys/kernel/hostname")
}

/// `uname -m`'s name for this build's architecture.
pub(crate) fn machine() -> &'static str {
    std::env::consts::ARCH
}

/// GOARCH's name for it, as docker's `OS/Arch` and `Arch` say.
pub(crate) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "arm" => "arm",
        other => other,
    }
}

/// `PRETTY_NAME` and `VERSION_ID` from os-release.
pub(crate) fn operating_system() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
    };
    (
        field("PRETTY_NAME").unwrap_or_else(|| "Linux".into()),
        field("VERSION_ID").unwrap_or_default(),
    )
}

/// CPUs this process may run on, as Go's `runtime.NumCPU`.
pub(crate) fn cpus() -> u32 {
    rustix::thread::sched_getaffinity(None)
        .map(|s| s.count())
        .unwrap_or(1)
}

/// `MemTotal` from /proc/meminfo, in bytes.
pub(crate) fn memory_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                let kb = l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
                kb.trim().parse::<u64>().ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}

pub(crate) fn cgroups() -> Option<CgroupMounts> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|m| parse_mountinfo(&m))
}

/// docker's `CgroupVersion`: "2" on a unified host, else "1".
pub(crate) fn cgroup_version(mounts: Option<&CgroupMounts>) -> &'static str {
    match mounts.map(|m| m.mode) {
        Some(CgroupMode::Unified) => "2",
        _ => "1",
    }
}

/// Whether `--memory-swap` can be enforced: the kernel accounts swap.
pub(crate) fn swap_limit(mounts: Option<&CgroupMounts>) -> bool {
    let Some(m) = mounts else {
        return false;
    };
    match (m.mode, &m.unified) {
        (CgroupMode::Unified, Some(root)) => std::fs::read_dir(root)
            .map(|dirs| {
                dirs.flatten()
                    .any(|d| d.path().join("memory.swap.max").exists())
            })
            .unwrap_or(false),
        _ => {
            m.v1.get("memory")
                .is_some_and(|dir| dir.join("memory.memsw.limit_in_bytes").exists())
        }
    }
}

/// docker's name for the file system under `path` ("extfs", "xfs" ...).
pub(crate) fn backing_filesystem(path: &Path) -> String {
    let Ok(fs) = rustix::fs::statfs(path) else {
        return "<unknown>".into();
    };
    #[allow(clippy::unnecessary_cast)] // FsWord's width differs by target.
    match fs.f_type as i64 {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        0x6969 => "nfs",
        0xF2F5_2010 => "f2fs",
        _ => "<unknown>",
    }
    .into()
}

/// The first line of `BINARY --version`, if it runs.
pub(crate) fn tool_version(binary: &str) -> Option<String> {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
