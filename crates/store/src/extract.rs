//! Safe layer extraction: a tar stream becomes one layer directory in
//! overlayfs form.
//!
//! Every path is resolved by the kernel with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` from a handle on the layer directory, and every file
//! is created with `*at` calls relative to its already-resolved parent. So no
//! entry can reach outside the layer, whatever the archive says: `..`,
//! absolute names, an entry under a symlink made earlier in the same archive
//! and hardlinks pointing out are all refused with an error naming the entry.
//! OCI whiteouts become overlay whiteouts: `.wh.NAME` a 0/0 character device
//! named NAME, `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on the
//! directory.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

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

/// Unpacks the uncompressed tar stream `tar` into the existing, empty
/// directory `dir`.
pub fn extract_layer<R: Read>(tar: R, dir: &Path) -> Result<ExtractStats, StoreError> {
    let root = fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| StoreError::io(format!("open layer directory {}", dir.display()), e.into()))?;
    let mut x = Extractor {
        root,
        root_path: dir.to_path_buf(),
        privileged: rustix::process::geteuid().is_root(),
        deferred_dirs: Vec::new(),
        parent_cache: None,
        stats: ExtractStats::default(),
    };
    let mut archive = tar::Archive::new(tar);
    let entries = archive
        .entries()
        .map_err(|e| StoreError::io("read layer tar", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("read layer tar", e))?;
        x.entry(entry)?;
    }
    x.finish()?;
    Ok(x.stats)
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
    root_path: PathBuf,
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
        entry: entry.display().to_string(),
        reason: reason.into(),
    }
}

fn entry_error(entry: &Path, what: &str, e: impl Into<io::Error>) -> StoreError {
    StoreError::io(format!("{what} {}", entry.display()), e.into())
}

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

impl Extractor {
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

        let Some(name) = rel.file_name().map(|n| n.to_owned()) else {
            // The archive's root ("./"): only its metadata applies.
            if kind.is_dir() {
                self.deferred_dirs.push(DeferredDir { rel, mode, mtime });
            }
            return Ok(());
        };
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let parent = self.parent_dir(&parent_rel, &raw)?;
        let name_bytes = name.as_bytes();

