//! What a container is created with, as given.

use berth_store::ContainerRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::MountOption;

/// What a container was created with, kept as JSON in the store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerOptions {
    /// The image as the user named it (docker's `Config.Image`).
    pub image: String,
    /// Arguments after the image name.
    pub cmd: Vec<String>,
    /// `--entrypoint`; `Some("")` clears the image's.
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub group_add: Vec<String>,
    pub hostname: Option<String>,
    /// `--network`: `bridge`, `none`, `host`, a network's name or ID;
    /// empty for the default (`bridge`, or `none` without a default bridge).
    pub network: String,
    /// `--network-alias`, `--ip`, `--ip6`, `--mac-address` on that network.
    #[serde(default)]
    pub endpoint: super::network_options::EndpointSettings,
    /// `-p`, `-P`, `--expose`, `--dns*`, `--add-host`, `--domainname`.
    #[serde(default)]
    pub net: super::network_options::ContainerNetworkOptions,
    pub auto_remove: bool,
    pub interactive: bool,
    /// `-t`: the container's stdio is a terminal.
    #[serde(default)]
    pub tty: bool,
    pub labels: BTreeMap<String, String>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub read_only: bool,
    pub security_opt: Vec<String>,
    /// `--runtime`: a runc-compatible binary name or path.
    pub runtime: String,
    /// `-v`, `--mount` and `--tmpfs`, in the order given.
    #[serde(default)]
    pub mounts: Vec<MountOption>,
    /// `--init`: a small init (tini) as pid 1 that reaps zombies and
    /// forwards signals.
    #[serde(default)]
    pub init: bool,
    /// `--stop-signal` (name or number); the image's, else SIGTERM.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `--stop-timeout` seconds; 10 when unset.
    #[serde(default)]
    pub stop_timeout: Option<u64>,
    /// `--log-opt max-size=10m,max-file=3`.
    #[serde(default)]
    pub log_opts: BTreeMap<String, String>,
    /// `--ulimit nofile=1024:2048`.
    #[serde(default)]
    pub ulimits: Vec<String>,
    /// `--restart no|on-failure[:N]|always|unless-stopped`.
    #[serde(default)]
    pub restart: String,
    /// `--health-*` and `--no-healthcheck` (docker's `Config.Healthcheck`
    /// as given); `None` leaves the image's.
    #[serde(default)]
    pub healthcheck: Option<crate::container::health::HealthConfig>,
}

/// How `start_container` starts a container.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartOptions {
    /// Stay connected for the container's output.
    pub attach: bool,
    /// The attached client sends the container's input, and its end of
    /// input closes the container's (docker's StdinOnce).
    pub stdin: bool,
    /// The client's terminal size, rows and columns, for `-t`.
    pub tty_size: Option<(u16, u16)>,
}

/// A container as `ps` and `inspect` see it.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub record: ContainerRecord,
    pub options: ContainerOptions,
}
