//! Container cgroups on both kernel interfaces: v1 (one hierarchy per
//! controller, as on legacy and hybrid hosts) and v2 (one unified tree).
//!
//! Managers only read and write files under a root directory they are
//! given, so the engine passes `/sys/fs/cgroup` (or what mountinfo says)
//! and tests pass a temporary directory laid out like it. Interface files
//! are opened without `O_CREAT`, as on cgroupfs they exist or the
//! controller is unavailable; tests create them the way the kernel would.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use crate::resources::Resources;
use crate::RuntimeError;

/// Which cgroup interface the host offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CgroupMode {
    /// v1 controllers only.
    Legacy,
    /// v1 controllers, plus a v2 tree that holds no controllers (systemd's
    /// `/sys/fs/cgroup/unified`); limits go through v1.
    Hybrid,
    /// v2 only: the modern default, where docker also gives containers a
    /// private cgroup namespace.
    #[default]
    Unified,
}

/// Where the host mounted its cgroup filesystems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMounts {
    pub mode: CgroupMode,
    /// The v2 mount point, if any.
    pub unified: Option<PathBuf>,
    /// v1 controller name to the mount point of its hierarchy.
    pub v1: BTreeMap<String, PathBuf>,
}

impl CgroupMounts {
    /// The manager for this host: v2 on unified hosts, v1 otherwise.
    pub fn manager(&self) -> Box<dyn CgroupManager> {
        match (&self.mode, &self.unified) {
            (CgroupMode::Unified, Some(root)) => Box::new(CgroupV2::new(root.clone())),
            _ => Box::new(CgroupV1::with_hierarchies(self.v1.clone())),
        }
    }
}

/// Reads the host's cgroup layout from `/proc/self/mountinfo` text; `None`
/// when no cgroup filesystem is mounted at all.
pub fn parse_mountinfo(text: &str) -> Option<CgroupMounts> {
    let mut unified: Option<PathBuf> = None;
    let mut v1 = BTreeMap::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split_whitespace().nth(4) else {
            continue;
        };
        let mut right = right.split_whitespace();
        let (Some(fstype), Some(_source), Some(options)) =
            (right.next(), right.next(), right.next())
        else {
            continue;
        };
        let mount_point = PathBuf::from(unescape_mountinfo(mount_point));
        match fstype {
            "cgroup2" => {
                let preferred = mount_point == Path::new("/sys/fs/cgroup");
                if unified.is_none() || preferred {
                    unified = Some(mount_point);
                }
            }
            "cgroup" => {
                // Super options mix controllers with flags (`xattr`,
                // `name=systemd`...): keep the controllers.
                for option in options.split(',').filter(|o| V1_CONTROLLERS.contains(o)) {
                    v1.entry(option.to_string())
                        .or_insert_with(|| mount_point.clone());
                }
            }
            _ => {}
        }
    }
    let mode = match (v1.is_empty(), &unified) {
        (true, None) => return None,
        (true, Some(_)) => CgroupMode::Unified,
        (false, None) => CgroupMode::Legacy,
        (false, Some(_)) => CgroupMode::Hybrid,
    };
    Some(CgroupMounts { mode, unified, v1 })
}

/// The controllers a v1 hierarchy can carry.
const V1_CONTROLLERS: [&str; 14] = [
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Limits as read back from the kernel; `None` means unlimited (or, for
/// the version-specific fields, not applicable to this interface).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    pub memory: Option<i64>,
    /// Memory plus swap, in docker's `--memory-swap` sense.
    pub memory_swap: Option<i64>,
    /// v1 `cpu.shares`.
    pub cpu_shares: Option<u64>,
    /// v2 `cpu.weight`.
    pub cpu_weight: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub pids: Option<i64>,
}

/// Freezer state, as `docker pause` needs to observe it settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    /// Asked to freeze; some tasks are still running.
    Freezing,
    Frozen,
}

/// What [`CgroupManager::kill_all`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillOutcome {
    /// The kernel killed every process (v2 `cgroup.kill`).
    Killed,
    /// No kernel help: the caller must SIGKILL these pids itself, ideally
    /// while the cgroup is frozen so none can fork away.
    SignalEach(Vec<u32>),
}

/// Usage counters of one cgroup, as `stats` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// CPU time used by the cgroup's processes, in nanoseconds.
    pub cpu_usage_ns: u64,
    /// Memory charged to the cgroup, page cache included.
    pub memory_usage: u64,
    /// Inactive file cache (v1 `total_inactive_file`, v2 `inactive_file`):
    /// reclaimable, so docker leaves it out of the usage it shows.
    pub memory_inactive_file: u64,
    /// `None` when unlimited.
    pub memory_limit: Option<u64>,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

impl CgroupStats {
    /// docker's memory usage: what is charged minus the inactive file cache.
    pub fn memory_without_cache(&self) -> u64 {
        if self.memory_inactive_file < self.memory_usage {
            self.memory_usage - self.memory_inactive_file
        } else {
            self.memory_usage
        }
    }
}

/// Life-cycle of one container's cgroup, addressed by its path relative to
/// the cgroup root (the spec's `cgroupsPath`, e.g. `/berth/<id>`).
pub trait CgroupManager {
    /// Creates the cgroup (and its parents), enabling the controllers the
    /// container's limits need.
    fn create(&self, path: &str) -> Result<(), RuntimeError>;
    /// Writes the limits, normalized as docker does.
    fn apply(&self, path: &str, resources: &Resources) -> Result<(), RuntimeError>;
    /// Reads the limits back, for `inspect` and `stats`.
    fn limits(&self, path: &str) -> Result<CgroupLimits, RuntimeError>;
    /// Reads the usage counters; a counter whose controller or file the
    /// kernel does not offer reads as zero.
    fn stats(&self, path: &str) -> Result<CgroupStats, RuntimeError>;
    /// Moves a process into the cgroup.
    fn add_process(&self, path: &str, pid: u32) -> Result<(), RuntimeError>;
    /// Every process in the cgroup and its descendants.
    fn processes(&self, path: &str) -> Result<Vec<u32>, RuntimeError>;
    fn freeze(&self, path: &str) -> Result<(), RuntimeError>;
    fn thaw(&self, path: &str) -> Result<(), RuntimeError>;
    fn freezer_state(&self, path: &str) -> Result<FreezerState, RuntimeError>;
    /// Kills every process, or says which pids the caller must kill.
    fn kill_all(&self, path: &str) -> Result<KillOutcome, RuntimeError>;
    /// Removes the cgroup; missing directories are not an error.
    fn destroy(&self, path: &str) -> Result<(), RuntimeError>;
}

