//! What a `COPY` or `ADD` takes from the build context, or with `--from`
//! from a stage's or an image's file system, and where each piece lands,
//! following docker: wildcards are Go's `filepath.Match` per path segment;
//! a directory source copies its contents, not itself; a source that is a
//! symlink is followed (inside the context, or inside the image), while
//! links inside a copied directory stay links; the destination is relative
//! to `WORKDIR` and is a directory when it ends in `/` (or is `.`), which it
//! must be for several sources.
//!
//! In the context a link to an absolute path, or with `..` above the root,
//! leads outside and is refused. In an image, as in the image's own
//! `chroot`, an absolute target starts at the image's root and `..` stops
//! there, so a source never leaves the image either.
//!
//! Errors use the classic builder's wording (`COPY failed: file not found in
//! build context or excluded by .dockerignore: stat x: file does not exist`,
//! `no source files were specified`), which says what to check; BuildKit's
//! (`failed to compute cache key: "/x": not found`) does not. A wildcard
//! that matches nothing is fine as long as some source of the instruction
//! selects something, as in the classic builder.
//!
//! Remote `ADD` sources are fetched by the engine, which hands them in as
//! [`SourceSpec::Fetched`].

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::context::{BuildContext, ContextEntry, EntryKind};
use crate::digest::{Digest, FieldHasher};
use crate::error::{BuildError, Location};
use crate::glob::{has_wildcards, Glob};
use crate::image_fs::{ImageEntry, ImageFs};
use crate::path_clean::clean;

/// One source of a `COPY`/`ADD`, variables already expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A path in the context (or the `--from` image), possibly with
    /// wildcards.
    Path(String),
    /// A here-document (`COPY <<EOF /dest`): a file named after the
    /// delimiter, with this content (already expanded when it expands).
    Inline { name: String, content: String },
    /// A file the engine fetched for `ADD <url>`.
    Fetched(Fetched),
}

/// A file fetched for `ADD <url>`; the engine keeps its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Which of the step's fetched files this is.
    pub index: usize,
    /// The name it takes inside a directory destination (from the URL).
    pub name: String,
    /// The SHA-256 of its content.
    pub digest: Digest,
    pub size: u64,
    /// Seconds since the epoch (the response's `Last-Modified`).
    pub mtime: i64,
}

/// A `COPY`/`ADD` to resolve.
#[derive(Debug, Clone)]
pub struct CopyRequest<'a> {
    pub at: &'a Location,
    /// `COPY` or `ADD`, for messages.
    pub instruction: &'static str,
    pub sources: &'a [SourceSpec],
    /// Where the sources go: [`Destination::new`] of the destination as
    /// written, then [`resolve_destination`] in the image written to.
    pub dest: Destination,
}

/// Where the sources go in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Absolute and cleaned.
    pub path: String,
    /// Written as a directory (`dir/`, `.`): file sources land inside it.
    pub is_dir: bool,
}

impl Destination {
    /// Docker's rules: relative to the working directory; a trailing `/`,
    /// `.` or nothing at all means a directory.
    pub fn new(dest: &str, workdir: &str) -> Destination {
        let is_dir = dest.is_empty() || dest == "." || dest.ends_with('/');
        let path = if dest.starts_with('/') {
            clean(dest)
        } else {
            clean(&format!("/{workdir}/{dest}"))
        };
        Destination { path, is_dir }
    }
}

/// What one copied item is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemSource {
    /// An entry of the context (for a followed symlink, its target's entry).
    Context(ContextEntry),
    /// An entry of the `--from` image (likewise).
    Image(ImageEntry),
    /// A here-document's content; docker writes it with mode 0644.
    Inline(String),
    /// A fetched file; docker writes it with mode 0600.
    Fetched(Fetched),
}

/// One thing to create in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyItem {
    pub source: ItemSource,
    /// Absolute path in the image.
    pub dest: String,
    /// Named by a source of the instruction itself, not found inside a
    /// source directory: `ADD` unpacks only these archives.
    pub named: bool,
}

/// The result of resolving a `COPY`/`ADD`.
#[derive(Debug, Clone)]
pub struct CopyPlan {
    pub dest: Destination,
    /// In order: each directory before its contents.
    pub items: Vec<CopyItem>,
    pub digest: SourceDigest,
    /// The name a single non-directory source takes inside a directory.
    single_file_name: Option<String>,
}

impl CopyPlan {
    /// Docker copies a file *into* a destination written without a trailing
    /// `/` when the image already has a directory there. Only the engine
    /// knows the image, so it calls this when it finds one. The digest is
    /// unchanged: the image is part of the step's parent.
    pub fn place_inside_existing_dir(&mut self) {
        if self.dest.is_dir {
            return;
        }
        if let Some(name) = &self.single_file_name {
            let inside = join_image_path(&self.dest.path, name);
            for item in &mut self.items {
                if item.dest == self.dest.path {
                    item.dest.clone_from(&inside);
                }
            }
        }
        self.dest.is_dir = true;
    }
}

/// Identifies what a `COPY`/`ADD` copies: for every item its source path,
/// destination, mode bits and, for files, the content hash, for symlinks
/// the target. Not mtimes (touching a file keeps the cache; editing it
/// does not) and not owners (docker sets them to 0 or `--chown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceDigest(pub Digest);

