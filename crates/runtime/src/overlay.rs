//! The container's root filesystem: the image layers stacked read-only
//! under a private writable layer with overlayfs.
//!
//! The mount is described as data so the engine can build it (and tests
//! can check the options) without privileges; only the `mount*` methods
//! and [`OverlayMount::unmount`] touch the kernel.
//!
//! How deep an image can be is set by how the layers reach the kernel.
//! `mount(2)` copies one page of options, so absolute paths under a long
//! `--root` overflowed it after a few dozen layers. On Linux 6.8 and later
//! the mount is configured through the new mount API instead, one
//! `lowerdir+` call per layer, each naming its layer through a handle on
//! its directory (`/proc/self/fd/N/NAME`): neither the root's length nor
//! the depth (up to overlay's own 500) matters, and the same code gives
//! `cp` its detached mount. Older kernels get `mount(2)` from util-linux's
//! `mount` run in the layers' directory, so the option string holds short
//! relative names, as docker's overlay2 driver does (a threaded process
//! cannot change its own directory for one mount): ~185 layers fit.
//! Measured on 6.18 (200 mounts of 125 layers, tmpfs): both mount in
//! 1.0-1.7 ms, within the noise of each other.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, UnmountFlags};

use crate::seccomp::KernelVersion;
use crate::RuntimeError;

/// `mount(2)` copies at most one page of options, NUL included; 4 KiB is
/// the smallest page size Linux uses, so staying under it works anywhere.
pub const MAX_MOUNT_DATA: usize = 4096;

/// The longest string one `fsconfig` call takes.
const MAX_FSCONFIG_STRING: usize = 255;

/// The first kernel whose overlay takes one lower layer per `fsconfig`
/// call (`lowerdir+`).
const LOWERDIR_ADD: KernelVersion = KernelVersion { major: 6, minor: 8 };