/// The kernel's "no limit" for v1 memory files: PAGE_COUNTER_MAX pages,
/// which reads back as this on 4 KiB-page hosts; anything this large means
/// unlimited on every page size.
const V1_UNLIMITED_THRESHOLD: u64 = 0x7FFF_FFFF_FFFF_F000;

/// The controllers berth sets limits with or needs for pause/kill.
const MANAGED_CONTROLLERS: [&str; 4] = ["cpu", "memory", "pids", "freezer"];

/// cgroup v1: one directory per controller hierarchy.
#[derive(Debug, Clone)]
pub struct CgroupV1 {
    hierarchies: BTreeMap<String, PathBuf>,
}

impl CgroupV1 {
    /// Discovers hierarchies as subdirectories of `root`, splitting
    /// co-mounted names such as `cpu,cpuacct`.
    pub fn new(root: &Path) -> Result<CgroupV1, RuntimeError> {
        let mut names: Vec<String> = std::fs::read_dir(root)
            .map_err(|e| RuntimeError::io("read", root, e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut hierarchies = BTreeMap::new();
        for name in names {
            for controller in name.split(',').filter(|c| V1_CONTROLLERS.contains(c)) {
                hierarchies
                    .entry(controller.to_string())
                    .or_insert_with(|| root.join(&name));
            }
        }
        Ok(CgroupV1 { hierarchies })
    }

    /// Uses the hierarchies found in mountinfo.
    pub fn with_hierarchies(hierarchies: BTreeMap<String, PathBuf>) -> CgroupV1 {
        CgroupV1 { hierarchies }
    }

    fn dir(&self, controller: &str, path: &str) -> Result<Option<PathBuf>, RuntimeError> {
        let rel = relative(path)?;
        Ok(self.hierarchies.get(controller).map(|h| h.join(rel)))
    }

    fn required(&self, controller: &str, path: &str) -> Result<PathBuf, RuntimeError> {
        self.dir(controller, path)?
            .ok_or_else(|| RuntimeError::Cgroup {
                path: PathBuf::from(path),
                reason: format!("the {controller} controller is not mounted"),
            })
    }

    /// The distinct directories of this cgroup across managed hierarchies
    /// (co-mounted controllers share one).
    fn all_dirs(&self, path: &str) -> Result<Vec<PathBuf>, RuntimeError> {
        let mut dirs = Vec::new();
        for controller in MANAGED_CONTROLLERS {
            if let Some(dir) = self.dir(controller, path)? {
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
        Ok(dirs)
    }

    /// runc's ordering: raising both limits must write memsw first (it may
    /// never be below memory), lowering them must write memory first.
    fn set_memory_and_swap(
        &self,
        dir: &Path,
        memory: Option<i64>,
        swap: Option<i64>,
    ) -> Result<(), RuntimeError> {
        const LIMIT: &str = "memory.limit_in_bytes";
        const SWAP: &str = "memory.memsw.limit_in_bytes";
        let swap = match swap {
            Some(_) if !dir.join(SWAP).exists() => {
                tracing::warn!(
                    dir = %dir.display(),
                    "kernel has no swap accounting; memory limited without swap"
                );
                None
            }
            other => other,
        };
        let swap_first = match (memory, swap) {
            (Some(_), Some(-1)) => true,
            (Some(_), Some(new_swap)) => {
                let current = read_file(dir, LIMIT)?;
                current.parse::<u64>().map_or(true, |c| c < new_swap as u64)
            }
            _ => false,
        };
        let write_swap = |v: i64| write_file(dir, SWAP, &v.to_string());
        let write_memory = |v: i64| write_file(dir, LIMIT, &v.to_string());
        if swap_first {
            swap.map(write_swap).transpose()?;
            memory.map(write_memory).transpose()?;
        } else {
            memory.map(write_memory).transpose()?;
            swap.map(write_swap).transpose()?;
        }
        Ok(())
    }
}

impl CgroupManager for CgroupV1 {
    fn create(&self, path: &str) -> Result<(), RuntimeError> {
        for dir in self.all_dirs(path)? {
            std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create", &dir, e))?;
        }
        tracing::debug!(path, "created cgroup v1 directories");
        Ok(())
    }

    fn apply(&self, path: &str, resources: &Resources) -> Result<(), RuntimeError> {
        let r = resources.normalized()?;
        if r.memory.is_some() || r.memory_swap.is_some() {
            let dir = self.required("memory", path)?;
            self.set_memory_and_swap(&dir, r.memory, r.memory_swap)?;
        }
        let (quota, period) = r.cfs_quota_period();
        let shares = r.cpu_shares.filter(|s| *s > 0);
        if shares.is_some() || quota.is_some() || period.is_some() {
            let dir = self.required("cpu", path)?;
            if let Some(shares) = shares {
                write_file(&dir, "cpu.shares", &shares.to_string())?;
            }
            if let Some(period) = period {
                write_file(&dir, "cpu.cfs_period_us", &period.to_string())?;
            }
            if let Some(quota) = quota {
                write_file(&dir, "cpu.cfs_quota_us", &quota.to_string())?;
            }
        }
        if let Some(pids) = r.pids_limit {
            let dir = self.required("pids", path)?;
            write_file(&dir, "pids.max", &max_or(pids))?;
        }
        Ok(())
    }

    fn limits(&self, path: &str) -> Result<CgroupLimits, RuntimeError> {
        let mut limits = CgroupLimits::default();
        let v1_limit = |dir: &Path, file: &str| -> Result<Option<i64>, RuntimeError> {
            let text = read_file(dir, file)?;
            let value: u64 = parse(dir, file, &text)?;
            Ok((value < V1_UNLIMITED_THRESHOLD).then_some(value as i64))
        };
        if let Some(dir) = self.dir("memory", path)? {
            limits.memory = v1_limit(&dir, "memory.limit_in_bytes")?;
            if dir.join("memory.memsw.limit_in_bytes").exists() {
                limits.memory_swap = v1_limit(&dir, "memory.memsw.limit_in_bytes")?;
            }
        }
        if let Some(dir) = self.dir("cpu", path)? {
            limits.cpu_shares = Some(parse(&dir, "cpu.shares", &read_file(&dir, "cpu.shares")?)?);
            let quota: i64 = parse(
                &dir,
                "cpu.cfs_quota_us",
                &read_file(&dir, "cpu.cfs_quota_us")?,
            )?;
            limits.cpu_quota = (quota > 0).then_some(quota);
            limits.cpu_period = Some(parse(
                &dir,
                "cpu.cfs_period_us",
                &read_file(&dir, "cpu.cfs_period_us")?,
            )?);
        }
        if let Some(dir) = self.dir("pids", path)? {
            limits.pids = parse_max(&dir, "pids.max")?;
        }
        Ok(limits)
    }

    fn stats(&self, path: &str) -> Result<CgroupStats, RuntimeError> {
        if !self.all_dirs(path)?.iter().any(|d| d.is_dir()) {
            return Err(no_such_cgroup(path));
        }
        let mut stats = CgroupStats::default();
        if let Some(dir) = self.dir("cpuacct", path)? {
            stats.cpu_usage_ns = read_counter(&dir, "cpuacct.usage")?;
        }
        if let Some(dir) = self.dir("memory", path)? {
            stats.memory_usage = read_counter(&dir, "memory.usage_in_bytes")?;
            stats.memory_inactive_file = stat_field(&dir, "memory.stat", "total_inactive_file")?;
            if let Some(text) = read_optional(&dir, "memory.limit_in_bytes")? {
                let limit: u64 = parse(&dir, "memory.limit_in_bytes", &text)?;
                stats.memory_limit = (limit < V1_UNLIMITED_THRESHOLD).then_some(limit);
            }
        }
        if let Some(dir) = self.dir("blkio", path)? {
            // runc's order of preference: the schedulers' own accounting,
            // then the throttle layer, which sees every request.
            for file in [
                "blkio.bfq.io_service_bytes_recursive",
                "blkio.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes",
            ] {
                if let Some((read, write)) =
                    read_optional(&dir, file)?.and_then(|text| parse_v1_io_service_bytes(&text))
                {
                    (stats.block_read, stats.block_write) = (read, write);
                    break;
                }
            }
        }
        if let Some(dir) = self.dir("pids", path)? {
            stats.pids = read_counter(&dir, "pids.current")?;
        }
        Ok(stats)
    }

    fn add_process(&self, path: &str, pid: u32) -> Result<(), RuntimeError> {
        for dir in self.all_dirs(path)? {
            write_file(&dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    fn processes(&self, path: &str) -> Result<Vec<u32>, RuntimeError> {
        let dir = match self.dir("pids", path)? {
            Some(dir) => dir,
            None => self.required("freezer", path)?,
        };
        subtree_processes(&dir)
    }

    fn freeze(&self, path: &str) -> Result<(), RuntimeError> {
        write_file(&self.required("freezer", path)?, "freezer.state", "FROZEN")
    }

    fn thaw(&self, path: &str) -> Result<(), RuntimeError> {
        write_file(&self.required("freezer", path)?, "freezer.state", "THAWED")
    }

    fn freezer_state(&self, path: &str) -> Result<FreezerState, RuntimeError> {
        let dir = self.required("freezer", path)?;
        match read_file(&dir, "freezer.state")?.as_str() {
            "THAWED" => Ok(FreezerState::Thawed),
            "FREEZING" => Ok(FreezerState::Freezing),
            "FROZEN" => Ok(FreezerState::Frozen),
            other => Err(RuntimeError::Cgroup {
                path: dir.join("freezer.state"),
                reason: format!("unexpected freezer state {other:?}"),
            }),
        }
    }

    fn kill_all(&self, path: &str) -> Result<KillOutcome, RuntimeError> {
        Ok(KillOutcome::SignalEach(self.processes(path)?))
    }

    fn destroy(&self, path: &str) -> Result<(), RuntimeError> {
        for dir in self.all_dirs(path)? {
            remove_cgroup_dir(&dir)?;
        }
        Ok(())
    }
}

/// cgroup v2: one tree, controllers enabled top-down via
/// `cgroup.subtree_control`.
#[derive(Debug, Clone)]
pub struct CgroupV2 {
    root: PathBuf,
}

/// The v2 controllers berth's limits use.
const V2_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

impl CgroupV2 {
    pub fn new(root: PathBuf) -> CgroupV2 {
        CgroupV2 { root }
    }

    fn dir(&self, path: &str) -> Result<PathBuf, RuntimeError> {
        Ok(self.root.join(relative(path)?))
    }

    /// Delegates our controllers from `dir` to its children, when `dir`
    /// offers them.
    fn enable_controllers(dir: &Path) -> Result<(), RuntimeError> {
        let available = match std::fs::read_to_string(dir.join("cgroup.controllers")) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(RuntimeError::io("read", dir.join("cgroup.controllers"), e)),
        };
        let wanted: Vec<String> = available
            .split_whitespace()
            .filter(|c| V2_CONTROLLERS.contains(c))
            .map(|c| format!("+{c}"))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        write_file(dir, "cgroup.subtree_control", &wanted.join(" "))
    }
}

/// Docker's `--cpu-shares` (v1 weight 2..262144, default 1024) mapped
/// linearly onto v2's `cpu.weight` (1..10000, default 100), as runc does.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + (shares - 2) * 9999 / 262_142
}

/// v2 keeps swap separately from memory, docker's flag counts both:
/// `memory.swap.max = memory-swap - memory`.
fn v2_swap_max(memory: Option<i64>, memory_swap: Option<i64>) -> Option<String> {
    match (memory, memory_swap) {
        (_, Some(-1)) => Some("max".to_string()),
        (Some(memory), Some(total)) if total >= memory => Some((total - memory).to_string()),
        _ => None,
    }
}

impl CgroupManager for CgroupV2 {
    fn create(&self, path: &str) -> Result<(), RuntimeError> {
        let rel = relative(path)?;
        let mut dir = self.root.clone();
        for component in rel.components() {
            CgroupV2::enable_controllers(&dir)?;
            dir.push(component);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(RuntimeError::io("create", &dir, e)),
            }
        }
        tracing::debug!(path, "created cgroup v2 directory");
        Ok(())
    }

    fn apply(&self, path: &str, resources: &Resources) -> Result<(), RuntimeError> {
        let r = resources.normalized()?;
        let dir = self.dir(path)?;
        if let Some(swap) = v2_swap_max(r.memory, r.memory_swap) {
            if dir.join("memory.swap.max").exists() {
                write_file(&dir, "memory.swap.max", &swap)?;
            } else {
                tracing::warn!(
                    dir = %dir.display(),
                    "kernel has no swap accounting; memory limited without swap"
                );
            }
        }
        if let Some(memory) = r.memory {
            write_file(&dir, "memory.max", &memory.to_string())?;
        }
        if let Some(shares) = r.cpu_shares.filter(|s| *s > 0) {
            write_file(
                &dir,
                "cpu.weight",
                &cpu_shares_to_weight(shares).to_string(),
            )?;
        }
        match r.cfs_quota_period() {
            (None, None) => {}
            (quota, period) => {
                let mut value = quota
                    .filter(|q| *q > 0)
                    .map_or("max".to_string(), |q| q.to_string());
                if let Some(period) = period {
                    value.push_str(&format!(" {period}"));
                }
                write_file(&dir, "cpu.max", &value)?;
            }
        }
        if let Some(pids) = r.pids_limit {
            write_file(&dir, "pids.max", &max_or(pids))?;
        }
        Ok(())
    }

    fn limits(&self, path: &str) -> Result<CgroupLimits, RuntimeError> {
        let dir = self.dir(path)?;
        let mut limits = CgroupLimits {
            memory: parse_max(&dir, "memory.max")?,
            pids: parse_max(&dir, "pids.max")?,
            ..CgroupLimits::default()
        };
        if dir.join("memory.swap.max").exists() {
            limits.memory_swap = match (limits.memory, parse_max(&dir, "memory.swap.max")?) {
                (Some(memory), Some(swap)) => Some(memory + swap),
                _ => None,
            };
        }
        limits.cpu_weight = Some(parse(&dir, "cpu.weight", &read_file(&dir, "cpu.weight")?)?);
        let cpu_max = read_file(&dir, "cpu.max")?;
        let mut fields = cpu_max.split_whitespace();
        limits.cpu_quota = match fields.next() {
            Some("max") | None => None,
            Some(q) => Some(parse(&dir, "cpu.max", q)?),
        };
        limits.cpu_period = fields
            .next()
            .map(|p| parse(&dir, "cpu.max", p))
            .transpose()?;
        Ok(limits)
    }

    fn stats(&self, path: &str) -> Result<CgroupStats, RuntimeError> {
        let dir = self.dir(path)?;
        if !dir.is_dir() {
            return Err(no_such_cgroup(path));
        }
        let memory_limit = match read_optional(&dir, "memory.max")?.as_deref() {
            None | Some("max") => None,
            Some(text) => Some(parse(&dir, "memory.max", text)?),
        };
        let (block_read, block_write) = read_optional(&dir, "io.stat")?
            .map(|text| parse_v2_io_stat(&text))
            .unwrap_or_default();
        Ok(CgroupStats {
            cpu_usage_ns: stat_field(&dir, "cpu.stat", "usage_usec")?.saturating_mul(1000),
            memory_usage: read_counter(&dir, "memory.current")?,
            memory_inactive_file: stat_field(&dir, "memory.stat", "inactive_file")?,
            memory_limit,
            block_read,
            block_write,
            pids: read_counter(&dir, "pids.current")?,
        })
    }

    fn add_process(&self, path: &str, pid: u32) -> Result<(), RuntimeError> {
        write_file(&self.dir(path)?, "cgroup.procs", &pid.to_string())
    }

    fn processes(&self, path: &str) -> Result<Vec<u32>, RuntimeError> {
        subtree_processes(&self.dir(path)?)
    }

    fn freeze(&self, path: &str) -> Result<(), RuntimeError> {
        write_file(&self.dir(path)?, "cgroup.freeze", "1")
    }

    fn thaw(&self, path: &str) -> Result<(), RuntimeError> {
        write_file(&self.dir(path)?, "cgroup.freeze", "0")
    }

    fn freezer_state(&self, path: &str) -> Result<FreezerState, RuntimeError> {
        let dir = self.dir(path)?;
        let requested = read_file(&dir, "cgroup.freeze")? == "1";
        let frozen = read_file(&dir, "cgroup.events")?
            .lines()
            .any(|l| l.trim() == "frozen 1");
        Ok(match (requested, frozen) {
            (_, true) => FreezerState::Frozen,
            (true, false) => FreezerState::Freezing,
            (false, false) => FreezerState::Thawed,
        })
    }

    fn kill_all(&self, path: &str) -> Result<KillOutcome, RuntimeError> {
        let dir = self.dir(path)?;
        // cgroup.kill appeared in Linux 5.14.
        if dir.join("cgroup.kill").exists() {
            write_file(&dir, "cgroup.kill", "1")?;
            return Ok(KillOutcome::Killed);
        }
        Ok(KillOutcome::SignalEach(subtree_processes(&dir)?))
    }

    fn destroy(&self, path: &str) -> Result<(), RuntimeError> {
        remove_cgroup_dir(&self.dir(path)?)
    }
}

/// A cgroup path relative to the root; `..` and the root itself are
/// refused so a container can never manage (or remove) a cgroup outside
/// its own.
fn relative(path: &str) -> Result<PathBuf, RuntimeError> {
    let invalid = |reason: &str| RuntimeError::Cgroup {
        path: PathBuf::from(path),
        reason: reason.to_string(),
    };
    let mut rel = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(c) => rel.push(c),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(invalid("path must not contain '..'"))
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(invalid("refusing to manage the root cgroup"));
    }
    Ok(rel)
}

fn max_or(limit: i64) -> String {
    if limit < 0 {
        "max".to_string()
    } else {
        limit.to_string()
    }
}

/// Writes an existing interface file; never creates one.
fn write_file(dir: &Path, file: &str, value: &str) -> Result<(), RuntimeError> {
    let path = dir.join(file);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| RuntimeError::io("write", &path, e))?;
    f.write_all(value.as_bytes())
        .map_err(|e| RuntimeError::io("write", &path, e))?;
    tracing::trace!(file = %path.display(), value, "wrote cgroup file");
    Ok(())
}

fn read_file(dir: &Path, file: &str) -> Result<String, RuntimeError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| RuntimeError::io("read", &path, e))
}

