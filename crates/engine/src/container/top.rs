//! The processes of a running container, from its cgroup.

use std::path::PathBuf;

use super::ContainerStatus;
use crate::{Engine, EngineError};

impl Engine {
    /// The host pids of a running container's processes, from its cgroup.
    pub fn container_pids(&mut self, s: &str) -> Result<Vec<u32>, EngineError> {
        let info = self.container(s)?;
        if info.record.status != ContainerStatus::Running {
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
        Err(EngineError::Internal(format!(
            "cannot find the cgroup of container {id}"
        )))
    }
}
