//! The container's root filesystem: the image layers stacked read-only
//! under a private writable layer with overlayfs.
//!
//! The mount is described as data so the engine can build it (and tests
//! can check the options) without privileges; only [`OverlayMount::mount`]
//! and [`OverlayMount::unmount`] touch the kernel.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};

use crate::RuntimeError;

/// `mount(2)` copies at most one page of options, NUL included; 4 KiB is
/// the smallest page size Linux uses, so staying under it works anywhere.
pub const MAX_MOUNT_DATA: usize = 4096;

/// One overlay mount of a container's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayMount {
    /// The image layers, topmost first, as `lowerdir` lists them.
    pub lower: Vec<PathBuf>,
    /// The container's own writable layer.
    pub upper: PathBuf,
    /// Overlay's scratch directory, on the same filesystem as `upper`.
    pub work: PathBuf,
    /// Where the merged tree appears.
    pub target: PathBuf,
    /// Skip overlay's sync of the upper layer's filesystem at unmount
    /// (`volatile`, Linux 5.10+): for a writable layer that is thrown away
    /// afterwards (`run --rm`), that sync is only a wait of several
    /// milliseconds. Ignored by kernels without the option.
    pub volatile: bool,
}

impl OverlayMount {
    /// The `lowerdir=...,upperdir=...,workdir=...` option string.
    ///
    /// Refuses options the kernel would truncate: each layer adds its path
    /// to the string, so deep images need the engine's short layer links.
    /// Paths containing `,` or `:` are refused too, since overlay would
    /// split them into separate options or layers.
    pub fn mount_data(&self) -> Result<String, RuntimeError> {
        if self.lower.is_empty() {
            return Err(RuntimeError::invalid(
                "overlay layers",
                format!(
                    "mounting {} needs at least one lower layer",
                    self.target.display()
                ),
            ));
        }
        let lower = self
            .lower
            .iter()
            .map(|p| option_path(p))
            .collect::<Result<Vec<_>, _>>()?
            .join(":");
        let data = format!(
            "lowerdir={lower},upperdir={},workdir={}",
            option_path(&self.upper)?,
            option_path(&self.work)?
        );
        let len = data.len() + 1;
        if len > MAX_MOUNT_DATA {
            return Err(RuntimeError::OverlayOptionsTooLong {
                target: self.target.clone(),
                layers: self.lower.len(),
                len,
                max: MAX_MOUNT_DATA,
            });
        }
        Ok(data)
    }

    /// Mounts the overlay at `target`, which must exist.
    pub fn mount(&self) -> Result<(), RuntimeError> {
        let data = self.mount_data()?;
        let mount = |data: &str| {
            let data = CString::new(data).map_err(|_| {
                RuntimeError::invalid("overlay path", "paths cannot contain NUL bytes")
            })?;
            rustix::mount::mount(
                "overlay",
                &self.target,
                "overlay",
                MountFlags::empty(),
                data.as_c_str(),
            )
            .map_err(|e| RuntimeError::io("mount overlay on", &self.target, e.into()))
        };
        let mounted = if self.volatile {
            // Kernels before 5.10 refuse the unknown option.
            mount(&format!("{data},volatile")).or_else(|_| mount(&data))
        } else {
            mount(&data)
        };
        mounted?;
        tracing::debug!(
            target = %self.target.display(),
            layers = self.lower.len(),
            "mounted overlay"
        );
        Ok(())
    }

    /// Detaches whatever is mounted at `target`. Lazy, so a process still
    /// holding a file there cannot make container removal fail; a target
    /// that is not mounted (or does not exist) is already in the wanted
    /// state, so cleanup can be retried after a crash.
    pub fn unmount(target: &Path) -> Result<(), RuntimeError> {
        match rustix::mount::unmount(target, UnmountFlags::DETACH) {
            Ok(()) => {
                tracing::debug!(target = %target.display(), "unmounted overlay");
                Ok(())
            }
            Err(Errno::INVAL | Errno::NOENT) => Ok(()),
            Err(e) => Err(RuntimeError::io("unmount", target, e.into())),
        }
    }
}

/// A path as overlay options can carry it.
fn option_path(path: &Path) -> Result<&str, RuntimeError> {
    let text = path.to_str().ok_or_else(|| {
        RuntimeError::invalid(
            "overlay path",
            format!("{} is not valid UTF-8", path.display()),
        )
    })?;
    if text.contains([',', ':']) {
        return Err(RuntimeError::invalid(
            "overlay path",
            format!("{text} contains ',' or ':', which overlay mount options cannot hold"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(layers: usize) -> OverlayMount {
        OverlayMount {
            lower: (0..layers)
                .map(|i| PathBuf::from(format!("l/{i:020x}")))
                .collect(),
            upper: "/var/lib/berth/c/1/diff".into(),
            work: "/var/lib/berth/c/1/work".into(),
            target: "/var/lib/berth/c/1/merged".into(),
            volatile: false,
        }
    }

    #[test]
    fn mount_data_lists_layers_top_first() {
        let mut m = overlay(0);
        m.lower = vec!["l/top".into(), "l/base".into()];
        assert_eq!(
            m.mount_data().unwrap(),
            "lowerdir=l/top:l/base,upperdir=/var/lib/berth/c/1/diff,workdir=/var/lib/berth/c/1/work"
        );
    }

    #[test]
    fn mount_data_over_a_page_is_refused() {
        // 23 bytes per short layer link and separator, plus the fixed
        // options: 174 layers fit, one more does not.
        let fits = overlay(174).mount_data().unwrap();
        assert_eq!(fits.len() + 1, 4076);
        let err = overlay(175).mount_data().unwrap_err();
        assert_eq!(
            err.to_string(),
            "overlay on /var/lib/berth/c/1/merged: mount options for 175 layers are 4099 bytes, \
             over the kernel's limit of 4096"
        );
    }

    #[test]
    fn unusable_layouts_are_refused() {
        let err = overlay(0).mount_data().unwrap_err();
        assert!(
            err.to_string().contains("at least one lower layer"),
            "{err}"
        );
        let mut m = overlay(1);
        m.upper = "/a,b/diff".into();
        let err = m.mount_data().unwrap_err();
        assert!(err.to_string().contains("/a,b/diff contains ','"), "{err}");
    }
}