fn parse<T: std::str::FromStr>(dir: &Path, file: &str, text: &str) -> Result<T, RuntimeError> {
    text.parse().map_err(|_| RuntimeError::Cgroup {
        path: dir.join(file),
        reason: format!("unexpected content {text:?}"),
    })
}

fn parse_max(dir: &Path, file: &str) -> Result<Option<i64>, RuntimeError> {
    match read_file(dir, file)?.as_str() {
        "max" => Ok(None),
        text => parse(dir, file, text).map(Some),
    }
}

fn no_such_cgroup(path: &str) -> RuntimeError {
    RuntimeError::Cgroup {
        path: PathBuf::from(path),
        reason: "no such cgroup".to_string(),
    }
}

/// Reads an interface file that a kernel without the controller (or this
/// counter) does not have.
fn read_optional(dir: &Path, file: &str) -> Result<Option<String>, RuntimeError> {
    match std::fs::read_to_string(dir.join(file)) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RuntimeError::io("read", dir.join(file), e)),
    }
}

/// A single-number file; zero when the file is missing.
fn read_counter(dir: &Path, file: &str) -> Result<u64, RuntimeError> {
    match read_optional(dir, file)? {
        Some(text) => parse(dir, file, &text),
        None => Ok(0),
    }
}

/// One `key value` line of a flat-keyed file (`memory.stat`, `cpu.stat`);
/// zero when the file or the key is missing.
fn stat_field(dir: &Path, file: &str, key: &str) -> Result<u64, RuntimeError> {
    let Some(text) = read_optional(dir, file)? else {
        return Ok(0);
    };
    match text
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
    {
        Some(value) => parse(dir, file, value.trim()),
        None => Ok(0),
    }
}

