//! The empty files and directories the runtime creates in a build
//! container's writable layer to mount `RUN --mount` targets on: they are
//! not the step's work, so they are removed before the layer is written, and
//! the directory they were made in gets its times back, as BuildKit does.
//! Which ones the runtime will create is read from the mounted root before
//! the run; afterwards only what is still empty is removed.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timestamps};
use rustix::io::Errno;

/// Mountpoints the runtime is about to create.
#[derive(Debug, Default)]
pub(super) struct Mountpoints {
    created: Vec<Created>,
}

#[derive(Debug)]
struct Created {
    /// The deepest directory on the way that exists, relative to the root
    /// (symlinks resolved); empty for the root itself.
    existing: PathBuf,
    /// Its times before the run.
    times: Timestamps,
    /// The names the runtime creates below it, outermost first.
    missing: Vec<OsString>,
}

/// What a file descriptor opened on a path is opened on.
pub(super) fn fd_path(fd: &OwnedFd) -> io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// A target's path components, `.` and `..` resolved lexically as the
/// runtime cleans mount destinations.
fn components(target: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    parts
}

/// Makes each target directory and its missing parents (root's, 0755) in
/// the container's mounted root, resolving symlinks inside the root: the
/// mountpoints docker's classic builder makes for an image's `VOLUME`s when
/// a `RUN` step mounts them, kept in the step's layer.
pub(super) fn make_dirs(rootfs: &Path, targets: &[String]) -> io::Result<()> {
    let root = open_dir(rootfs)?;
    for target in targets {
        let parts = components(target);
        for depth in 1..=parts.len() {
            let prefix = parts[..depth].join("/");
            let open = |root: &OwnedFd| {
                rustix::fs::openat2(
                    root,
                    prefix.as_str(),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
                )
            };
            match open(&root) {
                Ok(_) => continue,
                Err(Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
            let parent = if depth == 1 {
                ".".to_string()
            } else {
                parts[..depth - 1].join("/")
            };
            let parent = rustix::fs::openat2(
                &root,
                parent.as_str(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            )?;
            match rustix::fs::mkdirat(&parent, parts[depth - 1], Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            // Dangling symlinks on the way are not followed out: the
            // lookup must now succeed inside the root.
            open(&root)?;
        }
    }
    Ok(())
}

impl Mountpoints {
    /// Finds, in the container's mounted root, which parts of each target
    /// do not exist yet, resolving symlinks inside the root as the runtime
    /// does.
    pub(super) fn find(rootfs: &Path, targets: &[String]) -> io::Result<Mountpoints> {
        let root = open_dir(rootfs)?;
        let root_path = fd_path(&root)?;
        let mut created = Vec::new();
        for target in targets {
            let parts = components(target);
            let mut depth = parts.len();
            let existing = loop {
                let prefix = if depth == 0 {
                    ".".to_string()
                } else {
                    parts[..depth].join("/")
                };
                match rustix::fs::openat2(
                    &root,
                    prefix.as_str(),
                    OFlags::PATH | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
                ) {
                    Ok(fd) => break fd,
                    Err(Errno::NOENT) if depth > 0 => depth -= 1,
                    Err(e) => return Err(e.into()),
                }
            };
            if depth == parts.len() {
                continue;
            }
            let Ok(relative) = fd_path(&existing)?
                .strip_prefix(&root_path)
                .map(Path::to_path_buf)
            else {
                continue;
            };
            let stat = rustix::fs::fstat(&existing)?;
            created.push(Created {
                existing: relative,
                times: Timestamps {
                    last_access: rustix::fs::Timespec {
                        tv_sec: stat.st_atime,
                        tv_nsec: stat.st_atime_nsec as _,
                    },
                    last_modification: rustix::fs::Timespec {
                        tv_sec: stat.st_mtime,
                        tv_nsec: stat.st_mtime_nsec as _,
                    },
                },
                missing: parts[depth..].iter().map(OsString::from).collect(),
            });
        }
        Ok(Mountpoints { created })
    }

    /// Removes from the writable layer `upper` the mountpoints that are
    /// still empty, innermost first, and gives each directory they were
    /// made in its old times back when nothing else of it changed. Paths
    /// are opened beneath `upper` without following symlinks: the step
    /// could have replaced a directory on the way with a link.
    pub(super) fn remove(&self, upper: &Path) -> io::Result<()> {
        let upper = open_dir(upper)?;
        let mut touched: Vec<&Created> = Vec::new();
        for created in &self.created {
            let mut removed = false;
            for depth in (1..=created.missing.len()).rev() {
                let mut parent = created.existing.clone();
                parent.extend(&created.missing[..depth - 1]);
                let Some(parent) = open_beneath(&upper, &parent, OFlags::PATH)? else {
                    continue;
                };
                let name = &created.missing[depth - 1];
                let stat = match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) => stat,
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                };
                let kind = FileType::from_raw_mode(stat.st_mode);
                let flags = match kind {
                    FileType::Directory => AtFlags::REMOVEDIR,
                    FileType::RegularFile
                        if stat.st_size == 0 && depth == created.missing.len() =>
                    {
                        AtFlags::empty()
                    }
                    _ => break,
                };
                match rustix::fs::unlinkat(&parent, name, flags) {
                    Ok(()) => removed = true,
                    Err(Errno::NOTEMPTY | Errno::EXIST) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            if removed && !created.existing.as_os_str().is_empty() {
                touched.push(created);
            }
        }
        for created in touched {
            let Some(dir) = open_beneath(&upper, &created.existing, OFlags::RDONLY)? else {
                continue;
            };
            if !is_empty(&dir)? {
                continue;
            }
            rustix::fs::futimens(&dir, &created.times)?;
        }
        Ok(())
    }
}

/// Opens a directory beneath `root` without following any symlink; `None`
/// when it is not there (or not a directory).
fn open_beneath(root: &OwnedFd, path: &Path, access: OFlags) -> io::Result<Option<OwnedFd>> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    match rustix::fs::openat2(
        root,
        path,
        access | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn is_empty(dir: &OwnedFd) -> io::Result<bool> {
    for entry in rustix::fs::Dir::read_from(dir)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn components_are_cleaned() {
        assert_eq!(components("/a/./b//c/../d"), ["a", "b", "d"]);
        assert_eq!(components("/../x"), ["x"]);
        assert!(components("/").is_empty());
    }

    #[test]
    fn only_runtime_created_mountpoints_go() {
        let root = tempfile::tempdir().unwrap();
        let rootfs = root.path().join("rootfs");
        let upper = root.path().join("upper");
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        fs::create_dir_all(rootfs.join("cache")).unwrap();
        std::os::unix::fs::symlink("/etc", rootfs.join("link")).unwrap();
        let targets = [
            "/cache".to_string(),
            "/run/secrets/token".to_string(),
            "/link/app/conf".to_string(),
            "/opt/data".to_string(),
        ];
        let found = Mountpoints::find(&rootfs, &targets).unwrap();
        let summary: Vec<(PathBuf, Vec<OsString>)> = found
            .created
            .iter()
            .map(|c| (c.existing.clone(), c.missing.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    PathBuf::new(),
                    vec!["run".into(), "secrets".into(), "token".into()]
                ),
                (PathBuf::from("etc"), vec!["app".into(), "conf".into()]),
                (PathBuf::new(), vec!["opt".into(), "data".into()]),
            ]
        );

        // What the runtime made, plus the step's own file under /opt.
        fs::create_dir_all(upper.join("run/secrets")).unwrap();
        fs::write(upper.join("run/secrets/token"), "").unwrap();
        fs::create_dir_all(upper.join("etc/app/conf")).unwrap();
        fs::create_dir_all(upper.join("opt/data")).unwrap();
        fs::write(upper.join("opt/kept"), "mine").unwrap();
        found.remove(&upper).unwrap();
        let mut left: Vec<String> = walkdir(&upper);
        left.sort();
        assert_eq!(left, ["etc", "opt", "opt/kept"]);
        // /etc only held the mountpoints: its times are the image's again.
        let before = fs::metadata(rootfs.join("etc")).unwrap();
        let after = fs::metadata(upper.join("etc")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            (before.mtime(), before.mtime_nsec()),
            (after.mtime(), after.mtime_nsec())
        );
    }

    fn walkdir(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                for sub in walkdir(&entry.path()) {
                    out.push(format!("{name}/{sub}"));
                }
            }
            out.push(name);
        }
        out
    }
}
