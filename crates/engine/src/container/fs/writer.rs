//! Tar streams of a container's changes and of its merged tree.

use rustix::fs::{Mode, OFlags};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::scan::*;
use super::tree::*;
use super::*;

/// Tar headers from file metadata, as docker writes them: permission
/// bits only in the mode, device numbers for devices.
pub(crate) fn header(md: &Metadata) -> io::Result<tar::Header> {
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

pub(crate) struct TarWriter<W: Write> {
    pub(crate) tar: tar::Builder<W>,
    /// The first name written for each multiply-linked file (device,
    /// inode), so later names become hard links to it.
    pub(crate) links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        TarWriter {
            tar: tar::Builder::new(out),
            links: HashMap::new(),
        }
    }

    pub(crate) fn finish(self) -> io::Result<W> {
        self.tar.into_inner()
    }

    pub(crate) fn pax(&mut self, records: &[(String, Vec<u8>)]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.tar
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
    }

    pub(crate) fn directory(&mut self, path: &Path, md: &Metadata, dir: &Dir) -> io::Result<()> {
        let mut h = header(md)?;
        h.set_size(0);
        self.pax(&dir.xattrs()?)?;
        let mut name = path.as_os_str().to_os_string();
        name.push("/");
        self.tar.append_data(&mut h, name, io::empty())
    }

    /// An OCI whiteout entry (`.wh.NAME` or the opaque marker).
    pub(crate) fn whiteout(&mut self, path: &Path, md: &Metadata) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_mtime(md.mtime().max(0) as u64);
        self.tar.append_data(&mut h, path, io::empty())
    }

    /// Appends the entry `name` of `dir`, not a directory, as `path`.
    pub(crate) fn leaf(&mut self, dir: &Dir, name: &OsStr, path: &Path) -> io::Result<()> {
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
pub(crate) fn write_changes<W: Write>(
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

pub(crate) fn write_layer<W: Write>(upper: &Path, scan: &Scan, out: W) -> io::Result<W> {
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
pub(crate) fn write_merged<W: Write>(
    t: &mut TarWriter<W>,
    stack: &Stack,
    rel: &Path,
) -> io::Result<()> {
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
pub(crate) fn export<W: Write>(upper: &Path, layers: &[PathBuf], out: W) -> io::Result<W> {
    let mut tops = vec![Dir::open_live(upper)?];
    tops.extend(layers.iter().cloned().map(Dir::Layer));
    let stack = Stack::new(tops)?;
    let mut t = TarWriter::new(out);
    write_merged(&mut t, &stack, Path::new(""))?;
    t.finish()
}
