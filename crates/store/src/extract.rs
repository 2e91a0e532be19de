//! Safe extraction: a tar stream becomes a layer directory in overlayfs
//! form, or lands in a directory of a container's root filesystem (`cp`).
//!
//! Every path is resolved by the kernel with `openat2` from a handle on the
//! tree's root, and every file is created and changed with `*at` calls on
//! its already-resolved parent, or through a handle on the file itself;
//! no path is ever joined to the tree's location as a string. A layer is
//! resolved with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, so no entry can
//! reach outside it, whatever the archive says: `..`, absolute names, an
//! entry under a symlink made earlier in the same archive and hardlinks
//! pointing out are all refused with an error naming the entry. A copy is
//! resolved with `RESOLVE_IN_ROOT`: a symlink in the tree is followed as if
//! the tree's root were `/`, so it stays inside the tree even while a
//! running container changes it. OCI whiteouts in a layer become overlay
//! whiteouts: `.wh.NAME` a 0/0 character device named NAME, `.wh..wh..opq`
//! the `trusted.overlay.opaque=y` xattr on the directory.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use berth_escape::{escape_path, quote_path};
use rustix::fs::{
    self as fs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags,
};
use rustix::io::Errno;

use crate::StoreError;

pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
pub(crate) const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
pub(crate) const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What an extraction produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExtractStats {
    /// Bytes of regular files and symlink targets, hardlinks counted once:
    /// the size docker reports for a layer.
    pub size: u64,
    pub entries: u64,
}

/// Who owns what [`extract_copy`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyOwner {
    /// The owner each entry has in the archive (`docker cp -a`).
    Archive,
    /// root (0:0) whatever the archive says: docker's default for files
    /// copied into a container.
    Root,
    /// Whoever runs the copy: nothing is chowned, as when docker copies
    /// onto the host.
    Caller,
}

/// Unpacks the uncompressed tar stream `tar` into the existing, empty
/// directory `dir`.
pub fn extract_layer<R: Read>(tar: R, dir: &Path) -> Result<ExtractStats, StoreError> {
    let root = fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| StoreError::io(format!("open layer directory {}", dir.display()), e.into()))?;
    Extractor::new(root, Tree::Layer).run(tar)
}

/// Unpacks the tar stream `tar` into the directory `dir` of the tree whose
/// root is `root`, as `docker cp` does: `dir` and every entry resolve as if
/// `root` were `/`, so a symlink in the tree never leads out of it; `.wh.`
/// names are ordinary files; an existing directory is never replaced by a
/// non-directory nor the reverse; the archive's own root entry (`./`)
/// leaves `dir` as it is.
pub fn extract_copy<R: Read>(
    tar: R,
    root: BorrowedFd<'_>,
    dir: &Path,
    owner: CopyOwner,
) -> Result<ExtractStats, StoreError> {
    let root = root
        .try_clone_to_owned()
        .map_err(|e| StoreError::io("duplicate directory handle", e))?;
    let x = Extractor::new(
        root,
        Tree::Copy {
            dir: dir.to_path_buf(),
            owner,
        },
    );
    x.open_dir(Path::new(""), OFlags::PATH)
        .map_err(|e| StoreError::io(format!("open {}", dir.display()), e.into()))?;
    x.run(tar)
}

/// What kind of tree an extraction writes.
enum Tree {
    /// A layer directory being built: later entries replace earlier ones
    /// whatever their type.
    Layer,
    /// `dir` inside the tree under the extractor's root.
    Copy { dir: PathBuf, owner: CopyOwner },
}

/// Directory metadata is applied after all entries: creating children
/// changes a directory's mtime, and a read-only mode would block them.
struct DeferredDir {
    rel: PathBuf,
    mode: u32,
    mtime: u64,
}

struct Extractor {
    root: OwnedFd,
    tree: Tree,
    privileged: bool,
    deferred_dirs: Vec<DeferredDir>,
    /// Tar entries come grouped by directory, so the last resolved parent is
    /// usually the next one too.
    parent_cache: Option<(PathBuf, OwnedFd)>,
    stats: ExtractStats,
}

/// Turns a tar entry name into a clean relative path, refusing anything that
/// could point outside the layer.
pub(crate) fn clean_entry_path(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("the name contains '..'"),
            Component::RootDir | Component::Prefix(_) => return Err("the name is absolute"),
        }
    }
    Ok(out)
}