/// Bytes read and written from a v1 `*io_service_bytes*` file (lines
/// `MAJ:MIN Read N`, `MAJ:MIN Write N` ..., then `Total N`); `None` when
/// it has no device lines, as when its scheduler is not in use.
fn parse_v1_io_service_bytes(text: &str) -> Option<(u64, u64)> {
    let mut totals = None;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_device), Some(op), Some(value)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (read, write) = totals.get_or_insert((0u64, 0u64));
        let value: u64 = value.parse().unwrap_or(0);
        match op {
            "Read" => *read += value,
            "Write" => *write += value,
            _ => {}
        }
    }
    totals
}

/// Bytes read and written, summed over devices, from v2 `io.stat` lines
/// (`MAJ:MIN rbytes=N wbytes=N rios=N ...`).
fn parse_v2_io_stat(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for field in text.split_whitespace() {
        let value = |v: &str| v.parse::<u64>().unwrap_or(0);
        if let Some(v) = field.strip_prefix("rbytes=") {
            read += value(v);
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            write += value(v);
        }
    }
    (read, write)
}

fn subtree_processes(dir: &Path) -> Result<Vec<u32>, RuntimeError> {
    let mut pids = Vec::new();
    for line in read_file(dir, "cgroup.procs")?.lines() {
        pids.push(parse(dir, "cgroup.procs", line.trim())?);
    }
    for child in child_dirs(dir)? {
        pids.extend(subtree_processes(&child)?);
    }
    Ok(pids)
}

fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>, RuntimeError> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| RuntimeError::io("read", dir, e))? {
        let entry = entry.map_err(|e| RuntimeError::io("read", dir, e))?;
        let kind = entry
            .file_type()
            .map_err(|e| RuntimeError::io("stat", entry.path(), e))?;
        if kind.is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Removes a cgroup and its child cgroups, deepest first. On cgroupfs
/// `rmdir` ignores the interface files; a plain directory (a cgroupfs that
/// was unmounted, or a test tree) needs its files unlinked first.
fn remove_cgroup_dir(dir: &Path) -> Result<(), RuntimeError> {
    let children = match child_dirs(dir) {
        Ok(children) => children,
        Err(RuntimeError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    for child in children {
        remove_cgroup_dir(&child)?;
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
            for entry in std::fs::read_dir(dir).map_err(|e| RuntimeError::io("read", dir, e))? {
                let path = entry.map_err(|e| RuntimeError::io("read", dir, e))?.path();
                std::fs::remove_file(&path).map_err(|e| RuntimeError::io("remove", &path, e))?;
            }
            std::fs::remove_dir(dir).map_err(|e| RuntimeError::io("remove", dir, e))
        }
        Err(e) => Err(RuntimeError::io("remove", dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays the kernel: a new v1 cgroup directory gets its interface files.
    fn populate_v1(dir: &Path, controller: &str) {
        let files: &[(&str, &str)] = match controller {
            "memory" => &[
                ("memory.limit_in_bytes", "9223372036854771712"),
                ("memory.memsw.limit_in_bytes", "9223372036854771712"),
            ],
            "cpu" => &[
                ("cpu.shares", "1024"),
                ("cpu.cfs_quota_us", "-1"),
                ("cpu.cfs_period_us", "100000"),
            ],
            "pids" => &[("pids.max", "max")],
            "freezer" => &[("freezer.state", "THAWED")],
            _ => &[],
        };
        for (name, value) in files.iter().chain(&[("cgroup.procs", "")]) {
            std::fs::write(dir.join(name), format!("{value}\n")).unwrap();
        }
    }

    fn populate_v2(dir: &Path, controllers: &str) {
        for (name, value) in [
            ("cgroup.controllers", controllers),
            ("cgroup.subtree_control", ""),
            ("cgroup.procs", ""),
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 0\nfrozen 0"),
            ("memory.max", "max"),
            ("memory.swap.max", "max"),
            ("cpu.weight", "100"),
            ("cpu.max", "max 100000"),
            ("pids.max", "max"),
        ] {
            std::fs::write(dir.join(name), format!("{value}\n")).unwrap();
        }
    }

    fn v1_host() -> (tempfile::TempDir, CgroupV1) {
        let root = tempfile::tempdir().unwrap();
        for h in ["memory", "cpu,cpuacct", "pids", "freezer", "devices"] {
            std::fs::create_dir(root.path().join(h)).unwrap();
        }
        let manager = CgroupV1::new(root.path()).unwrap();
        (root, manager)
    }

    fn v1_create(root: &Path, m: &CgroupV1, path: &str) {
        m.create(path).unwrap();
        for (h, c) in [
            ("memory", "memory"),
            ("cpu,cpuacct", "cpu"),
            ("pids", "pids"),
            ("freezer", "freezer"),
        ] {
            populate_v1(&root.join(h).join(path.trim_start_matches('/')), c);
        }
    }

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(path).unwrap().trim().to_string()
    }

    #[test]
    fn mountinfo_detects_hybrid() {
        let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";
        let mounts = parse_mountinfo(text).unwrap();
        assert_eq!(mounts.mode, CgroupMode::Hybrid);
        assert_eq!(
            mounts.unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!(mounts.v1["cpu"], Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(
            mounts.v1["cpuacct"],
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(mounts.v1["memory"], Path::new("/sys/fs/cgroup/memory"));
        assert!(!mounts.v1.contains_key("xattr"));
        assert!(!mounts.v1.contains_key("name=systemd"));
    }

    #[test]
    fn mountinfo_detects_unified_and_legacy() {
        let unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        let m = parse_mountinfo(unified).unwrap();
        assert_eq!(m.mode, CgroupMode::Unified);
        assert_eq!(m.unified.as_deref(), Some(Path::new("/sys/fs/cgroup")));
        let legacy = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(parse_mountinfo(legacy).unwrap().mode, CgroupMode::Legacy);
        assert!(parse_mountinfo("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n").is_none());
        let escaped = "29 23 0:26 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            parse_mountinfo(escaped).unwrap().unified.as_deref(),
            Some(Path::new("/mnt/my cgroup"))
        );
    }

    #[test]
    fn v1_writes_docker_files() {
        let (root, m) = v1_host();
        v1_create(root.path(), &m, "/berth/c1");
        m.apply(
            "/berth/c1",
            &Resources {
                memory: Some(64 << 20),
                cpu_shares: Some(512),
                nano_cpus: Some(1_500_000_000),
                pids_limit: Some(100),
                ..Default::default()
            },
        )
        .unwrap();
        let mem = root.path().join("memory/berth/c1");
        assert_eq!(read(mem.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "134217728");
        let cpu = root.path().join("cpu,cpuacct/berth/c1");
        assert_eq!(read(cpu.join("cpu.shares")), "512");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "150000");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(root.path().join("pids/berth/c1/pids.max")), "100");
        assert!(!root.path().join("devices/berth").exists());

        let limits = m.limits("/berth/c1").unwrap();
        assert_eq!(
            limits,
            CgroupLimits {
                memory: Some(64 << 20),
                memory_swap: Some(128 << 20),
                cpu_shares: Some(512),
                cpu_weight: None,
                cpu_quota: Some(150_000),
                cpu_period: Some(100_000),
                pids: Some(100),
            }
        );
    }

    #[test]
    fn v1_unlimited_values_read_back_as_none() {
        let (root, m) = v1_host();
        v1_create(root.path(), &m, "c2");
        let limits = m.limits("c2").unwrap();
        assert_eq!(limits.memory, None);
        assert_eq!(limits.memory_swap, None);
        assert_eq!(limits.cpu_quota, None);
        assert_eq!(limits.pids, None);
        m.apply(
            "c2",
            &Resources {
                pids_limit: Some(0),
                memory: Some(8 << 20),
                memory_swap: Some(-1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(read(root.path().join("pids/c2/pids.max")), "max");
        assert_eq!(
            read(root.path().join("memory/c2/memory.memsw.limit_in_bytes")),
            "-1"
        );
    }

    #[test]
    fn v1_without_swap_accounting_limits_memory_only() {
        let (root, m) = v1_host();
        v1_create(root.path(), &m, "c3");
        std::fs::remove_file(root.path().join("memory/c3/memory.memsw.limit_in_bytes")).unwrap();
        m.apply(
            "c3",
            &Resources {
                memory: Some(64 << 20),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            read(root.path().join("memory/c3/memory.limit_in_bytes")),
            "67108864"
        );
        assert_eq!(m.limits("c3").unwrap().memory_swap, None);
    }

    #[test]
    fn v1_missing_controller_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("memory")).unwrap();
        let m = CgroupV1::new(root.path()).unwrap();
        m.create("c").unwrap();
        let err = m
            .apply(
                "c",
                &Resources {
                    pids_limit: Some(5),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cgroup c: the pids controller is not mounted"
        );
    }

    #[test]
    fn v1_freeze_kill_and_destroy() {
        let (root, m) = v1_host();
        v1_create(root.path(), &m, "/berth/c4");
        m.add_process("/berth/c4", 4242).unwrap();
        assert_eq!(
            read(root.path().join("memory/berth/c4/cgroup.procs")),
            "4242"
        );
        std::fs::write(root.path().join("pids/berth/c4/cgroup.procs"), "10\n11\n").unwrap();
        std::fs::create_dir(root.path().join("pids/berth/c4/sub")).unwrap();
        std::fs::write(root.path().join("pids/berth/c4/sub/cgroup.procs"), "12\n").unwrap();

        m.freeze("/berth/c4").unwrap();
        assert_eq!(
            read(root.path().join("freezer/berth/c4/freezer.state")),
            "FROZEN"
        );
        assert_eq!(m.freezer_state("/berth/c4").unwrap(), FreezerState::Frozen);
        assert_eq!(
            m.kill_all("/berth/c4").unwrap(),
            KillOutcome::SignalEach(vec![10, 11, 12])
        );
        m.thaw("/berth/c4").unwrap();
        assert_eq!(m.freezer_state("/berth/c4").unwrap(), FreezerState::Thawed);

        m.destroy("/berth/c4").unwrap();
        for h in ["memory", "cpu,cpuacct", "pids", "freezer"] {
            assert!(!root.path().join(h).join("berth/c4").exists(), "{h}");
            assert!(
                root.path().join(h).join("berth").exists(),
                "{h} parent kept"
            );
        }
        m.destroy("/berth/c4").unwrap();
    }

    #[test]
    fn v1_lowering_limits_writes_memory_first() {
        let (root, m) = v1_host();
        v1_create(root.path(), &m, "c5");
        let dir = root.path().join("memory/c5");
        std::fs::write(dir.join("memory.limit_in_bytes"), "268435456\n").unwrap();
        // A directory in place of the swap file makes writing it fail, so
        // the order of the two writes becomes observable.
        std::fs::remove_file(dir.join("memory.memsw.limit_in_bytes")).unwrap();
        std::fs::create_dir(dir.join("memory.memsw.limit_in_bytes")).unwrap();
        let lower = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            ..Default::default()
        };
        assert!(m.apply("c5", &lower).is_err());
        assert_eq!(read(dir.join("memory.limit_in_bytes")), "67108864");
        std::fs::write(dir.join("memory.limit_in_bytes"), "8388608\n").unwrap();
        assert!(m.apply("c5", &lower).is_err());
        assert_eq!(
            read(dir.join("memory.limit_in_bytes")),
            "8388608",
            "raising writes swap first"
        );
    }

    #[test]
    fn v2_create_delegates_controllers_top_down() {
        let root = tempfile::tempdir().unwrap();
        populate_v2(root.path(), "cpuset cpu io memory hugetlb pids rdma misc");
        let m = CgroupV2::new(root.path().to_path_buf());
        // The kernel would populate /berth before we descend into it; do it
        // by creating the parent first.
        m.create("/berth").unwrap();
        populate_v2(&root.path().join("berth"), "cpu memory pids");
        m.create("/berth/c1").unwrap();
        populate_v2(&root.path().join("berth/c1"), "cpu memory pids");
        assert_eq!(
            read(root.path().join("cgroup.subtree_control")),
            "+cpu +memory +pids"
        );
        assert_eq!(
            read(root.path().join("berth/cgroup.subtree_control")),
            "+cpu +memory +pids"
        );
        assert!(root.path().join("berth/c1").is_dir());
    }

    fn v2_host(path: &str) -> (tempfile::TempDir, CgroupV2) {
        let root = tempfile::tempdir().unwrap();
        populate_v2(root.path(), "cpu memory pids");
        let m = CgroupV2::new(root.path().to_path_buf());
        m.create(path).unwrap();
        populate_v2(
            &root.path().join(path.trim_start_matches('/')),
            "cpu memory pids",
        );
        (root, m)
    }

    #[test]
    fn v2_writes_docker_files() {
        let (root, m) = v2_host("/c1");
        m.apply(
            "/c1",
            &Resources {
                memory: Some(64 << 20),
                cpu_shares: Some(1024),
                nano_cpus: Some(500_000_000),
                pids_limit: Some(64),
                ..Default::default()
            },
        )
        .unwrap();
        let dir = root.path().join("c1");
        assert_eq!(read(dir.join("memory.max")), "67108864");
        assert_eq!(read(dir.join("memory.swap.max")), "67108864");
        assert_eq!(read(dir.join("cpu.weight")), "39");
        assert_eq!(read(dir.join("cpu.max")), "50000 100000");
        assert_eq!(read(dir.join("pids.max")), "64");
        assert_eq!(
            m.limits("/c1").unwrap(),
            CgroupLimits {
                memory: Some(64 << 20),
                memory_swap: Some(128 << 20),
                cpu_shares: None,
                cpu_weight: Some(39),
                cpu_quota: Some(50_000),
                cpu_period: Some(100_000),
                pids: Some(64),
            }
        );
    }

    #[test]
    fn v2_unlimited_and_quota_only_forms() {
        let (root, m) = v2_host("c2");
        assert_eq!(
            m.limits("c2").unwrap(),
            CgroupLimits {
                cpu_weight: Some(100),
                cpu_period: Some(100_000),
                ..Default::default()
            }
        );
        m.apply(
            "c2",
            &Resources {
                memory: Some(32 << 20),
                memory_swap: Some(-1),
                cpu_quota: Some(-1),
                cpu_period: Some(50_000),
                pids_limit: Some(-1),
                ..Default::default()
            },
        )
        .unwrap();
        let dir = root.path().join("c2");
        assert_eq!(read(dir.join("memory.swap.max")), "max");
        assert_eq!(read(dir.join("cpu.max")), "max 50000");
        assert_eq!(read(dir.join("pids.max")), "max");
    }

    #[test]
    fn cpu_weight_conversion_matches_runc() {
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(1), 1);
        assert_eq!(cpu_shares_to_weight(u64::MAX), 10_000);
    }

    #[test]
    fn v2_freeze_states() {
        let (root, m) = v2_host("c3");
        let dir = root.path().join("c3");
        m.freeze("c3").unwrap();
        assert_eq!(read(dir.join("cgroup.freeze")), "1");
        assert_eq!(m.freezer_state("c3").unwrap(), FreezerState::Freezing);
        std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        assert_eq!(m.freezer_state("c3").unwrap(), FreezerState::Frozen);
        m.thaw("c3").unwrap();
        std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        assert_eq!(m.freezer_state("c3").unwrap(), FreezerState::Thawed);
    }

    #[test]
    fn v2_kill_prefers_cgroup_kill() {
        let (root, m) = v2_host("c4");
        let dir = root.path().join("c4");
        std::fs::write(dir.join("cgroup.procs"), "7\n8\n").unwrap();
        assert_eq!(m.processes("c4").unwrap(), vec![7, 8]);
        assert_eq!(
            m.kill_all("c4").unwrap(),
            KillOutcome::SignalEach(vec![7, 8])
        );
        std::fs::write(dir.join("cgroup.kill"), "").unwrap();
        assert_eq!(m.kill_all("c4").unwrap(), KillOutcome::Killed);
        assert_eq!(read(dir.join("cgroup.kill")), "1");
    }

    #[test]
    fn v2_add_process_and_destroy_with_children() {
        let (root, m) = v2_host("/berth/c5");
        m.add_process("/berth/c5", 99).unwrap();
        assert_eq!(read(root.path().join("berth/c5/cgroup.procs")), "99");
        std::fs::create_dir(root.path().join("berth/c5/init")).unwrap();
        populate_v2(&root.path().join("berth/c5/init"), "");
        m.destroy("/berth/c5").unwrap();
        assert!(!root.path().join("berth/c5").exists());
        assert!(root.path().join("berth").exists());
        m.destroy("/berth/c5").unwrap();
    }

    #[test]
    fn missing_interface_files_are_not_created() {
        let root = tempfile::tempdir().unwrap();
        let m = CgroupV2::new(root.path().to_path_buf());
        m.create("c").unwrap();
        let err = m
            .apply(
                "c",
                &Resources {
                    pids_limit: Some(5),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(err.to_string().starts_with("write "), "{err}");
        assert!(!root.path().join("c/pids.max").exists());
    }

    #[test]
    fn paths_cannot_escape_or_target_the_root() {
        let root = tempfile::tempdir().unwrap();
        let m = CgroupV2::new(root.path().to_path_buf());
        assert!(m
            .create("/berth/../../etc")
            .unwrap_err()
            .to_string()
            .contains("'..'"));
        assert!(m
            .destroy("/")
            .unwrap_err()
            .to_string()
            .contains("root cgroup"));
        assert!(m.destroy("").is_err());
    }

    #[test]
    fn v1_stats_read_dockers_counters() {
        let (root, _) = v1_host();
        std::fs::create_dir(root.path().join("blkio")).unwrap();
        let m = CgroupV1::new(root.path()).unwrap();
        v1_create(root.path(), &m, "/berth/s1");
        let write = |rel: &str, text: &str| {
            let path = root.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("memory/berth/s1/memory.limit_in_bytes", "67108864\n");
        write("memory/berth/s1/memory.usage_in_bytes", "30000000\n");
        write(
            "memory/berth/s1/memory.stat",
            "cache 9000000\ninactive_file 1\ntotal_cache 9000000\ntotal_inactive_file 8000000\n",
        );
        write("cpu,cpuacct/berth/s1/cpuacct.usage", "123456789\n");
        write("pids/berth/s1/pids.current", "3\n");
        // No bfq accounting (only a Total line): the throttle file counts.
        write(
            "blkio/berth/s1/blkio.bfq.io_service_bytes_recursive",
            "Total 0\n",
        );
        write(
            "blkio/berth/s1/blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 8192\n8:0 Async 4096\n8:0 Discard 0\n8:0 Total 12288\n\
             8:16 Read 1000\n8:16 Write 0\nTotal 13288\n",
        );
        let stats = m.stats("/berth/s1").unwrap();
        assert_eq!(
            stats,
            CgroupStats {
                cpu_usage_ns: 123_456_789,
                memory_usage: 30_000_000,
                memory_inactive_file: 8_000_000,
                memory_limit: Some(64 << 20),
                block_read: 5096,
                block_write: 8192,
                pids: 3,
            }
        );
        assert_eq!(stats.memory_without_cache(), 22_000_000);
    }

    #[test]
    fn v1_stats_of_an_unlimited_cgroup_and_missing_counters() {
        let (root, m) = v1_host();
        v1_create(root.path(), &m, "s2");
        let stats = m.stats("s2").unwrap();
        assert_eq!(stats.memory_limit, None);
        assert_eq!(stats.block_read, 0);
        assert_eq!(stats.pids, 0);
        assert_eq!(
            m.stats("gone").unwrap_err().to_string(),
            "cgroup gone: no such cgroup"
        );
    }

    #[test]
    fn v2_stats_read_dockers_counters() {
        let (root, m) = v2_host("/berth/s3");
        let dir = root.path().join("berth/s3");
        for (name, text) in [
            ("cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n"),
            ("memory.current", "20971520"),
            ("memory.stat", "anon 100\nfile 5000\nactive_file 1000\ninactive_file 4000\n"),
            ("memory.max", "67108864"),
            ("pids.current", "2"),
            (
                "io.stat",
                "8:0 rbytes=4096 wbytes=1024 rios=1 wios=1 dbytes=0 dios=0\n8:16 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n",
            ),
        ] {
            std::fs::write(dir.join(name), format!("{text}\n")).unwrap();
        }
        let stats = m.stats("/berth/s3").unwrap();
        assert_eq!(
            stats,
            CgroupStats {
                cpu_usage_ns: 2_500_000,
                memory_usage: 20_971_520,
                memory_inactive_file: 4000,
                memory_limit: Some(64 << 20),
                block_read: 4106,
                block_write: 1044,
                pids: 2,
            }
        );
        assert_eq!(stats.memory_without_cache(), 20_967_520);
        std::fs::write(dir.join("memory.max"), "max\n").unwrap();
        std::fs::remove_file(dir.join("io.stat")).unwrap();
        let stats = m.stats("/berth/s3").unwrap();
        assert_eq!(stats.memory_limit, None);
        assert_eq!((stats.block_read, stats.block_write), (0, 0));
        assert!(m.stats("/berth/gone").is_err());
    }

    #[test]
    fn cache_larger_than_usage_is_not_subtracted() {
        let stats = CgroupStats {
            memory_usage: 100,
            memory_inactive_file: 100,
            ..Default::default()
        };
        assert_eq!(stats.memory_without_cache(), 100);
    }

    #[test]
    fn mounts_pick_the_matching_manager() {
        let root = tempfile::tempdir().unwrap();
        populate_v2(root.path(), "pids");
        let mounts = CgroupMounts {
            mode: CgroupMode::Unified,
            unified: Some(root.path().to_path_buf()),
            v1: BTreeMap::new(),
        };
        let m = mounts.manager();
        m.create("x").unwrap();
        assert_eq!(read(root.path().join("cgroup.subtree_control")), "+pids");

        let v1root = tempfile::tempdir().unwrap();
        std::fs::create_dir(v1root.path().join("pids")).unwrap();
        let hybrid = CgroupMounts {
            mode: CgroupMode::Hybrid,
            unified: Some(root.path().to_path_buf()),
            v1: BTreeMap::from([("pids".to_string(), v1root.path().join("pids"))]),
        };
        hybrid.manager().create("y").unwrap();
        assert!(v1root.path().join("pids/y").is_dir());
    }
}
