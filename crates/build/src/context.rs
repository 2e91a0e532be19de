//! A build context read in place: the directory is walked once (honouring
//! `.dockerignore`, never following a symlink), and file contents are hashed
//! only when a step needs them, with a persistent cache keyed by each file's
//! (path, size, mtime, inode, ctime) so that a rebuild re-reads nothing
//! that did not change.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::ops::Bound;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Statx, StatxFlags};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::dockerignore::{IgnoreRules, ParentMatches};
use crate::error::BuildError;

/// A file's modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileTime {
    pub secs: i64,
    pub nanos: u32,
}

/// What a context entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A symlink and its target, as stored (never followed by the walk).
    Symlink(PathBuf),
    /// A fifo, socket or device node.
    Special,
}

/// One file, directory or link of the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// Relative to the context root, without `./`; empty for the root.
    pub path: PathBuf,
    pub kind: EntryKind,
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    pub size: u64,
    pub mtime: FileTime,
    stamp: Stamp,
}

/// What the hash cache trusts: if none of these changed, neither did the
/// content. (ctime catches writes that restore the mtime; the inode catches
/// a file replaced by rename.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
    inode: u64,
    ctime_ns: i128,
}

impl Stamp {
    fn of(stat: &Statx) -> Stamp {
        let nanos = |t: rustix::fs::StatxTimestamp| {
            i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
        };
        Stamp {
            size: stat.stx_size,
            mtime_ns: nanos(stat.stx_mtime),
            inode: stat.stx_ino,
            ctime_ns: nanos(stat.stx_ctime),
        }
    }
}

/// How many content hashes came from the cache and how many were computed,
/// since the context was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashStats {
    pub reused: usize,
    pub computed: usize,
}

/// Content hashes remembered across builds.
#[derive(Debug, Default)]
pub struct HashCache {
    entries: HashMap<PathBuf, CachedHash>,
    /// How many entries the file held, to tell whether saving would
    /// change it.
    loaded: usize,
    /// A hash worth keeping was added since loading.
    changed: bool,
}

#[derive(Debug, Clone, Copy)]
struct CachedHash {
    stamp: Stamp,
    hash: Digest,
    /// False for files changed too recently to trust their stamp next
    /// time (see [`RACY_WINDOW_NS`]).
    keep: bool,
}

/// A file changed within this long before it was hashed could change again
/// within the same timestamp tick, leaving its stamp as it was; such hashes
/// serve the current build but are not saved. Linux file systems stamp
/// times from a clock that advances every few milliseconds.
const RACY_WINDOW_NS: i128 = 100_000_000;

const CACHE_HEADER: &str = "berth-context-hashes 1";

impl HashCache {
    /// Reads a cache saved by [`BuildContext::save_hash_cache`]. A missing,
    /// unreadable or malformed file is an empty cache: the cache only saves
    /// work, it is never needed for correctness.
    pub fn load(path: &Path) -> HashCache {
        let text = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::debug!(path = %path.display(), error = %e, "hash cache not readable");
                }
                return HashCache::default();
            }
        };
        match parse_cache(&text) {
            Some(entries) => HashCache {
                loaded: entries.len(),
                entries,
                changed: false,
            },
            None => {
                tracing::debug!(path = %path.display(), "hash cache malformed, starting cold");
                HashCache::default()
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Parses the whole file or nothing: a header line, one line per file
/// (`<escaped path> <size> <mtime ns> <inode> <ctime ns> <sha256 hex>`) and
/// an `end <count>` line that a truncated write lacks.
fn parse_cache(bytes: &[u8]) -> Option<HashMap<PathBuf, CachedHash>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.lines();
    if lines.next()? != CACHE_HEADER {
        return None;
    }
    let mut entries = HashMap::new();
    for line in lines {
        if let Some(count) = line.strip_prefix("end ") {
            return (count.parse::<usize>().ok()? == entries.len()).then_some(entries);
        }
        let mut fields = line.split(' ');
        let path = PathBuf::from(OsString::from_vec(unescape(fields.next()?)?));
        let stamp = Stamp {
            size: fields.next()?.parse().ok()?,
            mtime_ns: fields.next()?.parse().ok()?,
            inode: fields.next()?.parse().ok()?,
            ctime_ns: fields.next()?.parse().ok()?,
        };
        let hash = Digest::from_hex(fields.next()?)?;
        if fields.next().is_some() {
            return None;
        }
        entries.insert(
            path,
            CachedHash {
                stamp,
                hash,
                keep: true,
            },
        );
    }
    None
}

/// Percent-escapes the bytes that would break a line or a field (and any
/// non-ASCII byte, so file names need not be UTF-8).
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte <= b' ' || byte == b'%' || byte >= 0x7f {
            out.push_str(&format!("%{byte:02x}"));
        } else {
            out.push(char::from(byte));
        }
    }
    out
}

