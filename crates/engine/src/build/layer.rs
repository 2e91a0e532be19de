//! Layer tars written straight from where a `COPY`/`ADD` reads: the build
//! context, the `--from` image's layers, or a fetched file. Each file is
//! read in place and streams into the store's staging, so nothing is
//! copied anywhere first.
//!
//! `ADD` unpacks an archive by rewriting its entries under the
//! destination. No entry may leave it: `..` above the destination, a
//! hardlink to a name outside it, or a path through a symlink the archive
//! made is refused naming the entry, as are names overlayfs would read as
//! whiteouts (`.wh.*`, a 0/0 character device), which would otherwise
//! delete files of the layers below. The store's extraction of the layer
//! then resolves every name beneath the layer without following symlinks.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use berth_build::{BuildContext, CopyPlan, EntryKind, ImageFs, ItemSource};

/// Who owns what a step adds, and the mode `--chmod` forces.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ownership {
    pub uid: u64,
    pub gid: u64,
    pub chmod: Option<u32>,
    /// Set by `--chown`. Without it, what `COPY --from` copies keeps its
    /// owners in the source image, as in docker; entries unpacked from an
    /// archive keep the archive's owners either way.
    pub chowned: bool,
}

/// Where the contents of a step's items are read from.
pub(crate) struct ItemFiles<'a> {
    pub ctx: &'a BuildContext,
    /// The `--from` image.
    pub image: Option<&'a ImageFs>,
    /// Files fetched for `ADD <url>`, by [`berth_build::Fetched::index`].
    pub fetched: &'a [File],
}

/// Reads a file from a fixed offset on, through positional reads, so
/// several readers of one open file never disturb each other.
pub(crate) struct FileAt<'a> {
    file: &'a File,
    offset: u64,
}

impl<'a> FileAt<'a> {
    pub(crate) fn start(file: &'a File) -> FileAt<'a> {
        FileAt { file, offset: 0 }
    }
}

impl Read for FileAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read_at(buf, self.offset)?;
        self.offset += read as u64;
        Ok(read)
    }
}

impl ItemFiles<'_> {
    /// A reader of a regular file item's content.
    pub(crate) fn open<'s>(&'s self, source: &'s ItemSource) -> io::Result<Box<dyn Read + 's>> {
        match source {
            ItemSource::Context(entry) => Ok(Box::new(
                self.ctx.open_file(&entry.path).map_err(io::Error::other)?,
            )),
            ItemSource::Image(entry) => {
                let image = self
                    .image
                    .ok_or_else(|| io::Error::other("no --from image to read from"))?;
                Ok(Box::new(image.open_file(entry).map_err(io::Error::other)?))
            }
            ItemSource::Fetched(fetched) => {
                let file = self
                    .fetched
                    .get(fetched.index)
                    .ok_or_else(|| io::Error::other("fetched file missing"))?;
                Ok(Box::new(FileAt::start(file)))
            }
            ItemSource::Inline(content) => Ok(Box::new(io::Cursor::new(content.as_bytes()))),
        }
    }
}

fn header(kind: tar::EntryType, mode: u32, owner: &Ownership, mtime: i64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode & 0o7777);
    h.set_uid(owner.uid);
    h.set_gid(owner.gid);
    h.set_mtime(mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// Tar names are relative: `/app/x` is `app/x`.
fn tar_name(image_path: &str) -> &str {
    image_path.trim_start_matches('/')
}

/// Refuses an image path with a name a layer cannot hold: one starting
/// with `.wh.` marks a deletion (a whiteout) in an image layer, so the
/// file would vanish and delete its namesake instead. Docker's builders
/// write it anyway, and the image breaks where it is pulled.
fn storable(image_path: &str) -> io::Result<&str> {
    if image_path.split('/').any(|name| name.starts_with(".wh.")) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "cannot store {image_path:?} in a layer: names starting with .wh. mark deletions (whiteouts)"
            ),
        ));
    }
    Ok(tar_name(image_path))
}

/// The directories above `path` in the image, outermost first, `/` left
/// out.
pub(crate) fn ancestors(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Path::new(path)
        .ancestors()
        .skip(1)
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| p != "/" && !p.is_empty())
        .collect();
    out.reverse();
    out
}

/// Writes directories `dirs` (absolute image paths) that the image lacks,
/// with their missing parents, as docker creates them: mode 0755.
pub(crate) fn write_dirs<W: Write>(
    dirs: &[String],
    owner: &Ownership,
    exists: &dyn Fn(&str) -> bool,
    out: W,
) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    let mut wanted = BTreeSet::new();
    for dir in dirs {
        for path in ancestors(dir).into_iter().chain([dir.clone()]) {
            if path != "/" && !exists(&path) {
                wanted.insert(path);
            }
        }
    }
    for dir in &wanted {
        let mut h = header(tar::EntryType::Directory, 0o755, owner, 0);
        tar.append_data(&mut h, format!("{}/", storable(dir)?), io::empty())?;
    }
    tar.into_inner()
}

