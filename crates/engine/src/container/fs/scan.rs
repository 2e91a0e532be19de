//! What changed in a container's upper dir against its image.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::Metadata;
use std::io::{self};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::tree::*;
use super::*;

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

/// An entry of the writable layer that differs from the image.
pub(crate) struct Node {
    pub(crate) name: OsString,
    pub(crate) md: Metadata,
    pub(crate) kind: ChangeKind,
    /// A directory marked opaque in the layer.
    pub(crate) opaque: bool,
    pub(crate) children: Vec<Node>,
    /// Image entries this opaque directory hides and the layer does not
    /// have again: deleted.
    pub(crate) hidden: Vec<OsString>,
}

#[derive(Default)]
pub(crate) struct Scan {
    pub(crate) nodes: Vec<Node>,
    pub(crate) hidden: Vec<OsString>,
    /// Runtime mount points were left out here, so the directory's own
    /// mtime says nothing about the container's changes.
    pub(crate) skipped: bool,
}

pub(crate) fn is_runtime_path(path: &Path) -> bool {
    RUNTIME_PATHS.iter().any(|p| Path::new(p) == path)
}

pub(crate) fn leads_to_runtime_path(path: &Path) -> bool {
    RUNTIME_PATHS
        .iter()
        .any(|p| Path::new(p).starts_with(path) && Path::new(p) != path)
}

/// docker leaves a directory out of `diff` when nothing changed in it and
/// its own mode and mtime are the image's (ownership is compared too). The
/// mtime is no evidence when runtime mount points were created in it.
pub(crate) fn same_dir(upper: &Metadata, image: &Metadata, ignore_mtime: bool) -> bool {
    upper.mode() == image.mode()
        && upper.uid() == image.uid()
        && upper.gid() == image.gid()
        && (ignore_mtime
            || (upper.mtime() == image.mtime() && upper.mtime_nsec() == image.mtime_nsec()))
}

/// Compares one directory of the writable layer (`abs` inside the
/// container) with the image's (`image`, if the image has it as a
/// directory). `opaque`: nothing of the image shows through here.
pub(crate) fn scan(
    upper: &Dir,
    abs: &Path,
    image: Option<&Stack>,
    opaque: bool,
) -> io::Result<Scan> {
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
pub(crate) fn scan_layer(upper: &Path, layers: &[PathBuf]) -> io::Result<Scan> {
    let root = Dir::open_live(upper)?;
    let image = Stack::new(layers.iter().cloned().map(Dir::Layer).collect())?;
    let opaque = root.opaque()?;
    scan(&root, Path::new("/"), Some(&image), opaque)
}

pub(crate) fn flatten(nodes: &[Node], abs: &Path, out: &mut Vec<Change>) {
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
pub(crate) fn changes(upper: &Path, layers: &[PathBuf]) -> io::Result<Vec<Change>> {
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