impl fmt::Display for SourceDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A file tree sources are selected from: the context or an image.
trait SourceTree {
    type Entry: Clone;
    /// An image's root file system: an absolute link target starts at its
    /// root and `..` stops there. Otherwise (the context) both lead
    /// outside.
    const ROOTED: bool;
    fn lookup(&self, path: &Path) -> Result<Option<Self::Entry>, BuildError>;
    fn children(&self, dir: &Path) -> Result<Vec<Self::Entry>, BuildError>;
    fn descendants(&self, dir: &Path) -> Result<Vec<Self::Entry>, BuildError>;
    fn kind(entry: &Self::Entry) -> &EntryKind;
    fn path(entry: &Self::Entry) -> &Path;
    fn item(entry: Self::Entry) -> ItemSource;
    /// Content hashes of regular files, in order.
    fn file_hashes(&self, files: &[&Self::Entry]) -> Result<Vec<Digest>, BuildError>;
    fn not_found(&self, request: &CopyRequest, path: String) -> BuildError;
}

struct ContextTree<'a>(&'a BuildContext);

impl<'a> SourceTree for ContextTree<'a> {
    type Entry = &'a ContextEntry;
    const ROOTED: bool = false;

    fn lookup(&self, path: &Path) -> Result<Option<Self::Entry>, BuildError> {
        Ok(self.0.entry(path))
    }

    // The context's iterators borrow `dir` too; looking each entry up again
    // gives references that live as long as the context.
    fn children(&self, dir: &Path) -> Result<Vec<Self::Entry>, BuildError> {
        let context = self.0;
        Ok(context
            .children(dir)
            .filter_map(|entry| context.entry(&entry.path))
            .collect())
    }

    fn descendants(&self, dir: &Path) -> Result<Vec<Self::Entry>, BuildError> {
        let context = self.0;
        Ok(context
            .descendants(dir)
            .filter_map(|entry| context.entry(&entry.path))
            .collect())
    }

    fn kind(entry: &Self::Entry) -> &EntryKind {
        &entry.kind
    }

    fn path(entry: &Self::Entry) -> &Path {
        &entry.path
    }

    fn item(entry: Self::Entry) -> ItemSource {
        ItemSource::Context(entry.clone())
    }

    fn file_hashes(&self, files: &[&Self::Entry]) -> Result<Vec<Digest>, BuildError> {
        let paths: Vec<PathBuf> = files.iter().map(|entry| entry.path.clone()).collect();
        self.0.content_hashes(&paths)
    }

    fn not_found(&self, request: &CopyRequest, path: String) -> BuildError {
        BuildError::SourceNotFound {
            at: request.at.clone(),
            instruction: request.instruction,
            path,
        }
    }
}

struct ImageTree<'a> {
    fs: &'a ImageFs,
    /// The `--from` value, for messages.
    from: &'a str,
}

impl SourceTree for ImageTree<'_> {
    type Entry = ImageEntry;
    const ROOTED: bool = true;

    fn lookup(&self, path: &Path) -> Result<Option<Self::Entry>, BuildError> {
        self.fs.lookup(path)
    }

    fn children(&self, dir: &Path) -> Result<Vec<Self::Entry>, BuildError> {
        self.fs.children(dir)
    }

    fn descendants(&self, dir: &Path) -> Result<Vec<Self::Entry>, BuildError> {
        self.fs.descendants(dir)
    }

    fn kind(entry: &Self::Entry) -> &EntryKind {
        &entry.kind
    }

    fn path(entry: &Self::Entry) -> &Path {
        &entry.path
    }

    fn item(entry: Self::Entry) -> ItemSource {
        ItemSource::Image(entry)
    }

    fn file_hashes(&self, files: &[&Self::Entry]) -> Result<Vec<Digest>, BuildError> {
        self.fs.content_hashes(files)
    }

    fn not_found(&self, request: &CopyRequest, path: String) -> BuildError {
        BuildError::SourceNotInImage {
            at: request.at.clone(),
            instruction: request.instruction,
            from: self.from.to_string(),
            path,
        }
    }
}

/// A top-level source once resolved: the name it is copied under and what
/// it is.
enum Selected<'a, E> {
    Tree { name: String, entry: E },
    Inline { name: &'a str, content: &'a str },
    Fetched(&'a Fetched),
}

/// Resolves the sources of a `COPY`/`ADD` against the context and hashes
/// what they select.
pub fn resolve_copy(ctx: &BuildContext, request: &CopyRequest) -> Result<CopyPlan, BuildError> {
    resolve_in(&ContextTree(ctx), request)
}

/// Resolves the sources of a `COPY --from` against the file system of
/// that stage or image (`from` is the flag's value, for messages) and
/// hashes what they select.
pub fn resolve_copy_from(
    fs: &ImageFs,
    from: &str,
    request: &CopyRequest,
) -> Result<CopyPlan, BuildError> {
    resolve_in(&ImageTree { fs, from }, request)
}

