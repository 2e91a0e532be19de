//! Listing containers (`ps`, the API's `/containers/json`), the ones that
//! use an image, and pruning stopped ones.

use berth_store::{ContainerRecord, Digest, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

use super::filter::{ContainerFilter, Details};
use super::health::HealthStatus;
use super::PortSummary;
use super::*;
use crate::image::config::ImageConfig;
use crate::{Engine, EngineError};

/// What `list_containers` lists.
#[derive(Debug, Clone, Default)]
pub struct ContainerListOptions {
    /// Stopped containers too (`-a`); a `status=` filter or a `limit`
    /// implies it.
    pub all: bool,
    /// Only the newest this many (`-n`; `--latest` is 1).
    pub limit: Option<usize>,
    /// Measure each container's writable layer (`-s`; slow on big ones).
    pub size: bool,
    pub filter: ContainerFilter,
}

/// docker's mount types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One of a container's mounts, as docker's `MountPoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    pub kind: MountKind,
    /// The volume's name.
    pub name: Option<String>,
    /// The host path (a volume's `_data`); empty for tmpfs.
    pub source: String,
    pub destination: String,
    pub rw: bool,
}

/// A network a listed container is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRef {
    pub name: String,
    pub id: String,
}

/// One container as `ps` and the API list it: docker's
/// `container.Summary`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSummary {
    pub id: String,
    pub name: String,
    /// The image as the container was created with it.
    pub image: String,
    pub image_id: Digest,
    /// What it runs, entrypoint and arguments.
    pub command: Vec<String>,
    pub created: DateTime<Utc>,
    pub state: ContainerStatus,
    /// docker's status text: "Up 3 minutes (healthy)", "Exited (0) 2
    /// seconds ago" ...
    pub status: String,
    pub health: Option<HealthStatus>,
    pub labels: BTreeMap<String, String>,
    /// `host`, `none`, or the network it was created on.
    pub network_mode: String,
    /// The networks it is connected to (its network mode, with no ID,
    /// when it has none of its own).
    pub networks: Vec<NetworkRef>,
    /// Its ports while it runs, published or only exposed.
    pub ports: Vec<PortSummary>,
    pub mounts: Vec<MountPoint>,
    /// Bytes in its writable layer, when asked for (docker's `SizeRw`).
    pub size: Option<u64>,
}

/// Image configs read once per listing, as many containers share one.
#[derive(Default)]
struct ConfigCache(HashMap<Digest, Option<ImageConfig>>);

impl ConfigCache {
    fn get(&mut self, engine: &Engine, id: &Digest) -> Option<&ImageConfig> {
        self.0
            .entry(id.clone())
            .or_insert_with(|| {
                engine
                    .store
                    .content()
                    .read(id)
                    .ok()
                    .and_then(|raw| ImageConfig::parse(&raw).ok())
            })
            .as_ref()
    }
}

/// Whether `image` is `ancestor` or was made from it: its layers start
/// with all of the ancestor's (how docker's containerd image store finds
/// an image's children).
fn descends(image: (&Digest, Option<&ImageConfig>), ancestor: &(Digest, Vec<Digest>)) -> bool {
    let (id, config) = image;
    *id == ancestor.0
        || (!ancestor.1.is_empty() && config.is_some_and(|c| c.diff_ids().starts_with(&ancestor.1)))
}

