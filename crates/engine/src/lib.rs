//! berth's use cases, one public API for the CLI and the Engine API server:
//! load, save, import, list, tag, remove, inspect and prune images.

#![forbid(unsafe_code)]

mod attach;
mod build;
mod changes;
mod commit;
mod config;
mod container;
mod copy;
mod error;
mod health;
mod hub;
mod images;
mod import;
mod inspect;
mod load;
mod monitor;
mod progress;
mod pull;
mod push;
mod registry;
mod restart;
mod save;
mod stats;

use std::path::Path;

use berth_reference::Reference;
use berth_store::{Digest, Store};

pub use attach::{AttachEvent, AttachInput, AttachSession};
pub use build::{
    BuildCachePruned, BuildEvent, BuildOptions, BuildProgress, BuildSecret, ClassicOutput,
    StageLabel,
};
pub use commit::{Change, ChangeKind, CommitOptions};
pub use config::ImageConfig;
pub use container::{
    parse_cpus, parse_signal, parse_size, ContainerInfo, ContainerOptions, ExecOptions, LogStream,
    LogsOptions, MountOption, StartOptions,
};
pub use copy::{Copied, CopyIn, CopyOptions, CopyOut};
pub use error::EngineError;
pub use health::{parse_health_duration, HealthConfig, HealthResult, HealthState, HealthStatus};
pub use images::{ImageFilter, ImageRow, RemovedImage, RmiEvent, SpaceUsage};
pub use import::ImportOptions;
pub use inspect::HistoryEntry;
pub use load::{LoadSource, LoadedImage};
pub use monitor::MonitorOptions;
pub use progress::{NoProgress, Progress};
pub use pull::{PullOptions, Pulled};
pub use push::{PushOptions, Pushed};
pub use registry::{login, logout, RegistryOptions};
pub use save::SaveFormat;
pub use stats::StatsSample;

pub struct Engine {
    store: Store,
}

impl Engine {
    /// Opens the state under `root` (created if missing).
    pub fn open(root: &Path) -> Result<Engine, EngineError> {
        Ok(Engine {
            store: Store::open(root)?,
        })
    }

    /// Resolves what a user typed (a name, `name:tag`, a full or short image
    /// ID) to an image ID, the way docker does: a reference first, then an
    /// ID prefix.
    pub fn resolve_image(&self, s: &str) -> Result<Digest, EngineError> {
        if let Some(hex) = s.strip_prefix("sha256:") {
            return self.resolve_id_prefix(hex, s);
        }
        if berth_reference::is_full_image_id(s) {
            return self.resolve_id_prefix(s, s);
        }
        if let Ok(r) = Reference::parse_with_default_tag(s) {
            let found = match r.digest() {
                None => self.store.image_by_tag(&r.to_string())?,
                Some(d) => self
                    .store
                    .image_by_repo_digest(&format!("{}@{d}", r.name()))?,
            };
            if let Some(id) = found {
                return Ok(id);
            }
        }
        if !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return self.resolve_id_prefix(s, s);
        }
        Err(EngineError::NoSuchImage(s.to_string()))
    }

    fn resolve_id_prefix(&self, hex: &str, original: &str) -> Result<Digest, EngineError> {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EngineError::NoSuchImage(original.to_string()));
        }
        let mut ids = self.store.images_by_id_prefix(&hex.to_ascii_lowercase())?;
        match ids.len() {
            0 => Err(EngineError::NoSuchImage(original.to_string())),
            1 => Ok(ids.remove(0)),
            _ => Err(EngineError::AmbiguousId(original.to_string())),
        }
    }

    /// `tag SOURCE TARGET`.
    pub fn tag(&mut self, source: &str, target: &str) -> Result<(), EngineError> {
        let id = self.resolve_image(source)?;
        let target = Reference::parse_with_default_tag(target)?;
        if target.digest().is_some() {
            return Err(EngineError::TagWithDigest);
        }
        self.store.tag(&target.to_string(), &id)?;
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// A tag as given on the command line, in the form docker prints it
/// (`app` → `app:latest`).
pub fn familiar_tag(s: &str) -> String {
    normalize_tag(s)
        .map(|t| familiar(&t))
        .unwrap_or_else(|_| s.to_string())
}

/// Turns stored full references into the familiar form docker prints
/// (`docker.io/library/busybox:latest` → `busybox:latest`).
pub(crate) fn familiar(full: &str) -> String {
    Reference::parse_normalized(full)
        .map(|r| r.familiar_string())
        .unwrap_or_else(|_| full.to_string())
}

/// Normalizes a tag given in an archive or on the command line to the full
/// form the store keys tags by.
pub(crate) fn normalize_tag(s: &str) -> Result<String, EngineError> {
    let r = Reference::parse_with_default_tag(s)?;
    if r.digest().is_some() {
        return Err(EngineError::TagWithDigest);
    }
    Ok(r.to_string())
}
