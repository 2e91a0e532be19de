//! `diff`, `commit` and `export`: a container's writable layer read back as
//! docker's list of changes, as a new image layer on top of its image, and
//! merged with the image's layers into one flat tarball.
//!
//! All three read the overlay directories themselves rather than the
//! mounted rootfs, which only exists while the container runs. The upper
//! directory belongs to the container and may change under a running one
//! while it is read, so every step in it goes through a directory fd opened
//! with `O_NOFOLLOW`, and files are opened `O_PATH` first and reopened only
//! once they are known to be regular files: a directory swapped for a
//! symlink, or a file swapped for a device node, is never followed or
//! opened. Image layers cannot change once installed; they are read by
//! path, descending only through entries already seen to be directories.
//!
//! The runtime creates mount points in the upper directory (`/proc`,
//! `/dev`, `/sys`, `/etc/hosts` ...) where docker has them in a separate
//! init layer; `diff` and `commit` leave those out when they are empty and
//! not in the image, so neither shows nor keeps them, as with docker.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_runtime::backend::RuntimeBackend;
use berth_store::{Digest, ImageCommit, LayerInput};
use chrono::Utc;
use rustix::fs::{Mode, OFlags};
use serde_json::{json, Map, Value};

use crate::changes::apply_changes;
use crate::config::ImageConfig;
use crate::container::ContainerInfo;
use crate::save::manifest_json;
use crate::{normalize_tag, Engine, EngineError};

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// Paths the runtime may create as mount points in the writable layer,
/// which docker keeps in the container's init layer instead: `diff` and
/// `commit` skip them when empty and absent from the image.
const RUNTIME_PATHS: [&str; 10] = [
    "/.dockerenv",
    "/dev",
    "/dev/console",
    "/dev/pts",
    "/dev/shm",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
];

