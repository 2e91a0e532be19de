//! An image's file system read straight from its layer directories, the
//! way overlayfs would merge them, without mounting anything: the topmost
//! layer that has a name decides what it is; a whiteout (a 0/0 character
//! device) hides the name below, and an opaque directory
//! (`trusted.overlay.opaque=y`) hides everything the layers below have in
//! it; a non-directory hides the directory trees below it.
//!
//! Every name is looked up with `*at` calls on an open directory handle of
//! one layer, never following a symlink on the host: a symlink in the image
//! is returned as one, and the `sources` module resolves it inside the image.
//! `COPY --from` reads its sources here, and `--chown` the stage's
//! `/etc/passwd` and `/etc/group`.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};

use crate::context::{EntryKind, FileTime};
use crate::digest::Digest;
use crate::error::BuildError;

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// One file, directory or link of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// Relative to the image's root, without a leading `/`; empty for the
    /// root.
    pub path: PathBuf,
    pub kind: EntryKind,
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    pub size: u64,
    pub mtime: FileTime,
    pub uid: u32,
    pub gid: u32,
    /// The layer it comes from, as an index into the top-first list.
    layer: usize,
}

/// The layers that make up one directory of the merged tree: a handle on
/// the directory in each layer that contributes to it, topmost first.
struct MergedDir {
    path: PathBuf,
    layers: Vec<(usize, OwnedFd)>,
}

/// A name in a merged directory, and its own merged directory if it is one.
struct Child {
    entry: ImageEntry,
    dir: Option<MergedDir>,
}

/// An image's file system, read through its layer directories.
#[derive(Debug)]
pub struct ImageFs {
    /// Topmost layer first.
    layers: Vec<(PathBuf, OwnedFd)>,
}