/// One overlay mount of a container's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayMount {
    /// The image layers, topmost first, as absolute paths.
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
    /// Mounts the overlay at `target`, which must exist.
    pub fn mount(&self) -> Result<(), RuntimeError> {
        if !lowerdir_add_supported() {
            return self.mount_legacy();
        }
        let mount = self.mount_detached(MountAttrFlags::empty())?;
        rustix::mount::move_mount(
            mount.as_fd(),
            "",
            CWD,
            &self.target,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(|e| self.failed("attach the mount", e, None))?;
        tracing::debug!(
            target = %self.target.display(),
            layers = self.lower.len(),
            "mounted overlay"
        );
        Ok(())
    }

    /// The overlay as a mount no path reaches (`target` is not used): the
    /// kernel drops it when the handle is closed or the process dies.
    /// Needs Linux 6.8 for more layers than one `fsconfig` string of 255
    /// bytes can name.
    pub fn mount_detached(&self, attrs: MountAttrFlags) -> Result<OwnedFd, RuntimeError> {
        if self.lower.is_empty() {
            return Err(self.no_layers());
        }
        let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
            .map_err(|e| self.failed("open an overlay context", e, None))?;
        let mut handles = DirHandles::default();
        let set = |key: &str, value: &str, what: &Path| {
            rustix::mount::fsconfig_set_string(&fs, key, value)
                .map_err(|e| self.failed(&format!("{key} {}", what.display()), e, Some(&fs)))
        };
        if lowerdir_add_supported() {
            for layer in &self.lower {
                set("lowerdir+", &handles.name(layer)?, layer)?;
            }
        } else {
            let lower = self
                .lower
                .iter()
                .map(|l| handles.name(l))
                .collect::<Result<Vec<_>, _>>()?
                .join(":");
            if lower.len() > MAX_FSCONFIG_STRING {
                return Err(RuntimeError::Overlay {
                    target: self.target.clone(),
                    detail: format!(
                        "naming {} layers takes {} bytes, over the {MAX_FSCONFIG_STRING} one \
                         mount option may hold before Linux 6.8",
                        self.lower.len(),
                        lower.len()
                    ),
                });
            }
            set("lowerdir", &lower, Path::new("(all layers)"))?;
        }
        set("upperdir", &handles.name(&self.upper)?, &self.upper)?;
        set("workdir", &handles.name(&self.work)?, &self.work)?;
        if self.volatile {
            // Kernels before 5.10 refuse the unknown option.
            let _ = rustix::mount::fsconfig_set_flag(&fs, "volatile");
        }
        rustix::mount::fsconfig_create(&fs)
            .map_err(|e| self.failed("create the overlay", e, Some(&fs)))?;
        rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
            .map_err(|e| self.failed("create the mount", e, Some(&fs)))
    }

    /// Mounts the overlay at `target` with `mount(2)`, the way kernels
    /// before 6.8 need: util-linux's `mount` runs in the directory that
    /// holds the layers, so the one page of options names them relatively.
    /// [`OverlayMount::mount`] uses it only there; it is public so tests
    /// on newer kernels can check it too.
    pub fn mount_legacy(&self) -> Result<(), RuntimeError> {
        let base = self.common_lower_dir()?;
        let data = self.mount_data(&base)?;
        let run = |data: &str| {
            let out = Command::new("mount")
                .current_dir(&base)
                // No fstab or mtab, no mount.<type> helper.
                .args(["-n", "-i", "-t", "overlay", "-o", data, "overlay"])
                .arg(&self.target)
                .output()
                .map_err(|e| RuntimeError::io("run mount(8) for", &self.target, e))?;
            if out.status.success() {
                return Ok(());
            }
            let text = String::from_utf8_lossy(&out.stderr);
            Err(RuntimeError::Overlay {
                target: self.target.clone(),
                detail: format!("mount(8) failed: {}", text.trim()),
            })
        };
        if self.volatile {
            // Kernels before 5.10 refuse the unknown option.
            run(&format!("{data},volatile")).or_else(|_| run(&data))?;
        } else {
            run(&data)?;
        }
        tracing::debug!(
            target = %self.target.display(),
            layers = self.lower.len(),
            "mounted overlay with mount(8)"
        );
        Ok(())
    }

    /// The `lowerdir=...,upperdir=...,workdir=...` option string with every
    /// path relative to `base` (the directory `mount(2)` runs in).
    ///
    /// Refuses options the kernel would truncate, and paths containing
    /// `,` or `:`, which overlay would split into separate options or
    /// layers.
    pub fn mount_data(&self, base: &Path) -> Result<String, RuntimeError> {
        if self.lower.is_empty() {
            return Err(self.no_layers());
        }
        let lower = self
            .lower
            .iter()
            .map(|p| option_path(p, base))
            .collect::<Result<Vec<_>, _>>()?
            .join(":");
        let data = format!(
            "lowerdir={lower},upperdir={},workdir={}",
            option_path(&self.upper, base)?,
            option_path(&self.work, base)?
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
            // Without the right to unmount, nothing mounted is fine too
            // (an overlay has a device of its own).
            Err(Errno::PERM) if !is_mount_point(target) => Ok(()),
            Err(e) => Err(RuntimeError::io("unmount", target, e.into())),
        }
    }

    /// The deepest directory holding every lower layer: the image's layer
    /// links share `layers/l`.
    fn common_lower_dir(&self) -> Result<PathBuf, RuntimeError> {
        let mut common: Option<PathBuf> = None;
        for layer in &self.lower {
            let parent = absolute(layer)?.parent().unwrap_or(Path::new("/"));
            common = Some(match common {
                None => parent.to_path_buf(),
                Some(c) => c
                    .components()
                    .zip(parent.components())
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| a)
                    .collect(),
            });
        }
        common.ok_or_else(|| self.no_layers())
    }

    fn no_layers(&self) -> RuntimeError {
        RuntimeError::invalid(
            "overlay layers",
            format!(
                "mounting {} needs at least one lower layer",
                self.target.display()
            ),
        )
    }

    /// A failed step of the new mount API, with what the kernel logged in
    /// the filesystem context, if anything.
    fn failed(&self, step: &str, errno: Errno, context: Option<&OwnedFd>) -> RuntimeError {
        let mut detail = format!("{step}: {}", std::io::Error::from(errno));
        if let Some(fs) = context {
            let log = kernel_messages(fs);
            if !log.is_empty() {
                detail = format!("{detail} ({})", log.join("; "));
            }
        }
        RuntimeError::Overlay {
            target: self.target.clone(),
            detail,
        }
    }
}

