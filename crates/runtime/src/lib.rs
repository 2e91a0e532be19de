//! Groundwork for `berth run`: everything between "the user typed these
//! flags" and "a runtime starts the process" that can be decided without
//! touching the kernel. The OCI spec with docker's defaults, the seccomp
//! filter, the container user, cgroup files, restart decisions and the
//! json-file log are all pure functions or plain file I/O on paths the
//! engine chooses, so they are unit-tested here and wired up by the engine.

#![forbid(unsafe_code)]

pub mod caps;
pub mod cgroups;
mod error;
pub mod logfile;
pub mod resources;
pub mod restart;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod units;
pub mod user;

pub use error::RuntimeError;
