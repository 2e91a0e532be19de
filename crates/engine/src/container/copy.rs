//! `cp`: files and directories between a container's filesystem and the
//! host, or a tar stream, with docker's rules for trailing `/`, `/.`, new
//! names and existing directories.
//!
//! A container's tree is never reached by joining a string to the rootfs
//! path: every container path is resolved by the kernel with `openat2
//! (RESOLVE_IN_ROOT)` from a handle on the rootfs, so a symlink in the
//! container (`/x -> /etc`, `../../..`) resolves inside the container as it
//! would for the container itself, even while a running container changes
//! its tree. Reading walks the tree through handles opened without following
//! symlinks and opens only what is known to be a regular file; writing is
//! `berth_store::extract_copy`, which resolves every entry the same way.
//!
//! A running (or paused) container's tree is its first process's root,
//! `/proc/<pid>/root`, which crosses into the mounts of the container's own
//! mount namespace: volumes, bind mounts and tmpfs mounts are copied to and
//! from as docker copies them. A stopped one's overlay is mounted for the
//! copy as a detached mount (`fsmount`): no path leads to it, no other
//! process sees it, and it is gone when its handle closes, even if berth is
//! killed mid-copy; its bind and tmpfs mounts exist only while it runs, so
//! `cp` then sees the paths under them as the image and writable layer
//! have them.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use berth_runtime::overlay::OverlayMount;
use berth_store::{extract_copy, CopyOwner, ExtractStats, StoreError};
use rustix::fs::{self as fs, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::MountAttrFlags;

use crate::container::ContainerInfo;
use crate::{Engine, EngineError};

/// How many symlinks in a row a destination may go through, as docker's.
const MAX_DESTINATION_LINKS: usize = 10;

/// `cp`'s flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-L`: follow SRC_PATH when it is a symlink.
    pub follow_link: bool,
    /// `-a`: files copied into the container keep their owner instead of
    /// becoming root's.
    pub archive: bool,
}

