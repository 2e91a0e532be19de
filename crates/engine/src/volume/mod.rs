//! Volumes: data kept beyond a container's life, in a directory of the
//! root (`volumes/<name>/_data`) or on a file system docker's `local`
//! driver options name, shared by the containers that mount it.
//!
//! - `name.rs`: docker's rule for names, random names for anonymous ones.
//! - `local.rs`: the local driver's options (`type`, `device`, `o`).
//! - `mounts.rs`: mounting a volume's file system while containers use it,
//!   counted in the store.
//! - `space.rs`: how much a volume holds, for `system df` and `prune`.
//!
//! The records and the directories are the store's (`berth_store`
//! `volumes.rs`): every decision about whether a volume exists or is used
//! is one transaction there.

mod local;
mod mounts;
mod name;
mod space;

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_store::{NewVolume, VolumeRecord};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::events::{Event, VolumeAction, VolumeEvent};
use crate::filter::{labels_absent, labels_match, Filters};
use crate::{Engine, EngineError};

pub use local::LOCAL_DRIVER;
pub(crate) use local::{parse_options, LocalVolume};
pub(crate) use mounts::{HostMounter, VolumeMounter};
pub use name::{random_name, validate_name};
pub(crate) use space::data_size;
pub use space::VolumeSpace;

/// The label docker (23 and later) puts on anonymous volumes, which
/// `volume prune` without `--all` removes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// `volume create`, as asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeOptions {
    /// None for a random 64-hex name.
    pub name: Option<String>,
    /// `-d`; only `local`.
    pub driver: Option<String>,
    /// `-o key=value`: the driver's options.
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// A volume as `volume ls` and `volume inspect` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// Where its data is on the host (`volumes/<name>/_data`).
    pub mountpoint: PathBuf,
    pub created_at: DateTime<Utc>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub anonymous: bool,
    /// IDs of the containers that use it, running or not.
    pub containers: Vec<String>,
}

impl Volume {
    /// `local`: the volume is this host's.
    pub fn scope(&self) -> &'static str {
        "local"
    }

    /// docker's volume object (`volume inspect`, `GET /volumes/NAME`).
    pub fn to_docker_json(&self) -> Value {
        let map = |m: &BTreeMap<String, String>| {
            if m.is_empty() {
                Value::Null
            } else {
                json!(m)
            }
        };
        json!({
            "CreatedAt": self.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "Driver": self.driver,
            "Labels": map(&self.labels),
            "Mountpoint": self.mountpoint.to_string_lossy(),
            "Name": self.name,
            "Options": map(&self.options),
            "Scope": self.scope(),
        })
    }
}

/// What `volume prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumesPruned {
    pub volumes: Vec<String>,
    /// Bytes their data held.
    pub reclaimed: u64,
}

/// The keys `volume ls --filter` takes.
const LIST_FILTERS: [&str; 4] = ["dangling", "driver", "label", "name"];
/// The keys `volume prune --filter` takes (`all` is `--all`, as the API
/// sends it).
const PRUNE_FILTERS: [&str; 3] = ["all", "label", "label!"];

fn check_driver(name: &str, driver: Option<&str>) -> Result<(), EngineError> {
    match driver {
        None | Some("") | Some(LOCAL_DRIVER) => Ok(()),
        Some(other) => Err(EngineError::NotFound(format!(
            "create {name}: error looking up volume plugin {other}: plugin \"{other}\" not found"
        ))),
    }
}

impl Engine {
    /// Journals a volume event (the local driver's).
    pub(crate) fn emit_volume(&self, name: &str, action: VolumeAction) {
        self.emit(Event::Volume(VolumeEvent {
            name: name.to_string(),
            driver: LOCAL_DRIVER.into(),
            action,
        }));
    }

    fn to_volume(&self, r: VolumeRecord) -> Volume {
        Volume {
            mountpoint: self.store.volume_data_dir(&r.name),
            created_at: DateTime::from_timestamp(r.created_at, 0).unwrap_or_default(),
            name: r.name,
            driver: r.driver,
            labels: r.labels,
            options: r.options,
            anonymous: r.anonymous,
            containers: r.containers,
        }
    }