fn unsafe_entry(entry: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::UnsafeEntry {
        entry: quote_path(entry).to_string(),
        reason: reason.into(),
    }
}

fn entry_error(entry: &Path, what: &str, e: impl Into<io::Error>) -> StoreError {
    StoreError::io(format!("{what} {}", escape_path(entry)), e.into())
}

/// The path of an open file in this process's `/proc`: the kernel follows
/// it to exactly that inode, which lets `chmod`, `setxattr` and `utimensat`
/// act on a handle opened with `O_PATH`, never on a name someone could swap.
fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

impl Extractor {
    fn new(root: OwnedFd, tree: Tree) -> Extractor {
        Extractor {
            root,
            tree,
            privileged: rustix::process::geteuid().is_root(),
            deferred_dirs: Vec::new(),
            parent_cache: None,
            stats: ExtractStats::default(),
        }
    }

    fn run<R: Read>(mut self, tar: R) -> Result<ExtractStats, StoreError> {
        let mut archive = tar::Archive::new(tar);
        let entries = archive
            .entries()
            .map_err(|e| StoreError::io("read tar", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("read tar", e))?;
            self.entry(entry)?;
        }
        self.finish()?;
        Ok(self.stats)
    }

    fn is_layer(&self) -> bool {
        matches!(self.tree, Tree::Layer)
    }

