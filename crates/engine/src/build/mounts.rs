//! `RUN --mount` and the heredoc scripts `RUN` runs from a file.
//!
//! A mount is resolved before the step's cache lookup, since the step's key
//! depends on it: a bind from the context on what the selected files hold,
//! one from a stage or image on that image's ID, caches, tmpfs and secrets
//! on their options only (a secret's value never enters the key, as in
//! BuildKit). When the step runs, each mount is set up on the host under the
//! step's directory and bound into the container, and everything is undone
//! after the run: no mount's content can reach the step's layer.
//!
//! - bind: the context (or the stage's layers) seen through an overlay whose
//!   upper directory hides what `.dockerignore` leaves out and takes, then
//!   discards, the writes of a `rw` mount;
//! - cache: a directory under `<root>/build/cache-mounts/` named by the
//!   hash of its id, kept across builds, locked per `sharing`;
//! - tmpfs: the runtime's tmpfs;
//! - secret: a file on a private tmpfs, or an environment variable.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, Metadata, Permissions};
use std::io;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_build::{
    resolve_copy, BuildContext, CopyRequest, Destination, EntryKind, Location, SourceSpec,
};
use berth_dockerfile::{expand, CacheSharing, Mount, MountType};
use berth_runtime::overlay::OverlayMount;
use berth_store::Digest;
use rustix::fs::{FileType, FlockOperation, Mode, OFlags, RenameFlags, ResolveFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};

use super::mountpoints::fd_path;
use super::{step_error, Builder};
use crate::container::MountOption;
use crate::{Engine, EngineError};

/// A `build --secret` value. Its `Debug` form does not show it.
#[derive(Clone)]
pub struct BuildSecret(Vec<u8>);

impl BuildSecret {
    pub fn new(value: impl Into<Vec<u8>>) -> BuildSecret {
        BuildSecret(value.into())
    }
}

impl fmt::Debug for BuildSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BuildSecret(..)")
    }
}

/// Where a bind mount, or the first content of a cache mount, comes from.
pub(super) enum Origin {
    /// The build context; `hidden` is what `.dockerignore` leaves out,
    /// relative to it, filled in by [`hide_ignored`] just before the run.
    Context { root: PathBuf, hidden: Vec<PathBuf> },
    /// An image's or a finished stage's file system: its layer
    /// directories, topmost first.
    Layers(Vec<PathBuf>),
}

