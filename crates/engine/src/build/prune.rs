//! `builder prune`: the build cache is the images only build steps know
//! (each step's result), the step-cache entries naming them, the context
//! hash caches (`<root>/build/<hash>`) and the `RUN` cache mounts
//! (`<root>/build/cache-mounts/`).
//!
//! Without `all`, a step-cache entry whose image something else keeps (a
//! tag, a container) stays: it costs nothing, the image is there anyway.
//! With `all`, every entry goes, so no step of a later build is reused.
//! A cache mount a running build holds (its lock is taken) is left alone.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use berth_store::Digest;
use rustix::fs::FlockOperation;

use crate::{Engine, EngineError};

/// What `builder prune` removed.
#[derive(Debug, Default)]
pub struct BuildCachePruned {
    /// The build steps' images deleted.
    pub images: Vec<Digest>,
    /// Bytes freed: layers, blobs, hash caches and cache mounts.
    pub reclaimed: u64,
}

/// Bytes a tree holds (file sizes, not following symlinks).
fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}

fn entries(dir: &Path) -> Result<Vec<fs::DirEntry>, EngineError> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .collect::<Result<_, _>>()
            .map_err(|e| EngineError::io(format!("read {}", dir.display()), e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(EngineError::io(format!("read {}", dir.display()), e)),
    }
}

impl Engine {
    /// `builder prune [-a]`.
    pub fn prune_build_cache(&mut self, all: bool) -> Result<BuildCachePruned, EngineError> {
        let (images, removed) = self.store.prune_build_cache(all)?;
        let mut reclaimed = removed.reclaimed;
        let build = self.store.root().join("build");
        for entry in entries(&build)? {
            let path = entry.path();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file {
                let size = tree_size(&path);
                fs::remove_file(&path)
                    .map_err(|e| EngineError::io(format!("remove {}", path.display()), e))?;
                reclaimed += size;
            }
        }
        let tmp = self.store.root().join("tmp");
        for entry in entries(&build.join("cache-mounts"))? {
            let path = entry.path();
            let dir = File::open(&path)
                .map_err(|e| EngineError::io(format!("open {}", path.display()), e))?;
            if rustix::fs::flock(&dir, FlockOperation::NonBlockingLockExclusive).is_err() {
                tracing::debug!(path = %path.display(), "cache mount in use, kept");
                continue;
            }
            // Renamed into tmp/ first, under this process's pid, so a
            // removal cut short is swept later and no build sees half a
            // cache.
            let trash = tmp.join(format!(
                "{}-cache-mount-{}",
                std::process::id(),
                entry.file_name().to_string_lossy()
            ));
            fs::rename(&path, &trash)
                .map_err(|e| EngineError::io(format!("remove {}", path.display()), e))?;
            drop(dir);
            reclaimed += tree_size(&trash);
            fs::remove_dir_all(&trash)
                .map_err(|e| EngineError::io(format!("remove {}", trash.display()), e))?;
        }
        Ok(BuildCachePruned { images, reclaimed })
    }
}
