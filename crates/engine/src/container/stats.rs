//! `stats`: a container's resource usage, read from its cgroup and from
//! the host's `/proc`, computed the way docker's daemon and CLI do.

use berth_runtime::cgroups::{parse_mountinfo, CgroupStats};

use super::ContainerStatus;
use crate::{Engine, EngineError};

/// One reading of a container's counters. CPU % needs two of them.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSample {
    pub id: String,
    pub name: String,
    /// Memory in use, without the inactive file cache (docker's number).
    pub memory_usage: u64,
    /// The container's limit, or the host's memory when it has none; zero
    /// for a container that is not running.
    pub memory_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
    /// CPU time the container used, in nanoseconds.
    pub container_cpu_ns: u64,
    /// CPU time the whole host used, in nanoseconds.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
}

impl StatsSample {
    /// docker's CPU %: the container's share of all the host's CPU time
    /// between two samples, scaled to the number of CPUs (200% = two CPUs
    /// busy). Zero without an earlier sample.
    pub fn cpu_percent(&self, previous: Option<&StatsSample>) -> f64 {
        let Some(previous) = previous else {
            return 0.0;
        };
        let cpu_delta = self.container_cpu_ns as f64 - previous.container_cpu_ns as f64;
        let system_delta = self.system_cpu_ns as f64 - previous.system_cpu_ns as f64;
        if cpu_delta > 0.0 && system_delta > 0.0 {
            cpu_delta / system_delta * f64::from(self.online_cpus) * 100.0
        } else {
            0.0
        }
    }

    pub fn memory_percent(&self) -> f64 {
        if self.memory_limit == 0 {
            return 0.0;
        }
        self.memory_usage as f64 / self.memory_limit as f64 * 100.0
    }
}

/// docker's kernel clock: `/proc/stat` counts in USER_HZ ticks, 100 a
/// second on every Linux architecture docker supports.
const NANOS_PER_TICK: u64 = 1_000_000_000 / 100;

/// The host's total CPU time in nanoseconds (the first seven fields of the
/// `cpu` line: user to softirq, as docker sums them) and the number of
/// online CPUs (the `cpuN` lines).
fn parse_proc_stat(text: &str) -> Option<(u64, u32)> {
    let mut total = None;
    let mut cpus = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let ticks: Option<Vec<u64>> = fields.take(7).map(|f| f.parse().ok()).collect();
                let ticks = ticks.filter(|t| t.len() == 7)?;
                total = Some(ticks.iter().sum::<u64>() * NANOS_PER_TICK);
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    Some((total?, cpus))
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
fn parse_mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn read_proc(path: &str) -> Result<String, EngineError> {
    std::fs::read_to_string(path).map_err(|e| EngineError::io(format!("read {path}"), e))
}

fn unexpected(path: &str) -> EngineError {
    EngineError::io(
        format!("read {path}"),
        std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected content"),
    )
}

impl Engine {
    /// Reads a container's usage now. A container that is not running
    /// reads as zeros, as docker shows it.
    pub fn container_stats(&mut self, s: &str) -> Result<StatsSample, EngineError> {
        let info = self.container(s)?;
        let mut sample = StatsSample {
            id: info.record.id.clone(),
            name: info.record.name.clone(),
            memory_usage: 0,
            memory_limit: 0,
            net_rx: 0,
            net_tx: 0,
            block_read: 0,
            block_write: 0,
            pids: 0,
            container_cpu_ns: 0,
            system_cpu_ns: 0,
            online_cpus: 0,
        };
        if !matches!(
            info.record.status,
            ContainerStatus::Running | ContainerStatus::Paused
        ) {
            return Ok(sample);
        }
        let mounts = parse_mountinfo(&read_proc("/proc/self/mountinfo")?)
            .ok_or_else(|| EngineError::Internal("no cgroup filesystem is mounted".into()))?;
        let cgroup: CgroupStats = mounts
            .manager()
            .stats(&format!("/berth/{}", info.record.id))?;
        let (system_cpu_ns, online_cpus) =
            parse_proc_stat(&read_proc("/proc/stat")?).ok_or_else(|| unexpected("/proc/stat"))?;
        let host_memory = parse_mem_total(&read_proc("/proc/meminfo")?)
            .ok_or_else(|| unexpected("/proc/meminfo"))?;
        sample.memory_usage = cgroup.memory_without_cache();
        sample.memory_limit = cgroup
            .memory_limit
            .filter(|limit| *limit < host_memory)
            .unwrap_or(host_memory);
        // Networks `none` and `host` give the container no interface of
        // its own to count; docker shows 0B / 0B for both.
        sample.block_read = cgroup.block_read;
        sample.block_write = cgroup.block_write;
        sample.pids = cgroup.pids;
        sample.container_cpu_ns = cgroup.cpu_usage_ns;
        sample.system_cpu_ns = system_cpu_ns;
        sample.online_cpus = online_cpus;
        Ok(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(container_cpu_ns: u64, system_cpu_ns: u64) -> StatsSample {
        StatsSample {
            id: "c".into(),
            name: "c".into(),
            memory_usage: 16 << 20,
            memory_limit: 64 << 20,
            net_rx: 0,
            net_tx: 0,
            block_read: 0,
            block_write: 0,
            pids: 1,
            container_cpu_ns,
            system_cpu_ns,
            online_cpus: 2,
        }
    }

    #[test]
    fn cpu_percent_is_the_share_of_host_time_times_cpus() {
        let before = sample(1_000_000_000, 10_000_000_000);
        // One CPU busy for the whole second on a two-CPU host.
        let after = sample(2_000_000_000, 12_000_000_000);
        assert_eq!(after.cpu_percent(Some(&before)), 100.0);
        assert_eq!(after.cpu_percent(None), 0.0);
        // A restarted container's counter starts again from zero.
        assert_eq!(before.cpu_percent(Some(&after)), 0.0);
    }

    #[test]
    fn memory_percent_of_the_limit() {
        assert_eq!(sample(0, 0).memory_percent(), 25.0);
        let stopped = StatsSample {
            memory_limit: 0,
            ..sample(0, 0)
        };
        assert_eq!(stopped.memory_percent(), 0.0);
    }

    #[test]
    fn proc_stat_gives_nanoseconds_and_cpus() {
        let text = "cpu  100 2 30 400 5 6 7 8 0 0\ncpu0 50 1 15 200 2 3 3 4 0 0\ncpu1 50 1 15 200 3 3 4 4 0 0\nintr 1 2 3\nctxt 99\n";
        assert_eq!(parse_proc_stat(text), Some((550 * 10_000_000, 2)));
        assert_eq!(parse_proc_stat("cpu 1 2 3\n"), None);
        assert_eq!(parse_proc_stat("intr 1\n"), None);
    }

    #[test]
    fn meminfo_total_in_bytes() {
        let text = "MemTotal:       24683656 kB\nMemFree:         1000 kB\n";
        assert_eq!(parse_mem_total(text), Some(24_683_656 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
    }
}