fn resolve_in<T: SourceTree>(tree: &T, request: &CopyRequest) -> Result<CopyPlan, BuildError> {
    let dest = request.dest.clone();
    let mut selected = Vec::new();
    for source in request.sources {
        match source {
            SourceSpec::Path(path) => select_path(tree, request, path, &mut selected)?,
            SourceSpec::Inline { name, content } => {
                selected.push(Selected::Inline { name, content })
            }
            SourceSpec::Fetched(fetched) => selected.push(Selected::Fetched(fetched)),
        }
    }
    if selected.is_empty() {
        return Err(BuildError::NoSourceFiles {
            at: request.at.clone(),
            instruction: request.instruction,
        });
    }
    if selected.len() > 1 && !dest.is_dir {
        return Err(BuildError::DestinationNotDirectory {
            at: request.at.clone(),
            instruction: request.instruction,
        });
    }
    let single_file_name = match selected.as_slice() {
        [Selected::Tree { name, entry }] if *T::kind(entry) != EntryKind::Dir => Some(name.clone()),
        [Selected::Inline { name, .. }] => Some(name.to_string()),
        [Selected::Fetched(fetched)] => Some(fetched.name.clone()),
        _ => None,
    };
    let mut items = Vec::new();
    let mut files: Vec<T::Entry> = Vec::new();
    let mut push = |entry: T::Entry, dest: String, named: bool, items: &mut Vec<CopyItem>| {
        if *T::kind(&entry) == EntryKind::File {
            files.push(entry.clone());
        }
        items.push(CopyItem {
            source: T::item(entry),
            dest,
            named,
        });
    };
    for selection in selected {
        match selection {
            Selected::Tree { name, entry } if *T::kind(&entry) == EntryKind::Dir => {
                let root = T::path(&entry).to_path_buf();
                push(entry, dest.path.clone(), true, &mut items);
                for inner in tree.descendants(&root)? {
                    let relative = T::path(&inner)
                        .strip_prefix(&root)
                        .unwrap_or(T::path(&inner))
                        .to_string_lossy()
                        .into_owned();
                    push(
                        inner,
                        join_image_path(&dest.path, &relative),
                        false,
                        &mut items,
                    );
                }
                tracing::trace!(source = %name, "directory source");
            }
            Selected::Tree { name, entry } => {
                push(entry, file_dest(&dest, &name), true, &mut items)
            }
            Selected::Inline { name, content } => items.push(CopyItem {
                source: ItemSource::Inline(content.to_string()),
                dest: file_dest(&dest, name),
                named: true,
            }),
            Selected::Fetched(fetched) => items.push(CopyItem {
                source: ItemSource::Fetched(fetched.clone()),
                dest: file_dest(&dest, &fetched.name),
                named: true,
            }),
        }
    }
    let refs: Vec<&T::Entry> = files.iter().collect();
    let hashes = tree.file_hashes(&refs)?;
    let digest = source_digest(&items, hashes);
    Ok(CopyPlan {
        dest,
        items,
        digest,
        single_file_name,
    })
}

fn file_dest(dest: &Destination, name: &str) -> String {
    if dest.is_dir {
        join_image_path(&dest.path, name)
    } else {
        dest.path.clone()
    }
}

fn join_image_path(base: &str, relative: &str) -> String {
    if base == "/" {
        format!("/{relative}")
    } else {
        format!("{base}/{relative}")
    }
}

fn hash_entry(
    hasher: &mut FieldHasher,
    kind: &EntryKind,
    hashes: &mut impl Iterator<Item = Digest>,
) {
    match kind {
        EntryKind::File => {
            hasher.field(b"file");
            // One hash per file item, in the same order.
            if let Some(hash) = hashes.next() {
                hasher.field(hash.as_bytes());
            }
        }
        EntryKind::Dir => hasher.field(b"dir"),
        EntryKind::Symlink(target) => {
            hasher.field(b"symlink");
            hasher.field(target.as_os_str().as_bytes());
        }
        EntryKind::Special => hasher.field(b"special"),
    }
}

/// `hashes` are the content hashes of the items that are regular files of
/// the tree, in item order.
fn source_digest(items: &[CopyItem], hashes: Vec<Digest>) -> SourceDigest {
    let mut hashes = hashes.into_iter();
    let mut hasher = FieldHasher::new("berth copy sources 1");
    for item in items {
        match &item.source {
            ItemSource::Context(entry) => {
                hasher.field(b"context");
                hasher.field(entry.path.as_os_str().as_bytes());
                hasher.field(item.dest.as_bytes());
                hasher.field(&entry.mode.to_le_bytes());
                hash_entry(&mut hasher, &entry.kind, &mut hashes);
            }
            ItemSource::Image(entry) => {
                hasher.field(b"image");
                hasher.field(entry.path.as_os_str().as_bytes());
                hasher.field(item.dest.as_bytes());
                hasher.field(&entry.mode.to_le_bytes());
                hash_entry(&mut hasher, &entry.kind, &mut hashes);
            }
            ItemSource::Inline(content) => {
                hasher.field(b"inline");
                hasher.field(item.dest.as_bytes());
                hasher.field(content.as_bytes());
            }
            ItemSource::Fetched(fetched) => {
                hasher.field(b"fetched");
                hasher.field(item.dest.as_bytes());
                hasher.field(fetched.digest.as_bytes());
            }
        }
    }
    SourceDigest(hasher.finish())
}

/// Adds what one path source selects: one entry, or every wildcard match.
fn select_path<'a, T: SourceTree>(
    tree: &T,
    request: &CopyRequest,
    source: &str,
    selected: &mut Vec<Selected<'a, T::Entry>>,
) -> Result<(), BuildError> {
    // As the classic builder: one leading `/` means the root, and errors
    // show the path without it or a leading `./`.
    let unrooted = if source.len() > 1 {
        source.strip_prefix('/').unwrap_or(source)
    } else {
        source
    };
    let shown = unrooted.strip_prefix("./").unwrap_or(unrooted).to_string();
    let cleaned = if T::ROOTED {
        clean(&format!("/{unrooted}"))
    } else {
        clean(unrooted)
    };
    if cleaned == ".." || cleaned.starts_with("../") {
        return Err(outside(request, shown));
    }
    let relative = match cleaned.trim_start_matches('/') {
        "." => "",
        other => other,
    };
    let found = |resolved: Resolved<T::Entry>, shown: String| match resolved {
        Resolved::Found(entry) => Ok(entry),
        Resolved::Missing => Err(tree.not_found(request, shown)),
        Resolved::Outside => Err(outside(request, shown)),
        Resolved::Loop => Err(symlink_loop(request, shown)),
    };
    if !has_wildcards(relative) {
        let name = relative.rsplit('/').next().unwrap_or_default().to_string();
        let entry = found(resolve(tree, Path::new(relative))?, shown)?;
        selected.push(Selected::Tree { name, entry });
        return Ok(());
    }
    for (path, name) in expand_wildcards(tree, request, relative)? {
        let shown = path.to_string_lossy().into_owned();
        let entry = found(resolve(tree, &path)?, shown)?;
        selected.push(Selected::Tree { name, entry });
    }
    Ok(())
}