        if name_bytes == OPAQUE_WHITEOUT.as_bytes() {
            let dir = fs::openat(
                &parent,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| entry_error(&raw, "open directory for", e))?;
            fs::fsetxattr(&dir, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(|e| entry_error(&raw, "mark directory opaque for", e))?;
            return Ok(());
        }
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) || hidden.is_empty() {
                // Other `.wh..wh.` names are aufs bookkeeping with no meaning here.
                return Ok(());
            }
            let hidden = OsStr::from_bytes(hidden);
            remove_existing(&parent, hidden, &self.root_path.join(&parent_rel), false)
                .map_err(|e| entry_error(&raw, "replace", e))?;
            fs::mknodat(
                &parent,
                hidden,
                FileType::CharacterDevice,
                Mode::empty(),
                fs::makedev(0, 0),
            )
            .map_err(|e| entry_error(&raw, "create whiteout for", e))?;
            return Ok(());
        }

        let parent_path = self.root_path.join(&parent_rel);
        remove_existing(&parent, &name, &parent_path, kind.is_dir())
            .map_err(|e| entry_error(&raw, "replace", e))?;
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
                self.apply_xattrs(&mut entry, &raw, &parent_path.join(&name))?;
                if self.privileged {
                    fs::fchown(&file, Some(uid_of(uid)), Some(gid_of(gid)))
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
                self.apply_xattrs(&mut entry, &raw, &parent_path.join(&name))?;
                self.chown_at(&parent, &name, uid, gid, &raw)?;
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
            }
            tar::EntryType::Link => {
                let target_raw = entry
                    .link_name()
                    .map_err(|e| entry_error(&raw, "read link target of", e))?
                    .ok_or_else(|| unsafe_entry(&raw, "hardlink without a target"))?
                    .into_owned();
                let target = clean_entry_path(&target_raw).map_err(|why| {
                    unsafe_entry(
                        &raw,
                        format!("hardlink target {}: {why}", target_raw.display()),
                    )
                })?;
                let (Some(target_name), target_parent) =
                    (target.file_name(), target.parent().unwrap_or(Path::new("")))
                else {
                    return Err(unsafe_entry(&raw, "hardlink to the layer root"));
                };
                let target_dir = fs::openat2(
                    &self.root,
                    path_or_dot(target_parent),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    resolve_flags(),
                )
                .map_err(|e| match e {
                    Errno::LOOP | Errno::XDEV => unsafe_entry(
                        &raw,
                        format!(
                            "hardlink target {} goes through a symlink",
                            target_raw.display()
                        ),
                    ),
                    e => entry_error(&raw, "find hardlink target of", e),
                })?;
                fs::linkat(&target_dir, target_name, &parent, &name, AtFlags::empty())
                    .map_err(|e| entry_error(&raw, "create hardlink", e))?;
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
            }
            other => {
                tracing::debug!(entry = %raw.display(), kind = ?other, "skipping unsupported tar entry type");
                return Ok(());
            }
        }
        // Symlinks, device nodes and fifos: metadata by name, never following.
        self.chown_at(&parent, &name, uid, gid, &raw)?;
        if kind != tar::EntryType::Symlink {
            fs::chmodat(&parent, &name, Mode::from_raw_mode(mode), AtFlags::empty())
                .map_err(|e| entry_error(&raw, "chmod", e))?;
            self.apply_xattrs(&mut entry, &raw, &parent_path.join(&name))?;
        }
        fs::utimensat(
            &parent,
            &name,
            &timestamps(mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| entry_error(&raw, "set times of", e))?;
        Ok(())
    }

    /// Sets ownership by name without following a symlink; only root can
    /// give files away, so unprivileged extraction keeps the caller's.
    fn chown_at(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        uid: u64,
        gid: u64,
        raw: &Path,
    ) -> Result<(), StoreError> {
        if !self.privileged {
            return Ok(());
        }
        fs::chownat(
            parent,
            name,
            Some(uid_of(uid)),
            Some(gid_of(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| entry_error(raw, "chown", e))
    }

    /// Resolves (creating if missing) the parent directory of an entry,
    /// never through a symlink and never outside the layer.
    fn parent_dir(&mut self, rel: &Path, raw: &Path) -> Result<OwnedFd, StoreError> {
        if let Some((cached, fd)) = &self.parent_cache {
            if cached == rel {
                return fd
                    .try_clone()
                    .map_err(|e| StoreError::io("duplicate directory handle", e));
            }
        }
        let fd = match fs::openat2(
            &self.root,
            path_or_dot(rel),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve_flags(),
        ) {
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
    /// parents with mode 0755.
    fn make_parents(&self, rel: &Path, raw: &Path) -> Result<OwnedFd, StoreError> {
        let mut cur = self
            .root
            .try_clone()
            .map_err(|e| StoreError::io("duplicate directory handle", e))?;
        for comp in rel.components() {
            let open = |cur: &OwnedFd| {
                fs::openat2(
                    cur,
                    comp.as_os_str(),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    resolve_flags(),
                )
            };
            cur = match open(&cur) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    match fs::mkdirat(&cur, comp.as_os_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(entry_error(raw, "create parent directory of", e)),
                    }
                    open(&cur).map_err(|e| resolve_error(raw, e))?
                }
                Err(e) => return Err(resolve_error(raw, e)),
            };
        }
        Ok(cur)
    }

    fn apply_xattrs<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        raw: &Path,
        path: &Path,
    ) -> Result<(), StoreError> {
        let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| entry_error(raw, "read pax headers of", e))?
        else {
            return Ok(());
        };
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
            match fs::lsetxattr(path, name, ext.value_bytes(), XattrFlags::empty()) {
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

    fn finish(&mut self) -> Result<(), StoreError> {
        self.parent_cache = None;
        // Deepest first, so setting a parent's mtime comes after its children.
        for d in self.deferred_dirs.iter().rev() {
            let target = path_or_dot(&d.rel);
            fs::chmodat(
                &self.root,
                target,
                Mode::from_raw_mode(d.mode),
                AtFlags::empty(),
            )
            .map_err(|e| entry_error(&d.rel, "chmod", e))?;
            fs::utimensat(
                &self.root,
                target,
                &timestamps(d.mtime),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| entry_error(&d.rel, "set times of", e))?;
        }
        Ok(())
    }
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

/// Removes `name` in `parent` unless both it and the new entry are
/// directories (a directory entry then only updates metadata).
fn remove_existing(
    parent: &OwnedFd,
    name: &OsStr,
    parent_path: &Path,
    new_is_dir: bool,
) -> io::Result<()> {
    let st = match fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    if is_dir && new_is_dir {
        return Ok(());
    }
    if is_dir {
        // The parent path was resolved without symlinks, and remove_dir_all
        // never follows symlinks inside the tree it removes.
        std::fs::remove_dir_all(parent_path.join(name))
    } else {
        fs::unlinkat(parent.as_fd(), name, AtFlags::empty()).map_err(Into::into)
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
            StoreError::UnsafeEntry { entry, .. } => assert_eq!(entry, expect_entry, "{err}"),
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