/// Where `copy_from_container` puts what it reads.
pub enum CopyOut<'a> {
    /// A path on the host.
    Path(&'a Path),
    /// A tar stream of the source (`cp CONTAINER:SRC -`).
    Tar(&'a mut dyn Write),
}

/// What `copy_to_container` copies.
pub enum CopyIn<'a> {
    /// A path on the host.
    Path(&'a Path),
    /// A tar stream extracted into the destination directory
    /// (`cp - CONTAINER:DEST`).
    Tar(&'a mut dyn Read),
}

/// What a copy did, for docker's "Successfully copied" line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Bytes of regular files copied.
    pub size: u64,
    /// The destination as docker names it (`/host/path`, `CONTAINER:/path`).
    pub destination: String,
}

/// A destination as docker's rules see it: its path after following any
/// symlinks at its end, and what is there.
struct Destination {
    path: PathBuf,
    exists: bool,
    is_dir: bool,
}

fn copy_error(msg: String) -> EngineError {
    EngineError::Invalid(msg)
}

/// Docker's wording, which scripts match on.
fn not_found(path: &Path, container: &str) -> EngineError {
    EngineError::NotFound(format!(
        "Could not find the file {} in container {container}",
        path.display()
    ))
}

/// A trailing `/` or `/.` says the path must be a directory.
fn asserts_dir(p: &Path) -> bool {
    let b = p.as_os_str().as_bytes();
    b.ends_with(b"/") || wants_contents(p)
}

/// A trailing `/.` (or `.` alone) asks for a directory's contents rather
/// than the directory itself.
fn wants_contents(p: &Path) -> bool {
    let b = p.as_os_str().as_bytes();
    b.ends_with(b"/.") || b == b"."
}

/// Lexical cleaning, as Go's `filepath.Clean`: `.` dropped, `..` taken
/// back (never above `/`), no trailing `/`.
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() && !out.has_root() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Docker's `SplitPathDirEntry`: the directory a path is in and its last
/// name, `.` for a path asking for contents (and for `/`).
fn split_dir_entry(p: &Path) -> (PathBuf, OsString) {
    let cleaned = clean(p);
    if wants_contents(p) {
        return (cleaned, ".".into());
    }
    match (cleaned.parent(), cleaned.file_name()) {
        (Some(dir), Some(name)) => (dir.to_path_buf(), name.to_owned()),
        _ => (cleaned, ".".into()),
    }
}

/// A container path as docker reads it: relative to the container's `/`,
/// whether or not it starts with one; a trailing `/` or `/.` kept.
fn container_path(raw: &str) -> PathBuf {
    if raw.starts_with('/') {
        PathBuf::from(raw)
    } else {
        PathBuf::from(format!("/{raw}"))
    }
}

/// Where a link at `path` pointing to `target` leads, as a path.
fn link_destination(path: &Path, target: &Path) -> PathBuf {
    if target.is_absolute() {
        return clean(target);
    }
    let (dir, _) = split_dir_entry(path);
    clean(&dir.join(target))
}

/// Docker's `PrepareArchiveCopy`: the directory to extract into and the
/// name the source takes there.
fn plan(
    src_is_dir: bool,
    src_name: OsString,
    dst: &Destination,
    dst_shown: &str,
) -> Result<(PathBuf, OsString), EngineError> {
    if dst.exists && dst.is_dir {
        return Ok((clean(&dst.path), src_name));
    }
    if dst.exists && src_is_dir {
        return Err(copy_error(format!(
            "cannot copy directory: destination {dst_shown} is not a directory"
        )));
    }
    if !dst.exists && !src_is_dir && asserts_dir(&dst.path) {
        return Err(copy_error(format!(
            "no such directory: destination {dst_shown} must be an existing directory"
        )));
    }
    Ok(split_dir_entry(&dst.path))
}

/// Opens `path` inside the tree under `root` as if `root` were `/`, as a
/// handle that reads nothing (`O_PATH`); the last name is a symlink's own
/// handle unless `follow`.
fn open_in_root(root: BorrowedFd<'_>, path: &Path, follow: bool) -> Result<File, Errno> {
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    fs::openat2(
        root,
        path,
        flags,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map(File::from)
}

fn metadata(node: &File, path: &Path) -> Result<Metadata, EngineError> {
    node.metadata()
        .map_err(|e| EngineError::io(format!("stat {}", path.display()), e))
}

/// Writes trees to a tar stream from handles, as docker's `cp` archives
/// them: modes, owners, mtimes, symlinks as links, hardlinks within the
/// tree as links, device nodes and fifos as headers; sockets left out.
struct TreeWriter<W: Write> {
    tar: tar::Builder<W>,
    /// The first name written for each multiply-linked file.
    links: HashMap<(u64, u64), PathBuf>,
    /// Bytes of regular files written.
    size: u64,
}

impl<W: Write> TreeWriter<W> {
    fn new(out: W) -> TreeWriter<W> {
        TreeWriter {
            tar: tar::Builder::new(out),
            links: HashMap::new(),
            size: 0,
        }
    }

    /// Appends `node` (an `O_PATH` handle, `md` its metadata) as `name`,
    /// with everything under it when it is a directory.
    fn append(&mut self, node: &File, md: &Metadata, name: &Path) -> io::Result<()> {
        let at = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", name.display()));
        let mut h = tar::Header::new_gnu();
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(md.uid().into());
        h.set_gid(md.gid().into());
        h.set_mtime(md.mtime().max(0) as u64);
        h.set_size(0);
        let ft = md.file_type();
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            let mut dir_name = name.as_os_str().to_owned();
            dir_name.push("/");
            self.tar.append_data(&mut h, dir_name, io::empty())?;
            let dir = fs::openat(
                node,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| at(e.into()))?;
            for child in dir_names(dir.as_fd()).map_err(at)? {
                let child_node = match fs::openat(
                    &dir,
                    &child,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => File::from(fd),
                    // Removed by a running container since it was listed.
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(at(e.into())),
                };
                let child_md = child_node.metadata().map_err(at)?;
                self.append(&child_node, &child_md, &name.join(&child))?;
            }
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = fs::readlinkat(node, "", Vec::new()).map_err(|e| at(e.into()))?;
            let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
            self.tar.append_link(&mut h, name, target)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = self.links.get(&(md.dev(), md.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    let first = first.clone();
                    return self.tar.append_link(&mut h, name, first);
                }
                self.links.insert((md.dev(), md.ino()), name.to_path_buf());
            }
            h.set_entry_type(tar::EntryType::Regular);
            // Reopened through the O_PATH handle: the very inode seen to
            // be a regular file, whatever the name points at by now.
            let file = fs::open(
                fd_path(node.as_fd()).as_str(),
                OFlags::RDONLY | OFlags::NOCTTY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map(File::from)
            .map_err(|e| at(e.into()))?;
            // Exactly the size in the header, even if a running container
            // grows or truncates the file meanwhile.
            let size = md.len();
            h.set_size(size);
            let data = (&file).take(size).chain(io::repeat(0)).take(size);
            self.tar.append_data(&mut h, name, data)?;
            self.size += size;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            h.set_entry_type(if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            });
            if !ft.is_fifo() {
                h.set_device_major(fs::major(md.rdev()))?;
                h.set_device_minor(fs::minor(md.rdev()))?;
            }
            self.tar.append_data(&mut h, name, io::empty())?;
        } else {
            tracing::debug!(path = %name.display(), "leaving a socket out of the copy");
        }
        Ok(())
    }

    fn finish(self) -> io::Result<u64> {
        let size = self.size;
        self.tar.into_inner()?;
        Ok(size)
    }
}

/// The names in a directory, sorted, without `.` and `..`.
fn dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for e in fs::Dir::read_from(dir)? {
        let e = e?;
        let name = e.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from(OsStr::from_bytes(name)));
        }
    }
    names.sort();
    Ok(names)
}