    /// Opens the directory at `rel` (relative to where entries land) with
    /// the tree's resolution rules.
    fn open_dir(&self, rel: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
        let (path, resolve) = match &self.tree {
            Tree::Layer => (
                path_or_dot(rel).to_path_buf(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            ),
            Tree::Copy { dir, .. } => (
                dir.join(rel),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            ),
        };
        fs::openat2(
            &self.root,
            &path,
            flags | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )
    }

    /// The owner an entry gets, if it is to be chowned at all: only root
    /// can give files away, so unprivileged extraction keeps the caller's.
    fn owner(&self, uid: u64, gid: u64) -> Option<(fs::Uid, fs::Gid)> {
        if !self.privileged {
            return None;
        }
        let (uid, gid) = match self.tree {
            Tree::Layer
            | Tree::Copy {
                owner: CopyOwner::Archive,
                ..
            } => (uid, gid),
            Tree::Copy {
                owner: CopyOwner::Root,
                ..
            } => (0, 0),
            Tree::Copy {
                owner: CopyOwner::Caller,
                ..
            } => return None,
        };
        Some((uid_of(uid), gid_of(gid)))
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), StoreError> {
        let raw = entry
            .path()
            .map_err(|e| StoreError::io("read tar entry name", e))?
            .into_owned();
        let rel = clean_entry_path(&raw).map_err(|why| unsafe_entry(&raw, why))?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        self.stats.entries += 1;
        let header = entry.header();
        let mode = header
            .mode()
            .map_err(|e| entry_error(&raw, "read mode of", e))?
            & 0o7777;
        let uid = numeric(&header.as_old().uid, header.uid())
            .map_err(|e| entry_error(&raw, "read owner of", e))?;
        let gid = numeric(&header.as_old().gid, header.gid())
            .map_err(|e| entry_error(&raw, "read group of", e))?;
        let mtime = header.mtime().unwrap_or(0);
        let owner = self.owner(uid, gid);

        let Some(name) = rel.file_name().map(|n| n.to_owned()) else {
            // The archive's root ("./"): a layer takes its metadata; a copy
            // leaves the directory it lands in as it is, as docker does.
            if kind.is_dir() && self.is_layer() {
                self.deferred_dirs.push(DeferredDir { rel, mode, mtime });
            }
            return Ok(());
        };
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let parent = self.parent_dir(&parent_rel, &raw)?;

        if self.is_layer() && self.whiteout(&parent, &name, kind, &raw)? {
            return Ok(());
        }

        self.remove_existing(&parent, &name, kind.is_dir(), &raw)?;
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let fd = fs::openat(
                    &parent,
                    &name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| entry_error(&raw, "create", e))?;
                let mut file = File::from(fd);
                let n =
                    io::copy(&mut entry, &mut file).map_err(|e| entry_error(&raw, "write", e))?;
                self.stats.size += n;
                self.apply_xattrs(&mut entry, &raw, file.as_fd())?;
                if let Some((uid, gid)) = owner {
                    fs::fchown(&file, Some(uid), Some(gid))
                        .map_err(|e| entry_error(&raw, "chown", e))?;
                }
                // After chown, which clears set-id bits.
                fs::fchmod(&file, Mode::from_raw_mode(mode))
                    .map_err(|e| entry_error(&raw, "chmod", e))?;
                let ts = timestamps(mtime);
                fs::futimens(&file, &ts).map_err(|e| entry_error(&raw, "set times of", e))?;
                return Ok(());
            }
            tar::EntryType::Directory => {
                match fs::mkdirat(&parent, &name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(entry_error(&raw, "create directory", e)),
                }
                let dir = fs::openat(
                    &parent,
                    &name,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| entry_error(&raw, "open directory", e))?;
                self.apply_xattrs(&mut entry, &raw, dir.as_fd())?;
                chown_at(&parent, &name, owner, &raw)?;
                self.deferred_dirs.push(DeferredDir { rel, mode, mtime });
                return Ok(());
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| entry_error(&raw, "read link target of", e))?
                    .ok_or_else(|| unsafe_entry(&raw, "symlink without a target"))?
                    .into_owned();
                // The target is only stored, never followed during extraction.
                fs::symlinkat(&target, &parent, &name)
                    .map_err(|e| entry_error(&raw, "create symlink", e))?;
                self.stats.size += target.as_os_str().len() as u64;
                chown_at(&parent, &name, owner, &raw)?;
            }
            tar::EntryType::Link => {
                self.hardlink(&mut entry, &parent, &name, &raw)?;
                // A hardlink shares the target's inode: owner, mode and
                // times are the target's.
                return Ok(());
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (ft, dev) = match kind {
                    tar::EntryType::Fifo => (FileType::Fifo, 0),
                    t => {
                        let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                        let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                        let ft = if t == tar::EntryType::Char {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        };
                        (ft, fs::makedev(major, minor))
                    }
                };
                fs::mknodat(&parent, &name, ft, Mode::from_raw_mode(mode), dev)
                    .map_err(|e| entry_error(&raw, "create device node", e))?;
                chown_at(&parent, &name, owner, &raw)?;
                // By a handle on the node itself: the name could be a
                // symlink by now in a tree that a container is changing.
                let node = fs::openat(
                    &parent,
                    &name,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| entry_error(&raw, "open device node", e))?;
                let st = fs::fstat(&node).map_err(|e| entry_error(&raw, "stat", e))?;
                if FileType::from_raw_mode(st.st_mode) != ft {
                    return Err(unsafe_entry(&raw, "it was replaced while being created"));
                }
                fs::chmod(fd_path(node.as_fd()).as_str(), Mode::from_raw_mode(mode))
                    .map_err(|e| entry_error(&raw, "chmod", e))?;
                self.apply_xattrs(&mut entry, &raw, node.as_fd())?;
            }
            other => {
                tracing::debug!(entry = %raw.display(), kind = ?other, "skipping unsupported tar entry type");
                return Ok(());
            }
        }
        // Symlinks, device nodes and fifos: times by name, never following.
        fs::utimensat(
            &parent,
            &name,
            &timestamps(mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| entry_error(&raw, "set times of", e))?;
        Ok(())
    }

    /// Turns an OCI whiteout entry into overlay's form; false if `name` is
    /// not a whiteout.
    /// Whiteouts of `.`, `..` or of nothing, and whiteouts that are
    /// directories (whose entries would follow inside them), are refused.
    fn whiteout(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        kind: tar::EntryType,
        raw: &Path,
    ) -> Result<bool, StoreError> {
        let name_bytes = name.as_bytes();
        let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) else {
            return Ok(false);
        };
        if kind.is_dir() {
            return Err(unsafe_entry(raw, "a whiteout cannot be a directory"));
        }
        if let Some(what) = match hidden {
            b"" => Some("an empty name"),
            b"." => Some("\".\" (its own directory)"),
            b".." => Some("\"..\" (its parent directory)"),
            _ => None,
        } {
            return Err(unsafe_entry(raw, format!("it whites out {what}")));
        }
        if name_bytes == OPAQUE_WHITEOUT.as_bytes() {
            let dir = fs::openat(
                parent,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| entry_error(raw, "open directory for", e))?;
            fs::fsetxattr(&dir, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(|e| entry_error(raw, "mark directory opaque for", e))?;
            return Ok(true);
        }
        if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            // Other `.wh..wh.` names are aufs bookkeeping with no meaning here.
            return Ok(true);
        }
        let hidden = OsStr::from_bytes(hidden);
        self.remove_existing(parent, hidden, false, raw)?;
        fs::mknodat(
            parent,
            hidden,
            FileType::CharacterDevice,
            Mode::empty(),
            fs::makedev(0, 0),
        )
        .map_err(|e| entry_error(raw, "create whiteout for", e))?;
        Ok(true)
    }

    fn hardlink<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        parent: &OwnedFd,
        name: &OsStr,
        raw: &Path,
    ) -> Result<(), StoreError> {
        let target_raw = entry
            .link_name()
            .map_err(|e| entry_error(raw, "read link target of", e))?
            .ok_or_else(|| unsafe_entry(raw, "hardlink without a target"))?
            .into_owned();
        let target = clean_entry_path(&target_raw).map_err(|why| {
            unsafe_entry(
                raw,
                format!("hardlink target {}: {why}", quote_path(&target_raw)),
            )
        })?;
        let (Some(target_name), target_parent) =
            (target.file_name(), target.parent().unwrap_or(Path::new("")))
        else {
            return Err(unsafe_entry(raw, "hardlink to the layer root"));
        };
        let target_dir = self
            .open_dir(target_parent, OFlags::PATH)
            .map_err(|e| match e {
                Errno::LOOP | Errno::XDEV => unsafe_entry(
                    raw,
                    format!(
                        "hardlink target {} goes through a symlink",
                        quote_path(&target_raw)
                    ),
                ),
                e => entry_error(raw, "find hardlink target of", e),
            })?;
        fs::linkat(&target_dir, target_name, parent, name, AtFlags::empty())
            .map_err(|e| entry_error(raw, "create hardlink", e))
    }

    /// Resolves (creating if missing) the parent directory of an entry.
    fn parent_dir(&mut self, rel: &Path, raw: &Path) -> Result<OwnedFd, StoreError> {
        if let Some((cached, fd)) = &self.parent_cache {
            if cached == rel {
                return fd
                    .try_clone()
                    .map_err(|e| StoreError::io("duplicate directory handle", e));
            }
        }
        let fd = match self.open_dir(rel, OFlags::PATH) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => self.make_parents(rel, raw)?,
            Err(e) => return Err(resolve_error(raw, e)),
        };
        let dup = fd
            .try_clone()
            .map_err(|e| StoreError::io("duplicate directory handle", e))?;
        self.parent_cache = Some((rel.to_path_buf(), dup));
        Ok(fd)
    }

    /// Archives may omit directory entries; docker creates the missing
    /// parents with mode 0755. Each one is made in the handle of the one
    /// before, then resolved again from the root like any other path.
    fn make_parents(&self, rel: &Path, raw: &Path) -> Result<OwnedFd, StoreError> {
        let mut cur = self
            .open_dir(Path::new(""), OFlags::PATH)
            .map_err(|e| resolve_error(raw, e))?;
        let mut prefix = PathBuf::new();
        for comp in rel.components() {
            prefix.push(comp);
            cur = match self.open_dir(&prefix, OFlags::PATH) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    match fs::mkdirat(&cur, comp.as_os_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(entry_error(raw, "create parent directory of", e)),
                    }
                    self.open_dir(&prefix, OFlags::PATH)
                        .map_err(|e| resolve_error(raw, e))?
                }
                Err(e) => return Err(resolve_error(raw, e)),
            };
        }
        Ok(cur)
    }

    /// Sets the archive's xattrs on the node `node` is a handle on.
    fn apply_xattrs<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
        node: BorrowedFd<'_>,
    ) -> Result<(), StoreError> {
        let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| entry_error(raw, "read pax headers of", e))?
        else {
            return Ok(());
        };
        let path = fd_path(node);
        for ext in exts {
            let ext = ext.map_err(|e| entry_error(raw, "read pax headers of", e))?;
            let Ok(key) = ext.key() else { continue };
            let Some(name) = key.strip_prefix("SCHILY.xattr.") else {
                continue;
            };
            // Overlay's own attributes in an archive would let a layer forge
            // whiteouts or redirects; docker drops them as well.
            if name.starts_with("trusted.overlay.")
                || (!self.privileged && !name.starts_with("user."))
            {
                continue;
            }
            match fs::setxattr(path.as_str(), name, ext.value_bytes(), XattrFlags::empty()) {
                Ok(()) => {}
                // Filesystems without xattr support: docker ignores these too.
                Err(Errno::OPNOTSUPP) => {
                    tracing::debug!(entry = %raw.display(), name, "xattr not supported")
                }
                Err(e) => return Err(entry_error(raw, &format!("set xattr {name} on"), e)),
            }
        }
        Ok(())
    }

    /// Removes `name` in `parent` unless both it and the new entry are
    /// directories (a directory entry then only updates metadata). A copy
    /// never replaces a directory with a non-directory or the reverse,
    /// as docker's does not.
    fn remove_existing(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        new_is_dir: bool,
        raw: &Path,
    ) -> Result<(), StoreError> {
        let st = match fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(entry_error(raw, "replace", e)),
        };
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if is_dir && new_is_dir {
            return Ok(());
        }
        if !self.is_layer() && (is_dir || new_is_dir) {
            let why = if is_dir {
                "cannot overwrite a directory with a non-directory"
            } else {
                "cannot overwrite a non-directory with a directory"
            };
            return Err(unsafe_entry(raw, why));
        }
        if is_dir {
            remove_tree(parent.as_fd(), name)
        } else {
            fs::unlinkat(parent, name, AtFlags::empty()).map_err(Into::into)
        }
        .map_err(|e| entry_error(raw, "replace", e))
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        self.parent_cache = None;
        // Deepest first, so setting a parent's mtime comes after its children.
        for d in self.deferred_dirs.iter().rev() {
            // Not following the last name: a later entry may have put a
            // symlink where the directory was, and then it is gone.
            let dir = match self.open_dir(&d.rel, OFlags::PATH | OFlags::NOFOLLOW) {
                Ok(fd) => fd,
                Err(Errno::LOOP | Errno::NOTDIR | Errno::NOENT) => continue,
                Err(e) => return Err(entry_error(&d.rel, "open", e)),
            };
            let path = fd_path(dir.as_fd());
            fs::chmod(path.as_str(), Mode::from_raw_mode(d.mode))
                .map_err(|e| entry_error(&d.rel, "chmod", e))?;
            fs::utimensat(
                fs::CWD,
                path.as_str(),
                &timestamps(d.mtime),
                AtFlags::empty(),
            )
            .map_err(|e| entry_error(&d.rel, "set times of", e))?;
        }
        Ok(())
    }
}