/// Matches a wildcard source segment by segment, as Go's `filepath.Glob`
/// does: each matched name leads into the next segment, through symlinked
/// directories too. Returns each match's path (its last component not
/// followed) and name, in name order.
fn expand_wildcards<T: SourceTree>(
    tree: &T,
    request: &CopyRequest,
    relative: &str,
) -> Result<Vec<(PathBuf, String)>, BuildError> {
    let mut current: Vec<(PathBuf, String)> = vec![(PathBuf::new(), String::new())];
    for segment in relative.split('/') {
        let pattern = if segment.contains(['*', '?', '[', '\\']) {
            Some(
                Glob::file_pattern(segment).map_err(|_| BuildError::BadSourcePattern {
                    at: request.at.clone(),
                    instruction: request.instruction,
                    pattern: relative.to_string(),
                })?,
            )
        } else {
            None
        };
        let mut next = Vec::new();
        for (path, _) in current {
            let dir = match resolve(tree, &path)? {
                Resolved::Found(entry) if *T::kind(&entry) == EntryKind::Dir => {
                    T::path(&entry).to_path_buf()
                }
                Resolved::Outside => {
                    return Err(outside(request, path.to_string_lossy().into_owned()))
                }
                Resolved::Loop => {
                    return Err(symlink_loop(request, path.to_string_lossy().into_owned()))
                }
                _ => continue,
            };
            match &pattern {
                Some(glob) => {
                    for child in tree.children(&dir)? {
                        let child_path = T::path(&child);
                        let name = child_path
                            .file_name()
                            .map(|name| name.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        if glob.matches(&name) {
                            next.push((child_path.to_path_buf(), name));
                        }
                    }
                }
                None => {
                    let path = dir.join(segment);
                    if tree.lookup(&path)?.is_some() {
                        next.push((path, segment.to_string()));
                    }
                }
            }
        }
        current = next;
    }
    Ok(current)
}

enum Resolved<E> {
    Found(E),
    Missing,
    Outside,
    Loop,
}

/// Linux's limit on symlinks followed while resolving one path.
const MAX_SYMLINK_HOPS: usize = 40;

/// A path component still to resolve.
enum Segment {
    Root,
    Parent,
    Name(OsString),
}

fn segments(path: &Path) -> impl DoubleEndedIterator<Item = Segment> + '_ {
    path.components().filter_map(|component| match component {
        Component::CurDir => None,
        Component::ParentDir => Some(Segment::Parent),
        Component::RootDir | Component::Prefix(_) => Some(Segment::Root),
        Component::Normal(name) => Some(Segment::Name(name.to_os_string())),
    })
}

/// Follows a relative path through the tree, symlinks included, the way
/// the kernel would with the tree as the whole world (see
/// [`SourceTree::ROOTED`]).
fn resolve<T: SourceTree>(tree: &T, path: &Path) -> Result<Resolved<T::Entry>, BuildError> {
    walk(tree, path, false).map(|(resolved, _)| resolved)
}

/// [`resolve`], and the path it reached. With `through_missing`, a name
/// that is not there does not end the walk: the names after it are
/// appended, and symlinks are still followed where they exist.
fn walk<T: SourceTree>(
    tree: &T,
    path: &Path,
    through_missing: bool,
) -> Result<(Resolved<T::Entry>, PathBuf), BuildError> {
    let mut pending: VecDeque<Segment> = segments(path).collect();
    let mut resolved = PathBuf::new();
    let mut hops = 0;
    while let Some(segment) = pending.pop_front() {
        match segment {
            Segment::Parent => {
                if !resolved.pop() && !T::ROOTED {
                    return Ok((Resolved::Outside, resolved));
                }
                continue;
            }
            Segment::Root => {
                if !T::ROOTED {
                    return Ok((Resolved::Outside, resolved));
                }
                resolved = PathBuf::new();
                continue;
            }
            Segment::Name(name) => resolved.push(name),
        }
        let entry = match tree.lookup(&resolved)? {
            Some(entry) => entry,
            None if through_missing => continue,
            None => return Ok((Resolved::Missing, resolved)),
        };
        if let EntryKind::Symlink(target) = T::kind(&entry) {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Ok((Resolved::Loop, resolved));
            }
            resolved.pop();
            for segment in segments(target).rev() {
                pending.push_front(segment);
            }
        }
    }
    let found = match tree.lookup(&resolved)? {
        Some(entry) => Resolved::Found(entry),
        None => Resolved::Missing,
    };
    Ok((found, resolved))
}