/// One mount of a `RUN` step, variables expanded and defaults applied.
pub(super) enum StepMount {
    Bind {
        origin: Origin,
        /// Path inside the origin.
        source: String,
        target: String,
        read_only: bool,
    },
    Cache {
        id: String,
        sharing: CacheSharing,
        /// `from=`: what a new cache directory starts with (`source` of
        /// it); without it the cache starts empty and `source` is a
        /// directory inside it.
        seed: Option<Origin>,
        source: String,
        /// Mode and owner of a new cache directory.
        mode: u32,
        uid: u32,
        gid: u32,
        target: String,
        read_only: bool,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
        read_only: bool,
    },
    Secret {
        id: String,
        /// `None` when `build --secret` did not give it.
        value: Option<BuildSecret>,
        required: bool,
        target: Option<String>,
        env: Option<String>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// A heredoc with a shebang, run as a file: BuildKit mounts it in
    /// `/dev/pipes/`.
    Script { name: String, content: String },
}

/// Where a heredoc script is mounted.
pub(super) const SCRIPT_DIR: &str = "/dev/pipes";

/// `path` made absolute against `workdir` and cleaned lexically.
fn absolute(path: &str, workdir: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{workdir}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    format!("/{}", parts.join("/"))
}

fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

impl Builder<'_> {
    /// Resolves a `RUN`'s `--mount` flags. Also returns, for each mount, the
    /// text it adds to the step's cache key.
    pub(super) fn step_mounts(
        &self,
        at: &Location,
        mounts: &[Mount],
        vars: &HashMap<String, String>,
        workdir: &str,
    ) -> Result<(Vec<StepMount>, Vec<String>), EngineError> {
        let fail = |message: String| step_error(at, "RUN", message);
        let lookup = |key: &str| vars.get(key).cloned();
        let escape = self.dockerfile.directives.escape;
        let ex = |value: &Option<String>| {
            value
                .as_deref()
                .map(|word| expand(word, escape, &lookup).map_err(|e| fail(e.to_string())))
                .transpose()
        };
        let number = |name: &str, value: &Option<String>, radix: u32| {
            ex(value)?
                .map(|text| {
                    u32::from_str_radix(&text, radix)
                        .map_err(|_| fail(format!("invalid value {text} for {name}")))
                })
                .transpose()
        };
        let mut resolved = Vec::new();
        let mut keys = Vec::new();
        for mount in mounts {
            let written_target = ex(&mount.target)?;
            let source = ex(&mount.source)?;
            let id = ex(&mount.id)?;
            let mode = number("mode", &mount.mode, 8)?;
            let uid = number("uid", &mount.uid, 10)?.unwrap_or(0);
            let gid = number("gid", &mount.gid, 10)?.unwrap_or(0);
            let kind = mount.kind.name();
            let target = match &written_target {
                Some(target) => {
                    let target = absolute(target, workdir);
                    if target == "/" {
                        return Err(fail(format!("invalid mount target {target:?}")));
                    }
                    Some(target)
                }
                None => None,
            };
            let needs_target = || {
                target
                    .clone()
                    .ok_or_else(|| fail(format!("--mount type={kind} needs a target")))
            };
            let read_only = mount.read_only;
            match mount.kind {
                MountType::Bind => {
                    let target = needs_target()?;
                    let source = absolute(source.as_deref().unwrap_or("/"), "/");
                    let (origin, identity) =
                        self.mount_origin(at, mount.from.as_deref(), &source, &target)?;
                    keys.push(format!(
                        "--mount=type=bind,from={identity},source={source},target={target},ro={read_only}"
                    ));
                    resolved.push(StepMount::Bind {
                        origin,
                        source,
                        target,
                        read_only,
                    });
                }
                MountType::Cache => {
                    let target = needs_target()?;
                    let id = id
                        .unwrap_or_else(|| absolute(written_target.as_deref().unwrap_or("/"), "/"));
                    let sharing = mount.sharing.unwrap_or(CacheSharing::Shared);
                    let source = absolute(source.as_deref().unwrap_or("/"), "/");
                    let (seed, identity) = match mount.from.as_deref() {
                        Some(from) => {
                            let (origin, identity) =
                                self.mount_origin(at, Some(from), &source, &target)?;
                            (Some(origin), identity)
                        }
                        None => (None, String::new()),
                    };
                    let mode = mode.unwrap_or(0o755);
                    keys.push(format!(
                        "--mount=type=cache,id={id},sharing={sharing:?},from={identity},source={source},mode={mode:o},uid={uid},gid={gid},target={target},ro={read_only}"
                    ));
                    resolved.push(StepMount::Cache {
                        id,
                        sharing,
                        seed,
                        source,
                        mode,
                        uid,
                        gid,
                        target,
                        read_only,
                    });
                }
                MountType::Tmpfs => {
                    let target = needs_target()?;
                    let size = ex(&mount.size)?
                        .map(|size| {
                            crate::container::parse_size("size", &size)
                                .map(|bytes| bytes.max(0) as u64)
                                .map_err(|e| fail(e.to_string()))
                        })
                        .transpose()?;
                    keys.push(format!(
                        "--mount=type=tmpfs,size={size:?},target={target},ro={read_only}"
                    ));
                    resolved.push(StepMount::Tmpfs {
                        target,
                        size,
                        read_only,
                    });
                }
                MountType::Secret => {
                    let id = id
                        .or(source)
                        .or_else(|| written_target.as_deref().map(|t| base_name(t).to_string()))
                        .filter(|id| !id.is_empty())
                        .ok_or_else(|| fail("one of source, target required".to_string()))?;
                    let env = ex(&mount.env)?;
                    let target = match (target, &env) {
                        (Some(target), _) => Some(target),
                        (None, None) => Some(format!("/run/secrets/{}", base_name(&id))),
                        (None, Some(_)) => None,
                    };
                    let mode = mode.unwrap_or(0o400);
                    keys.push(format!(
                        "--mount=type=secret,id={id},target={target:?},env={env:?},required={},mode={mode:o},uid={uid},gid={gid}",
                        mount.required
                    ));
                    resolved.push(StepMount::Secret {
                        value: self.opts.secrets.get(&id).cloned(),
                        id,
                        required: mount.required,
                        target,
                        env,
                        mode,
                        uid,
                        gid,
                    });
                }
                // berth build forwards no SSH agent (there is no --ssh), which
                // BuildKit treats as a missing key: an optional mount is left
                // out, a required one fails.
                MountType::Ssh if mount.required => {
                    return Err(fail(
                        "no SSH agent or key is forwarded to berth build".to_string(),
                    ));
                }
                MountType::Ssh => {}
            }
        }
        Ok((resolved, keys))
    }