fn unescape(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The context directory as the build sees it.
#[derive(Debug)]
pub struct BuildContext {
    root_path: PathBuf,
    root: OwnedFd,
    /// Everything the ignore rules let through, keyed by relative path;
    /// the order puts a directory right before its contents.
    entries: BTreeMap<PathBuf, ContextEntry>,
    hashes: Mutex<HashState>,
}

/// A file's content hash with the stamp it had when read.
type HashResult = Result<(Digest, Stamp), BuildError>;

#[derive(Debug)]
struct HashState {
    cache: HashCache,
    stats: HashStats,
}

impl BuildContext {
    /// Walks `root` with `rules` applied. An excluded directory is skipped
    /// unless an exception could match inside it; then it appears only if
    /// something inside is kept (as BuildKit sends it). `cache` is usually
    /// [`HashCache::load`] of the file [`BuildContext::save_hash_cache`]
    /// wrote last time.
    pub fn open(
        root: &Path,
        rules: &IgnoreRules,
        cache: HashCache,
    ) -> Result<BuildContext, BuildError> {
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| BuildError::io("open build context", root, e.into()))?;
        let stat = stat_fd(&fd).map_err(|e| BuildError::io("stat", root, e))?;
        let mut entries = BTreeMap::new();
        entries.insert(
            PathBuf::new(),
            entry_from_stat(PathBuf::new(), &stat, EntryKind::Dir),
        );
        let mut walk = Walk {
            rules,
            entries: &mut entries,
        };
        walk.dir(&fd, root, Path::new(""), None)?;
        tracing::debug!(root = %root.display(), entries = entries.len(), "build context walked");
        Ok(BuildContext {
            root_path: root.to_path_buf(),
            root: fd,
            entries,
            hashes: Mutex::new(HashState {
                cache,
                stats: HashStats::default(),
            }),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root_path
    }

    /// Every entry, the root (empty path) first, each directory before its
    /// contents, names in byte order.
    pub fn entries(&self) -> impl Iterator<Item = &ContextEntry> {
        self.entries.values()
    }

    /// The entry at a relative path, if the context has it.
    pub fn entry(&self, path: &Path) -> Option<&ContextEntry> {
        self.entries.get(path)
    }

    /// Everything under a directory, in [`BuildContext::entries`] order.
    pub fn descendants<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = &'a ContextEntry> + 'a {
        self.entries
            .range::<Path, _>((Bound::Excluded(dir), Bound::Unbounded))
            .take_while(move |(path, _)| path.starts_with(dir))
            .map(|(_, entry)| entry)
    }

    /// The entries directly inside a directory.
    pub(crate) fn children<'a>(
        &'a self,
        dir: &'a Path,
    ) -> impl Iterator<Item = &'a ContextEntry> + 'a {
        let depth = dir.components().count() + 1;
        self.descendants(dir)
            .filter(move |entry| entry.path.components().count() == depth)
    }

    /// Opens a regular file of the context for reading. The kernel resolves
    /// the path beneath the context root without following any symlink, so
    /// a file swapped for a link since the walk cannot lead elsewhere.
    pub fn open_file(&self, path: &Path) -> Result<File, BuildError> {
        self.open_regular(path).map(|(file, _)| file)
    }

    fn open_regular(&self, path: &Path) -> Result<(File, Stamp), BuildError> {
        let full = || self.root_path.join(path);
        let fd = rustix::fs::openat2(
            &self.root,
            path,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| BuildError::io("open", full(), e.into()))?;
        let stat = stat_fd(&fd).map_err(|e| BuildError::io("stat", full(), e))?;
        if FileType::from_raw_mode(u32::from(stat.stx_mode)) != FileType::RegularFile {
            let error = io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
            return Err(BuildError::io("open", full(), error));
        }
        Ok((File::from(fd), Stamp::of(&stat)))
    }

    /// The SHA-256 of a regular file's content.
    pub fn content_hash(&self, path: &Path) -> Result<Digest, BuildError> {
        let mut hashes = self.content_hashes(&[path.to_path_buf()])?;
        Ok(hashes.remove(0))
    }

    /// The content hashes of several regular files, in order. Files whose
    /// stamp matches the cache are not read; the others are read by as
    /// many threads as there are CPUs.
    pub fn content_hashes(&self, paths: &[PathBuf]) -> Result<Vec<Digest>, BuildError> {
        let mut found: Vec<Option<Digest>> = Vec::with_capacity(paths.len());
        let mut missing: Vec<(usize, PathBuf)> = Vec::new();
        {
            let mut state = self.lock_hashes();
            for (index, path) in paths.iter().enumerate() {
                let cached = self.entries.get(path).and_then(|entry| {
                    state
                        .cache
                        .entries
                        .get(path)
                        .filter(|cached| cached.stamp == entry.stamp)
                        .map(|cached| cached.hash)
                });
                if cached.is_none() {
                    missing.push((index, path.clone()));
                }
                found.push(cached);
            }
            state.stats.reused += paths.len() - missing.len();
        }
        if !missing.is_empty() {
            let started = now_ns();
            let to_hash: Vec<PathBuf> = missing.iter().map(|(_, path)| path.clone()).collect();
            let computed = self.hash_files(&to_hash);
            let mut state = self.lock_hashes();
            state.stats.computed += missing.len();
            for ((index, path), result) in missing.into_iter().zip(computed) {
                let (hash, stamp) = result?;
                found[index] = Some(hash);
                let keep = stamp.ctime_ns + RACY_WINDOW_NS < started;
                state.cache.changed |= keep;
                state
                    .cache
                    .entries
                    .insert(path, CachedHash { stamp, hash, keep });
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    fn lock_hashes(&self) -> std::sync::MutexGuard<'_, HashState> {
        // A panic while holding the lock leaves nothing half-updated that
        // matters: the cache is only an optimisation.
        self.hashes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hashes files on all CPUs, handing out files one at a time so one
    /// large file does not hold up the rest.
    fn hash_files(&self, paths: &[PathBuf]) -> Vec<HashResult> {
        crate::parallel::parallel_map(paths, |path| self.hash_file(path))
    }

    fn hash_file(&self, path: &Path) -> HashResult {
        let (mut file, stamp) = self.open_regular(path)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let read = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BuildError::io("read", self.root_path.join(path), e)),
            };
            hasher.update(&buffer[..read]);
        }
        Ok((Digest::of_hasher(hasher), stamp))
    }

    pub fn hash_stats(&self) -> HashStats {
        self.lock_hashes().stats
    }

    /// Writes the hashes still valid for this context to `path` (a temporary
    /// file renamed into place, so readers see the old or the new file).
    /// Hashes of files no longer in the context, or changed since, are
    /// dropped. Nothing is written when nothing changed.
    pub fn save_hash_cache(&self, path: &Path) -> Result<(), BuildError> {
        let state = self.lock_hashes();
        let mut kept: Vec<(&PathBuf, &CachedHash)> = state
            .cache
            .entries
            .iter()
            .filter(|(file, cached)| {
                cached.keep
                    && self.entries.get(*file).is_some_and(|entry| {
                        entry.kind == EntryKind::File && entry.stamp == cached.stamp
                    })
            })
            .collect();
        if !state.cache.changed && kept.len() == state.cache.loaded {
            return Ok(());
        }
        kept.sort_by(|a, b| a.0.cmp(b.0));
        let mut text = String::with_capacity(kept.len() * 160);
        text.push_str(CACHE_HEADER);
        text.push('\n');
        for (file, cached) in &kept {
            let Stamp {
                size,
                mtime_ns,
                inode,
                ctime_ns,
            } = cached.stamp;
            text.push_str(&format!(
                "{} {size} {mtime_ns} {inode} {ctime_ns} {}\n",
                escape(file.as_os_str().as_bytes()),
                cached.hash.hex()
            ));
        }
        text.push_str(&format!("end {}\n", kept.len()));
        drop(state);
        write_atomically(path, text.as_bytes())
    }
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i128::try_from(elapsed.as_nanos()).unwrap_or(i128::MAX)
        })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        fs::create_dir_all(parent).map_err(|e| BuildError::io("create directory", parent, e))?;
    }
    let mut temp_name = OsString::from(".");
    temp_name.push(path.file_name().unwrap_or(OsStr::new("hashes")));
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let written = File::create(&temp).and_then(|mut file| file.write_all(bytes));
    if let Err(e) = written.and_then(|()| fs::rename(&temp, path)) {
        let _ = fs::remove_file(&temp);
        return Err(BuildError::io("write hash cache", path, e));
    }
    Ok(())
}