/// The path of an open file in this process's `/proc`, which the kernel
/// follows to exactly that inode.
fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Writes `node` as `name` into a pipe on another thread while `extract`
/// reads it here; returns the bytes of regular files copied. A failure to
/// read the source wins over the extraction's complaint about a cut-off
/// stream.
fn copy_through_pipe(
    node: File,
    md: Metadata,
    name: &Path,
    extract: impl FnOnce(io::PipeReader) -> Result<ExtractStats, StoreError>,
) -> Result<u64, EngineError> {
    let (reader, writer) = io::pipe().map_err(|e| EngineError::io("create a pipe", e))?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut w = TreeWriter::new(writer);
            w.append(&node, &md, name)?;
            w.finish()
        });
        let extracted = extract(reader);
        let produced = producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match (produced, extracted) {
            (Err(e), _) if e.kind() != io::ErrorKind::BrokenPipe => {
                Err(EngineError::io("read the source", e))
            }
            (_, Err(e)) => Err(e.into()),
            (Err(e), Ok(_)) => Err(EngineError::io("read the source", e)),
            (Ok(size), Ok(_)) => Ok(size),
        }
    })
}

/// Docker's `ValidateOutputPath`: the directory a host destination is in
/// must exist, and what is there must be a directory or a regular file.
fn validate_output_path(path: &Path) -> Result<(), EngineError> {
    let cleaned = clean(path);
    if let Some(dir) = cleaned.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            return Err(copy_error(format!(
                "invalid output path: directory {:?} does not exist",
                dir.display().to_string()
            )));
        }
    }
    match std::fs::metadata(path) {
        Ok(md) if !md.is_dir() && !md.is_file() => Err(copy_error(format!(
            "invalid output path: {:?} must be a directory or a regular file",
            path.display().to_string()
        ))),
        _ => Ok(()),
    }
}