/// Whether overlay takes `lowerdir+` (Linux 6.8), decided once.
fn lowerdir_add_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|r| KernelVersion::parse(&r))
            .is_some_and(|v| v >= LOWERDIR_ADD)
    })
}

/// Directories opened so that each path can be named to the kernel as
/// `/proc/self/fd/N/NAME`, short whatever the path's length. The handles
/// stay open until the mount is made.
#[derive(Default)]
struct DirHandles {
    open: HashMap<PathBuf, OwnedFd>,
}

impl DirHandles {
    fn name(&mut self, path: &Path) -> Result<String, RuntimeError> {
        let path = absolute(path)?;
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(RuntimeError::invalid(
                "overlay path",
                format!("{} names no directory entry", path.display()),
            ));
        };
        let name = name.to_str().ok_or_else(|| {
            RuntimeError::invalid(
                "overlay path",
                format!("{} is not valid UTF-8", path.display()),
            )
        })?;
        let fd = match self.open.get(parent) {
            Some(fd) => fd.as_raw_fd(),
            None => {
                let fd = rustix::fs::open(
                    parent,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| RuntimeError::io("open", parent, e.into()))?;
                let raw = fd.as_raw_fd();
                self.open.insert(parent.to_path_buf(), fd);
                raw
            }
        };
        Ok(format!("/proc/self/fd/{fd}/{name}"))
    }
}

/// Reads the messages the kernel logged in a filesystem context.
fn kernel_messages(fs: &OwnedFd) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = rustix::io::read(fs, &mut buf) {
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buf[..n]);
        // Each message starts with its level: "e ", "w " or "i ".
        out.push(text.get(2..).unwrap_or(&text).trim().to_string());
    }
    out
}

fn absolute(path: &Path) -> Result<&Path, RuntimeError> {
    if path.is_absolute() && !path.components().any(|c| c == Component::ParentDir) {
        Ok(path)
    } else {
        Err(RuntimeError::invalid(
            "overlay path",
            format!("{} is not an absolute, normal path", path.display()),
        ))
    }
}

