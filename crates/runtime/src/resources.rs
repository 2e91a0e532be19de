//! Resource limits as docker's flags express them, validated and defaulted
//! the way the docker daemon does before they reach the spec or a cgroup.

use crate::RuntimeError;

/// The smallest `--memory` docker accepts: below it the container cannot
/// even start its init.
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// The CFS period `--cpus` uses: quota is expressed per 100 ms.
pub const DEFAULT_CPU_PERIOD: u64 = 100_000;

/// Limits in docker's units (bytes, shares, micro-seconds, nano-CPUs).
/// `None` means "not set"; `-1` in the swap or pids fields means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// `--memory`, bytes.
    pub memory: Option<i64>,
    /// `--memory-swap`: memory plus swap, bytes; `-1` for unlimited swap.
    pub memory_swap: Option<i64>,
    /// `--cpu-shares`, the cgroup v1 relative weight (1024 = default).
    pub cpu_shares: Option<u64>,
    /// `--cpus` in nano-CPUs; turned into a CFS quota over 100 ms.
    pub nano_cpus: Option<i64>,
    /// `--cpu-quota`, micro-seconds per period.
    pub cpu_quota: Option<i64>,
    /// `--cpu-period`, micro-seconds.
    pub cpu_period: Option<u64>,
    /// `--pids-limit`; zero or negative means unlimited.
    pub pids_limit: Option<i64>,
}

impl Resources {
    /// Checks the combinations docker refuses and fills in docker's
    /// defaults: swap defaults to twice the memory limit (so as much swap as
    /// memory), a non-positive pids limit means unlimited (`-1`).
    pub fn normalized(&self) -> Result<Resources, RuntimeError> {
        let mut r = self.clone();
        if let Some(memory) = r.memory {
            if memory <= 0 {
                r.memory = None;
            } else if memory < MIN_MEMORY {
                return Err(RuntimeError::invalid(
                    "--memory",
                    "minimum memory limit allowed is 6MB",
                ));
            }
        }
        match (r.memory, r.memory_swap) {
            (None, Some(swap)) if swap > 0 => {
                return Err(RuntimeError::invalid(
                    "--memory-swap",
                    "you should always set the memory limit when using memoryswap limit, see usage",
                ))
            }
            (Some(memory), Some(swap)) if swap > 0 && swap < memory => {
                return Err(RuntimeError::invalid(
                    "--memory-swap",
                    "minimum memoryswap limit should be larger than memory limit, see usage",
                ))
            }
            (Some(memory), None) | (Some(memory), Some(0)) => {
                r.memory_swap = Some(memory.saturating_mul(2));
            }
            (None, Some(0)) => r.memory_swap = None,
            _ => {}
        }
        if let Some(nano) = r.nano_cpus {
            if nano < 0 {
                return Err(RuntimeError::invalid("--cpus", "value must be positive"));
            }
            if r.cpu_period.is_some() {
                return Err(RuntimeError::invalid(
                    "--cpus",
                    "conflicting options: nano cpus and cpu period cannot both be set",
                ));
            }
            if r.cpu_quota.is_some() {
                return Err(RuntimeError::invalid(
                    "--cpus",
                    "conflicting options: nano cpus and cpu quota cannot both be set",
                ));
            }
            if nano == 0 {
                r.nano_cpus = None;
            }
        }
        if let Some(period) = r.cpu_period {
            if period != 0 && !(1000..=1_000_000).contains(&period) {
                return Err(RuntimeError::invalid(
                    "--cpu-period",
                    "cpu cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
                ));
            }
        }
        if let Some(quota) = r.cpu_quota {
            if quota > 0 && quota < 1000 {
                return Err(RuntimeError::invalid(
                    "--cpu-quota",
                    "cpu cfs quota can not be less than 1ms (i.e. 1000)",
                ));
            }
        }
        if let Some(pids) = r.pids_limit {
            if pids <= 0 {
                r.pids_limit = Some(-1);
            }
        }
        Ok(r)
    }