fn stat_fd(fd: &OwnedFd) -> io::Result<Statx> {
    rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS).map_err(io::Error::from)
}

fn entry_from_stat(path: PathBuf, stat: &Statx, kind: EntryKind) -> ContextEntry {
    ContextEntry {
        path,
        kind,
        mode: u32::from(stat.stx_mode),
        size: stat.stx_size,
        mtime: FileTime {
            secs: stat.stx_mtime.tv_sec,
            nanos: stat.stx_mtime.tv_nsec,
        },
        stamp: Stamp::of(stat),
    }
}

/// The recursive walk, through directory file descriptors only.
struct Walk<'a> {
    rules: &'a IgnoreRules,
    entries: &'a mut BTreeMap<PathBuf, ContextEntry>,
}

impl Walk<'_> {
    /// Adds what `dir` holds; returns whether anything was kept.
    fn dir(
        &mut self,
        dir: &OwnedFd,
        abs: &Path,
        rel: &Path,
        parent: Option<&ParentMatches>,
    ) -> Result<bool, BuildError> {
        let mut kept_any = false;
        for name in read_names(dir).map_err(|e| BuildError::io("read directory", abs, e))? {
            let child_rel = rel.join(&name);
            let child_abs = abs.join(&name);
            let stat = match rustix::fs::statx(
                dir,
                name.as_os_str(),
                AtFlags::SYMLINK_NOFOLLOW,
                StatxFlags::BASIC_STATS,
            ) {
                Ok(stat) => stat,
                // Deleted while we walked: as if it never was.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(BuildError::io("stat", child_abs, e.into())),
            };
            let kind = match FileType::from_raw_mode(u32::from(stat.stx_mode)) {
                FileType::RegularFile => EntryKind::File,
                FileType::Directory => EntryKind::Dir,
                FileType::Symlink => {
                    let target = rustix::fs::readlinkat(dir, name.as_os_str(), Vec::new())
                        .map_err(|e| BuildError::io("read link", &child_abs, e.into()))?;
                    EntryKind::Symlink(PathBuf::from(OsString::from_vec(target.into_bytes())))
                }
                _ => EntryKind::Special,
            };
            let is_dir = kind == EntryKind::Dir;
            let (excluded, matches) = self.rules.check(&child_rel.to_string_lossy(), parent);
            let entry = entry_from_stat(child_rel.clone(), &stat, kind);
            if excluded {
                if is_dir && self.rules.enter_excluded_dir(&child_rel.to_string_lossy()) {
                    // fsutil skips an excluded directory it cannot read.
                    let Some(sub) = open_subdir(dir, &name, &child_abs, true)? else {
                        continue;
                    };
                    if self.dir(&sub, &child_abs, &child_rel, Some(&matches))? {
                        self.entries.insert(child_rel, entry);
                        kept_any = true;
                    }
                }
                continue;
            }
            self.entries.insert(child_rel.clone(), entry);
            kept_any = true;
            if is_dir {
                if let Some(sub) = open_subdir(dir, &name, &child_abs, false)? {
                    self.dir(&sub, &child_abs, &child_rel, Some(&matches))?;
                }
            }
        }
        Ok(kept_any)
    }
}