fn open_dir(parent: &OwnedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn is_opaque(dir: &OwnedFd) -> bool {
    let mut value = [0u8; 2];
    matches!(rustix::fs::fgetxattr(dir, OPAQUE_XATTR, &mut value[..]), Ok(1) if value[0] == b'y')
}

fn is_whiteout(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice && stat.st_rdev == 0
}

fn file_type(stat: &Stat) -> FileType {
    FileType::from_raw_mode(stat.st_mode)
}

impl ImageFs {
    /// Opens the layer directories of an image, topmost first.
    pub fn open(layer_dirs: &[PathBuf]) -> Result<ImageFs, BuildError> {
        let layers = layer_dirs
            .iter()
            .map(|dir| {
                let fd = rustix::fs::open(
                    dir,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| BuildError::io("open layer directory", dir, e.into()))?;
                Ok((dir.clone(), fd))
            })
            .collect::<Result<Vec<_>, BuildError>>()?;
        Ok(ImageFs { layers })
    }

    pub(crate) fn io_error(
        &self,
        action: &'static str,
        path: &Path,
        error: impl Into<io::Error>,
    ) -> BuildError {
        BuildError::io(action, Path::new("/").join(path), error.into())
    }

    fn root(&self) -> Result<MergedDir, BuildError> {
        let mut layers = Vec::new();
        for (index, (_, fd)) in self.layers.iter().enumerate() {
            let dup = fd
                .try_clone()
                .map_err(|e| self.io_error("open", Path::new(""), e))?;
            let opaque = is_opaque(&dup);
            layers.push((index, dup));
            if opaque {
                break;
            }
        }
        Ok(MergedDir {
            path: PathBuf::new(),
            layers,
        })
    }

    fn root_entry(&self) -> Result<ImageEntry, BuildError> {
        let Some((dir, fd)) = self.layers.first() else {
            return Ok(ImageEntry {
                path: PathBuf::new(),
                kind: EntryKind::Dir,
                mode: FileType::Directory.as_raw_mode() | 0o755,
                size: 0,
                mtime: FileTime { secs: 0, nanos: 0 },
                uid: 0,
                gid: 0,
                layer: 0,
            });
        };
        let stat = rustix::fs::fstat(fd).map_err(|e| BuildError::io("stat", dir, e.into()))?;
        Ok(entry_of(PathBuf::new(), &stat, EntryKind::Dir, 0))
    }

    /// What `name` is in the merged directory `dir`, if anything.
    fn child(&self, dir: &MergedDir, name: &OsStr) -> Result<Option<Child>, BuildError> {
        let path = dir.path.join(name);
        let mut layers = dir.layers.iter();
        // The topmost layer that has the name decides what it is.
        let (index, fd, stat) = loop {
            let Some((index, fd)) = layers.next() else {
                return Ok(None);
            };
            match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => break (*index, fd, stat),
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(self.io_error("stat", &path, e)),
            }
        };
        if is_whiteout(&stat) {
            return Ok(None);
        }
        let kind = match file_type(&stat) {
            FileType::Directory => EntryKind::Dir,
            FileType::RegularFile => EntryKind::File,
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(fd, name, Vec::new())
                    .map_err(|e| self.io_error("read link", &path, e))?;
                EntryKind::Symlink(PathBuf::from(OsString::from_vec(target.into_bytes())))
            }
            _ => EntryKind::Special,
        };
        let entry = entry_of(path.clone(), &stat, kind, index);
        if entry.kind != EntryKind::Dir {
            return Ok(Some(Child { entry, dir: None }));
        }
        let top = open_dir(fd, name).map_err(|e| self.io_error("open", &path, e))?;
        let mut opaque = is_opaque(&top);
        let mut merged = vec![(index, top)];
        // Lower layers show through while they have a directory here too;
        // a whiteout or a non-directory ends it, as does an opaque one.
        for (index, fd) in layers {
            if opaque {
                break;
            }
            match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) if file_type(&stat) == FileType::Directory => {
                    let sub = open_dir(fd, name).map_err(|e| self.io_error("open", &path, e))?;
                    opaque = is_opaque(&sub);
                    merged.push((*index, sub));
                }
                Ok(_) => break,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(self.io_error("stat", &path, e)),
            }
        }
        Ok(Some(Child {
            entry,
            dir: Some(MergedDir {
                path,
                layers: merged,
            }),
        }))
    }

    /// The merged directory at `path` (no symlink followed), if it is one.
    fn merged_dir(&self, path: &Path) -> Result<Option<MergedDir>, BuildError> {
        let mut dir = self.root()?;
        for component in path.components() {
            let Component::Normal(name) = component else {
                continue;
            };
            match self.child(&dir, name)? {
                Some(Child {
                    dir: Some(merged), ..
                }) => dir = merged,
                _ => return Ok(None),
            }
        }
        Ok(Some(dir))
    }

    /// The entry at `path` (relative to the root), not following a symlink
    /// anywhere on the way.
    pub fn lookup(&self, path: &Path) -> Result<Option<ImageEntry>, BuildError> {
        let Some(name) = path.file_name() else {
            return self.root_entry().map(Some);
        };
        let parent = path.parent().unwrap_or(Path::new(""));
        let Some(dir) = self.merged_dir(parent)? else {
            return Ok(None);
        };
        Ok(self.child(&dir, name)?.map(|child| child.entry))
    }

    /// Whether `path` (absolute or relative to the root) is a directory.
    pub fn is_dir(&self, path: &str) -> Result<bool, BuildError> {
        let relative = Path::new(path.trim_start_matches('/'));
        Ok(self
            .lookup(relative)?
            .is_some_and(|entry| entry.kind == EntryKind::Dir))
    }

    fn list(&self, dir: &MergedDir) -> Result<Vec<Child>, BuildError> {
        let mut names: Vec<OsString> = Vec::new();
        for (_, fd) in &dir.layers {
            let handle = fd
                .try_clone()
                .map_err(|e| self.io_error("read directory", &dir.path, e))?;
            let listing = rustix::fs::Dir::read_from(handle)
                .map_err(|e| self.io_error("read directory", &dir.path, e))?;
            for item in listing {
                let item = item.map_err(|e| self.io_error("read directory", &dir.path, e))?;
                let name = item.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push(OsStr::from_bytes(name).to_os_string());
                }
            }
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        names.dedup();
        let mut children = Vec::with_capacity(names.len());
        for name in names {
            if let Some(child) = self.child(dir, &name)? {
                children.push(child);
            }
        }
        Ok(children)
    }

    /// The entries directly inside the directory at `path`, in name order.
    pub fn children(&self, path: &Path) -> Result<Vec<ImageEntry>, BuildError> {
        let Some(dir) = self.merged_dir(path)? else {
            return Ok(Vec::new());
        };
        Ok(self.list(&dir)?.into_iter().map(|c| c.entry).collect())
    }

    /// Everything under the directory at `path`, each directory right
    /// before its contents, names in byte order.
    pub fn descendants(&self, path: &Path) -> Result<Vec<ImageEntry>, BuildError> {
        let mut out = Vec::new();
        if let Some(dir) = self.merged_dir(path)? {
            self.walk(&dir, &mut out)?;
        }
        Ok(out)
    }

    fn walk(&self, dir: &MergedDir, out: &mut Vec<ImageEntry>) -> Result<(), BuildError> {
        for child in self.list(dir)? {
            out.push(child.entry);
            if let Some(sub) = &child.dir {
                self.walk(sub, out)?;
            }
        }
        Ok(())
    }

    /// Opens a regular file for reading, in the layer it comes from: the
    /// kernel resolves it beneath that layer without following a symlink.
    pub fn open_file(&self, entry: &ImageEntry) -> Result<File, BuildError> {
        let shown = Path::new("/").join(&entry.path);
        let (_, layer) = self
            .layers
            .get(entry.layer)
            .ok_or_else(|| BuildError::io("open", &shown, io::ErrorKind::NotFound.into()))?;
        let fd = rustix::fs::openat2(
            layer,
            &entry.path,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| BuildError::io("open", &shown, e.into()))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| BuildError::io("stat", &shown, e.into()))?;
        if file_type(&stat) != FileType::RegularFile {
            let error = io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
            return Err(BuildError::io("open", &shown, error));
        }
        Ok(File::from(fd))
    }

    /// The SHA-256 of each file's content, in order, read by as many
    /// threads as there are CPUs.
    pub fn content_hashes(&self, files: &[&ImageEntry]) -> Result<Vec<Digest>, BuildError> {
        crate::parallel::parallel_map(files, |entry| self.content_hash(entry))
            .into_iter()
            .collect()
    }

    fn content_hash(&self, entry: &ImageEntry) -> Result<Digest, BuildError> {
        let mut file = self.open_file(entry)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => hasher.update(&buffer[..read]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error("read", &entry.path, e)),
            }
        }
        Ok(Digest::of_hasher(hasher))
    }
}

