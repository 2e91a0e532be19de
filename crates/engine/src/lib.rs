//! berth's use cases, one public API for the CLI and the Engine API server.
//!
//! The engine is in folders by domain; dependencies between them point one
//! way (`build` → `monitor` → `container` → `image`, `distribution` → `image`):
//!
//! - `image/`: resolving names, the image config, listing, removing and
//!   pruning, inspect and history, load, save, import, `-c` changes, the
//!   manifests berth writes.
//! - `distribution/`: pull, push, login and logout, registry settings.
//! - `container/`: the container's options and mounts, its state and
//!   on-disk layout, create, the lifecycle (start through the monitor, stop,
//!   kill, wait, pause, restart, remove), listing, inspect, logs, exec,
//!   copy, `diff`/`commit`/`export` (`fs/`: the tree walker and the tar
//!   writer), stats, health state, the attach protocol.
//! - `monitor/`: the per-container monitor process: its run loop, the OCI
//!   bundle, the attach hub, the health checker.
//! - `build/`: `build`, executing a planned Dockerfile.
//!
//! - `system/`: `info` and `version`, over every domain.
//! - `volume/`: volumes: create with the local driver's options, list,
//!   inspect, remove, prune, and mounting those with options while used.
//!
//! Below them all: `events/` (the journal every state change is emitted
//! to, and reading it back), `filter` (docker's `--filter` arguments in
//! the CLI's and the API's forms), `error`, `progress`.

#![forbid(unsafe_code)]

mod build;
mod container;
mod distribution;
mod error;
mod events;
mod filter;
mod image;
mod monitor;
mod network;
mod progress;
mod system;
mod volume;

use std::path::Path;
use std::sync::Arc;

use berth_runtime::backend::{RuncRuntimes, Runtimes};

use berth_reference::Reference;
use berth_store::Store;

pub use berth_registry::AuthConfig;
pub use berth_runtime::StartFailure;
pub use build::{
    BuildCachePruned, BuildEvent, BuildOptions, BuildProgress, BuildSecret, ClassicOutput,
    StageLabel,
};
pub use container::{
    human_duration, parse_cpus, parse_health_duration, parse_signal, parse_size, status_text,
    AttachEvent, AttachInput, AttachSession, Change, ChangeKind, CommitOptions, ContainerFilter,
    ContainerInfo, ContainerListOptions, ContainerOptions, ContainerStatus, ContainerSummary,
    Copied, CopyIn, CopyOptions, CopyOut, ExecConfig, ExecInspect, ExecProcessConfig,
    ExecStartOptions, HealthConfig, HealthResult, HealthState, HealthStatus, LogStream,
    LogsOptions, MountKind, MountOption, MountPoint, NetworkRef, StartOptions, StatsSample,
};
pub use distribution::{
    check_login, login, logout, PullOptions, Pulled, PushOptions, Pushed, RegistryOptions,
};
pub use error::{EngineError, ErrorKind};
pub use events::{
    parse_timestamp, Actor, ContainerAction, ContainerActor, ContainerEvent, Event, EventFilter,
    EventQuery, EventStream, EventType, ImageAction, ImageEvent, Message, NetworkAction,
    NetworkEvent, NextEvent, VolumeAction, VolumeEvent,
};
pub use filter::Filters;
pub use image::{
    HistoryEntry, ImageConfig, ImageFilter, ImageSummary, ImportOptions, LoadSource, LoadedImage,
    RemovedImage, RmiEvent, SaveFormat, SpaceUsage,
};
pub use monitor::MonitorOptions;
pub use network::{
    network_json, ports_text, ContainerNetworkOptions, EndpointSettings, NetworkAttachment,
    NetworkConfig, NetworkCreateOptions, NetworkFilter, NetworkInfo, PortSummary, DEFAULT_NETWORK,
    HOST_NETWORK, NONE_NETWORK,
};
pub use progress::{NoProgress, Progress};
pub use system::{Component, RuntimeInfo, SystemInfo, VersionInfo, API_VERSION, MIN_API_VERSION};
pub use volume::{
    random_name, validate_name, Volume, VolumeOptions, VolumeSpace, VolumesPruned, ANONYMOUS_LABEL,
    LOCAL_DRIVER,
};

pub struct Engine {
    store: Store,
    /// The OCI runtimes containers run with; the only place runc is chosen.
    runtimes: Arc<dyn Runtimes>,
}

impl Engine {
    /// Opens the state under `root` (created if missing), with runc (or the
    /// runtime a container names) keeping its state under `root/runc`.
    pub fn open(root: &Path) -> Result<Engine, EngineError> {
        Engine::with_runtime(root, Arc::new(RuncRuntimes::new(&root.join("runc"))))
    }

    /// Opens the state under `root` with other runtimes (a fake in tests).
    pub fn with_runtime(root: &Path, runtimes: Arc<dyn Runtimes>) -> Result<Engine, EngineError> {
        Ok(Engine {
            store: Store::open(root)?,
            runtimes,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Turns stored full references into the familiar form docker prints
/// (`docker.io/library/busybox:latest` → `busybox:latest`).
pub(crate) fn familiar(full: &str) -> String {
    Reference::parse_normalized(full)
        .map(|r| r.familiar_string())
        .unwrap_or_else(|_| full.to_string())
}

/// Normalizes a tag given in an archive or on the command line to the full
/// form the store keys tags by.
pub(crate) fn normalize_tag(s: &str) -> Result<String, EngineError> {
    let r = Reference::parse_with_default_tag(s)?;
    if r.digest().is_some() {
        return Err(EngineError::TagWithDigest);
    }
    Ok(r.to_string())
}