    /// The CFS quota and period to write: `--cpus` wins as quota over a
    /// 100 ms period, otherwise the raw `--cpu-quota`/`--cpu-period`.
    pub fn cfs_quota_period(&self) -> (Option<i64>, Option<u64>) {
        match self.nano_cpus {
            Some(nano) if nano > 0 => {
                let quota = nano as i128 * DEFAULT_CPU_PERIOD as i128 / 1_000_000_000;
                (Some(quota as i64), Some(DEFAULT_CPU_PERIOD))
            }
            _ => (
                self.cpu_quota.filter(|q| *q != 0),
                self.cpu_period.filter(|p| *p != 0),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_defaults_to_twice_memory() {
        let r = Resources {
            memory: Some(64 << 20),
            ..Default::default()
        }
        .normalized()
        .unwrap();
        assert_eq!(r.memory_swap, Some(128 << 20));
        let unlimited = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(-1),
            ..Default::default()
        }
        .normalized()
        .unwrap();
        assert_eq!(unlimited.memory_swap, Some(-1));
    }

    #[test]
    fn memory_rules_match_docker() {
        let tiny = Resources {
            memory: Some(1 << 20),
            ..Default::default()
        };
        assert_eq!(
            tiny.normalized().unwrap_err().to_string(),
            "invalid --memory: minimum memory limit allowed is 6MB"
        );
        let swap_only = Resources {
            memory_swap: Some(1 << 30),
            ..Default::default()
        };
        assert!(swap_only
            .normalized()
            .unwrap_err()
            .to_string()
            .contains("always set the memory limit"));
        let swap_small = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(32 << 20),
            ..Default::default()
        };
        assert!(swap_small
            .normalized()
            .unwrap_err()
            .to_string()
            .contains("larger than memory limit"));
    }

    #[test]
    fn cpus_become_quota_over_100ms() {
        let r = Resources {
            nano_cpus: Some(1_500_000_000),
            ..Default::default()
        }
        .normalized()
        .unwrap();
        assert_eq!(r.cfs_quota_period(), (Some(150_000), Some(100_000)));
        let raw = Resources {
            cpu_quota: Some(50_000),
            cpu_period: Some(200_000),
            ..Default::default()
        };
        assert_eq!(
            raw.normalized().unwrap().cfs_quota_period(),
            (Some(50_000), Some(200_000))
        );
        assert_eq!(Resources::default().cfs_quota_period(), (None, None));
    }

    #[test]
    fn cpus_conflict_with_raw_cfs_flags() {
        let r = Resources {
            nano_cpus: Some(1_000_000_000),
            cpu_quota: Some(10_000),
            ..Default::default()
        };
        assert!(r
            .normalized()
            .unwrap_err()
            .to_string()
            .contains("nano cpus and cpu quota"));
        let r = Resources {
            nano_cpus: Some(1_000_000_000),
            cpu_period: Some(10_000),
            ..Default::default()
        };
        assert!(r
            .normalized()
            .unwrap_err()
            .to_string()
            .contains("nano cpus and cpu period"));
    }

    #[test]
    fn cfs_ranges_are_checked() {
        let r = Resources {
            cpu_period: Some(500),
            ..Default::default()
        };
        assert!(r.normalized().is_err());
        let r = Resources {
            cpu_quota: Some(999),
            ..Default::default()
        };
        assert!(r.normalized().is_err());
        let unlimited = Resources {
            cpu_quota: Some(-1),
            ..Default::default()
        };
        assert!(unlimited.normalized().is_ok());
    }

    #[test]
    fn non_positive_pids_limit_is_unlimited() {
        for v in [0, -5] {
            let r = Resources {
                pids_limit: Some(v),
                ..Default::default()
            }
            .normalized()
            .unwrap();
            assert_eq!(r.pids_limit, Some(-1));
        }
    }
}