/// The directories a plan needs to exist, whether or not the image has
/// them: each item's parents and the destination (when it is a directory,
/// or items in `unpack` are unpacked into it).
pub(crate) fn needed_dirs(plan: &CopyPlan, unpack: &BTreeSet<usize>) -> BTreeSet<String> {
    let items: BTreeSet<&str> = plan.items.iter().map(|i| i.dest.as_str()).collect();
    let mut parents = BTreeSet::new();
    let dest_dir = (plan.dest.is_dir || !unpack.is_empty()).then(|| plan.dest.path.clone());
    for (index, item) in plan.items.iter().enumerate() {
        let above = if unpack.contains(&index) {
            ancestors(&plan.dest.path)
        } else {
            ancestors(&item.dest)
        };
        for dir in above.into_iter().chain(dest_dir.clone()) {
            if dir != "/" && (!items.contains(dir.as_str()) || dir == plan.dest.path) {
                parents.insert(dir);
            }
        }
    }
    parents
}

/// Writes what a resolved `COPY`/`ADD` creates. Missing parent directories
/// of the destination are created (0755); a source directory's own entry is
/// not copied onto the destination (docker copies a directory's contents),
/// but its subdirectories keep their modes. Items whose index is in
/// `unpack` are archives, unpacked into the destination.
pub(crate) fn write_copy<W: Write>(
    files: &ItemFiles,
    plan: &CopyPlan,
    owner: &Ownership,
    exists: &dyn Fn(&str) -> bool,
    unpack: &BTreeSet<usize>,
    out: W,
) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    let parents = needed_dirs(plan, unpack);
    for dir in parents.iter().filter(|dir| !exists(dir)) {
        let mut h = header(tar::EntryType::Directory, 0o755, owner, 0);
        tar.append_data(&mut h, format!("{}/", storable(dir)?), io::empty())?;
    }
    for (index, item) in plan.items.iter().enumerate() {
        if unpack.contains(&index) {
            let archive = crate::build::archive::decompressed(files.open(&item.source)?)?;
            unpack_archive(&mut tar, &plan.dest.path, archive, owner, exists)?;
            continue;
        }
        if item.dest == "/" || parents.contains(&item.dest) {
            continue;
        }
        let name = storable(&item.dest)?;
        let (kind, mode, mtime, size) = match &item.source {
            ItemSource::Context(entry) => (&entry.kind, entry.mode, entry.mtime.secs, entry.size),
            ItemSource::Image(entry) => (&entry.kind, entry.mode, entry.mtime.secs, entry.size),
            ItemSource::Inline(content) => (&EntryKind::File, 0o644, 0, content.len() as u64),
            ItemSource::Fetched(fetched) => (&EntryKind::File, 0o600, fetched.mtime, fetched.size),
        };
        let mode = owner.chmod.unwrap_or(mode);
        let owner = &match &item.source {
            ItemSource::Image(entry) if !owner.chowned => Ownership {
                uid: u64::from(entry.uid),
                gid: u64::from(entry.gid),
                ..*owner
            },
            _ => *owner,
        };
        match kind {
            EntryKind::Dir => {
                let mut h = header(tar::EntryType::Directory, mode, owner, mtime);
                tar.append_data(&mut h, format!("{name}/"), io::empty())?;
            }
            EntryKind::File => {
                let file = files.open(&item.source)?;
                let mut h = header(tar::EntryType::Regular, mode, owner, mtime);
                h.set_size(size);
                // Exactly the size walked, even if the file changes
                // meanwhile: the tar must stay well-formed.
                let data = file.take(size).chain(io::repeat(0)).take(size);
                tar.append_data(&mut h, name, data)?;
            }
            EntryKind::Symlink(target) => {
                let mut h = header(tar::EntryType::Symlink, 0o777, owner, mtime);
                tar.append_link(&mut h, name, target)?;
            }
            // Sockets, fifos and devices: docker refuses some and skips
            // others; nothing a build needs.
            EntryKind::Special => {}
        }
    }
    tar.into_inner()
}

fn refused(entry: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("archive entry {:?} {why}", entry.display().to_string()),
    )
}

