//! `info`: what is stored and what the host offers, in the shape of the
//! Engine API's `/info`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::host;
use crate::{ContainerStatus, Engine, EngineError};

/// A runtime containers can run with (`--runtime`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuntimeInfo {
    pub path: String,
}

/// docker's `system.Info`, the fields berth has.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemInfo {
    pub containers: usize,
    pub containers_running: usize,
    pub containers_paused: usize,
    pub containers_stopped: usize,
    /// Stored images (not tags), as docker counts.
    pub images: usize,
    pub driver: String,
    /// (name, value) pairs about the storage driver.
    pub driver_status: Vec<[String; 2]>,
    pub plugins: Value,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    pub oom_kill_disable: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub debug: bool,
    /// RFC 3339 with nanoseconds.
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    pub index_server_address: String,
    #[serde(rename = "NCPU")]
    pub ncpu: u32,
    pub mem_total: u64,
    pub docker_root_dir: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: BTreeMap<String, RuntimeInfo>,
    pub default_runtime: String,
    pub swarm: Value,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    pub security_options: Vec<String>,
    pub warnings: Vec<String>,
}

impl Engine {
    /// `info`: counts from the store (containers reconciled with the
    /// runtime first), the host's kernel, cgroups and resources.
    pub fn info(&mut self) -> Result<SystemInfo, EngineError> {
        let containers = self.all_containers()?;
        let count = |status: ContainerStatus| {
            containers
                .iter()
                .filter(|c| c.record.status == status)
                .count()
        };
        // docker counts a restarting container as stopped.
        let (running, paused) = (
            count(ContainerStatus::Running),
            count(ContainerStatus::Paused),
        );
        let root = self.store.root();
        let cgroups = host::cgroups();
        let cgroup_version = host::cgroup_version(cgroups.as_ref());
        let swap_limit = host::swap_limit(cgroups.as_ref());
        let (operating_system, os_version) = host::operating_system();
        let mut security_options = vec!["name=seccomp,profile=builtin".to_string()];
        if cgroup_version == "2" {
            security_options.push("name=cgroupns".into());
        }
        let mut warnings = Vec::new();
        if !swap_limit {
            warnings.push("WARNING: No swap limit support".to_string());
        }
        if host::tool_version("runc").is_none() {
            warnings.push("WARNING: runc is not installed: containers cannot run".to_string());
        }
        let init = crate::monitor::init_binary().ok();
        Ok(SystemInfo {
            containers: containers.len(),
            containers_running: running,
            containers_paused: paused,
            containers_stopped: containers.len() - running - paused,
            images: self.store.list_images()?.len(),
            driver: "overlay2".into(),
            driver_status: vec![
                ["Backing Filesystem".into(), host::backing_filesystem(root)],
                ["Supports d_type".into(), "true".into()],
            ],
            plugins: json!({
                "Volume": ["local"],
                "Network": ["host", "none"],
                "Authorization": null,
                "Log": ["json-file"],
            }),
            memory_limit: true,
            swap_limit,
            cpu_cfs_period: true,
            cpu_cfs_quota: true,
            cpu_shares: true,
            cpu_set: true,
            pids_limit: true,
            oom_kill_disable: cgroup_version == "1",
            ipv4_forwarding: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .is_ok_and(|v| v.trim() == "1"),
            debug: false,
            system_time: crate::container::now_rfc3339(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: cgroup_version.into(),
            kernel_version: host::kernel_version(),
            operating_system,
            os_version,
            os_type: "linux".into(),
            architecture: host::machine().into(),
            index_server_address: "https://index.docker.io/v1/".into(),
            ncpu: host::cpus(),
            mem_total: host::memory_total(),
            docker_root_dir: root.display().to_string(),
            name: host::hostname(),
            labels: Vec::new(),
            experimental_build: false,
            server_version: super::version::VERSION.into(),
            runtimes: BTreeMap::from([(
                "runc".to_string(),
                RuntimeInfo {
                    path: "runc".into(),
                },
            )]),
            default_runtime: "runc".into(),
            swarm: json!({
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": false,
                "Error": "",
                "RemoteManagers": null,
            }),
            live_restore_enabled: false,
            isolation: String::new(),
            init_binary: init.map(|p| p.display().to_string()).unwrap_or_default(),
            security_options,
            warnings,
        })
    }
}