/// `path` as overlay options can carry it: relative to `base`, or
/// absolute when that is shorter.
fn option_path(path: &Path, base: &Path) -> Result<String, RuntimeError> {
    let path = absolute(path)?;
    let common = path
        .components()
        .zip(base.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut relative = PathBuf::new();
    for _ in base.components().skip(common) {
        relative.push("..");
    }
    relative.extend(path.components().skip(common));
    let chosen = if relative.as_os_str().is_empty() {
        Path::new(".")
    } else if relative.as_os_str().len() < path.as_os_str().len() {
        &relative
    } else {
        path
    };
    let text = chosen.to_str().ok_or_else(|| {
        RuntimeError::invalid(
            "overlay path",
            format!("{} is not valid UTF-8", path.display()),
        )
    })?;
    if text.contains([',', ':']) {
        return Err(RuntimeError::invalid(
            "overlay path",
            format!(
                "{} contains ',' or ':', which overlay mount options cannot hold",
                path.display()
            ),
        ));
    }
    Ok(text.to_string())
}

/// Whether `path` is a mount point of a file system of its own: its device
/// differs from its parent's. Unreadable paths count as mount points.
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let parent = path.parent().unwrap_or(Path::new("/"));
    match (std::fs::metadata(path), std::fs::metadata(parent)) {
        (Ok(p), Ok(parent)) => p.dev() != parent.dev(),
        (Err(e), _) if e.kind() == std::io::ErrorKind::NotFound => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/var/lib/berth";

    fn overlay(layers: usize) -> OverlayMount {
        let c = format!("{ROOT}/containers/{}", "c".repeat(64));
        OverlayMount {
            lower: (0..layers)
                .map(|i| PathBuf::from(format!("{ROOT}/layers/l/{i:020x}")))
                .collect(),
            upper: format!("{c}/upper").into(),
            work: format!("{c}/work").into(),
            target: format!("{c}/rootfs").into(),
            volatile: false,
        }
    }

    #[test]
    fn legacy_options_name_layers_from_their_directory() {
        let mut m = overlay(0);
        m.lower = vec![
            format!("{ROOT}/layers/l/top").into(),
            format!("{ROOT}/layers/l/base").into(),
        ];
        let base = m.common_lower_dir().unwrap();
        assert_eq!(base, Path::new("/var/lib/berth/layers/l"));
        let c = "c".repeat(64);
        assert_eq!(
            m.mount_data(&base).unwrap(),
            format!(
                "lowerdir=top:base,upperdir=../../containers/{c}/upper,\
                 workdir=../../containers/{c}/work"
            )
        );
    }

    #[test]
    fn legacy_options_do_not_grow_with_the_root() {
        let mut m = overlay(125);
        let long = format!("/{}", "r".repeat(3000));
        let rebase = |p: &Path| PathBuf::from(format!("{long}{}", p.display()));
        m.lower = m.lower.iter().map(|p| rebase(p)).collect();
        m.upper = rebase(&m.upper);
        m.work = rebase(&m.work);
        let base = m.common_lower_dir().unwrap();
        let data = m.mount_data(&base).unwrap();
        let short = overlay(125);
        let short_data = short
            .mount_data(&short.common_lower_dir().unwrap())
            .unwrap();
        assert_eq!(data, short_data);
        assert!(data.len() < 3300, "{}", data.len());
    }

    #[test]
    fn legacy_options_over_a_page_are_refused() {
        // 21 bytes per layer link and separator, plus the fixed options:
        // 185 layers fit, one more does not.
        let base = overlay(1).common_lower_dir().unwrap();
        let fits = overlay(185).mount_data(&base).unwrap();
        assert_eq!(fits.len() + 1, 4086);
        let err = overlay(186).mount_data(&base).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "overlay on {ROOT}/containers/{}/rootfs: mount options for 186 layers are \
                 4107 bytes, over the kernel's limit of 4096",
                "c".repeat(64)
            )
        );
    }

    #[test]
    fn unusable_layouts_are_refused() {
        let err = overlay(0).mount_data(Path::new("/")).unwrap_err();
        assert!(
            err.to_string().contains("at least one lower layer"),
            "{err}"
        );
        let mut m = overlay(1);
        m.upper = "/a,b/diff".into();
        let err = m.mount_data(Path::new("/x")).unwrap_err();
        assert!(err.to_string().contains("/a,b/diff contains ','"), "{err}");
        m.upper = "relative/diff".into();
        let err = m.mount_data(Path::new("/x")).unwrap_err();
        assert!(err.to_string().contains("not an absolute"), "{err}");
    }

    #[test]
    fn handles_name_paths_shortly() {
        let dir = tempfile::tempdir().unwrap();
        let long = dir.path().join("d".repeat(200)).join("e".repeat(200));
        std::fs::create_dir_all(&long).unwrap();
        let mut handles = DirHandles::default();
        let a = handles.name(&long.join("a")).unwrap();
        let b = handles.name(&long.join("b")).unwrap();
        assert!(a.starts_with("/proc/self/fd/") && a.ends_with("/a"), "{a}");
        assert_eq!(
            a.trim_end_matches('a'),
            b.trim_end_matches('b'),
            "one handle"
        );
        assert!(a.len() < 30, "{a}");
    }
}