/// An archive name made relative to the destination, as docker cleans it:
/// a leading `/` stays inside, `..` may not climb above. `None` if it does.
fn inside_dest(raw: &Path) -> Option<PathBuf> {
    let absolute = raw.has_root();
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                if !out.pop() && !absolute {
                    return None;
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

fn join_dest(dest: &str, relative: &Path) -> String {
    let base = tar_name(dest);
    let relative = relative.to_string_lossy();
    if base.is_empty() {
        relative.into_owned()
    } else {
        format!("{base}/{relative}")
    }
}

/// Rewrites the entries of the uncompressed tar `archive` under `dest`.
fn unpack_archive<W: Write>(
    tar: &mut tar::Builder<W>,
    dest: &str,
    archive: impl Read,
    owner: &Ownership,
    exists: &dyn Fn(&str) -> bool,
) -> io::Result<()> {
    let mut input = tar::Archive::new(archive);
    // Directories this layer has: an entry whose parent the archive left
    // out gets it made (0755, root), as docker's extraction does.
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    // Symlinks this archive made: nothing may be written through them.
    let mut links: BTreeSet<PathBuf> = BTreeSet::new();
    for entry in input.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        let raw = entry.path()?.into_owned();
        let relative = inside_dest(&raw)
            .ok_or_else(|| refused(&raw, format_args!("is outside of {dest:?}")))?;
        // The archive's own root: the destination stays as it is.
        if relative.as_os_str().is_empty() {
            continue;
        }
        if relative
            .iter()
            .any(|name| name.as_bytes().starts_with(b".wh."))
        {
            return Err(refused(&raw, "has a whiteout name (.wh.)"));
        }
        if let Some(link) = relative
            .ancestors()
            .skip(1)
            .find(|above| links.contains(*above))
        {
            return Err(refused(
                &raw,
                format_args!("goes through the symlink {:?}", link.display().to_string()),
            ));
        }
        links.remove(&relative);
        let mut missing: Vec<PathBuf> = relative
            .ancestors()
            .skip(1)
            .filter(|above| !above.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .take_while(|above| !dirs.contains(above))
            .collect();
        missing.reverse();
        for above in missing {
            let above_name = join_dest(dest, &above);
            if !exists(&above_name) {
                let mut h = header(tar::EntryType::Directory, 0o755, &Ownership::default(), 0);
                tar.append_data(&mut h, format!("{above_name}/"), io::empty())?;
            }
            dirs.insert(above);
        }
        if kind == tar::EntryType::Directory {
            dirs.insert(relative.clone());
        }
        let name = join_dest(dest, &relative);
        let stored = entry.header();
        let mode = stored.mode().unwrap_or(0o644);
        let mtime = stored.mtime().map_or(0, |t| i64::try_from(t).unwrap_or(0));
        let mut h = header(kind, mode, owner, mtime);
        h.set_uid(stored.uid().unwrap_or(0));
        h.set_gid(stored.gid().unwrap_or(0));
        let xattrs = xattrs_of(&mut entry)?;
        if !xattrs.is_empty() {
            tar.append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                h.set_entry_type(tar::EntryType::Regular);
                let size = entry.size();
                h.set_size(size);
                tar.append_data(&mut h, &name, &mut entry)?;
            }
            tar::EntryType::Directory => {
                tar.append_data(&mut h, format!("{name}/"), io::empty())?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| refused(&raw, "is a symlink without a target"))?
                    .into_owned();
                tar.append_link(&mut h, &name, target)?;
                links.insert(relative);
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| refused(&raw, "is a hardlink without a target"))?
                    .into_owned();
                let target = inside_dest(&target)
                    .filter(|t| !t.as_os_str().is_empty())
                    .ok_or_else(|| {
                        refused(
                            &raw,
                            format_args!("is a hardlink to {:?}, outside of {dest:?}", target),
                        )
                    })?;
                tar.append_link(&mut h, &name, join_dest(dest, &target))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                if kind == tar::EntryType::Char && major == 0 && minor == 0 {
                    return Err(refused(&raw, "is a 0/0 character device (a whiteout)"));
                }
                h.set_device_major(major)?;
                h.set_device_minor(minor)?;
                tar.append_data(&mut h, &name, io::empty())?;
            }
            other => {
                tracing::debug!(entry = %raw.display(), kind = ?other, "skipping unsupported archive entry");
            }
        }
    }
    Ok(())
}