    /// The files a bind (or a seeded cache) mounts, and what identifies them
    /// in the cache key.
    fn mount_origin(
        &self,
        at: &Location,
        from: Option<&str>,
        source: &str,
        target: &str,
    ) -> Result<(Origin, String), EngineError> {
        let Some(from) = from else {
            let relative = source.trim_start_matches('/');
            let path = if relative.is_empty() { "." } else { relative };
            let selected = resolve_copy(
                self.ctx,
                &CopyRequest {
                    at,
                    instruction: "RUN",
                    sources: &[SourceSpec::Path(path.to_string())],
                    dest: Destination::new("/", "/"),
                },
            )?;
            let origin = Origin::Context {
                root: self.ctx.root().to_path_buf(),
                hidden: Vec::new(),
            };
            return Ok((origin, format!("context:{}", selected.digest)));
        };
        let stages = &self.dockerfile.stages;
        let stage = match from.parse::<usize>() {
            Ok(index) => Some(index).filter(|i| *i < stages.len()),
            Err(_) => {
                let name = from.to_lowercase();
                stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(name.as_str()))
            }
        };
        let (image, layers) = match stage {
            Some(index) => {
                let result = self.results.get(&index).ok_or_else(|| {
                    step_error(
                        at,
                        "RUN",
                        format!("cannot mount from stage {from:?} to {target:?}, stage needs to be defined before current command"),
                    )
                })?;
                (result.image.clone(), result.layers.clone())
            }
            None => {
                let image = self
                    .engine
                    .resolve_image(from)
                    .map_err(|e| step_error(at, "RUN", e))?;
                let layers = self.engine.store.image_layers(&image)?;
                (image, layers)
            }
        };
        let links = self.engine.store.layers_dir().join("l");
        let lower = layers.iter().rev().map(|l| links.join(&l.link)).collect();
        Ok((Origin::Layers(lower), image.to_string()))
    }
}

/// Lists what `.dockerignore` leaves out of the context for the binds
/// that mount it. Only done when the step runs: a cached step needs none.
pub(super) fn hide_ignored(
    mounts: &mut [StepMount],
    ctx: &BuildContext,
) -> Result<(), EngineError> {
    for mount in mounts {
        let origin = match mount {
            StepMount::Bind { origin, .. } => origin,
            StepMount::Cache {
                seed: Some(origin), ..
            } => origin,
            _ => continue,
        };
        if let Origin::Context { root, hidden } = origin {
            let mut found = Vec::new();
            ignored(root, Path::new(""), ctx, &mut found).map_err(|e| {
                EngineError::io(format!("read the build context {}", root.display()), e)
            })?;
            *hidden = found;
        }
    }
    Ok(())
}

/// Entries under `dir` (relative to the context root) that exist on disk
/// but not in the context.
fn ignored(root: &Path, dir: &Path, ctx: &BuildContext, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(root.join(dir))? {
        let path = dir.join(entry?.file_name());
        match ctx.entry(&path) {
            None => out.push(path),
            Some(found) if found.kind == EntryKind::Dir => ignored(root, &path, ctx, out)?,
            Some(_) => {}
        }
    }
    Ok(())
}

