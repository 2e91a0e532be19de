//! Mounting a file system on a directory of the host: what a volume with
//! mount options (docker's local driver: tmpfs, a bind of a host path, nfs,
//! a block device) gets on its `_data` while containers use it.

use std::ffi::CString;
use std::path::Path;

use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::RuntimeError;

/// One mount(2), decided by the caller from its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsMount {
    /// The device, host path (for a bind) or remote export.
    pub source: String,
    /// The file system type (`tmpfs`, `nfs`, `ext4`); ignored for a bind.
    pub fstype: String,
    /// `MS_*` flags, `MS_BIND` for a bind.
    pub flags: MountFlags,
    /// A bind of the whole tree under the source (`rbind`).
    pub recursive: bool,
    /// `private`, `shared`, `slave`, `unbindable` (and their `r` forms).
    pub propagation: Option<MountPropagationFlags>,
    /// The file system's own options, passed through (`size=64m,uid=1000`).
    pub data: String,
}

impl FsMount {
    /// Mounts on `target`. A bind with other flags (`ro`, `nosuid` ...)
    /// is remounted with them, as the kernel ignores them on the bind.
    pub fn mount(&self, target: &Path) -> Result<(), RuntimeError> {
        let failed = |what: &str, e: Errno| RuntimeError::VolumeMount {
            action: format!("{what} {} (type {})", self.source, self.fstype),
            target: target.to_path_buf(),
            error: e.into(),
        };
        if self.flags.contains(MountFlags::BIND) {
            let bind = if self.recursive {
                rustix::mount::mount_bind_recursive(self.source.as_str(), target)
            } else {
                rustix::mount::mount_bind(self.source.as_str(), target)
            };
            bind.map_err(|e| failed("bind", e))?;
            let rest = self.flags - MountFlags::BIND;
            if !rest.is_empty() {
                if let Err(e) = rustix::mount::mount_remount(target, rest | MountFlags::BIND, "") {
                    let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
                    return Err(failed("remount", e));
                }
            }
        } else {
            let data = CString::new(self.data.as_str()).map_err(|_| RuntimeError::Invalid {
                field: "mount options".into(),
                reason: format!("{:?} holds a NUL byte", self.data),
            })?;
            rustix::mount::mount(
                self.source.as_str(),
                target,
                self.fstype.as_str(),
                self.flags,
                data.as_c_str(),
            )
            .map_err(|e| failed("mount", e))?;
        }
        if let Some(p) = self.propagation {
            if let Err(e) = rustix::mount::mount_change(target, p) {
                let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
                return Err(failed("set the propagation of", e));
            }
        }
        tracing::debug!(source = %self.source, target = %target.display(), "mounted volume");
        Ok(())
    }
}

/// Detaches whatever is mounted on `target` (lazily: a process still
/// inside keeps its view, the path is free at once); nothing mounted is
/// not an error.
pub fn unmount(target: &Path) -> Result<(), RuntimeError> {
    match rustix::mount::unmount(target, UnmountFlags::DETACH) {
        Ok(()) => {
            tracing::debug!(target = %target.display(), "unmounted volume");
            Ok(())
        }
        Err(Errno::INVAL | Errno::NOENT) => Ok(()),
        Err(e) => Err(RuntimeError::io("unmount", target, e.into())),
    }
}