/// Where a `COPY`/`ADD` destination lands in the image it writes to: every
/// symlink on the way, the last name included, is followed inside the
/// image, as docker's builders resolve it, and names that do not exist yet
/// are kept as written. `/lib/` on a merged-/usr image is `/usr/lib/`;
/// writing a real `/lib` instead would hide the whole library directory.
pub fn resolve_destination(
    fs: &ImageFs,
    dest: &Destination,
    at: &Location,
    instruction: &'static str,
) -> Result<Destination, BuildError> {
    let tree = ImageTree { fs, from: "" };
    match walk(&tree, Path::new(&dest.path), true)? {
        (Resolved::Loop, _) => Err(BuildError::SymlinkLoop {
            at: at.clone(),
            instruction,
            path: dest.path.clone(),
        }),
        (_, resolved) => Ok(Destination {
            path: format!("/{}", resolved.to_string_lossy()),
            is_dir: dest.is_dir,
        }),
    }
}

/// The entry at an absolute path of an image, symlinks followed inside it;
/// `None` when nothing is there (or the links loop).
pub(crate) fn resolve_in_image(fs: &ImageFs, path: &str) -> Result<Option<ImageEntry>, BuildError> {
    let tree = ImageTree { fs, from: "" };
    Ok(match resolve(&tree, Path::new(path))? {
        Resolved::Found(entry) => Some(entry),
        Resolved::Missing | Resolved::Outside | Resolved::Loop => None,
    })
}