/// The entry's extended attributes as PAX records, overlay's own left out:
/// they would let an archive forge whiteouts or redirects.
fn xattrs_of<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut records = Vec::new();
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            let Ok(key) = extension.key() else { continue };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                if !name.starts_with("trusted.overlay.") {
                    records.push((key.to_string(), extension.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_outermost_first_without_root() {
        assert_eq!(ancestors("/a/b/c"), vec!["/a", "/a/b"]);
        assert!(ancestors("/a").is_empty());
    }

    #[test]
    fn dirs_skip_existing_and_add_parents() {
        let owner = Ownership::default();
        let tar_bytes = write_dirs(
            &["/srv/app".to_string()],
            &owner,
            &|p| p == "/srv",
            Vec::new(),
        )
        .unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["srv/app/"]);
    }

    #[test]
    fn archive_names_stay_inside_the_destination() {
        assert_eq!(inside_dest(Path::new("a/./b")), Some("a/b".into()));
        assert_eq!(inside_dest(Path::new("/etc/x")), Some("etc/x".into()));
        assert_eq!(inside_dest(Path::new("/../x")), Some("x".into()));
        assert_eq!(inside_dest(Path::new("a/../b")), Some("b".into()));
        assert_eq!(inside_dest(Path::new("./")), Some("".into()));
        assert_eq!(inside_dest(Path::new("../x")), None);
        assert_eq!(inside_dest(Path::new("a/../../x")), None);
    }

    /// A tar of (name, kind, data or link target) entries, names written
    /// byte for byte.
    fn archive(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o640);
            h.set_uid(7);
            h.set_gid(8);
            h.set_mtime(1_700_000_000);
            let body: &[u8] = if *kind == tar::EntryType::Regular {
                data.as_bytes()
            } else {
                h.as_old_mut().linkname[..data.len()].copy_from_slice(data.as_bytes());
                &[]
            };
            h.set_size(body.len() as u64);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, body).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn unpacked(
        entries: &[(&str, tar::EntryType, &str)],
        owner: &Ownership,
    ) -> io::Result<Vec<(String, u64, String)>> {
        let mut out = tar::Builder::new(Vec::new());
        unpack_archive(&mut out, "/dest", &archive(entries)[..], owner, &|_| false)?;
        let bytes = out.into_inner()?;
        let mut written = tar::Archive::new(&bytes[..]);
        let mut result = Vec::new();
        for entry in written.entries()? {
            let entry = entry?;
            let link = entry
                .link_name()?
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            result.push((
                entry.path()?.to_string_lossy().into_owned(),
                entry.header().uid()?,
                link,
            ));
        }
        Ok(result)
    }

    #[test]
    fn archives_unpack_under_the_destination() {
        use tar::EntryType::{Directory, Link, Regular, Symlink};
        let entries = [
            ("./", Directory, ""),
            ("bin/", Directory, ""),
            ("bin/tool", Regular, "x"),
            ("/abs", Regular, "y"),
            ("bin/hard", Link, "bin/tool"),
            ("bin/soft", Symlink, "/etc/passwd"),
        ];
        let kept = unpacked(&entries, &Ownership::default()).unwrap();
        let entry = |name: &str, uid: u64, link: &str| (name.to_string(), uid, link.to_string());
        assert_eq!(
            kept,
            [
                entry("dest/bin/", 7, ""),
                entry("dest/bin/tool", 7, ""),
                entry("dest/abs", 7, ""),
                entry("dest/bin/hard", 7, "dest/bin/tool"),
                entry("dest/bin/soft", 7, "/etc/passwd"),
            ]
        );
        let chowned = Ownership {
            uid: 1000,
            gid: 1000,
            chmod: None,
            chowned: true,
        };
        assert!(
            unpacked(&entries, &chowned)
                .unwrap()
                .iter()
                .all(|(_, uid, _)| *uid == 7),
            "--chown does not change what an archive unpacks"
        );
    }

    #[test]
    fn hostile_archives_are_refused() {
        use tar::EntryType::{Char, Link, Regular, Symlink};
        let owner = Ownership::default();
        let message = |entries: &[(&str, tar::EntryType, &str)]| {
            unpacked(entries, &owner).unwrap_err().to_string()
        };
        assert_eq!(
            message(&[("../evil", Regular, "x")]),
            "archive entry \"../evil\" is outside of \"/dest\""
        );
        assert_eq!(
            message(&[("a/../../evil", Regular, "x")]),
            "archive entry \"a/../../evil\" is outside of \"/dest\""
        );
        assert!(message(&[("h", Link, "../../etc/shadow")]).contains("is a hardlink to"));
        assert_eq!(
            message(&[("l", Symlink, "/etc"), ("l/passwd", Regular, "x")]),
            "archive entry \"l/passwd\" goes through the symlink \"l\""
        );
        assert!(message(&[(".wh.etc", Regular, "")]).contains("whiteout"));
        assert!(message(&[("etc", Char, "")]).contains("whiteout"));
        // A symlink replaced by a directory is a directory again.
        use tar::EntryType::Directory;
        assert!(unpacked(
            &[
                ("l", Symlink, "/etc"),
                ("l/", Directory, ""),
                ("l/x", Regular, "")
            ],
            &owner
        )
        .is_ok());
    }
}
