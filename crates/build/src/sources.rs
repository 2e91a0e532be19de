//! What a `COPY` or `ADD` takes from the build context and where each piece
//! lands, following docker: wildcards are Go's `filepath.Match` per path
//! segment; a directory source copies its contents, not itself; a source
//! that is a symlink is followed (inside the context), while links inside
//! a copied directory stay links; the destination is relative to `WORKDIR`
//! and is a directory when it ends in `/` (or is `.`), which it must be for
//! several sources.
//!
//! Errors use the classic builder's wording (`COPY failed: file not found in
//! build context or excluded by .dockerignore: stat x: file does not exist`,
//! `no source files were specified`), which says what to check; BuildKit's
//! (`failed to compute cache key: "/x": not found`) does not. A wildcard
//! that matches nothing is fine as long as some source of the instruction
//! selects something, as in the classic builder.
//!
//! Remote `ADD` sources (URLs, git) are not context paths; the engine deals
//! with them before calling [`resolve_copy`].

use std::collections::VecDeque;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::context::{BuildContext, ContextEntry, EntryKind};
use crate::digest::{Digest, FieldHasher};
use crate::error::{BuildError, Location};
use crate::glob::{has_wildcards, Glob};
use crate::path_clean::clean;

/// One source of a `COPY`/`ADD`, variables already expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A path in the context, possibly with wildcards.
    Path(String),
    /// A here-document (`COPY <<EOF /dest`): a file named after the
    /// delimiter, with this content (already expanded when it expands).
    Inline { name: String, content: String },
}

/// A `COPY`/`ADD` to resolve against the context.
#[derive(Debug, Clone, Copy)]
pub struct CopyRequest<'a> {
    pub at: &'a Location,
    /// `COPY` or `ADD`, for messages.
    pub instruction: &'static str,
    pub sources: &'a [SourceSpec],
    /// The destination as written, variables expanded.
    pub dest: &'a str,
    /// The stage's `WORKDIR` (`/` when none was set).
    pub workdir: &'a str,
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
    /// A here-document's content; docker writes it with mode 0644.
    Inline(String),
}

/// One thing to create in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyItem {
    pub source: ItemSource,
    /// Absolute path in the image.
    pub dest: String,
}

/// The result of resolving a `COPY`/`ADD` against the context.
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

/// Identifies what a `COPY`/`ADD` copies: for every item its context path,
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

/// A top-level source once resolved: the name it is copied under and what
/// it is.
enum Selected<'a> {
    Context {
        name: String,
        entry: &'a ContextEntry,
    },
    Inline {
        name: &'a str,
        content: &'a str,
    },
}