/// What a step's mounts set up on the host; dropping it undoes the mounts
/// and releases the cache locks.
#[derive(Default)]
pub(super) struct HostMounts {
    /// The container's mounts, in order.
    pub options: Vec<MountOption>,
    /// `KEY=value` for secrets exposed as environment variables.
    pub env: Vec<String>,
    /// Host mountpoints, in the order they were mounted.
    mounted: Vec<PathBuf>,
    /// Open cache directories holding their `flock` for the run.
    cache_locks: Vec<File>,
}

impl Drop for HostMounts {
    fn drop(&mut self) {
        for path in self.mounted.iter().rev() {
            if let Err(e) = rustix::mount::unmount(path, UnmountFlags::DETACH) {
                tracing::warn!(path = %path.display(), error = %e, "build mount not unmounted");
            }
        }
    }
}

fn io_error(what: String) -> impl FnOnce(io::Error) -> EngineError {
    move |e| EngineError::io(what, e)
}

impl Engine {
    /// Sets up `mounts` for the step whose directory is `dir`.
    pub(super) fn mount_step(
        &self,
        dir: &Path,
        mounts: Vec<StepMount>,
    ) -> Result<HostMounts, EngineError> {
        let mut host = HostMounts::default();
        for (index, mount) in mounts.into_iter().enumerate() {
            let base = dir.join("mounts").join(index.to_string());
            match mount {
                StepMount::Bind {
                    origin,
                    source,
                    target,
                    read_only,
                } => {
                    let merged = self.mount_view(&origin, &base, &mut host)?;
                    let source = resolve_in(&merged, &source, false)
                        .map_err(io_error(format!("find {source} to mount on {target}")))?;
                    host.options.push(MountOption::Bind {
                        source,
                        target,
                        readonly: read_only,
                    });
                }
                StepMount::Cache {
                    id,
                    sharing,
                    seed,
                    source,
                    mode,
                    uid,
                    gid,
                    target,
                    read_only,
                } => {
                    let seed =
                        match &seed {
                            Some(origin) => {
                                let merged = self.mount_view(origin, &base, &mut host)?;
                                Some(resolve_in(&merged, &source, false).map_err(io_error(
                                    format!("find {source} to start the cache mount {id} with"),
                                ))?)
                            }
                            None => None,
                        };
                    let new = NewCache {
                        seed: seed.as_deref(),
                        mode,
                        uid,
                        gid,
                    };
                    let (dir, lock) = self.cache_dir(&id, sharing, &new)?;
                    host.cache_locks.push(lock);
                    let source = if seed.is_some() {
                        dir
                    } else {
                        resolve_in(&dir, &source, true)
                            .map_err(io_error(format!("open {source} in the cache mount {id}")))?
                    };
                    host.options.push(MountOption::Bind {
                        source,
                        target,
                        readonly: read_only,
                    });
                }
                StepMount::Tmpfs {
                    target,
                    size,
                    read_only,
                } => {
                    // BuildKit's tmpfs mounts allow executables.
                    let mut options = vec!["exec".to_string()];
                    if read_only {
                        options.push("ro".to_string());
                    }
                    host.options.push(MountOption::Tmpfs {
                        target,
                        size,
                        mode: None,
                        options,
                    });
                }
                StepMount::Secret {
                    id,
                    value,
                    required,
                    target,
                    env,
                    mode,
                    uid,
                    gid,
                } => {
                    let Some(value) = value else {
                        if required {
                            return Err(EngineError::BuildStep(format!(
                                "secret {id} is required but was not given: pass it with --secret id={id},src=FILE"
                            )));
                        }
                        continue;
                    };
                    if let Some(target) = target {
                        let file = secrets_dir(dir, &mut host)?.join(index.to_string());
                        write_owned(&file, &value.0, mode, uid, gid)
                            .map_err(io_error(format!("write secret {id}")))?;
                        host.options.push(MountOption::Bind {
                            source: file,
                            target,
                            readonly: true,
                        });
                    }
                    if let Some(env) = env {
                        host.env
                            .push(format!("{env}={}", String::from_utf8_lossy(&value.0)));
                    }
                }
                StepMount::Script { name, content } => {
                    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                        return Err(EngineError::BuildStep(format!(
                            "heredoc name {name:?} cannot name a file"
                        )));
                    }
                    let scripts = dir.join("heredoc");
                    fs::create_dir_all(&scripts)
                        .and_then(|()| {
                            write_owned(&scripts.join(&name), content.as_bytes(), 0o755, 0, 0)
                        })
                        .map_err(io_error(format!("write the heredoc script {name}")))?;
                    host.options.push(MountOption::Bind {
                        source: scripts,
                        target: SCRIPT_DIR.to_string(),
                        readonly: true,
                    });
                }
            }
        }
        Ok(host)
    }

    /// Mounts `origin` on `base/merged` through an overlay whose upper
    /// directory (under `base`) takes, and then loses, the writes of a
    /// read-write mount.
    fn mount_view(
        &self,
        origin: &Origin,
        base: &Path,
        host: &mut HostMounts,
    ) -> Result<PathBuf, EngineError> {
        let (upper, work, merged) = (base.join("upper"), base.join("work"), base.join("merged"));
        for sub in [&upper, &work, &merged] {
            fs::create_dir_all(sub).map_err(io_error(format!("create {}", sub.display())))?;
        }
        let lower = match origin {
            Origin::Context { root, hidden } => {
                // Bound to a path of berth's own first: overlay options
                // cannot carry a context path with ',' or ':' in it.
                let view = base.join("context");
                fs::create_dir_all(&view)
                    .map_err(io_error(format!("create {}", view.display())))?;
                rustix::mount::mount_bind(root, &view).map_err(|e| {
                    EngineError::io(
                        format!("mount the build context {}", root.display()),
                        e.into(),
                    )
                })?;
                host.mounted.push(view.clone());
                hide(&upper, root, hidden).map_err(io_error(
                    "hide the files .dockerignore excludes".to_string(),
                ))?;
                vec![view]
            }
            Origin::Layers(layers) if layers.is_empty() => {
                let empty = base.join("empty");
                fs::create_dir_all(&empty)
                    .map_err(io_error(format!("create {}", empty.display())))?;
                vec![empty]
            }
            Origin::Layers(layers) => layers.clone(),
        };
        OverlayMount {
            lower,
            upper,
            work,
            target: merged.clone(),
            // Its writes are discarded with it.
            volatile: true,
        }
        .mount()?;
        host.mounted.push(merged.clone());
        Ok(merged)
    }

    /// Opens (creating it if needed) the cache directory for `id` and takes
    /// its lock: shared users share it, `locked` ones wait for each other,
    /// a `private` one takes the first instance nobody holds, making a new
    /// one when all are busy.
    fn cache_dir(
        &self,
        id: &str,
        sharing: CacheSharing,
        new: &NewCache<'_>,
    ) -> Result<(PathBuf, File), EngineError> {
        let caches = self.store.root().join("build").join("cache-mounts");
        fs::create_dir_all(&caches).map_err(io_error(format!("create {}", caches.display())))?;
        let hex = Digest::of(id.as_bytes()).hex().to_string();
        let operation = match sharing {
            CacheSharing::Shared => FlockOperation::LockShared,
            CacheSharing::Locked => FlockOperation::LockExclusive,
            CacheSharing::Private => FlockOperation::NonBlockingLockExclusive,
        };
        let mut instance = 0u32;
        loop {
            let name = match instance {
                0 => hex.clone(),
                n => format!("{hex}-{n}"),
            };
            let path = caches.join(&name);
            if !path.is_dir() {
                self.create_cache_dir(&path, &name, new)
                    .map_err(io_error(format!("create the cache mount {id}")))?;
            }
            let dir = match File::open(&path) {
                Ok(dir) => dir,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(EngineError::io(format!("open the cache mount {id}"), e)),
            };
            match rustix::fs::flock(&dir, operation) {
                // `builder prune` may have moved it away before the lock
                // was taken: then look again.
                Ok(()) if !same_file(&dir, &path) => {}
                Ok(()) => return Ok((path, dir)),
                Err(Errno::AGAIN) => instance += 1,
                Err(e) => {
                    return Err(EngineError::io(
                        format!("lock the cache mount {id}"),
                        e.into(),
                    ))
                }
            }
        }
    }

    /// Makes a cache directory in `tmp/` and renames it into place, unless
    /// another build got there first.
    fn create_cache_dir(&self, path: &Path, name: &str, new: &NewCache<'_>) -> io::Result<()> {
        let staged = self
            .store
            .root()
            .join("tmp")
            .join(format!("{}-cache-mount-{name}", std::process::id()));
        if staged.exists() {
            fs::remove_dir_all(&staged)?;
        }
        fs::create_dir(&staged)?;
        let made = match new.seed {
            Some(seed) => copy_tree(seed, &staged),
            None => lchown(&staged, Some(new.uid), Some(new.gid))
                .and_then(|()| fs::set_permissions(&staged, Permissions::from_mode(new.mode))),
        }
        .and_then(|()| {
            match rustix::fs::renameat_with(CWD, &staged, CWD, path, RenameFlags::NOREPLACE) {
                Ok(()) | Err(Errno::EXIST | Errno::NOTEMPTY) => Ok(()),
                Err(e) => Err(e.into()),
            }
        });
        if staged.exists() {
            let _ = fs::remove_dir_all(&staged);
        }
        made
    }
}

