//! Mounting the file systems of volumes with driver options while
//! containers use them: the first container to start mounts it, the last
//! to stop unmounts it, counted in the store (which containers run with
//! it), so a killed monitor's share is released when the next command
//! reconciles its container.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;

use berth_runtime::fsmount::{self, FsMount};

use super::{parse_options, LocalVolume};
use crate::{Engine, EngineError};

/// Where volume mounts are made: the host, or a fake in tests.
pub(crate) trait VolumeMounter {
    fn mount(&self, fs: &FsMount, target: &Path) -> Result<(), EngineError>;
    fn unmount(&self, target: &Path) -> Result<(), EngineError>;
}

/// The host's mount table, through the runtime crate.
pub(crate) struct HostMounter;

impl VolumeMounter for HostMounter {
    fn mount(&self, fs: &FsMount, target: &Path) -> Result<(), EngineError> {
        Ok(fs.mount(target)?)
    }

    fn unmount(&self, target: &Path) -> Result<(), EngineError> {
        Ok(fsmount::unmount(target)?)
    }
}

/// An nfs or cifs server's name, resolved when its volume is mounted.
fn resolve_host(host: &str) -> Result<IpAddr, EngineError> {
    (host, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
        .ok_or_else(|| {
            EngineError::Invalid(format!(
                "error resolving passed in network volume address {host:?}"
            ))
        })
}

impl Engine {
    /// A container is about to run: mounts those of its volumes whose
    /// driver options need a mount and that no running container has
    /// mounted, and records it as using them.
    pub(crate) fn acquire_volumes(
        &mut self,
        container_id: &str,
        mounter: &dyn VolumeMounter,
    ) -> Result<(), EngineError> {
        self.store
            .activate_volumes(container_id, |v, data| match parse_options(&v.options)? {
                LocalVolume::Directory => Ok(()),
                LocalVolume::Mounted(m) => mounter.mount(&m.fs_mount(&resolve_host)?, data),
            })
    }

    /// A container's process is gone: unmounts those of its volumes that
    /// no running container uses any more.
    pub(crate) fn release_volumes(
        &mut self,
        container_id: &str,
        mounter: &dyn VolumeMounter,
    ) -> Result<(), EngineError> {
        self.store
            .deactivate_volumes(container_id, |_, data| mounter.unmount(data))
    }
}