/// Opens a subdirectory without following a symlink put in its place.
/// `None` when it vanished, or when it is unreadable and `skip_denied`.
fn open_subdir(
    dir: &OwnedFd,
    name: &OsStr,
    abs: &Path,
    skip_denied: bool,
) -> Result<Option<OwnedFd>, BuildError> {
    match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::ACCESS) if skip_denied => Ok(None),
        Err(e) => Err(BuildError::io("open directory", abs, e.into())),
    }
}

/// A directory's entry names in byte order.
fn read_names(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn paths(ctx: &BuildContext) -> Vec<String> {
        ctx.entries()
            .map(|entry| entry.path.to_string_lossy().into_owned())
            .collect()
    }

    fn open(root: &Path, ignore: &str) -> BuildContext {
        let rules = IgnoreRules::parse(".dockerignore", ignore).unwrap();
        BuildContext::open(root, &rules, HashCache::default()).unwrap()
    }

    #[test]
    fn walks_in_order_and_keeps_symlinks_as_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a/b.txt", "b");
        write(root, "a.txt", "a");
        write(root, "z", "z");
        symlink("/etc", root.join("link")).unwrap();
        let ctx = open(root, "");
        assert_eq!(paths(&ctx), ["", "a", "a/b.txt", "a.txt", "link", "z"]);
        let link = ctx.entry(Path::new("link")).unwrap();
        assert_eq!(link.kind, EntryKind::Symlink(PathBuf::from("/etc")));
        // Never followed: nothing of /etc is in the context.
        assert_eq!(ctx.descendants(Path::new("link")).count(), 0);
        let children: Vec<_> = ctx
            .children(Path::new(""))
            .map(|entry| entry.path.to_string_lossy().into_owned())
            .collect();
        assert_eq!(children, ["a", "a.txt", "link", "z"]);
    }

    #[test]
    fn honours_ignore_rules_and_exceptions_inside_excluded_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "node_modules/x/index.js", "");
        write(root, "logs/keep.log", "");
        write(root, "logs/drop.log", "");
        write(root, "src/main.rs", "");
        write(root, "Dockerfile", "");
        write(root, ".dockerignore", "");
        let ctx = open(
            root,
            "node_modules\nlogs\n!logs/keep.log\nDockerfile\n.dockerignore\n",
        );
        assert_eq!(
            paths(&ctx),
            ["", "logs", "logs/keep.log", "src", "src/main.rs"]
        );
    }

    #[test]
    fn wildcard_exceptions_walk_excluded_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a/b/tool.py", "");
        write(root, "a/b/data.bin", "");
        write(root, "top.py", "");
        let ctx = open(root, "*\n!**/*.py\n");
        assert_eq!(paths(&ctx), ["", "a", "a/b", "a/b/tool.py", "top.py"]);
    }

    #[test]
    fn hashes_contents_and_refuses_non_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "f", "hello");
        symlink("f", root.join("l")).unwrap();
        let ctx = open(root, "");
        assert_eq!(
            ctx.content_hash(Path::new("f")).unwrap().hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(ctx.content_hash(Path::new("l")).is_err());
        assert!(ctx.content_hash(Path::new("../f")).is_err());
        assert!(ctx.open_file(Path::new("l")).is_err());
    }

    #[test]
    fn cache_file_round_trips_odd_names() {
        let names: [&[u8]; 4] = [b"plain", b"with space", b"100%\nnew", b"\xff\xfe"];
        for name in names {
            assert_eq!(unescape(&escape(name)).unwrap(), name);
        }
        assert!(unescape("%zz").is_none());
        assert!(unescape("%4").is_none());
    }

    #[test]
    fn a_bad_cache_file_is_a_cold_cache() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hashes");
        assert!(HashCache::load(&file).is_empty());
        fs::write(&file, "garbage").unwrap();
        assert!(HashCache::load(&file).is_empty());
        let line = format!("a 1 2 3 4 {}", "0".repeat(64));
        // Truncated: no end line.
        fs::write(&file, format!("{CACHE_HEADER}\n{line}\n")).unwrap();
        assert!(HashCache::load(&file).is_empty());
        // Wrong count.
        fs::write(&file, format!("{CACHE_HEADER}\n{line}\nend 2\n")).unwrap();
        assert!(HashCache::load(&file).is_empty());
        fs::write(&file, format!("{CACHE_HEADER}\n{line}\nend 1\n")).unwrap();
        assert_eq!(HashCache::load(&file).len(), 1);
        fs::write(&file, format!("{CACHE_HEADER}\n{line} extra\nend 1\n")).unwrap();
        assert!(HashCache::load(&file).is_empty());
    }

    #[test]
    fn a_warm_rebuild_of_5000_files_rehashes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ctx");
        for i in 0..5000 {
            write(
                &root,
                &format!("d{}/file{i}.txt", i % 50),
                &format!("content {i}"),
            );
        }
        let cache_file = dir.path().join("state/hashes");
        let files = |ctx: &BuildContext| -> Vec<PathBuf> {
            ctx.entries()
                .filter(|entry| entry.kind == EntryKind::File)
                .map(|entry| entry.path.clone())
                .collect()
        };
        // Let the files age past the racy window.
        std::thread::sleep(Duration::from_millis(150));

        let cold = BuildContext::open(&root, &IgnoreRules::default(), HashCache::load(&cache_file))
            .unwrap();
        let cold_hashes = cold.content_hashes(&files(&cold)).unwrap();
        assert_eq!(
            cold.hash_stats(),
            HashStats {
                reused: 0,
                computed: 5000
            }
        );
        cold.save_hash_cache(&cache_file).unwrap();

        let warm = BuildContext::open(&root, &IgnoreRules::default(), HashCache::load(&cache_file))
            .unwrap();
        let warm_hashes = warm.content_hashes(&files(&warm)).unwrap();
        assert_eq!(
            warm.hash_stats(),
            HashStats {
                reused: 5000,
                computed: 0
            }
        );
        assert_eq!(cold_hashes, warm_hashes);
        // Nothing changed: the file is not rewritten.
        let before = fs::metadata(&cache_file).unwrap().modified().unwrap();
        warm.save_hash_cache(&cache_file).unwrap();
        assert_eq!(
            fs::metadata(&cache_file).unwrap().modified().unwrap(),
            before
        );

        // Edit one file: exactly that one is read again.
        write(&root, "d7/file7.txt", "changed!");
        let edited =
            BuildContext::open(&root, &IgnoreRules::default(), HashCache::load(&cache_file))
                .unwrap();
        let edited_hashes = edited.content_hashes(&files(&edited)).unwrap();
        assert_eq!(
            edited.hash_stats(),
            HashStats {
                reused: 4999,
                computed: 1
            }
        );
        assert_ne!(edited_hashes, warm_hashes);
    }

    #[test]
    fn recent_changes_are_used_but_not_saved() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ctx");
        write(&root, "fresh", "x");
        let cache_file = dir.path().join("hashes");
        let ctx = open(&root, "");
        ctx.content_hash(Path::new("fresh")).unwrap();
        ctx.save_hash_cache(&cache_file).unwrap();
        assert!(!cache_file.exists());
    }
}