/// Whether `path` still names the file `file` has open.
fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// How a new cache directory starts.
struct NewCache<'a> {
    /// A directory to copy.
    seed: Option<&'a Path>,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// The host path of `path` inside `root`, resolving symlinks as if `root`
/// were `/`; with `create`, missing directories are made on the way.
fn resolve_in(root: &Path, path: &str, create: bool) -> io::Result<PathBuf> {
    let root_fd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let open = |relative: &str| {
        rustix::fs::openat2(
            &root_fd,
            relative,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let relative = if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    };
    let found = match open(&relative) {
        Err(Errno::NOENT) if create => {
            for depth in 1..=parts.len() {
                match open(&parts[..depth].join("/")) {
                    Ok(_) => continue,
                    Err(Errno::NOENT) => {
                        let parent = match depth {
                            1 => ".".to_string(),
                            _ => parts[..depth - 1].join("/"),
                        };
                        match rustix::fs::mkdirat(
                            open(&parent)?,
                            parts[depth - 1],
                            Mode::from_raw_mode(0o755),
                        ) {
                            Ok(()) | Err(Errno::EXIST) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            open(&relative)?
        }
        other => other?,
    };
    let inside = fd_path(&found)?;
    if !inside.starts_with(fd_path(&root_fd)?) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path} resolves outside {}", root.display()),
        ));
    }
    Ok(inside)
}

/// Puts an overlay whiteout in `upper` for each of `hidden` (relative to
/// `root`, the lower directory), with the directories on the way made as
/// they are in `root`, so the merged view shows the same modes.
fn hide(upper: &Path, root: &Path, hidden: &[PathBuf]) -> io::Result<()> {
    for path in hidden {
        let mut dir = PathBuf::new();
        for part in path.parent().into_iter().flat_map(Path::components) {
            dir.push(part);
            let made = upper.join(&dir);
            if made.is_dir() {
                continue;
            }
            fs::create_dir(&made)?;
            copy_attributes(&made, &fs::symlink_metadata(root.join(&dir))?, false)?;
        }
        rustix::fs::mknodat(
            CWD,
            upper.join(path),
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )?;
    }
    Ok(())
}

/// Writes a file with this content, mode and owner.
fn write_owned(path: &Path, content: &[u8], mode: u32, uid: u32, gid: u32) -> io::Result<()> {
    fs::write(path, content)?;
    lchown(path, Some(uid), Some(gid))?;
    fs::set_permissions(path, Permissions::from_mode(mode))
}

/// Copies the tree under `from` into the existing directory `to`: files,
/// directories and symlinks with their modes, owners and modification
/// times (hard links become copies). Device nodes, fifos and sockets have
/// no use in a cache and are left out.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (source, copy) = (entry.path(), to.join(entry.file_name()));
        let meta = fs::symlink_metadata(&source)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            fs::create_dir(&copy)?;
            copy_tree(&source, &copy)?;
        } else if kind.is_file() {
            fs::copy(&source, &copy)?;
            copy_attributes(&copy, &meta, true)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &copy)?;
            lchown(&copy, Some(meta.uid()), Some(meta.gid()))?;
        }
    }
    copy_attributes(to, &fs::symlink_metadata(from)?, true)
}