/// Resolves the sources of a `COPY`/`ADD` against the context and hashes
/// what they select.
pub fn resolve_copy(ctx: &BuildContext, request: &CopyRequest) -> Result<CopyPlan, BuildError> {
    let dest = Destination::new(request.dest, request.workdir);
    let mut selected = Vec::new();
    for source in request.sources {
        match source {
            SourceSpec::Path(path) => select_path(ctx, request, path, &mut selected)?,
            SourceSpec::Inline { name, content } => {
                selected.push(Selected::Inline { name, content })
            }
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
        [Selected::Context { name, entry }] if entry.kind != EntryKind::Dir => Some(name.clone()),
        [Selected::Inline { name, .. }] => Some(name.to_string()),
        _ => None,
    };
    let mut items = Vec::new();
    for selection in selected {
        match selection {
            Selected::Context { name, entry } if entry.kind == EntryKind::Dir => {
                items.push(CopyItem {
                    source: ItemSource::Context(entry.clone()),
                    dest: dest.path.clone(),
                });
                for inner in ctx.descendants(&entry.path) {
                    let relative = inner.path.strip_prefix(&entry.path).unwrap_or(&inner.path);
                    items.push(CopyItem {
                        source: ItemSource::Context(inner.clone()),
                        dest: join_image_path(&dest.path, &relative.to_string_lossy()),
                    });
                }
                tracing::trace!(source = %name, "directory source");
            }
            Selected::Context { name, entry } => items.push(CopyItem {
                source: ItemSource::Context(entry.clone()),
                dest: file_dest(&dest, &name),
            }),
            Selected::Inline { name, content } => items.push(CopyItem {
                source: ItemSource::Inline(content.to_string()),
                dest: file_dest(&dest, name),
            }),
        }
    }
    let digest = source_digest(ctx, &items)?;
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

fn source_digest(ctx: &BuildContext, items: &[CopyItem]) -> Result<SourceDigest, BuildError> {
    let files: Vec<PathBuf> = items
        .iter()
        .filter_map(|item| match &item.source {
            ItemSource::Context(entry) if entry.kind == EntryKind::File => Some(entry.path.clone()),
            _ => None,
        })
        .collect();
    let mut hashes = ctx.content_hashes(&files)?.into_iter();
    let mut hasher = FieldHasher::new("berth copy sources 1");
    for item in items {
        match &item.source {
            ItemSource::Context(entry) => {
                hasher.field(b"context");
                hasher.field(entry.path.as_os_str().as_bytes());
                hasher.field(item.dest.as_bytes());
                hasher.field(&entry.mode.to_le_bytes());
                match &entry.kind {
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
            ItemSource::Inline(content) => {
                hasher.field(b"inline");
                hasher.field(item.dest.as_bytes());
                hasher.field(content.as_bytes());
            }
        }
    }
    Ok(SourceDigest(hasher.finish()))
}

/// Adds what one path source selects: one entry, or every wildcard match.
fn select_path<'a>(
    ctx: &'a BuildContext,
    request: &CopyRequest,
    source: &str,
    selected: &mut Vec<Selected<'a>>,
) -> Result<(), BuildError> {
    // As the classic builder: one leading `/` means the context root, and
    // errors show the path without it or a leading `./`.
    let unrooted = if source.len() > 1 {
        source.strip_prefix('/').unwrap_or(source)
    } else {
        source
    };
    let shown = unrooted.strip_prefix("./").unwrap_or(unrooted).to_string();
    let cleaned = clean(unrooted);
    if cleaned == ".." || cleaned.starts_with("../") {
        return Err(outside(request, shown));
    }
    let relative = match cleaned.trim_start_matches('/') {
        "." => "",
        other => other,
    };
    if !has_wildcards(relative) {
        let name = relative.rsplit('/').next().unwrap_or_default().to_string();
        let entry = match resolve(ctx, Path::new(relative)) {
            Resolved::Found(entry) => entry,
            Resolved::Missing => return Err(not_found(request, shown)),
            Resolved::Outside => return Err(outside(request, shown)),
            Resolved::Loop => return Err(symlink_loop(request, shown)),
        };
        selected.push(Selected::Context { name, entry });
        return Ok(());
    }
    for (path, name) in expand_wildcards(ctx, request, relative)? {
        let shown = path.to_string_lossy().into_owned();
        let entry = match resolve(ctx, &path) {
            Resolved::Found(entry) => entry,
            Resolved::Missing => return Err(not_found(request, shown)),
            Resolved::Outside => return Err(outside(request, shown)),
            Resolved::Loop => return Err(symlink_loop(request, shown)),
        };
        selected.push(Selected::Context { name, entry });
    }
    Ok(())
}

/// Matches a wildcard source segment by segment against the context, as
/// Go's `filepath.Glob` does: each matched name leads into the next
/// segment, through symlinked directories too. Returns each match's path
/// (its last component not followed) and name, in name order.
fn expand_wildcards(
    ctx: &BuildContext,
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
            let dir = match resolve(ctx, &path) {
                Resolved::Found(entry) if entry.kind == EntryKind::Dir => &entry.path,
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
                    for child in ctx.children(dir) {
                        let name = child
                            .path
                            .file_name()
                            .map(|name| name.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        if glob.matches(&name) {
                            next.push((child.path.clone(), name));
                        }
                    }
                }
                None => {
                    let path = dir.join(segment);
                    if ctx.entry(&path).is_some() {
                        next.push((path, segment.to_string()));
                    }
                }
            }
        }
        current = next;
    }
    Ok(current)
}

enum Resolved<'a> {
    Found(&'a ContextEntry),
    Missing,
    Outside,
    Loop,
}

/// Linux's limit on symlinks followed while resolving one path.
const MAX_SYMLINK_HOPS: usize = 40;

/// Follows a relative path through the context, symlinks included, the way
/// the kernel would with the context as the whole world: a link to an
/// absolute path, or with `..` above the root, leads outside.
fn resolve<'a>(ctx: &'a BuildContext, path: &Path) -> Resolved<'a> {
    let mut pending: VecDeque<Component> = path.components().collect();
    let mut resolved = PathBuf::new();
    let mut hops = 0;
    while let Some(component) = pending.pop_front() {
        match component {
            Component::CurDir => continue,
            Component::ParentDir => {
                if !resolved.pop() {
                    return Resolved::Outside;
                }
                continue;
            }
            Component::RootDir | Component::Prefix(_) => return Resolved::Outside,
            Component::Normal(name) => resolved.push(name),
        }
        let Some(entry) = ctx.entry(&resolved) else {
            return Resolved::Missing;
        };
        if let EntryKind::Symlink(target) = &entry.kind {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Resolved::Loop;
            }
            resolved.pop();
            for component in target.components().rev() {
                pending.push_front(component);
            }
        }
    }
    match ctx.entry(&resolved) {
        Some(entry) => Resolved::Found(entry),
        None => Resolved::Missing,
    }
}

fn not_found(request: &CopyRequest, path: String) -> BuildError {
    BuildError::SourceNotFound {
        at: request.at.clone(),
        instruction: request.instruction,
        path,
    }
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
                dest,
                workdir,
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
                    ItemSource::Inline(content) => format!("<<{content}"),
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
                dest: "/etc/",
                workdir: "/",
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
}
