//! Containers: what they are created with, their recorded state and files,
//! and every use case on them but running one (the monitor's).
//!
//! A started container is owned by a monitor: berth re-executed as
//! `berth __monitor ROOT ID` (as podman has conmon). The monitor mounts the
//! rootfs, starts the container with the runtime, becomes its subreaper,
//! copies its output to the json-file log (and to the terminal for a
//! foreground run), records the exit code and cleans up. The CLI can exit
//! or be killed at any point; the monitor stays until the container ends.

pub(crate) mod attach;
mod commit;
mod copy;
mod create;
mod events;
pub(crate) mod exec;
mod filter;
pub(crate) mod fs;
pub(crate) mod health;
mod inspect;
pub(crate) mod layout;
mod lifecycle;
mod list;
mod logs;
mod mounts;
mod network_options;
mod options;
mod ports;
mod process;
mod restart;
mod state;
mod stats;
mod status;
#[cfg(test)]
mod tests;
mod top;
mod units;

pub use attach::{AttachEvent, AttachInput, AttachSession};
pub use commit::CommitOptions;
pub use copy::{Copied, CopyIn, CopyOptions, CopyOut};
pub use exec::{ExecConfig, ExecInspect, ExecProcessConfig, ExecStartOptions};
pub use filter::ContainerFilter;
pub use fs::{Change, ChangeKind};
pub use health::{parse_health_duration, HealthConfig, HealthResult, HealthState, HealthStatus};
pub use list::{ContainerListOptions, ContainerSummary, MountKind, MountPoint, NetworkRef};
pub use logs::{LogStream, LogsOptions};
pub use mounts::MountOption;
pub use network_options::{ContainerNetworkOptions, EndpointSettings};
pub use options::{ContainerInfo, ContainerOptions, StartOptions};
pub use ports::{ports_text, PortSummary};
pub use stats::StatsSample;
pub use status::{human_duration, status_text, ContainerStatus};
pub use units::{parse_cpus, parse_signal, parse_size};

pub(crate) use create::valid_name;
pub(crate) use events::{container_event, ran_since};
pub(crate) use layout::{LOG_FILE, RESTARTING, STOPPED_BY_USER};
pub(crate) use process::{command_line, environment};
pub(crate) use state::{now_rfc3339, process_alive, wait_process_exit};