/// Sets ownership by name without following a symlink.
fn chown_at(
    parent: &OwnedFd,
    name: &OsStr,
    owner: Option<(fs::Uid, fs::Gid)>,
    raw: &Path,
) -> Result<(), StoreError> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    fs::chownat(
        parent,
        name,
        Some(uid),
        Some(gid),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| entry_error(raw, "chown", e))
}

/// Removes the directory `name` in `parent` with everything in it, through
/// handles only: a symlink met on the way is removed, never followed.
fn remove_tree(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let dir = fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut children = Vec::new();
    for e in fs::Dir::read_from(&dir)? {
        let e = e?;
        let child = e.file_name().to_bytes();
        if child != b"." && child != b".." {
            children.push(OsString::from(OsStr::from_bytes(child)));
        }
    }
    for child in children {
        match fs::statat(&dir, &child, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                remove_tree(dir.as_fd(), &child)?
            }
            Ok(_) => fs::unlinkat(&dir, &child, AtFlags::empty())?,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    fs::unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(Into::into)
}

/// A blank numeric header field reads as 0, as Go's archive/tar (docker's)
/// reads it; anything else unparsable is an error.
fn numeric(raw: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    if raw.iter().all(|&b| b == 0 || b == b' ') {
        return Ok(0);
    }
    parsed
}

fn resolve_error(raw: &Path, e: Errno) -> StoreError {
    match e {
        Errno::LOOP | Errno::XDEV => unsafe_entry(raw, "its path goes through a symlink"),
        Errno::NOTDIR => unsafe_entry(raw, "a parent of it is not a directory"),
        e => entry_error(raw, "resolve parent of", e),
    }
}

fn path_or_dot(p: &Path) -> &Path {
    if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    }
}

