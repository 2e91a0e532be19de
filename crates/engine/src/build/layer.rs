//! Layer tars written straight from the build context: a `COPY`/`ADD`
//! reads each file in place and streams it into the store's staging, so
//! the context is never copied anywhere first.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::path::Path;

use berth_build::{BuildContext, CopyPlan, EntryKind, ItemSource};

/// Who owns what a step adds, and the mode `--chmod` forces.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ownership {
    pub uid: u64,
    pub gid: u64,
    pub chmod: Option<u32>,
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

/// The directories above `path` in the image, outermost first, `/` left
/// out.
fn ancestors(path: &str) -> Vec<String> {
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
        tar.append_data(&mut h, format!("{}/", tar_name(dir)), io::empty())?;
    }
    tar.into_inner()
}

/// Writes what a resolved `COPY`/`ADD` creates. Missing parent directories
/// of the destination are created (0755); a source directory's own entry is
/// not copied onto the destination (docker copies a directory's contents),
/// but its subdirectories keep their modes.
pub(crate) fn write_copy<W: Write>(
    ctx: &BuildContext,
    plan: &CopyPlan,
    owner: &Ownership,
    exists: &dyn Fn(&str) -> bool,
    out: W,
) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    let items: BTreeSet<&str> = plan.items.iter().map(|i| i.dest.as_str()).collect();
    let mut parents = BTreeSet::new();
    let dest_dir = if plan.dest.is_dir {
        Some(plan.dest.path.clone())
    } else {
        None
    };
    for item in &plan.items {
        for dir in ancestors(&item.dest).into_iter().chain(dest_dir.clone()) {
            if dir != "/" && (!items.contains(dir.as_str()) || dir == plan.dest.path) {
                parents.insert(dir);
            }
        }
    }
    for dir in parents.iter().filter(|dir| !exists(dir)) {
        let mut h = header(tar::EntryType::Directory, 0o755, owner, 0);
        tar.append_data(&mut h, format!("{}/", tar_name(dir)), io::empty())?;
    }
    for item in &plan.items {
        if item.dest == "/" || parents.contains(&item.dest) {
            continue;
        }
        let name = tar_name(&item.dest);
        match &item.source {
            ItemSource::Inline(content) => {
                let mut h = header(
                    tar::EntryType::Regular,
                    owner.chmod.unwrap_or(0o644),
                    owner,
                    0,
                );
                h.set_size(content.len() as u64);
                tar.append_data(&mut h, name, content.as_bytes())?;
            }
            ItemSource::Context(entry) => {
                let mode = owner.chmod.unwrap_or(entry.mode);
                match &entry.kind {
                    EntryKind::Dir => {
                        let mut h =
                            header(tar::EntryType::Directory, mode, owner, entry.mtime.secs);
                        tar.append_data(&mut h, format!("{name}/"), io::empty())?;
                    }
                    EntryKind::File => {
                        let file = ctx.open_file(&entry.path).map_err(io::Error::other)?;
                        let mut h = header(tar::EntryType::Regular, mode, owner, entry.mtime.secs);
                        let size = entry.size;
                        h.set_size(size);
                        // Exactly the size walked, even if the file changes
                        // meanwhile: the tar must stay well-formed.
                        let data = (&file).take(size).chain(io::repeat(0)).take(size);
                        tar.append_data(&mut h, name, data)?;
                    }
                    EntryKind::Symlink(target) => {
                        let mut h = header(tar::EntryType::Symlink, 0o777, owner, entry.mtime.secs);
                        tar.append_link(&mut h, name, target)?;
                    }
                    // Sockets and fifos: docker refuses some and skips
                    // others; nothing a build needs.
                    EntryKind::Special => {}
                }
            }
        }
    }
    tar.into_inner()
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
}
