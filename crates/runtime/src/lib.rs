//! berth's container runtime layer: everything between "the user typed
//! these flags" and "a process runs in its container".
//!
//! Most of it decides without touching the kernel: the OCI spec with
//! docker's defaults, the seccomp filter, the container user, cgroup files,
//! restart decisions and the json-file log are pure functions or plain file
//! I/O on paths the engine chooses, so they are unit-tested here and wired
//! up by the engine. The rest is kept small and behind narrow interfaces:
//! the overlay mount of the root filesystem, the OCI bundle, and the
//! runtime ([`backend::RuntimeBackend`], with `runc` as the real one and
//! `fake::FakeRuntime`, feature `fake`, for tests without root).

#![forbid(unsafe_code)]

pub mod backend;
pub mod bundle;
pub mod caps;
pub mod cgroups;
mod error;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod fsmount;
pub mod logfile;
pub mod overlay;
pub mod resources;
pub mod restart;
pub mod rootfs;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub mod units;
pub mod user;

pub use error::{RuntimeError, StartFailure};