impl Engine {
    /// Every container, newest first, each reconciled with the runtime.
    pub(crate) fn all_containers(&mut self) -> Result<Vec<ContainerInfo>, EngineError> {
        let records = self.store.list_containers()?;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let r = self.reconcile(r)?;
            let options = serde_json::from_str(&r.config).unwrap_or_default();
            out.push(ContainerInfo { record: r, options });
        }
        Ok(out)
    }

    /// A container's mounts: its `-v`/`--mount`/`--tmpfs` options and
    /// the volumes recorded as its.
    fn mount_points(&self, c: &ContainerInfo) -> Result<Vec<MountPoint>, EngineError> {
        let mut out: Vec<MountPoint> = c
            .options
            .mounts
            .iter()
            .map(|m| match m {
                MountOption::Bind {
                    source,
                    target,
                    readonly,
                } => MountPoint {
                    kind: MountKind::Bind,
                    name: None,
                    source: source.display().to_string(),
                    destination: target.clone(),
                    rw: !readonly,
                },
                MountOption::Tmpfs { target, .. } => MountPoint {
                    kind: MountKind::Tmpfs,
                    name: None,
                    source: String::new(),
                    destination: target.clone(),
                    rw: true,
                },
            })
            .collect();
        for v in self.store.container_volumes(&c.record.id)? {
            out.push(MountPoint {
                kind: MountKind::Volume,
                source: self
                    .store
                    .volume_data_dir(&v.volume.name)
                    .display()
                    .to_string(),
                name: Some(v.volume.name),
                destination: v.destination,
                rw: true,
            });
        }
        Ok(out)
    }

    /// Names and IDs of the networks a container is connected to; its
    /// network mode (`host`, `none`, `bridge`) when it has no endpoint.
    fn network_names(&mut self, c: &ContainerInfo) -> Result<Vec<(String, String)>, EngineError> {
        let networks: Vec<(String, String)> = self
            .container_networks(&c.record.id)?
            .into_iter()
            .map(|(n, _, _)| (n.record.name, n.record.id))
            .collect();
        if !networks.is_empty() {
            return Ok(networks);
        }
        let mode = match c.options.network.as_str() {
            "" => "bridge",
            mode => mode,
        };
        Ok(vec![(mode.to_string(), String::new())])
    }

    /// `ps` and `/containers/json`: the containers `opts` asks for, newest
    /// first, as moby lists them: `before=` skips up to and including that
    /// container, `since=` stops there; without `all` only active ones.
    pub fn list_containers(
        &mut self,
        opts: &ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let f = &opts.filter;
        let all = opts.all || opts.limit.is_some() || f.implies_all();
        let mut before = f.before.as_deref().map(|s| self.container(s)).transpose()?;
        let since = f.since.as_deref().map(|s| self.container(s)).transpose()?;
        let mut configs = ConfigCache::default();
        // ancestor= takes image names or IDs; like docker, one that names
        // no image is ignored (and so matches nothing).
        let mut ancestors = Vec::new();
        for name in &f.ancestors {
            if let Ok(id) = self.resolve_image(name) {
                let layers = configs
                    .get(self, &id)
                    .map(|c| c.diff_ids().to_vec())
                    .unwrap_or_default();
                ancestors.push((id, layers));
            }
        }
        let now = Utc::now();
        let mut out = Vec::new();
        for c in self.all_containers()? {
            if let Some(b) = &before {
                if b.record.id == c.record.id {
                    before = None;
                }
                continue;
            }
            if since.as_ref().is_some_and(|s| s.record.id == c.record.id) {
                break;
            }
            if !all && !c.record.status.is_active() {
                continue;
            }
            if !f.matches_record(&c.record, &c.options.labels) {
                continue;
            }
            if opts.limit.is_some_and(|n| out.len() >= n) {
                break;
            }
            let id = &c.record.id;
            let health = self.container_health(id).map(|h| h.status);
            let mounts = self.mount_points(&c)?;
            let networks = self.network_names(&c)?;
            let ports = if c.record.status.is_active() {
                self.container_ports(&c)?
            } else {
                Vec::new()
            };
            let config = configs.get(self, &c.record.image_id);
            let details = Details {
                health,
                mounts: &mounts,
                networks: &networks,
                ports: &ports,
                descends: ancestors
                    .iter()
                    .any(|a| descends((&c.record.image_id, config), a)),
            };
            if !f.matches_details(&details) {
                continue;
            }
            let size = opts.size.then(|| self.container_layer_size(id));
            let command = config
                .and_then(|image| command_line(&c, image).ok())
                .unwrap_or_default();
            out.push(ContainerSummary {
                command,
                status: status_text(&c.record, health, now),
                created: DateTime::parse_from_rfc3339(&c.record.created_at)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_default(),
                id: c.record.id,
                name: c.record.name,
                image: c.options.image,
                image_id: c.record.image_id,
                state: c.record.status,
                health,
                labels: c.options.labels,
                network_mode: c.options.network,
                networks: networks
                    .into_iter()
                    .map(|(name, id)| NetworkRef { name, id })
                    .collect(),
                ports,
                mounts,
                size,
            });
        }
        Ok(out)
    }

    /// Containers that use an image, for `rmi`.
    pub(crate) fn containers_using(
        &self,
        image: &Digest,
    ) -> Result<Vec<ContainerRecord>, StoreError> {
        Ok(self
            .store
            .list_containers()?
            .into_iter()
            .filter(|c| &c.image_id == image)
            .collect())
    }
}

impl Engine {
    /// `container prune`: removes every container that is not running;
    /// returns their IDs.
    pub fn prune_containers(&mut self) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        for c in self.all_containers()? {
            if !c.record.status.is_active() {
                self.destroy_container(&c.record.id, Some(&c.options.runtime), false)?;
                removed.push(c.record.id);
            }
        }
        Ok(removed)
    }
}