/// What happened to a path, with docker's letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// `C`: the path exists in the image too, or is a directory holding
    /// changes.
    Modified,
    /// `A`: the path is new.
    Added,
    /// `D`: the path was removed (a whiteout, or hidden by an opaque
    /// directory).
    Deleted,
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One line of `diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute path inside the container.
    pub path: String,
    pub kind: ChangeKind,
}

/// `commit` options.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// `REPOSITORY[:TAG]` to tag the new image with.
    pub reference: Option<String>,
    /// `-a`.
    pub author: Option<String>,
    /// `-m`: the image's and its new history entry's comment.
    pub message: Option<String>,
    /// `-c`: Dockerfile instructions applied to the new config.
    pub changes: Vec<String>,
    /// `-p`: freeze a running container while its layer is read, so the
    /// layer is one consistent state.
    pub pause: bool,
}

impl Default for CommitOptions {
    fn default() -> Self {
        CommitOptions {
            reference: None,
            author: None,
            message: None,
            changes: Vec::new(),
            pause: true,
        }
    }
}

/// Adds the path to an I/O error, which otherwise names nothing.
fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

/// A directory being read: in the container's writable layer (which a
/// running container can change meanwhile) or in an image layer.
enum Dir {
    /// Reached and read through fds only, never following a symlink.
    Live { fd: OwnedFd, path: PathBuf },
    /// An installed image layer: immutable, reached through components
    /// already seen to be real directories.
    Layer(PathBuf),
}

impl Dir {
    fn open_live(path: &Path) -> io::Result<Dir> {
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

    fn path(&self) -> &Path {
        match self {
            Dir::Live { path, .. } => path,
            Dir::Layer(path) => path,
        }
    }

    /// Entry names, sorted (byte order, as docker walks).
    fn names(&self) -> io::Result<Vec<OsString>> {
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
    fn entry(&self, name: &OsStr) -> io::Result<Option<(Metadata, File)>> {
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

    fn stat(&self, name: &OsStr) -> io::Result<Option<Metadata>> {
        Ok(self.entry(name)?.map(|(md, _)| md))
    }

    /// A subdirectory, seen to be one by `stat`.
    fn child(&self, name: &OsStr) -> io::Result<Dir> {
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

    fn with_fd<T>(&self, f: impl FnOnce(BorrowedFd<'_>) -> T) -> io::Result<T> {
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
    fn opaque(&self) -> io::Result<bool> {
        self.with_fd(|fd| {
            let mut buf = [0u8; 4];
            matches!(rustix::fs::fgetxattr(fd, OPAQUE_XATTR, &mut buf[..]), Ok(1) if buf[0] == b'y')
        })
    }

    fn xattrs(&self) -> io::Result<Vec<(String, Vec<u8>)>> {
        self.with_fd(xattrs)
    }
}

/// A file's extended attributes (capabilities, ACLs, user attributes) as
/// PAX records want them, leaving out overlayfs's own.
fn xattrs(fd: BorrowedFd<'_>) -> Vec<(String, Vec<u8>)> {
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
struct Found {
    /// Index into the stack's directories.
    layer: usize,
    md: Metadata,
}

/// One directory of a merged view: the directories of the layers that
/// contribute to it, top first, ending at the first opaque one.
struct Stack {
    dirs: Vec<Dir>,
}

impl Stack {
    fn new(tops: Vec<Dir>) -> io::Result<Stack> {
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
    fn entries(&self) -> io::Result<BTreeMap<OsString, Found>> {
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
    fn child(&self, name: &OsStr, found: &Found) -> io::Result<Stack> {
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

/// An entry of the writable layer that differs from the image.
struct Node {
    name: OsString,
    md: Metadata,
    kind: ChangeKind,
    /// A directory marked opaque in the layer.
    opaque: bool,
    children: Vec<Node>,
    /// Image entries this opaque directory hides and the layer does not
    /// have again: deleted.
    hidden: Vec<OsString>,
}

#[derive(Default)]
struct Scan {
    nodes: Vec<Node>,
    hidden: Vec<OsString>,
    /// Runtime mount points were left out here, so the directory's own
    /// mtime says nothing about the container's changes.
    skipped: bool,
}

fn is_runtime_path(path: &Path) -> bool {
    RUNTIME_PATHS.iter().any(|p| Path::new(p) == path)
}

fn leads_to_runtime_path(path: &Path) -> bool {
    RUNTIME_PATHS
        .iter()
        .any(|p| Path::new(p).starts_with(path) && Path::new(p) != path)
}

/// docker leaves a directory out of `diff` when nothing changed in it and
/// its own mode and mtime are the image's (ownership is compared too). The
/// mtime is no evidence when runtime mount points were created in it.
fn same_dir(upper: &Metadata, image: &Metadata, ignore_mtime: bool) -> bool {
    upper.mode() == image.mode()
        && upper.uid() == image.uid()
        && upper.gid() == image.gid()
        && (ignore_mtime
            || (upper.mtime() == image.mtime() && upper.mtime_nsec() == image.mtime_nsec()))
}

/// Compares one directory of the writable layer (`abs` inside the
/// container) with the image's (`image`, if the image has it as a
/// directory). `opaque`: nothing of the image shows through here.
fn scan(upper: &Dir, abs: &Path, image: Option<&Stack>, opaque: bool) -> io::Result<Scan> {
    let image_entries = match image {
        Some(stack) => stack.entries()?,
        None => BTreeMap::new(),
    };
    let names = upper.names()?;
    let mut out = Scan::default();
    for name in &names {
        let Some(md) = upper.stat(name)? else {
            continue;
        };
        let path = abs.join(name);
        if is_whiteout(&md) {
            out.nodes.push(Node {
                name: name.clone(),
                md,
                kind: ChangeKind::Deleted,
                opaque: false,
                children: Vec::new(),
                hidden: Vec::new(),
            });
            continue;
        }
        let in_image = image_entries.get(name);
        let kind = if in_image.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        if !md.is_dir() {
            if in_image.is_none() && md.is_file() && md.len() == 0 && is_runtime_path(&path) {
                out.skipped = true;
                continue;
            }
            out.nodes.push(Node {
                name: name.clone(),
                md,
                kind,
                opaque: false,
                children: Vec::new(),
                hidden: Vec::new(),
            });
            continue;
        }
        let dir = upper.child(name)?;
        let own_opaque = dir.opaque()?;
        let image_dir = match (image, in_image) {
            (Some(stack), Some(found)) if found.md.is_dir() => Some(stack.child(name, found)?),
            _ => None,
        };
        let sub = scan(&dir, &path, image_dir.as_ref(), opaque || own_opaque)?;
        if in_image.is_none()
            && sub.nodes.is_empty()
            && (is_runtime_path(&path) || leads_to_runtime_path(&path))
        {
            out.skipped = true;
            continue;
        }
        let unchanged = match in_image {
            Some(found) => {
                found.md.is_dir()
                    && !opaque
                    && !own_opaque
                    && sub.nodes.is_empty()
                    && sub.hidden.is_empty()
                    && same_dir(&md, &found.md, sub.skipped)
            }
            None => false,
        };
        if unchanged {
            continue;
        }
        out.nodes.push(Node {
            name: name.clone(),
            md,
            kind,
            opaque: own_opaque,
            children: sub.nodes,
            hidden: sub.hidden,
        });
    }
    if opaque {
        out.hidden = image_entries
            .into_keys()
            .filter(|n| names.binary_search(n).is_err())
            .collect();
    }
    Ok(out)
}

/// The writable layer `upper` compared with the image layers `layers`
/// (top first).
fn scan_layer(upper: &Path, layers: &[PathBuf]) -> io::Result<Scan> {
    let root = Dir::open_live(upper)?;
    let image = Stack::new(layers.iter().cloned().map(Dir::Layer).collect())?;
    let opaque = root.opaque()?;
    scan(&root, Path::new("/"), Some(&image), opaque)
}

fn flatten(nodes: &[Node], abs: &Path, out: &mut Vec<Change>) {
    for n in nodes {
        let path = abs.join(&n.name);
        out.push(Change {
            path: path.to_string_lossy().into_owned(),
            kind: n.kind,
        });
        for h in &n.hidden {
            out.push(Change {
                path: path.join(h).to_string_lossy().into_owned(),
                kind: ChangeKind::Deleted,
            });
        }
        flatten(&n.children, &path, out);
    }
}

/// `diff` of a writable layer against its image layers (top first),
/// sorted by path as docker sorts it.
fn changes(upper: &Path, layers: &[PathBuf]) -> io::Result<Vec<Change>> {
    let scan = scan_layer(upper, layers)?;
    let mut out = Vec::new();
    for h in &scan.hidden {
        out.push(Change {
            path: Path::new("/").join(h).to_string_lossy().into_owned(),
            kind: ChangeKind::Deleted,
        });
    }
    flatten(&scan.nodes, Path::new("/"), &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Tar headers from file metadata, as docker writes them: permission
/// bits only in the mode, device numbers for devices.
fn header(md: &Metadata) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(md, tar::HeaderMode::Complete);
    h.set_mode(md.mode() & 0o7777);
    let ft = md.file_type();
    if ft.is_char_device() || ft.is_block_device() {
        h.set_device_major(rustix::fs::major(md.rdev()))?;
        h.set_device_minor(rustix::fs::minor(md.rdev()))?;
    }
    Ok(h)
}

struct TarWriter<W: Write> {
    tar: tar::Builder<W>,
    /// The first name written for each multiply-linked file (device,
    /// inode), so later names become hard links to it.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> TarWriter<W> {
    fn new(out: W) -> Self {
        TarWriter {
            tar: tar::Builder::new(out),
            links: HashMap::new(),
        }
    }

    fn finish(self) -> io::Result<W> {
        self.tar.into_inner()
    }

    fn pax(&mut self, records: &[(String, Vec<u8>)]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.tar
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
    }

    fn directory(&mut self, path: &Path, md: &Metadata, dir: &Dir) -> io::Result<()> {
        let mut h = header(md)?;
        h.set_size(0);
        self.pax(&dir.xattrs()?)?;
        let mut name = path.as_os_str().to_os_string();
        name.push("/");
        self.tar.append_data(&mut h, name, io::empty())
    }

    /// An OCI whiteout entry (`.wh.NAME` or the opaque marker).
    fn whiteout(&mut self, path: &Path, md: &Metadata) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_mtime(md.mtime().max(0) as u64);
        self.tar.append_data(&mut h, path, io::empty())
    }

    /// Appends the entry `name` of `dir`, not a directory, as `path`.
    fn leaf(&mut self, dir: &Dir, name: &OsStr, path: &Path) -> io::Result<()> {
        let Some((md, handle)) = dir.entry(name)? else {
            // Removed by the running container since it was listed.
            return Ok(());
        };
        let mut h = header(&md)?;
        let ft = md.file_type();
        if ft.is_symlink() {
            let target = rustix::fs::readlinkat(&handle, "", Vec::new())
                .map_err(|e| at(&dir.path().join(name), e.into()))?;
            h.set_size(0);
            return self.tar.append_link(
                &mut h,
                path,
                PathBuf::from(OsString::from_vec(target.into_bytes())),
            );
        }
        if !ft.is_file() {
            // Device nodes and fifos: the header says everything.
            h.set_size(0);
            return self.tar.append_data(&mut h, path, io::empty());
        }
        if md.nlink() > 1 {
            if let Some(first) = self.links.get(&(md.dev(), md.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                let first = first.clone();
                return self.tar.append_link(&mut h, path, first);
            }
            self.links.insert((md.dev(), md.ino()), path.to_path_buf());
        }
        // Reopened through the O_PATH handle: the very inode seen to be a
        // regular file, whatever the name points at by now.
        let proc_path = format!("/proc/self/fd/{}", handle.as_raw_fd());
        let file = rustix::fs::open(
            proc_path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map(File::from)
        .map_err(|e| at(&dir.path().join(name), e.into()))?;
        self.pax(&xattrs(file.as_fd()))?;
        // Exactly the size in the header, even if a running container
        // grows or truncates the file meanwhile.
        let size = md.len();
        let data = (&file).take(size).chain(io::repeat(0)).take(size);
        self.tar.append_data(&mut h, path, data)
    }
}

/// Writes the changes found by `scan` as an OCI layer: whiteouts as
/// `.wh.` entries, opaque directories with their `.wh..wh..opq` marker.
fn write_changes<W: Write>(
    t: &mut TarWriter<W>,
    upper: &Dir,
    rel: &Path,
    nodes: &[Node],
) -> io::Result<()> {
    for n in nodes {
        let path = rel.join(&n.name);
        if n.kind == ChangeKind::Deleted {
            let mut wh = OsString::from(WHITEOUT_PREFIX);
            wh.push(&n.name);
            t.whiteout(&rel.join(wh), &n.md)?;
        } else if n.md.is_dir() {
            let dir = upper.child(&n.name)?;
            t.directory(&path, &n.md, &dir)?;
            if n.opaque {
                t.whiteout(&path.join(OPAQUE_WHITEOUT), &n.md)?;
            }
            write_changes(t, &dir, &path, &n.children)?;
        } else {
            t.leaf(upper, &n.name, &path)?;
        }
    }
    Ok(())
}

fn write_layer<W: Write>(upper: &Path, scan: &Scan, out: W) -> io::Result<W> {
    let root = Dir::open_live(upper)?;
    let mut t = TarWriter::new(out);
    if !scan.hidden.is_empty() {
        // An opaque root: every image entry hidden gets its own whiteout.
        let md = fs::symlink_metadata(upper).map_err(|e| at(upper, e))?;
        for h in &scan.hidden {
            let mut wh = OsString::from(WHITEOUT_PREFIX);
            wh.push(h);
            t.whiteout(Path::new(&wh), &md)?;
        }
    }
    write_changes(&mut t, &root, Path::new(""), &scan.nodes)?;
    t.finish()
}

/// Writes the merged tree of `stack` under `rel`: each path once, from
/// its topmost layer; whiteouts and what they hide left out.
fn write_merged<W: Write>(t: &mut TarWriter<W>, stack: &Stack, rel: &Path) -> io::Result<()> {
    for (name, found) in stack.entries()? {
        let path = rel.join(&name);
        if found.md.is_dir() {
            let child = stack.child(&name, &found)?;
            t.directory(&path, &found.md, &child.dirs[0])?;
            write_merged(t, &child, &path)?;
        } else {
            t.leaf(&stack.dirs[found.layer], &name, &path)?;
        }
    }
    Ok(())
}

/// The flattened filesystem of a writable layer over image layers (top
/// first), as `docker export` gives it.
fn export<W: Write>(upper: &Path, layers: &[PathBuf], out: W) -> io::Result<W> {
    let mut tops = vec![Dir::open_live(upper)?];
    tops.extend(layers.iter().cloned().map(Dir::Layer));
    let stack = Stack::new(tops)?;
    let mut t = TarWriter::new(out);
    write_merged(&mut t, &stack, Path::new(""))?;
    t.finish()
}

fn strings(v: &[String]) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

/// docker's `Config.Cmd` of a container: its arguments, else the image's
/// CMD unless `--entrypoint` replaced the image's entrypoint.
fn container_cmd(info: &ContainerInfo, image: &ImageConfig) -> Vec<String> {
    if !info.options.cmd.is_empty() {
        return info.options.cmd.clone();
    }
    if info.options.entrypoint.is_some() {
        return Vec::new();
    }
    image
        .container_config()
        .and_then(|c| c.get("Cmd"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The new image's `config`: the image's, with the container's settings
/// over it (what docker's `Config` of the container holds).
fn committed_config(info: &ContainerInfo, image: &ImageConfig) -> Map<String, Value> {
    let o = &info.options;
    let mut c = image.container_config().cloned().unwrap_or_default();
    c.insert("Cmd".into(), strings(&container_cmd(info, image)));
    match &o.entrypoint {
        Some(e) if e.is_empty() => {
            c.insert("Entrypoint".into(), Value::Null);
        }
        Some(e) => {
            c.insert("Entrypoint".into(), json!([e]));
        }
        None => {}
    }
    let env = crate::monitor::environment(info, image);
    if !env.is_empty() {
        c.insert("Env".into(), json!(env));
    }
    if let Some(w) = &o.workdir {
        c.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &o.user {
        c.insert("User".into(), json!(u));
    }
    if !o.labels.is_empty() {
        let mut labels = c
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in &o.labels {
            labels.insert(k.clone(), json!(v));
        }
        c.insert("Labels".into(), Value::Object(labels));
    }
    if let Some(s) = &o.stop_signal {
        c.insert("StopSignal".into(), json!(s));
    }
    if let Some(t) = o.stop_timeout {
        c.insert("StopTimeout".into(), json!(t));
    }
    c
}

impl Engine {
    /// A container with its writable layer and its image's layer
    /// directories, top first.
    fn container_layers(
        &mut self,
        s: &str,
    ) -> Result<(ContainerInfo, PathBuf, Vec<PathBuf>), EngineError> {
        let info = self.container(s)?;
        let upper = self.container_dir(&info.record.id).join("upper");
        let layers = self
            .store
            .image_layers(&info.record.image_id)?
            .iter()
            .rev()
            .map(|l| self.store.layer_diff_dir(&l.chain_id))
            .collect();
        Ok((info, upper, layers))
    }

    /// `diff`: what the container changed in its image's filesystem, one
    /// entry per path, sorted by path.
    pub fn container_diff(&mut self, s: &str) -> Result<Vec<Change>, EngineError> {
        let (info, upper, layers) = self.container_layers(s)?;
        changes(&upper, &layers).map_err(|e| {
            EngineError::io(
                format!("read the changes of container {}", info.record.id),
                e,
            )
        })
    }

    /// `export`: the container's filesystem, image and changes merged, as
    /// one tar written to `out`.
    pub fn export_container<W: Write>(&mut self, s: &str, out: W) -> Result<W, EngineError> {
        let (info, upper, layers) = self.container_layers(s)?;
        export(&upper, &layers, out)
            .map_err(|e| EngineError::io(format!("export container {}", info.record.id), e))
    }

    /// `commit`: the container's changes become a new layer on top of its
    /// image, with the container's settings (and `-c` changes) as the new
    /// image's config. Returns the new image's ID.
    pub fn commit_container(
        &mut self,
        s: &str,
        opts: CommitOptions,
    ) -> Result<Digest, EngineError> {
        // Everything that can be refused is checked before the container
        // is paused.
        let tag = opts.reference.as_deref().map(normalize_tag).transpose()?;
        let (info, upper, layers) = self.container_layers(s)?;
        let image_id = info.record.image_id.clone();
        let raw = self.store.content().read(&image_id)?;
        let image = ImageConfig::parse(&raw)?;
        let mut doc: Map<String, Value> =
            serde_json::from_slice(&raw).map_err(|e| EngineError::InvalidConfig {
                what: "json".into(),
                detail: e.to_string(),
            })?;
        let mut container_config = committed_config(&info, &image);
        apply_changes(&mut container_config, &opts.changes)?;
        let created_by = container_cmd(&info, &image).join(" ");
        let base_layers = self.store.image_layers(&image_id)?;

        let paused = if opts.pause && info.record.status == "running" {
            let backend = self.backend(&info.options.runtime)?;
            backend.pause(&info.record.id)?;
            Some(backend)
        } else {
            None
        };
        let staged = self.stage_container_layer(&info.record.id, &upper, &layers);
        if let Some(backend) = paused {
            if let Err(e) = backend.resume(&info.record.id) {
                // Never leave it frozen silently.
                return Err(EngineError::InvalidContainer(format!(
                    "resume container {} after reading its changes: {e}",
                    info.record.id
                )));
            }
        }
        let layer = staged?;

        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        doc.insert("config".into(), Value::Object(container_config));
        doc.insert("container".into(), json!(info.record.id));
        doc.insert("created".into(), json!(now));
        // This config is berth's, not the parent's builder's.
        doc.remove("docker_version");
        doc.remove("container_config");
        match &opts.author {
            Some(a) if !a.is_empty() => {
                doc.insert("author".into(), json!(a));
            }
            _ => {
                doc.remove("author");
            }
        }
        match &opts.message {
            Some(m) if !m.is_empty() => {
                doc.insert("comment".into(), json!(m));
            }
            _ => {
                doc.remove("comment");
            }
        }
        let mut entry = Map::new();
        entry.insert("created".into(), json!(now));
        if let Some(a) = opts.author.as_deref().filter(|a| !a.is_empty()) {
            entry.insert("author".into(), json!(a));
        }
        entry.insert("created_by".into(), json!(created_by));
        if let Some(m) = opts.message.as_deref().filter(|m| !m.is_empty()) {
            entry.insert("comment".into(), json!(m));
        }
        push_history(&mut doc, entry);
        let mut diff_ids: Vec<Value> = image
            .diff_ids()
            .iter()
            .map(|d| json!(d.to_string()))
            .collect();
        diff_ids.push(json!(layer.diff_id().to_string()));
        doc.insert(
            "rootfs".into(),
            json!({ "type": "layers", "diff_ids": diff_ids }),
        );
        let config =
            serde_json::to_vec(&Value::Object(doc)).map_err(|e| EngineError::InvalidConfig {
                what: "json".into(),
                detail: e.to_string(),
            })?;

        let media_type = layer.compression().oci_layer_media_type().to_string();
        let mut descriptors: Vec<(Digest, String, u64)> = base_layers
            .iter()
            .map(|l| {
                (
                    l.blob_digest.clone(),
                    l.blob_media_type.clone(),
                    l.blob_size,
                )
            })
            .collect();
        descriptors.push((
            layer.blob_digest().clone(),
            media_type.clone(),
            layer.blob_size(),
        ));
        let manifest = manifest_json(&Digest::of(&config), config.len() as u64, &descriptors);
        let mut inputs: Vec<LayerInput> = base_layers
            .into_iter()
            .map(|l| LayerInput {
                diff_id: l.diff_id,
                blob_digest: l.blob_digest,
                blob_media_type: l.blob_media_type,
                blob_size: l.blob_size,
                staged: None,
            })
            .collect();
        inputs.push(LayerInput {
            diff_id: layer.diff_id().clone(),
            blob_digest: layer.blob_digest().clone(),
            blob_media_type: media_type,
            blob_size: layer.blob_size(),
            staged: Some(layer),
        });
        let commit = ImageCommit {
            config: self.store.stage_bytes(&config)?,
            manifest: self.store.stage_bytes(&manifest)?,
            manifest_media_type: crate::load::OCI_MANIFEST.to_string(),
            created: Some(Utc::now().timestamp()),
            layers: inputs,
            tags: tag.into_iter().collect(),
            repo_digests: Vec::new(),
        };
        let mut outcome = self.store.commit_images(vec![commit])?;
        Ok(outcome.remove(0).id)
    }

    /// Streams the container's changes as a layer tar through a pipe into
    /// the store's staging, which stores the blob and unpacks it exactly
    /// as for a pulled or loaded layer.
    pub(crate) fn stage_container_layer(
        &self,
        id: &str,
        upper: &Path,
        layers: &[PathBuf],
    ) -> Result<berth_store::StagedLayer, EngineError> {
        let what = || format!("read the changes of container {id}");
        let scan = scan_layer(upper, layers).map_err(|e| EngineError::io(what(), e))?;
        let (reader, writer) = std::io::pipe().map_err(|e| EngineError::io("create a pipe", e))?;
        std::thread::scope(|s| {
            let producer = s.spawn(move || {
                let out = write_layer(upper, &scan, io::BufWriter::with_capacity(1 << 16, writer))?;
                out.into_inner().map(drop).map_err(|e| e.into_error())
            });
            let staged = self.store.stage_layer(reader);
            // A writer that failed part-way closes the pipe early, which can
            // look like a complete (shorter) tar: its error decides.
            match producer.join() {
                Ok(Ok(())) => Ok(staged?),
                Ok(Err(e)) => Err(EngineError::io(what(), e)),
                Err(_) => Err(EngineError::InvalidContainer(format!(
                    "{}: the layer writer panicked",
                    what()
                ))),
            }
        })
    }
}

/// Appends `entry` to an image config's `history`.
pub(crate) fn push_history(doc: &mut Map<String, Value>, entry: Map<String, Value>) {
    let mut history = doc
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    history.push(Value::Object(entry));
    doc.insert("history".into(), Value::Array(history));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> bool {
        if rustix::process::geteuid().is_root() {
            return true;
        }
        eprintln!("skipping: needs root (whiteouts are device nodes, opaque marks trusted xattrs)");
        false
    }

    enum E<'a> {
        File(&'a str, &'a str),
        Dir(&'a str),
        Link(&'a str, &'a str),
    }

    /// An image layer directory in overlay form, unpacked from an OCI tar
    /// by the store, so whiteouts are what the store makes of them.
    fn layer(base: &Path, name: &str, entries: &[E<'_>]) -> PathBuf {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            match e {
                E::File(n, data) => {
                    h.set_mode(0o644);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, n, data.as_bytes()).unwrap();
                }
                E::Dir(n) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, n, io::empty()).unwrap();
                }
                E::Link(n, target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, n, target).unwrap();
                }
            }
        }
        let dir = base.join(name);
        fs::create_dir(&dir).unwrap();
        berth_store::extract_layer(&b.into_inner().unwrap()[..], &dir).unwrap();
        dir
    }

    fn lines(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect()
    }

    fn names(tar: &[u8]) -> Vec<String> {
        tar::Archive::new(tar)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    fn contents(tar: &[u8], name: &str) -> Option<String> {
        let mut a = tar::Archive::new(tar);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_string_lossy() == name {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                return Some(s);
            }
        }
        None
    }

    /// Two image layers (the upper one whiting out and replacing parts of
    /// the lower) and a writable layer with every kind of change.
    fn fixture(t: &Path) -> (PathBuf, Vec<PathBuf>) {
        let l0 = layer(
            t,
            "l0",
            &[
                E::Dir("a/"),
                E::File("a/x", "x0"),
                E::File("a/y", "y0"),
                E::Dir("b/"),
                E::File("b/z", "z0"),
                E::Dir("d/"),
                E::File("d/q", "q0"),
                E::File("d/keep", "k0"),
                E::Dir("etc/"),
                E::File("etc/passwd", "root\n"),
                E::Link("lnk", "/etc"),
            ],
        );
        let l1 = layer(
            t,
            "l1",
            &[
                E::Dir("a/"),
                E::File("a/.wh.y", ""),
                E::File("a/w", "w1"),
                E::Dir("d/"),
                E::File("d/.wh..wh..opq", ""),
                E::File("d/r", "r1"),
            ],
        );
        // The writable layer, as overlayfs leaves it.
        let upper = t.join("upper");
        fs::create_dir(&upper).unwrap();
        let up = |p: &str| upper.join(p);
        for d in ["a", "b", "d", "etc", "new", "proc", "sys", "dev"] {
            fs::create_dir(up(d)).unwrap();
        }
        fs::write(up("a/x"), "x2").unwrap();
        // Re-creates a/y, whited out by l1: added again.
        fs::write(up("a/y"), "y2").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            up("b/z"),
            rustix::fs::FileType::CharacterDevice,
            Mode::empty(),
            0,
        )
        .unwrap();
        // d: removed and made again (opaque), r re-created.
        rustix::fs::setxattr(up("d"), OPAQUE_XATTR, b"y", rustix::fs::XattrFlags::empty()).unwrap();
        fs::write(up("d/r"), "r2").unwrap();
        fs::write(up("d/s"), "s2").unwrap();
        fs::write(up("new/f"), "f2").unwrap();
        // Runtime mount points: empty, not in the image.
        for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
            fs::write(up(f), "").unwrap();
        }
        // A symlink in the layer pointing outside must never be followed.
        std::os::unix::fs::symlink("/etc", up("lnk")).unwrap();
        (upper, vec![l1, l0])
    }

    #[test]
    fn diff_reports_docker_letters_sorted_and_skips_runtime_mount_points() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (upper, layers) = fixture(t.path());
        let got = lines(&changes(&upper, &layers).unwrap());
        assert_eq!(
            got,
            [
                "C /a", "C /a/x", "A /a/y", "C /b", "D /b/z", "C /d", "C /d/r", "A /d/s", "C /lnk",
                "A /new", "A /new/f",
            ],
            "/d/q is hidden by l1's opaque d already; /etc only held mount points"
        );
    }

    #[test]
    fn opaque_directories_delete_what_they_hide() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let l0 = layer(
            t.path(),
            "l0",
            &[
                E::Dir("etc/"),
                E::File("etc/passwd", "root\n"),
                E::Dir("etc/sub/"),
                E::File("etc/sub/f", "f"),
            ],
        );
        let upper = t.path().join("upper");
        fs::create_dir_all(upper.join("etc/sub")).unwrap();
        rustix::fs::setxattr(
            upper.join("etc"),
            OPAQUE_XATTR,
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        fs::write(upper.join("etc/new"), "n").unwrap();
        let got = lines(&changes(&upper, std::slice::from_ref(&l0)).unwrap());
        assert_eq!(
            got,
            [
                "C /etc",
                "A /etc/new",
                "D /etc/passwd",
                "C /etc/sub",
                "D /etc/sub/f"
            ]
        );
        let tar = export(&upper, &[l0], Vec::new()).unwrap();
        assert_eq!(names(&tar), ["etc/", "etc/new", "etc/sub/"]);
    }

    #[test]
    fn committed_layer_round_trips_through_the_store() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (upper, layers) = fixture(t.path());
        let scan = scan_layer(&upper, &layers).unwrap();
        let tar = write_layer(&upper, &scan, Vec::new()).unwrap();
        assert_eq!(
            names(&tar),
            [
                "a/",
                "a/x",
                "a/y",
                "b/",
                "b/.wh.z",
                "d/",
                "d/.wh..wh..opq",
                "d/r",
                "d/s",
                "lnk",
                "new/",
                "new/f",
            ]
        );
        // Unpacked again it is the writable layer minus the mount points.
        let again = t.path().join("again");
        fs::create_dir(&again).unwrap();
        berth_store::extract_layer(&tar[..], &again).unwrap();
        assert_eq!(
            lines(&changes(&again, &layers).unwrap()),
            lines(&changes(&upper, &layers).unwrap())
        );
    }

    #[test]
    fn export_flattens_layers_without_whiteouts() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (upper, layers) = fixture(t.path());
        let tar = export(&upper, &layers, Vec::new()).unwrap();
        assert_eq!(
            names(&tar),
            [
                "a/",
                "a/w",
                "a/x",
                "a/y",
                "b/",
                "d/",
                "d/r",
                "d/s",
                "dev/",
                "etc/",
                "etc/hostname",
                "etc/hosts",
                "etc/passwd",
                "etc/resolv.conf",
                "lnk",
                "new/",
                "new/f",
                "proc/",
                "sys/",
            ]
        );
        assert_eq!(contents(&tar, "a/x").as_deref(), Some("x2"));
        assert_eq!(contents(&tar, "a/w").as_deref(), Some("w1"));
        assert_eq!(contents(&tar, "etc/passwd").as_deref(), Some("root\n"));
        let mut a = tar::Archive::new(&tar[..]);
        let lnk = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().to_string_lossy() == "lnk")
            .unwrap();
        assert_eq!(lnk.header().entry_type(), tar::EntryType::Symlink);
        assert_eq!(lnk.link_name().unwrap().unwrap(), Path::new("/etc"));
        // The same tree always gives the same bytes.
        assert_eq!(tar, export(&upper, &layers, Vec::new()).unwrap());
    }

    #[test]
    fn device_nodes_keep_their_numbers() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("d");
        fs::create_dir(&dir).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.join("null"),
            rustix::fs::FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .unwrap();
        let mut w = TarWriter::new(Vec::new());
        let d = Dir::open_live(&dir).unwrap();
        w.leaf(&d, OsStr::new("null"), Path::new("null")).unwrap();
        let tar = w.finish().unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.header().entry_type(), tar::EntryType::Char);
        assert_eq!(e.header().device_major().unwrap(), Some(1));
        assert_eq!(e.header().device_minor().unwrap(), Some(3));
    }
}