    /// `volume create`: a new volume, or the existing one of that name
    /// (docker's answer to a create of a name it has).
    pub fn create_volume(&mut self, opts: VolumeOptions) -> Result<Volume, EngineError> {
        let name = match opts.name {
            Some(n) if !n.is_empty() => n,
            _ => random_name(),
        };
        validate_name(&name)?;
        check_driver(&name, opts.driver.as_deref())?;
        parse_options(&opts.options).map_err(|e| match e {
            EngineError::Invalid(msg) => EngineError::Invalid(format!("create {name}: {msg}")),
            other => other,
        })?;
        let (record, created) = self.store.create_volume(&NewVolume {
            name,
            driver: LOCAL_DRIVER.into(),
            options: opts.options,
            labels: opts.labels,
            anonymous: false,
        })?;
        if created {
            self.emit_volume(&record.name, VolumeAction::Create);
        }
        Ok(self.to_volume(record))
    }

    /// A volume by name (docker has no prefixes for volumes).
    pub fn volume(&self, name: &str) -> Result<Volume, EngineError> {
        match self.store.volume(name)? {
            Some(r) => Ok(self.to_volume(r)),
            None => Err(berth_store::StoreError::NoSuchVolume(name.to_string()).into()),
        }
    }

    /// The names of the volumes a container uses, by destination.
    pub fn container_volume_names(&self, id: &str) -> Result<Vec<String>, EngineError> {
        Ok(self
            .store
            .container_volumes(id)?
            .into_iter()
            .map(|cv| cv.volume.name)
            .collect())
    }

    /// `volume inspect`: docker's JSON for one volume.
    pub fn inspect_volume(&self, name: &str) -> Result<Value, EngineError> {
        Ok(self.volume(name)?.to_docker_json())
    }

    /// `volume ls --filter dangling=|driver=|label=|name=`, by name.
    pub fn list_volumes(&self, filters: &Filters) -> Result<Vec<Volume>, EngineError> {
        filters.check_keys(&LIST_FILTERS)?;
        let dangling = filters.bool("dangling")?;
        let mut out = Vec::new();
        for r in self.store.list_volumes()? {
            let keep = dangling.is_none_or(|d| d == r.containers.is_empty())
                && filters.exact("driver", &r.driver)
                && labels_match(&filters.labels("label"), |k| {
                    r.labels.get(k).map(String::as_str)
                })
                && filters.matches("name", &r.name)?;
            if keep {
                out.push(self.to_volume(r));
            }
        }
        Ok(out)
    }

    /// `volume rm [-f]`: refused while any container uses the volume,
    /// running or not (naming them). `force` makes a missing volume no
    /// error, as docker's `-f` does.
    pub fn remove_volume(&mut self, name: &str, force: bool) -> Result<(), EngineError> {
        match self
            .store
            .remove_volume(name, |data| HostMounter.unmount(data))
        {
            Ok(()) => {
                self.emit_volume(name, VolumeAction::Destroy);
                Ok(())
            }
            Err(EngineError::Store(berth_store::StoreError::NoSuchVolume(_))) if force => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `volume prune [--all] [--filter label=...]`: the volumes no
    /// container uses, anonymous ones only unless `all` (docker 23 and
    /// later). Checked again under the store's write lock, so a volume a
    /// container took meanwhile stays.
    pub fn prune_volumes(
        &mut self,
        all: bool,
        filters: &Filters,
    ) -> Result<VolumesPruned, EngineError> {
        filters.check_keys(&PRUNE_FILTERS)?;
        let all = all || filters.bool("all")?.unwrap_or(false);
        let mut candidates = Vec::new();
        let mut sizes = BTreeMap::new();
        for r in self.store.list_volumes()? {
            let wanted = r.containers.is_empty()
                && (all || r.anonymous || r.labels.contains_key(ANONYMOUS_LABEL))
                && labels_match(&filters.labels("label"), |k| {
                    r.labels.get(k).map(String::as_str)
                })
                && labels_absent(&filters.labels("label!"), |k| {
                    r.labels.get(k).map(String::as_str)
                });
            if !wanted {
                continue;
            }
            let data = self.store.volume_data_dir(&r.name);
            sizes.insert(r.name.clone(), space::data_size(&data));
            candidates.push(r.name);
        }
        let volumes = self
            .store
            .remove_unused_volumes(&candidates, |data| HostMounter.unmount(data))?;
        for v in &volumes {
            self.emit_volume(v, VolumeAction::Destroy);
        }
        let reclaimed = volumes.iter().filter_map(|v| sizes.get(v)).sum();
        Ok(VolumesPruned { volumes, reclaimed })
    }
}

#[cfg(test)]
mod tests;