fn entry_of(path: PathBuf, stat: &Stat, kind: EntryKind, layer: usize) -> ImageEntry {
    ImageEntry {
        path,
        kind,
        mode: stat.st_mode,
        size: u64::try_from(stat.st_size).unwrap_or(0),
        mtime: FileTime {
            secs: stat.st_mtime,
            nanos: u32::try_from(stat.st_mtime_nsec).unwrap_or(0),
        },
        uid: stat.st_uid,
        gid: stat.st_gid,
        layer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// Layer directories under one temporary directory, bottom first as
    /// they are written, handed to [`ImageFs::open`] top first.
    struct Layers {
        dir: tempfile::TempDir,
        count: usize,
    }

    impl Layers {
        fn new() -> Layers {
            Layers {
                dir: tempfile::tempdir().unwrap(),
                count: 0,
            }
        }

        fn layer(&mut self, files: &[(&str, &str)]) -> PathBuf {
            let root = self.dir.path().join(self.count.to_string());
            self.count += 1;
            fs::create_dir_all(&root).unwrap();
            for (path, content) in files {
                let full = root.join(path);
                if let Some(dir) = path.strip_suffix('/') {
                    fs::create_dir_all(root.join(dir)).unwrap();
                } else if let Some(target) = content.strip_prefix("->") {
                    fs::create_dir_all(full.parent().unwrap()).unwrap();
                    symlink(target, &full).unwrap();
                } else {
                    fs::create_dir_all(full.parent().unwrap()).unwrap();
                    fs::write(&full, content).unwrap();
                }
            }
            root
        }

        fn open(&self) -> ImageFs {
            let dirs: Vec<PathBuf> = (0..self.count)
                .rev()
                .map(|i| self.dir.path().join(i.to_string()))
                .collect();
            ImageFs::open(&dirs).unwrap()
        }
    }

    fn names(entries: &[ImageEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| e.path.to_string_lossy().into_owned())
            .collect()
    }

    fn content(fs: &ImageFs, path: &str) -> String {
        let entry = fs.lookup(Path::new(path)).unwrap().unwrap();
        let mut text = String::new();
        fs.open_file(&entry)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn upper_layers_win_and_directories_merge() {
        let mut layers = Layers::new();
        layers.layer(&[("etc/a", "lower a"), ("etc/b", "b"), ("bin/", "")]);
        layers.layer(&[("etc/a", "upper a"), ("etc/c", "c")]);
        let fs = layers.open();
        assert_eq!(content(&fs, "etc/a"), "upper a");
        assert_eq!(content(&fs, "etc/b"), "b");
        assert_eq!(
            names(&fs.children(Path::new("etc")).unwrap()),
            ["etc/a", "etc/b", "etc/c"]
        );
        assert_eq!(
            names(&fs.descendants(Path::new("")).unwrap()),
            ["bin", "etc", "etc/a", "etc/b", "etc/c"]
        );
        assert!(fs.is_dir("/etc").unwrap());
        assert!(!fs.is_dir("/etc/a").unwrap());
        assert!(fs.lookup(Path::new("nothing/here")).unwrap().is_none());
        assert!(fs
            .lookup(Path::new("etc/a/below-a-file"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_file_hides_a_directory_below_and_the_reverse() {
        let mut layers = Layers::new();
        layers.layer(&[("x/inner", "1"), ("y", "file")]);
        layers.layer(&[("x", "now a file"), ("y/inner", "2")]);
        let fs = layers.open();
        assert_eq!(content(&fs, "x"), "now a file");
        assert!(fs.lookup(Path::new("x/inner")).unwrap().is_none());
        assert_eq!(names(&fs.children(Path::new("y")).unwrap()), ["y/inner"]);
    }

    #[test]
    fn symlinks_are_entries_not_followed() {
        let mut layers = Layers::new();
        layers.layer(&[
            ("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
            ("link", "->/etc"),
        ]);
        let fs = layers.open();
        let link = fs.lookup(Path::new("link")).unwrap().unwrap();
        assert_eq!(link.kind, EntryKind::Symlink("/etc".into()));
        assert!(fs.lookup(Path::new("link/passwd")).unwrap().is_none());
    }

    #[test]
    fn whiteouts_and_opaque_directories_hide_lower_layers() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: whiteouts need root");
            return;
        }
        let mut layers = Layers::new();
        layers.layer(&[("gone", "x"), ("dir/old", "1"), ("keep/old", "2")]);
        let upper = layers.layer(&[("dir/new", "3"), ("keep/new", "4")]);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.join("gone"),
            FileType::CharacterDevice,
            Mode::empty(),
            0,
        )
        .unwrap();
        rustix::fs::setxattr(
            upper.join("dir"),
            OPAQUE_XATTR,
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let fs = layers.open();
        assert!(fs.lookup(Path::new("gone")).unwrap().is_none());
        assert_eq!(names(&fs.children(Path::new("dir")).unwrap()), ["dir/new"]);
        assert_eq!(
            names(&fs.children(Path::new("keep")).unwrap()),
            ["keep/new", "keep/old"]
        );
        assert_eq!(
            names(&fs.descendants(Path::new("")).unwrap()),
            ["dir", "dir/new", "keep", "keep/new", "keep/old"]
        );
    }

    #[test]
    fn hashes_follow_content() {
        let mut layers = Layers::new();
        layers.layer(&[("a", "same"), ("b", "same"), ("c", "other")]);
        let fs = layers.open();
        let entries: Vec<ImageEntry> = ["a", "b", "c"]
            .iter()
            .map(|p| fs.lookup(Path::new(p)).unwrap().unwrap())
            .collect();
        let refs: Vec<&ImageEntry> = entries.iter().collect();
        let hashes = fs.content_hashes(&refs).unwrap();
        assert_eq!(hashes[0], hashes[1]);
        assert_ne!(hashes[0], hashes[2]);
    }
}
