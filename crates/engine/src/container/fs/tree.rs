//! Directory handles over a container's upper dir and its image's layers,
//! and the merged view of a stack of them.

use rustix::fs::{Mode, OFlags};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io::{self};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::*;

/// A directory being read: in the container's writable layer (which a
/// running container can change meanwhile) or in an image layer.
pub(crate) enum Dir {
    /// Reached and read through fds only, never following a symlink.
    Live { fd: OwnedFd, path: PathBuf },
    /// An installed image layer: immutable, reached through components
    /// already seen to be real directories.
    Layer(PathBuf),
}

impl Dir {
    pub(crate) fn open_live(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| at(path, e.into()))?;
        Ok(Dir::Live {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            Dir::Live { path, .. } => path,
            Dir::Layer(path) => path,
        }
    }

    /// Entry names, sorted (byte order, as docker walks).
    pub(crate) fn names(&self) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        match self {
            Dir::Live { fd, path } => {
                let dir = rustix::fs::Dir::read_from(fd).map_err(|e| at(path, e.into()))?;
                for entry in dir {
                    let entry = entry.map_err(|e| at(path, e.into()))?;
                    let name = entry.file_name().to_bytes();
                    if name != b"." && name != b".." {
                        names.push(OsStr::from_bytes(name).to_os_string());
                    }
                }
            }
            Dir::Layer(path) => {
                for entry in fs::read_dir(path).map_err(|e| at(path, e))? {
                    names.push(entry.map_err(|e| at(path, e))?.file_name());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Opens an entry itself (`O_PATH | O_NOFOLLOW`: no side effects, even
    /// for a device or fifo) with its metadata; None if it is gone.
    pub(crate) fn entry(&self, name: &OsStr) -> io::Result<Option<(Metadata, File)>> {
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let opened = match self {
            Dir::Live { fd, .. } => rustix::fs::openat(fd, name, flags, Mode::empty()),
            Dir::Layer(path) => rustix::fs::open(path.join(name), flags, Mode::empty()),
        };
        let file = match opened {
            Ok(fd) => File::from(fd),
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(at(&self.path().join(name), e.into())),
        };
        let md = file
            .metadata()
            .map_err(|e| at(&self.path().join(name), e))?;
        Ok(Some((md, file)))
    }

    pub(crate) fn stat(&self, name: &OsStr) -> io::Result<Option<Metadata>> {
        Ok(self.entry(name)?.map(|(md, _)| md))
    }

    /// A subdirectory, seen to be one by `stat`.
    pub(crate) fn child(&self, name: &OsStr) -> io::Result<Dir> {
        match self {
            Dir::Live { fd, path } => {
                let path = path.join(name);
                let fd = rustix::fs::openat(
                    fd,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| at(&path, e.into()))?;
                Ok(Dir::Live { fd, path })
            }
            Dir::Layer(path) => Ok(Dir::Layer(path.join(name))),
        }
    }

    pub(crate) fn with_fd<T>(&self, f: impl FnOnce(BorrowedFd<'_>) -> T) -> io::Result<T> {
        match self {
            Dir::Live { fd, .. } => Ok(f(fd.as_fd())),
            Dir::Layer(path) => {
                let fd = rustix::fs::open(
                    path,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| at(path, e.into()))?;
                Ok(f(fd.as_fd()))
            }
        }
    }

    /// overlayfs's opaque mark: nothing of lower layers shows through.
    pub(crate) fn opaque(&self) -> io::Result<bool> {
        self.with_fd(|fd| {
            let mut buf = [0u8; 4];
            matches!(rustix::fs::fgetxattr(fd, OPAQUE_XATTR, &mut buf[..]), Ok(1) if buf[0] == b'y')
        })
    }

    pub(crate) fn xattrs(&self) -> io::Result<Vec<(String, Vec<u8>)>> {
        self.with_fd(xattrs)
    }
}

/// A file's extended attributes (capabilities, ACLs, user attributes) as
/// PAX records want them, leaving out overlayfs's own.
pub(crate) fn xattrs(fd: BorrowedFd<'_>) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 65536];
    let n = match rustix::fs::flistxattr(fd, &mut names[..]) {
        Ok(n) => n,
        Err(_) => return Vec::new(),
    };
    let mut records = Vec::new();
    for name in names[..n].split(|&c| c == 0).filter(|s| !s.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let mut value = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::fgetxattr(fd, name, &mut value[..]) {
            value.truncate(len);
            records.push((format!("SCHILY.xattr.{name}"), value));
        }
    }
    records
}

/// Where a name of a merged directory comes from.
pub(crate) struct Found {
    /// Index into the stack's directories.
    pub(crate) layer: usize,
    pub(crate) md: Metadata,
}

/// One directory of a merged view: the directories of the layers that
/// contribute to it, top first, ending at the first opaque one.
pub(crate) struct Stack {
    pub(crate) dirs: Vec<Dir>,
}

impl Stack {
    pub(crate) fn new(tops: Vec<Dir>) -> io::Result<Stack> {
        let mut dirs = Vec::with_capacity(tops.len());
        for d in tops {
            let opaque = d.opaque()?;
            dirs.push(d);
            if opaque {
                break;
            }
        }
        Ok(Stack { dirs })
    }

    /// The merged entries: each name from its topmost layer, names whited
    /// out above left out.
    pub(crate) fn entries(&self) -> io::Result<BTreeMap<OsString, Found>> {
        let mut seen: BTreeMap<OsString, Option<Found>> = BTreeMap::new();
        for (layer, dir) in self.dirs.iter().enumerate() {
            for name in dir.names()? {
                if seen.contains_key(&name) {
                    continue;
                }
                let Some(md) = dir.stat(&name)? else {
                    continue;
                };
                let found = (!is_whiteout(&md)).then_some(Found { layer, md });
                seen.insert(name, found);
            }
        }
        Ok(seen
            .into_iter()
            .filter_map(|(name, found)| found.map(|f| (name, f)))
            .collect())
    }

    /// The merged subdirectory `name` (a directory in layer `found`):
    /// lower layers join while they have it as a directory too; a whiteout,
    /// a non-directory or an opaque directory ends the stack.
    pub(crate) fn child(&self, name: &OsStr, found: &Found) -> io::Result<Stack> {
        let top = self.dirs[found.layer].child(name)?;
        let mut dirs = Vec::new();
        let opaque = top.opaque()?;
        dirs.push(top);
        if !opaque {
            for dir in &self.dirs[found.layer + 1..] {
                match dir.stat(name)? {
                    None => continue,
                    Some(md) if md.is_dir() => {
                        let d = dir.child(name)?;
                        let opaque = d.opaque()?;
                        dirs.push(d);
                        if opaque {
                            break;
                        }
                    }
                    Some(_) => break,
                }
            }
        }
        Ok(Stack { dirs })
    }
}