/// Docker's `CopyInfoDestinationPath` on the host: symlinks at the end of
/// the path are followed (they are the host user's own); a path that does
/// not exist needs its directory to.
fn host_destination(path: &Path) -> Result<Destination, EngineError> {
    let mut path = path.to_path_buf();
    for _ in 0..=MAX_DESTINATION_LINKS {
        match std::fs::symlink_metadata(&path) {
            Ok(md) if md.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)
                    .map_err(|e| EngineError::io(format!("readlink {}", path.display()), e))?;
                path = link_destination(&path, &target);
            }
            Ok(md) => {
                return Ok(Destination {
                    path,
                    exists: true,
                    is_dir: md.is_dir(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (dir, _) = split_dir_entry(&path);
                let md = std::fs::metadata(&dir)
                    .map_err(|e| EngineError::io(format!("stat {}", dir.display()), e))?;
                if !md.is_dir() {
                    return Err(copy_error(format!("{} is not a directory", dir.display())));
                }
                return Ok(Destination {
                    path,
                    exists: false,
                    is_dir: false,
                });
            }
            Err(e) => return Err(EngineError::io(format!("lstat {}", path.display()), e)),
        }
    }
    Err(copy_error(format!(
        "too many symlinks in {}",
        path.display()
    )))
}

/// The name a source takes in the archive: its own last name (even when
/// `-L` follows it elsewhere, as docker renames it back), or `.` for its
/// contents.
fn source_name(path: &Path) -> OsString {
    split_dir_entry(path).1
}

impl Engine {
    /// The container's root filesystem for one copy: its processes' root
    /// while it runs or is paused, else its overlay mounted for this
    /// process alone as a detached mount.
    fn container_root(&self, info: &ContainerInfo) -> Result<OwnedFd, EngineError> {
        let dir = self.container_dir(&info.record.id);
        let rootfs = dir.join("rootfs");
        let open = |p: &Path| {
            fs::open(
                p,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| EngineError::io(format!("open {}", p.display()), e.into()))
        };
        let live = open(&rootfs)?;
        let stat = |fd: &OwnedFd, p: &Path| {
            fs::fstat(fd).map_err(|e| EngineError::io(format!("stat {}", p.display()), e.into()))
        };
        // A mount point is on another device than the directory it is in.
        let mounted = stat(&live, &rootfs)?;
        if mounted.st_dev != stat(&open(&dir)?, &dir)?.st_dev {
            // The recorded pid is the container's only if the root it leads
            // to is this overlay: a pid recycled by another process is not.
            let in_namespace = info.record.pid.and_then(|pid| {
                // A magic link, followed to the process's root.
                let root = fs::open(
                    format!("/proc/{pid}/root"),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .ok()?;
                let seen = fs::fstat(&root).ok()?;
                (seen.st_dev == mounted.st_dev && seen.st_ino == mounted.st_ino).then_some(root)
            });
            return Ok(in_namespace.unwrap_or(live));
        }
        let layers_dir = self.store.layers_dir();
        let mut lower: Vec<PathBuf> = self
            .store
            .overlay_lower_links(&info.record.image_id)?
            .iter()
            .map(|l| layers_dir.join(l))
            .collect();
        lower.reverse();
        let overlay = OverlayMount {
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            target: rootfs,
            volatile: false,
        };
        let mount = overlay
            .mount_detached(MountAttrFlags::MOUNT_ATTR_NODEV | MountAttrFlags::MOUNT_ATTR_NOSUID)?;
        tracing::debug!(container = %info.record.id, "mounted a detached overlay for cp");
        Ok(mount)
    }
}

/// Docker's destination rules inside a container: symlinks at the end of
/// the path are followed (as paths inside the container); a missing
/// destination is left to the extraction, which needs its directory.
fn container_destination(
    root: BorrowedFd<'_>,
    raw: &str,
    container: &str,
) -> Result<Destination, EngineError> {
    let mut path = container_path(raw);
    for _ in 0..=MAX_DESTINATION_LINKS {
        let Ok(node) = open_in_root(root, &path, false) else {
            return Ok(Destination {
                path,
                exists: false,
                is_dir: false,
            });
        };
        let md = metadata(&node, &path)?;
        let ft = md.file_type();
        if ft.is_symlink() {
            let target = fs::readlinkat(&node, "", Vec::new())
                .map_err(|e| EngineError::io(format!("readlink {}", path.display()), e.into()))?;
            path = link_destination(&path, Path::new(OsStr::from_bytes(target.as_bytes())));
            continue;
        }
        if !ft.is_dir() && !ft.is_file() {
            return Err(copy_error(format!(
                "destination \"{container}:{raw}\" must be a directory or a regular file"
            )));
        }
        return Ok(Destination {
            path,
            exists: true,
            is_dir: ft.is_dir(),
        });
    }
    Err(copy_error(format!(
        "too many symlinks in {container}:{raw}"
    )))
}

impl Engine {
    /// `cp CONTAINER:SRC DEST|-`.
    pub fn copy_from_container(
        &mut self,
        container: &str,
        src: &str,
        dest: CopyOut<'_>,
        opts: &CopyOptions,
    ) -> Result<Copied, EngineError> {
        let info = self.container(container)?;
        if let CopyOut::Path(p) = &dest {
            validate_output_path(p)?;
        }
        let root = self.container_root(&info)?;
        let src_path = container_path(src);
        let follow = opts.follow_link || asserts_dir(&src_path);
        let node = open_in_root(root.as_fd(), &src_path, follow).map_err(|e| match e {
            Errno::NOENT => not_found(Path::new(src), container),
            e => EngineError::io(
                format!("stat {} in container {container}", src_path.display()),
                e.into(),
            ),
        })?;
        let md = metadata(&node, &src_path)?;
        let name = PathBuf::from(source_name(&src_path));
        match dest {
            CopyOut::Tar(out) => {
                let mut w = TreeWriter::new(out);
                w.append(&node, &md, &name)
                    .and_then(|()| w.finish())
                    .map(|size| Copied {
                        size,
                        destination: "-".into(),
                    })
                    .map_err(|e| EngineError::io(format!("copy from {container}"), e))
            }
            CopyOut::Path(dest) => {
                let shown = dest.display().to_string();
                let dst = host_destination(dest)?;
                let (dir, top) = plan(md.is_dir(), name.into_os_string(), &dst, &shown)?;
                let dir_fd = fs::open(
                    &dir,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| EngineError::io(format!("open {}", dir.display()), e.into()))?;
                let size = copy_through_pipe(node, md, Path::new(&top), |r| {
                    extract_copy(r, dir_fd.as_fd(), Path::new("/"), CopyOwner::Caller)
                })?;
                Ok(Copied {
                    size,
                    destination: shown,
                })
            }
        }
    }

    /// `cp SRC|- CONTAINER:DEST`.
    pub fn copy_to_container(
        &mut self,
        container: &str,
        src: CopyIn<'_>,
        dest: &str,
        opts: &CopyOptions,
    ) -> Result<Copied, EngineError> {
        let info = self.container(container)?;
        if info.options.read_only {
            // Docker's wording.
            return Err(copy_error("container rootfs is marked read-only".into()));
        }
        let root = self.container_root(&info)?;
        let dst = container_destination(root.as_fd(), dest, container)?;
        let owner = if opts.archive {
            CopyOwner::Archive
        } else {
            CopyOwner::Root
        };
        let destination = format!("{container}:{}", dst.path.display());
        let size = match src {
            CopyIn::Tar(input) => {
                if !(dst.exists && dst.is_dir) {
                    return Err(copy_error(format!(
                        "destination \"{container}:{dest}\" must be a directory"
                    )));
                }
                extract_copy(input, root.as_fd(), &dst.path, owner)?.size
            }
            CopyIn::Path(src) => {
                let mut flags = OFlags::PATH | OFlags::CLOEXEC;
                if !(opts.follow_link || asserts_dir(src)) {
                    flags |= OFlags::NOFOLLOW;
                }
                let node = fs::open(src, flags, Mode::empty())
                    .map(File::from)
                    .map_err(|e| EngineError::io(format!("lstat {}", src.display()), e.into()))?;
                let md = metadata(&node, src)?;
                let (dir, top) = plan(md.is_dir(), source_name(src), &dst, &destination)?;
                match open_in_root(root.as_fd(), &dir, true) {
                    Ok(n) if metadata(&n, &dir)?.is_dir() => {}
                    Ok(_) => {
                        return Err(copy_error(format!(
                            "extraction point {} in container {container} is not a directory",
                            dir.display()
                        )))
                    }
                    Err(Errno::NOENT) => return Err(not_found(&dir, container)),
                    Err(e) => {
                        return Err(EngineError::io(
                            format!("stat {} in container {container}", dir.display()),
                            e.into(),
                        ))
                    }
                }
                copy_through_pipe(node, md, Path::new(&top), |r| {
                    extract_copy(r, root.as_fd(), &dir, owner)
                })?
            }
        };
        Ok(Copied { size, destination })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(path: &str, exists: bool, is_dir: bool) -> Destination {
        Destination {
            path: path.into(),
            exists,
            is_dir,
        }
    }

    #[test]
    fn paths_split_as_docker_splits_them() {
        assert_eq!(
            split_dir_entry(Path::new("/a/b")),
            ("/a".into(), "b".into())
        );
        assert_eq!(
            split_dir_entry(Path::new("/a/b/")),
            ("/a".into(), "b".into())
        );
        assert_eq!(
            split_dir_entry(Path::new("/a/b/.")),
            ("/a/b".into(), ".".into())
        );
        assert_eq!(split_dir_entry(Path::new("/")), ("/".into(), ".".into()));
        assert_eq!(clean(Path::new("/a/../../b/./c/")), PathBuf::from("/b/c"));
        assert_eq!(container_path("etc/passwd"), PathBuf::from("/etc/passwd"));
        assert_eq!(
            link_destination(Path::new("/x/link"), Path::new("../../../etc")),
            PathBuf::from("/etc")
        );
        assert!(asserts_dir(Path::new("/a/")) && asserts_dir(Path::new("/a/.")));
        assert!(!asserts_dir(Path::new("/a")) && !wants_contents(Path::new("/a/")));
    }

    #[test]
    fn plans_follow_docker_cp_rules() {
        let f = || OsString::from("f");
        // A file into an existing directory keeps its name.
        assert_eq!(
            plan(false, f(), &dest("/d", true, true), "d").unwrap(),
            ("/d".into(), "f".into())
        );
        // A file onto a missing path or an existing file takes that name.
        assert_eq!(
            plan(false, f(), &dest("/d/new", false, false), "d").unwrap(),
            ("/d".into(), "new".into())
        );
        assert_eq!(
            plan(false, f(), &dest("/d/old", true, false), "d").unwrap(),
            ("/d".into(), "old".into())
        );
        // A directory to a missing path becomes that directory.
        assert_eq!(
            plan(true, "src".into(), &dest("/d/new/", false, false), "d").unwrap(),
            ("/d".into(), "new".into())
        );
        // Contents (`src/.`) into an existing directory.
        assert_eq!(
            plan(true, ".".into(), &dest("/d", true, true), "d").unwrap(),
            ("/d".into(), ".".into())
        );
        let err = plan(true, "src".into(), &dest("/d/file", true, false), "d/file").unwrap_err();
        assert!(
            err.to_string().starts_with("cannot copy directory"),
            "{err}"
        );
        let err = plan(false, f(), &dest("/d/missing/", false, false), "d/missing/").unwrap_err();
        assert!(err.to_string().starts_with("no such directory"), "{err}");
    }
}