/// Gives `path` the owner and mode (after the owner: chown clears set-id
/// bits) of `meta`, and its modification time when `times`.
fn copy_attributes(path: &Path, meta: &Metadata, times: bool) -> io::Result<()> {
    lchown(path, Some(meta.uid()), Some(meta.gid()))?;
    fs::set_permissions(path, Permissions::from_mode(meta.mode() & 0o7777))?;
    if times {
        File::open(path)?.set_modified(meta.modified()?)?;
    }
    Ok(())
}

/// The private tmpfs the step's secret files live on, so they are never
/// written to disk; mounted on first use.
fn secrets_dir(dir: &Path, host: &mut HostMounts) -> Result<PathBuf, EngineError> {
    let path = dir.join("secrets");
    if host.mounted.contains(&path) {
        return Ok(path);
    }
    fs::create_dir_all(&path).map_err(io_error(format!("create {}", path.display())))?;
    rustix::mount::mount(
        "tmpfs",
        &path,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        c"mode=700",
    )
    .map_err(|e| EngineError::io("mount a tmpfs for build secrets", e.into()))?;
    host.mounted.push(path.clone());
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_absolute_and_clean() {
        assert_eq!(absolute("cache", "/app"), "/app/cache");
        assert_eq!(absolute("/a/../b/./c/", "/app"), "/b/c");
        assert_eq!(absolute("../..", "/app"), "/");
        assert_eq!(base_name("/run/secrets/token"), "token");
        assert_eq!(base_name("token"), "token");
    }

    #[test]
    fn resolve_in_stays_inside_and_creates() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("base");
        fs::create_dir_all(base.join("real")).unwrap();
        std::os::unix::fs::symlink("/real", base.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", base.join("up")).unwrap();
        let base_real = fs::canonicalize(&base).unwrap();
        assert_eq!(
            resolve_in(&base, "abs", false).unwrap(),
            base_real.join("real")
        );
        assert_eq!(
            resolve_in(&base, "up/real", false).unwrap(),
            base_real.join("real")
        );
        assert_eq!(resolve_in(&base, "/", false).unwrap(), base_real);
        assert!(resolve_in(&base, "missing", false).is_err());
        assert_eq!(
            resolve_in(&base, "abs/new/deeper", true).unwrap(),
            base_real.join("real/new/deeper")
        );
        assert!(base.join("real/new/deeper").is_dir());
    }

    #[test]
    fn copy_tree_keeps_modes_links_and_times() {
        let root = tempfile::tempdir().unwrap();
        let (from, to) = (root.path().join("from"), root.path().join("to"));
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(from.join("sub/run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(from.join("sub/run.sh"), Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("sub/run.sh", from.join("link")).unwrap();
        fs::set_permissions(&from, Permissions::from_mode(0o711)).unwrap();
        fs::create_dir(&to).unwrap();
        copy_tree(&from, &to).unwrap();
        let mode = |p: &Path| fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&to.join("sub/run.sh")), 0o750);
        assert_eq!(mode(&to), 0o711);
        assert_eq!(
            fs::read_link(to.join("link")).unwrap(),
            Path::new("sub/run.sh")
        );
        assert_eq!(
            fs::metadata(to.join("sub/run.sh"))
                .unwrap()
                .modified()
                .unwrap(),
            fs::metadata(from.join("sub/run.sh"))
                .unwrap()
                .modified()
                .unwrap()
        );
    }
}