fn timestamps(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime.min(i64::MAX as u64) as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn uid_of(raw: u64) -> fs::Uid {
    fs::Uid::from_raw(raw as u32)
}

fn gid_of(raw: u64) -> fs::Gid {
    fs::Gid::from_raw(raw as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses '..' and absolute names, which these tests need.
        let raw = name.as_bytes();
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(kind);
        let raw = name.as_bytes();
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        let t = target.as_bytes();
        h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }

    #[test]
    fn extracts_files_dirs_symlinks_and_hardlinks() {
        let tar = tar_with(|b| {
            file(b, "./etc/hostname", b"box\n");
            link(b, tar::EntryType::Symlink, "bin/sh", "busybox");
            file(b, "bin/busybox", b"ELF");
            link(b, tar::EntryType::Link, "bin/ls", "bin/busybox");
        });
        let dir = tempfile::tempdir().unwrap();
        let stats = extract_layer(&tar[..], dir.path()).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("etc/hostname")).unwrap(),
            b"box\n"
        );
        assert_eq!(
            std::fs::read_link(dir.path().join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        use std::os::unix::fs::MetadataExt;
        let a = std::fs::metadata(dir.path().join("bin/busybox")).unwrap();
        let b = std::fs::metadata(dir.path().join("bin/ls")).unwrap();
        assert_eq!(a.ino(), b.ino());
        assert_eq!(stats.size, 4 + 7 + 3);
    }

    fn refused(tar: Vec<u8>, expect_entry: &str) {
        let outer = tempfile::tempdir().unwrap();
        let dir = outer.path().join("layer");
        std::fs::create_dir(&dir).unwrap();
        let err = extract_layer(&tar[..], &dir).unwrap_err();
        match &err {
            StoreError::UnsafeEntry { entry, .. } => {
                assert_eq!(
                    *entry,
                    berth_escape::quote(expect_entry).to_string(),
                    "{err}"
                )
            }
            other => panic!("expected an unsafe entry error, got {other}"),
        }
        // Nothing was written next to the layer directory.
        let names: Vec<_> = std::fs::read_dir(outer.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("layer")]);
    }

    #[test]
    fn refuses_parent_dir_names() {
        refused(tar_with(|b| file(b, "../evil", b"x")), "../evil");
        refused(tar_with(|b| file(b, "a/../../evil", b"x")), "a/../../evil");
    }

    #[test]
    fn refuses_whiteouts_of_no_entry_naming_them() {
        for (name, what) in [
            ("etc/.wh..", "it whites out \".\" (its own directory)"),
            ("etc/.wh...", "it whites out \"..\" (its parent directory)"),
            (".wh.", "it whites out an empty name"),
        ] {
            let tar = tar_with(|b| file(b, name, b""));
            let dir = tempfile::tempdir().unwrap();
            let err = extract_layer(&tar[..], dir.path()).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("refusing tar entry \"{name}\": {what}")
            );
        }
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "etc/.wh..wh..opq/", &[][..]).unwrap();
        refused(b.into_inner().unwrap(), "etc/.wh..wh..opq/");
    }

    #[test]
    fn refusals_escape_what_the_archive_named() {
        let tar = tar_with(|b| file(b, "../\x1b]0;owned\x07\u{202e}", b"x"));
        let dir = tempfile::tempdir().unwrap();
        let err = extract_layer(&tar[..], dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            r#"refusing tar entry "../\x1b]0;owned\x07\u{202e}": the name contains '..'"#
        );
        let tar = tar_with(|b| link(b, tar::EntryType::Link, "a", "../\x1b[2J"));
        let err = extract_layer(&tar[..], dir.path()).unwrap_err().to_string();
        assert!(err.contains(r#"hardlink target "../\x1b[2J""#), "{err}");
    }

    #[test]
    fn refuses_absolute_names() {
        refused(tar_with(|b| file(b, "/evil", b"x")), "/evil");
    }

    #[test]
    fn refuses_entries_under_a_symlink() {
        refused(
            tar_with(|b| {
                link(b, tar::EntryType::Symlink, "escape", "..");
                file(b, "escape/evil", b"x");
            }),
            "escape/evil",
        );
        refused(
            tar_with(|b| {
                link(b, tar::EntryType::Symlink, "etc", "/etc");
                file(b, "etc/passwd", b"x");
            }),
            "etc/passwd",
        );
    }

    #[test]
    fn refuses_hardlinks_pointing_out() {
        refused(
            tar_with(|b| link(b, tar::EntryType::Link, "passwd", "../../etc/passwd")),
            "passwd",
        );
        refused(
            tar_with(|b| link(b, tar::EntryType::Link, "passwd", "/etc/passwd")),
            "passwd",
        );
        refused(
            tar_with(|b| {
                link(b, tar::EntryType::Symlink, "up", "/etc");
                link(b, tar::EntryType::Link, "passwd", "up/passwd");
            }),
            "passwd",
        );
    }

    #[test]
    fn directory_metadata_never_follows_a_symlink_that_replaced_it() {
        let outer = tempfile::tempdir().unwrap();
        let victim = outer.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o700)).unwrap();
        let layer = outer.path().join("layer");
        std::fs::create_dir(&layer).unwrap();
        let tar = tar_with(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o777);
            h.set_size(0);
            b.append_data(&mut h, "d/", &[][..]).unwrap();
            link(b, tar::EntryType::Symlink, "d", victim.to_str().unwrap());
        });
        extract_layer(&tar[..], &layer).unwrap();
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777;
        assert_eq!(
            mode, 0o700,
            "the directory the symlink points at is untouched"
        );
    }

    /// A tree with `etc/` and symlinks out of it, absolute and relative,
    /// the way a container could plant them.
    fn hostile_tree() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.path().join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc", root.path().join("up")).unwrap();
        root
    }

    fn open_root(dir: &Path) -> OwnedFd {
        fs::open(dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn copies_resolve_symlinks_inside_the_tree() {
        let root = hostile_tree();
        let fd = open_root(root.path());
        let name = format!("berth-extract-test-{}", std::process::id());
        let tar = tar_with(|b| {
            file(b, &format!("escape/{name}"), b"a");
            file(b, &format!("up/{name}.2"), b"b");
        });
        extract_copy(&tar[..], fd.as_fd(), Path::new("/"), CopyOwner::Caller).unwrap();
        let tar = tar_with(|b| file(b, &format!("{name}.3"), b"c"));
        extract_copy(
            &tar[..],
            fd.as_fd(),
            Path::new("/escape"),
            CopyOwner::Caller,
        )
        .unwrap();
        for (n, data) in [("", "a"), (".2", "b"), (".3", "c")] {
            let inside = root.path().join("etc").join(format!("{name}{n}"));
            assert_eq!(std::fs::read_to_string(&inside).unwrap(), data);
            assert!(!Path::new("/etc").join(format!("{name}{n}")).exists());
        }
    }

    #[test]
    fn copies_never_swap_directories_and_files_and_keep_wh_names() {
        let root = hostile_tree();
        let fd = open_root(root.path());
        let err = extract_copy(
            &tar_with(|b| file(b, "etc", b"x"))[..],
            fd.as_fd(),
            Path::new("/"),
            CopyOwner::Root,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("cannot overwrite a directory"),
            "{err}"
        );
        // A symlink is not a directory either, as with docker.
        let tar = tar_with(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, "escape/", &[][..]).unwrap();
        });
        let err = extract_copy(&tar[..], fd.as_fd(), Path::new("/"), CopyOwner::Root).unwrap_err();
        assert!(
            err.to_string().contains("cannot overwrite a non-directory"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_link(root.path().join("escape")).unwrap(),
            Path::new("/etc")
        );
        extract_copy(
            &tar_with(|b| file(b, ".wh.name", b"plain"))[..],
            fd.as_fd(),
            Path::new("/etc"),
            CopyOwner::Root,
        )
        .unwrap();
        assert_eq!(
            std::fs::read(root.path().join("etc/.wh.name")).unwrap(),
            b"plain"
        );
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let tar = tar_with(|b| {
            file(b, "a", b"first");
            link(b, tar::EntryType::Symlink, "s", "a");
            file(b, "a", b"second");
            file(b, "s", b"now a file");
        });
        let dir = tempfile::tempdir().unwrap();
        extract_layer(&tar[..], dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"second");
        assert_eq!(std::fs::read(dir.path().join("s")).unwrap(), b"now a file");
    }

    #[test]
    fn clean_entry_path_strips_dot_components() {
        assert_eq!(
            clean_entry_path(Path::new("./a/./b")).unwrap(),
            Path::new("a/b")
        );
        assert_eq!(clean_entry_path(Path::new("./")).unwrap(), Path::new(""));
    }
}