/// The content of the regular file at the absolute `path` of an image,
/// symlinks followed inside it; `None` when there is none. At most `limit`
/// bytes are read.
pub(crate) fn read_image_file(
    fs: &ImageFs,
    path: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, BuildError> {
    let Some(entry) = resolve_in_image(fs, path)? else {
        return Ok(None);
    };
    if entry.kind != EntryKind::File {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(fs.open_file(&entry)?, limit),
        &mut bytes,
    )
    .map_err(|e| fs.io_error("read", &entry.path, e))?;
    Ok(Some(bytes))
}

fn outside(request: &CopyRequest, path: String) -> BuildError {
    BuildError::OutsideContext {
        at: request.at.clone(),
        instruction: request.instruction,
        path,
    }
}

fn symlink_loop(request: &CopyRequest, path: String) -> BuildError {
    BuildError::SymlinkLoop {
        at: request.at.clone(),
        instruction: request.instruction,
        path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::HashCache;
    use crate::dockerignore::IgnoreRules;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn context(root: &Path, ignore: &str) -> BuildContext {
        let rules = IgnoreRules::parse(".dockerignore", ignore).unwrap();
        BuildContext::open(root, &rules, HashCache::default()).unwrap()
    }

    fn copy(ctx: &BuildContext, sources: &[&str], dest: &str) -> Result<CopyPlan, BuildError> {
        copy_in(ctx, sources, dest, "/")
    }

    fn copy_in(
        ctx: &BuildContext,
        sources: &[&str],
        dest: &str,
        workdir: &str,
    ) -> Result<CopyPlan, BuildError> {
        let sources: Vec<SourceSpec> = sources
            .iter()
            .map(|s| SourceSpec::Path(s.to_string()))
            .collect();
        let at = Location::new("Dockerfile", 3);
        resolve_copy(
            ctx,
            &CopyRequest {
                at: &at,
                instruction: "COPY",
                sources: &sources,
                dest: Destination::new(dest, workdir),
            },
        )
    }

    /// (context path, image path) of each item.
    fn pairs(plan: &CopyPlan) -> Vec<(String, String)> {
        plan.items
            .iter()
            .map(|item| {
                let source = match &item.source {
                    ItemSource::Context(entry) => entry.path.to_string_lossy().into_owned(),
                    ItemSource::Image(entry) => format!("image:{}", entry.path.display()),
                    ItemSource::Inline(content) => format!("<<{content}"),
                    ItemSource::Fetched(fetched) => format!("fetched:{}", fetched.name),
                };
                (source, item.dest.clone())
            })
            .collect()
    }

    fn pair(source: &str, dest: &str) -> (String, String) {
        (source.to_string(), dest.to_string())
    }

    fn sample() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "app/main.py", "print(1)");
        write(root, "app/lib/util.py", "x = 1");
        write(root, "a.txt", "a");
        write(root, "b.txt", "b");
        write(root, "c.md", "c");
        write(root, "secret.key", "k");
        dir
    }

    #[test]
    fn destinations_follow_workdir_and_slashes() {
        assert_eq!(
            Destination::new("x", "/app"),
            Destination {
                path: "/app/x".into(),
                is_dir: false
            }
        );
        assert_eq!(
            Destination::new("x/", "/app"),
            Destination {
                path: "/app/x".into(),
                is_dir: true
            }
        );
        assert_eq!(
            Destination::new(".", "/app"),
            Destination {
                path: "/app".into(),
                is_dir: true
            }
        );
        assert_eq!(
            Destination::new("/abs/../y", "/app"),
            Destination {
                path: "/y".into(),
                is_dir: false
            }
        );
        assert_eq!(
            Destination::new("../up/", "/app/sub"),
            Destination {
                path: "/app/up".into(),
                is_dir: true
            }
        );
        assert_eq!(Destination::new("x", "/").path, "/x");
    }

    #[test]
    fn a_file_goes_to_the_destination_or_inside_it() {
        let dir = sample();
        let ctx = context(dir.path(), "");
        assert_eq!(
            pairs(&copy(&ctx, &["a.txt"], "/x").unwrap()),
            [pair("a.txt", "/x")]
        );
        assert_eq!(
            pairs(&copy(&ctx, &["a.txt"], "/x/").unwrap()),
            [pair("a.txt", "/x/a.txt")]
        );
        assert_eq!(
            pairs(&copy(&ctx, &["/a.txt"], "/x/").unwrap()),
            [pair("a.txt", "/x/a.txt")]
        );
        assert_eq!(
            pairs(&copy(&ctx, &["./a.txt"], ".").unwrap()),
            [pair("a.txt", "/a.txt")]
        );
        assert_eq!(
            pairs(&copy_in(&ctx, &["app/main.py"], "bin/", "/srv").unwrap()),
            [pair("app/main.py", "/srv/bin/main.py")]
        );
    }

    #[test]
    fn a_directory_copies_its_contents() {
        let dir = sample();
        let ctx = context(dir.path(), "");
        assert_eq!(
            pairs(&copy(&ctx, &["app"], "/srv").unwrap()),
            [
                pair("app", "/srv"),
                pair("app/lib", "/srv/lib"),
                pair("app/lib/util.py", "/srv/lib/util.py"),
                pair("app/main.py", "/srv/main.py"),
            ]
        );
        let all = copy(&ctx, &["."], "/").unwrap();
        assert_eq!(all.items.len(), ctx.entries().count());
        assert_eq!(pairs(&all)[0], pair("", "/"));
        assert!(pairs(&all).contains(&pair("app/lib/util.py", "/app/lib/util.py")));
    }

    #[test]
    fn wildcards_match_per_segment() {
        let dir = sample();
        let ctx = context(dir.path(), "");
        assert_eq!(
            pairs(&copy(&ctx, &["*.txt"], "/d/").unwrap()),
            [pair("a.txt", "/d/a.txt"), pair("b.txt", "/d/b.txt")]
        );
        assert_eq!(
            pairs(&copy(&ctx, &["app/*.py"], "/d/").unwrap()),
            [pair("app/main.py", "/d/main.py")]
        );
        assert_eq!(
            pairs(&copy(&ctx, &["*/lib/*.py"], "/d/").unwrap()),
            [pair("app/lib/util.py", "/d/util.py")]
        );
        assert_eq!(
            pairs(&copy(&ctx, &["[ab].txt", "?.md"], "/d/").unwrap()),
            [
                pair("a.txt", "/d/a.txt"),
                pair("b.txt", "/d/b.txt"),
                pair("c.md", "/d/c.md")
            ]
        );
        // A matched directory copies its contents.
        assert_eq!(pairs(&copy(&ctx, &["ap*"], "/d/").unwrap()).len(), 4);
        // The optional-file idiom: a wildcard matching nothing is fine when
        // another source selects something.
        assert_eq!(
            pairs(&copy(&ctx, &["a.txt", "yarn.lock*"], "/d/").unwrap()).len(),
            1
        );
    }

    #[test]
    fn errors_name_the_source_and_line() {
        let dir = sample();
        let ctx = context(dir.path(), "secret.key\n");
        let message =
            |sources: &[&str], dest: &str| copy(&ctx, sources, dest).unwrap_err().to_string();
        assert_eq!(
            message(&["missing.txt"], "/"),
            "Dockerfile:3: COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist"
        );
        assert_eq!(
            message(&["/secret.key"], "/"),
            "Dockerfile:3: COPY failed: file not found in build context or excluded by .dockerignore: stat secret.key: file does not exist"
        );
        assert_eq!(
            message(&["nothing*"], "/d/"),
            "Dockerfile:3: COPY failed: no source files were specified"
        );
        assert_eq!(
            message(&["a.txt", "b.txt"], "/d"),
            "Dockerfile:3: When using COPY with more than one source file, the destination must be a directory and end with a /"
        );
        assert_eq!(
            message(&["*.txt"], "/d"),
            "Dockerfile:3: When using COPY with more than one source file, the destination must be a directory and end with a /"
        );
        assert_eq!(
            message(&["../x"], "/"),
            "Dockerfile:3: COPY failed: forbidden path outside the build context: ../x"
        );
        assert_eq!(
            message(&["app/../../x"], "/"),
            "Dockerfile:3: COPY failed: forbidden path outside the build context: app/../../x"
        );
        assert_eq!(
            message(&["a[.txt"], "/"),
            "Dockerfile:3: COPY failed: syntax error in pattern: a[.txt"
        );
    }

    #[test]
    fn symlink_sources_are_followed_inside_the_context_only() {
        let dir = sample();
        let root = dir.path();
        symlink("a.txt", root.join("to-a")).unwrap();
        symlink("app", root.join("to-app")).unwrap();
        symlink("../outside", root.join("escape")).unwrap();
        symlink("/etc/passwd", root.join("absolute")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        symlink("secret.key", root.join("to-secret")).unwrap();
        symlink("../../a.txt", root.join("app/lib/up")).unwrap();
        let ctx = context(root, "secret.key\n");
        // Followed, and named as written.
        let plan = copy(&ctx, &["to-a"], "/d/").unwrap();
        assert_eq!(pairs(&plan), [pair("a.txt", "/d/to-a")]);
        assert_eq!(copy(&ctx, &["to-app"], "/d").unwrap().items.len(), 5);
        assert_eq!(
            pairs(&copy(&ctx, &["to-app/lib/up"], "/u").unwrap()),
            [pair("a.txt", "/u")]
        );
        for link in ["escape", "absolute"] {
            let message = copy(&ctx, &[link], "/").unwrap_err().to_string();
            assert_eq!(
                message,
                format!(
                    "Dockerfile:3: COPY failed: forbidden path outside the build context: {link}"
                )
            );
        }
        assert!(matches!(
            copy(&ctx, &["loop"], "/").unwrap_err(),
            BuildError::SymlinkLoop { .. }
        ));
        // A link to an excluded file finds nothing.
        assert!(matches!(
            copy(&ctx, &["to-secret"], "/").unwrap_err(),
            BuildError::SourceNotFound { .. }
        ));
        // Inside a copied directory a link stays a link, even one leading out.
        let plan = copy(&ctx, &["app"], "/srv").unwrap();
        let up = plan
            .items
            .iter()
            .find(|item| item.dest == "/srv/lib/up")
            .unwrap();
        assert!(
            matches!(&up.source, ItemSource::Context(entry) if entry.kind == EntryKind::Symlink("../../a.txt".into()))
        );
    }

    #[test]
    fn heredocs_are_files_named_after_their_delimiter() {
        let dir = sample();
        let ctx = context(dir.path(), "");
        let at = Location::new("Dockerfile", 9);
        let sources = [
            SourceSpec::Inline {
                name: "EOF".into(),
                content: "hello\n".into(),
            },
            SourceSpec::Path("a.txt".into()),
        ];
        let plan = resolve_copy(
            &ctx,
            &CopyRequest {
                at: &at,
                instruction: "COPY",
                sources: &sources,
                dest: Destination::new("/etc/", "/"),
            },
        )
        .unwrap();
        assert_eq!(
            pairs(&plan),
            [pair("<<hello\n", "/etc/EOF"), pair("a.txt", "/etc/a.txt")]
        );
    }

    #[test]
    fn a_file_can_be_placed_inside_an_existing_directory() {
        let dir = sample();
        let ctx = context(dir.path(), "");
        let mut plan = copy(&ctx, &["a.txt"], "/etc").unwrap();
        let digest = plan.digest;
        plan.place_inside_existing_dir();
        assert_eq!(pairs(&plan), [pair("a.txt", "/etc/a.txt")]);
        assert!(plan.dest.is_dir);
        assert_eq!(plan.digest, digest);
    }

    #[test]
    fn the_digest_follows_content_and_mode_not_mtime() {
        let dir = sample();
        let root = dir.path();
        let digest = || copy(&context(root, ""), &["app"], "/srv").unwrap().digest;
        let original = digest();
        assert_eq!(digest(), original);

        // Touch: new mtime, same content.
        let file = fs::File::options()
            .write(true)
            .open(root.join("app/main.py"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        drop(file);
        assert_eq!(digest(), original);

        // Edit.
        fs::write(root.join("app/main.py"), "print(2)").unwrap();
        let edited = digest();
        assert_ne!(edited, original);
        fs::write(root.join("app/main.py"), "print(1)").unwrap();
        assert_eq!(digest(), original);

        // Mode.
        fs::set_permissions(root.join("app/main.py"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(digest(), original);
        fs::set_permissions(root.join("app/main.py"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(digest(), original);

        // A new file, and a rename.
        write(root, "app/new.py", "");
        assert_ne!(digest(), original);
        fs::rename(root.join("app/new.py"), root.join("app/renamed.py")).unwrap();
        let renamed = digest();
        fs::remove_file(root.join("app/renamed.py")).unwrap();
        assert_ne!(renamed, original);
        assert_eq!(digest(), original);

        // A symlink's target.
        symlink("main.py", root.join("app/link")).unwrap();
        let linked = digest();
        fs::remove_file(root.join("app/link")).unwrap();
        symlink("lib", root.join("app/link")).unwrap();
        assert_ne!(digest(), linked);
    }

    /// An image of two layers (top first): the lower has `/usr/bin/tool`,
    /// `/etc/os` and links; the upper replaces `/etc/os`.
    fn image() -> (tempfile::TempDir, ImageFs) {
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("lower");
        let upper = dir.path().join("upper");
        write(&lower, "usr/bin/tool", "tool v1");
        write(&lower, "usr/bin/other", "other");
        write(&lower, "etc/os", "old");
        write(&lower, "app/lib/a.so", "a");
        symlink("/usr/bin", lower.join("bin")).unwrap();
        symlink("../../../../etc/os", lower.join("usr/bin/up")).unwrap();
        write(&upper, "etc/os", "new");
        let fs = ImageFs::open(&[upper, lower]).unwrap();
        (dir, fs)
    }

    #[test]
    fn image_files_are_read_through_the_images_symlinks() {
        let (_dir, fs) = image();
        // /bin is a symlink to /usr/bin; /etc/os is the upper layer's.
        let tool = read_image_file(&fs, "/bin/tool", 1 << 20).unwrap();
        assert_eq!(tool.as_deref(), Some(&b"tool v1"[..]));
        let os = read_image_file(&fs, "/usr/bin/up", 1 << 20).unwrap();
        assert_eq!(os.as_deref(), Some(&b"new"[..]));
        assert_eq!(
            read_image_file(&fs, "/bin/tool", 3).unwrap().as_deref(),
            Some(&b"too"[..])
        );
        assert_eq!(read_image_file(&fs, "/etc/missing", 1 << 20).unwrap(), None);
        assert_eq!(read_image_file(&fs, "/usr/bin", 1 << 20).unwrap(), None);
    }

    fn copy_from(fs: &ImageFs, sources: &[&str], dest: &str) -> Result<CopyPlan, BuildError> {
        let sources: Vec<SourceSpec> = sources
            .iter()
            .map(|s| SourceSpec::Path(s.to_string()))
            .collect();
        let at = Location::new("Dockerfile", 7);
        resolve_copy_from(
            fs,
            "builder",
            &CopyRequest {
                at: &at,
                instruction: "COPY",
                sources: &sources,
                dest: Destination::new(dest, "/"),
            },
        )
    }

    #[test]
    fn destinations_follow_the_image_symlinks() {
        let (dir, fs) = image();
        symlink("loop", dir.path().join("upper/loop")).unwrap();
        let at = Location::new("Dockerfile", 4);
        let resolved = |dest: &str| {
            resolve_destination(&fs, &Destination::new(dest, "/"), &at, "COPY")
                .map(|d| (d.path, d.is_dir))
                .map_err(|e| e.to_string())
        };
        // Through a directory link, the last name included; what does not
        // exist yet is kept as written.
        assert_eq!(resolved("/bin/"), Ok(("/usr/bin".into(), true)));
        assert_eq!(resolved("/bin"), Ok(("/usr/bin".into(), false)));
        assert_eq!(resolved("/bin/new/x"), Ok(("/usr/bin/new/x".into(), false)));
        // A link to a file: its target is written; `..` stops at the root.
        assert_eq!(resolved("/usr/bin/up"), Ok(("/etc/os".into(), false)));
        assert_eq!(resolved("/app/lib/"), Ok(("/app/lib".into(), true)));
        assert_eq!(resolved("/"), Ok(("/".into(), true)));
        assert_eq!(
            resolved("/loop/x"),
            Err("Dockerfile:4: COPY failed: too many levels of symbolic links: /loop/x".into())
        );
    }

    #[test]
    fn from_sources_resolve_inside_the_image() {
        let (_dir, fs) = image();
        assert_eq!(
            pairs(&copy_from(&fs, &["/etc/os"], "/os").unwrap()),
            [pair("image:etc/os", "/os")]
        );
        // An absolute link is followed from the image's root, and `..`
        // stops there: neither leads out of the image.
        assert_eq!(
            pairs(&copy_from(&fs, &["/bin/tool"], "/t").unwrap()),
            [pair("image:usr/bin/tool", "/t")]
        );
        assert_eq!(
            pairs(&copy_from(&fs, &["/usr/bin/up"], "/u").unwrap()),
            [pair("image:etc/os", "/u")]
        );
        assert_eq!(
            pairs(&copy_from(&fs, &["../../etc/os"], "/u").unwrap()),
            [pair("image:etc/os", "/u")]
        );
        // Wildcards, through a symlinked directory too.
        assert_eq!(
            pairs(&copy_from(&fs, &["/bin/t*", "/usr/bin/o*"], "/d/").unwrap()),
            [
                pair("image:usr/bin/tool", "/d/tool"),
                pair("image:usr/bin/other", "/d/other")
            ]
        );
        let plan = copy_from(&fs, &["/app"], "/srv").unwrap();
        assert_eq!(
            pairs(&plan),
            [
                pair("image:app", "/srv"),
                pair("image:app/lib", "/srv/lib"),
                pair("image:app/lib/a.so", "/srv/lib/a.so"),
            ]
        );
        let named: Vec<bool> = plan.items.iter().map(|item| item.named).collect();
        assert_eq!(named, [true, false, false]);
    }

    #[test]
    fn a_missing_from_source_names_the_stage() {
        let (_dir, fs) = image();
        assert_eq!(
            copy_from(&fs, &["/nope"], "/").unwrap_err().to_string(),
            "Dockerfile:7: COPY failed: file not found in --from=builder: stat nope: file does not exist"
        );
        assert_eq!(
            copy_from(&fs, &["/nope*"], "/d/").unwrap_err().to_string(),
            "Dockerfile:7: COPY failed: no source files were specified"
        );
    }

    #[test]
    fn the_from_digest_follows_content() {
        let (dir, fs) = image();
        let before = copy_from(&fs, &["/usr/bin/"], "/d/").unwrap().digest;
        assert_eq!(
            copy_from(&fs, &["/usr/bin/"], "/d/").unwrap().digest,
            before
        );
        fs::write(dir.path().join("lower/usr/bin/tool"), "tool v2").unwrap();
        assert_ne!(
            copy_from(&fs, &["/usr/bin/"], "/d/").unwrap().digest,
            before
        );
        // Not the same as the context's digest of the same names.
        assert_ne!(copy_from(&fs, &["/etc/os"], "/os").unwrap().digest, {
            let ctx_dir = tempfile::tempdir().unwrap();
            write(ctx_dir.path(), "etc/os", "new");
            copy(&context(ctx_dir.path(), ""), &["etc/os"], "/os")
                .unwrap()
                .digest
        });
    }

    #[test]
    fn fetched_files_land_like_files() {
        let dir = sample();
        let ctx = context(dir.path(), "");
        let at = Location::new("Dockerfile", 4);
        let fetched = |name: &str, content: &str| {
            SourceSpec::Fetched(Fetched {
                index: 0,
                name: name.into(),
                digest: Digest::of_hasher(<sha2::Sha256 as sha2::Digest>::new_with_prefix(content)),
                size: content.len() as u64,
                mtime: 0,
            })
        };
        let plan = |sources: &[SourceSpec], dest: &str| {
            resolve_copy(
                &ctx,
                &CopyRequest {
                    at: &at,
                    instruction: "ADD",
                    sources,
                    dest: Destination::new(dest, "/"),
                },
            )
            .unwrap()
        };
        assert_eq!(
            pairs(&plan(&[fetched("f.tgz", "x")], "/dl/")),
            [pair("fetched:f.tgz", "/dl/f.tgz")]
        );
        let mut single = plan(&[fetched("f.tgz", "x")], "/dl");
        assert_eq!(pairs(&single), [pair("fetched:f.tgz", "/dl")]);
        single.place_inside_existing_dir();
        assert_eq!(pairs(&single), [pair("fetched:f.tgz", "/dl/f.tgz")]);
        assert_ne!(
            plan(&[fetched("f.tgz", "x")], "/dl/").digest,
            plan(&[fetched("f.tgz", "y")], "/dl/").digest
        );
    }
}
