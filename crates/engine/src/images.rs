//! `images`, `rmi`, `image prune` and `system df`.

use std::collections::HashSet;

use berth_reference::{familiar_match, Reference};
use berth_store::{Digest, ImageRecord, Removed};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::config::ImageConfig;
use crate::{familiar, Engine, EngineError};

/// One row of `images`: an image under one of its tags, or untagged.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRow {
    pub id: Digest,
    /// Familiar repository name (`busybox`), None for `<none>`.
    pub repository: Option<String>,
    pub tag: Option<String>,
    /// The manifest digest the image has in this row's repository.
    pub digest: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub size: u64,
}

/// `--filter` for `images` and `image prune`.
#[derive(Debug, Clone, Default)]
pub struct ImageFilter {
    dangling: Option<bool>,
    references: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    before: Vec<String>,
    since: Vec<String>,
    until: Option<i64>,
    /// `images -a`: also the untagged images build steps left (docker's
    /// intermediate images).
    pub all: bool,
}

impl ImageFilter {
    /// Parses docker's `key=value` filter strings.
    pub fn parse(filters: &[String]) -> Result<ImageFilter, EngineError> {
        let mut f = ImageFilter::default();
        for raw in filters {
            let (k, v) = raw
                .split_once('=')
                .ok_or_else(|| EngineError::InvalidFilter(raw.clone()))?;
            match k {
                "dangling" => {
                    f.dangling = Some(match v.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(EngineError::InvalidFilter(format!(
                                "invalid filter 'dangling={v}'"
                            )))
                        }
                    })
                }
                "reference" => f.references.push(v.to_string()),
                "label" => f.labels.push(match v.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (v.to_string(), None),
                }),
                "before" => f.before.push(v.to_string()),
                "since" => f.since.push(v.to_string()),
                "until" => f.until = Some(parse_until(v)?),
                _ => return Err(EngineError::InvalidFilter(format!("invalid filter '{k}'"))),
            }
        }
        Ok(f)
    }

    /// Adds the positional `images REPOSITORY[:TAG]` argument, which docker
    /// treats as a reference filter.
    pub fn with_reference(mut self, r: &str) -> ImageFilter {
        self.references.push(r.to_string());
        self
    }
}

/// `until=` takes a Unix timestamp, an RFC 3339 date or a duration (`24h`).
fn parse_until(v: &str) -> Result<i64, EngineError> {
    if let Ok(t) = v.parse::<i64>() {
        return Ok(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp());
    }
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| EngineError::InvalidFilter(format!("invalid until filter {v:?}")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => {
            return Err(EngineError::InvalidFilter(format!(
                "invalid until filter {v:?}"
            )))
        }
    };
    Ok(Utc::now().timestamp() - secs)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RmiEvent {
    /// A tag, in familiar form.
    Untagged(String),
    /// An image ID or a layer chain ID.
    Deleted(Digest),
}

/// What `image prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedImage {
    pub events: Vec<RmiEvent>,
    pub reclaimed: u64,
}

/// `system df` for images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpaceUsage {
    pub images: usize,
    pub active_images: usize,
    /// Unpacked layers (shared ones once) plus stored blobs.
    pub size: u64,
    pub reclaimable: u64,
}

fn labels_match(labels: Option<&Map<String, Value>>, want: &[(String, Option<String>)]) -> bool {
    want.iter()
        .all(|(k, v)| match (labels.and_then(|l| l.get(k)), v) {
            (Some(_), None) => true,
            (Some(actual), Some(v)) => actual.as_str() == Some(v.as_str()),
            (None, _) => false,
        })
}

fn removal_events(removed: &Removed, images: &[Digest]) -> Vec<RmiEvent> {
    images
        .iter()
        .cloned()
        .chain(removed.layers.iter().cloned())
        .map(RmiEvent::Deleted)
        .collect()
}

impl Engine {
    fn config_of(&self, id: &Digest) -> Result<ImageConfig, EngineError> {
        ImageConfig::parse(&self.store.content().read(id)?)
    }

    fn created_of(&self, name: &str) -> Result<i64, EngineError> {
        let id = self.resolve_image(name)?;
        Ok(self.store.image(&id)?.created.unwrap_or(0))
    }

    /// `images`: rows newest first.
    pub fn list_images(&self, filter: &ImageFilter) -> Result<Vec<ImageRow>, EngineError> {
        let before: Vec<i64> = filter
            .before
            .iter()
            .map(|b| self.created_of(b))
            .collect::<Result<_, _>>()?;
        let since: Vec<i64> = filter
            .since
            .iter()
            .map(|s| self.created_of(s))
            .collect::<Result<_, _>>()?;
        let intermediate = if filter.all {
            HashSet::new()
        } else {
            self.store.build_step_images()?
        };
        let mut rows = Vec::new();
        for img in self.store.list_images()? {
            let dangling = img.tags.is_empty();
            if filter.dangling.is_some_and(|d| d != dangling) {
                continue;
            }
            if dangling && intermediate.contains(&img.id) {
                continue;
            }
            let created = img.created.unwrap_or(0);
            if before.iter().any(|b| created >= *b) || since.iter().any(|s| created <= *s) {
                continue;
            }
            if filter.until.is_some_and(|u| created >= u) {
                continue;
            }
            if !filter.labels.is_empty()
                && !labels_match(self.config_of(&img.id)?.labels(), &filter.labels)
            {
                continue;
            }
            let created_at = img
                .created
                .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0));
            if dangling {
                // Pulled by digest only: docker lists it under its
                // repository with no tag.
                let by_digest: Vec<(Option<String>, Option<String>)> = img
                    .repo_digests
                    .iter()
                    .filter_map(|d| Reference::parse_normalized(d).ok())
                    .map(|r| (Some(r.familiar_name()), r.digest().map(str::to_string)))
                    .collect();
                let rows_for = if by_digest.is_empty() {
                    vec![(None, None)]
                } else {
                    by_digest
                };
                if filter.references.is_empty() {
                    for (repository, digest) in rows_for {
                        rows.push(ImageRow {
                            id: img.id.clone(),
                            repository,
                            tag: None,
                            digest,
                            created: created_at,
                            size: img.size,
                        });
                    }
                }
                continue;
            }
            for tag in &img.tags {
                let Ok(r) = Reference::parse_normalized(tag) else {
                    continue;
                };
                if !filter.references.is_empty()
                    && !self.reference_matches(&filter.references, &r)?
                {
                    continue;
                }
                let in_repo = format!("{}@", r.name());
                rows.push(ImageRow {
                    id: img.id.clone(),
                    repository: Some(r.familiar_name()),
                    tag: r.tag().map(str::to_string),
                    digest: img
                        .repo_digests
                        .iter()
                        .find_map(|d| d.strip_prefix(&in_repo))
                        .map(str::to_string),
                    created: created_at,
                    size: img.size,
                });
            }
        }
        Ok(rows)
    }

    fn reference_matches(&self, patterns: &[String], r: &Reference) -> Result<bool, EngineError> {
        for p in patterns {
            if familiar_match(p, r)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `rmi NAME`: untags a tag; deletes the image once no tag is left.
    /// Given an ID, untags every tag (all in one repository, or `force`)
    /// and deletes.
    pub fn remove_image(&mut self, name: &str, force: bool) -> Result<Vec<RmiEvent>, EngineError> {
        let by_tag = match Reference::parse_with_default_tag(name) {
            Ok(r) if r.digest().is_none() && !berth_reference::is_full_image_id(name) => {
                let full = r.to_string();
                self.store.image_by_tag(&full)?.map(|id| (id, full))
            }
            _ => None,
        };
        let target = match &by_tag {
            Some((id, _)) => id.clone(),
            None => self.resolve_image(name)?,
        };
        let users = self.containers_using(&target)?;
        if let Some(c) = users.first() {
            if !force {
                return Err(EngineError::ImageInUse {
                    reference: name.to_string(),
                    container: c.id[..12].to_string(),
                    image: target.short().to_string(),
                });
            }
        }
        let mut events = Vec::new();
        let id = match by_tag {
            Some((id, full)) => {
                self.store.untag(&full)?;
                events.push(RmiEvent::Untagged(familiar(&full)));
                if !self.store.image(&id)?.tags.is_empty() {
                    return Ok(events);
                }
                id
            }
            None => {
                let id = self.resolve_image(name)?;
                let record = self.store.image(&id)?;
                let repos: HashSet<String> = record
                    .tags
                    .iter()
                    .filter_map(|t| Reference::parse_normalized(t).ok())
                    .map(|r| r.name())
                    .collect();
                if repos.len() > 1 && !force {
                    return Err(EngineError::ReferencedInMultipleRepositories {
                        id: id.short().to_string(),
                    });
                }
                for tag in &record.tags {
                    self.store.untag(tag)?;
                    events.push(RmiEvent::Untagged(familiar(tag)));
                }
                id
            }
        };
        // A forced removal untags, but a container still needs its image.
        if !users.is_empty() {
            return Ok(events);
        }
        let removed = self.store.delete_images(std::slice::from_ref(&id))?;
        events.extend(removal_events(&removed, &[id]));
        Ok(events)
    }

    /// `image prune`: dangling images, or with `all` every image, except
    /// those a container uses.
    pub fn prune_images(
        &mut self,
        all: bool,
        filter: &ImageFilter,
    ) -> Result<RemovedImage, EngineError> {
        let mut filter = filter.clone();
        // Build steps' images are the build cache: pruned with the rest.
        filter.all = true;
        if !all {
            filter.dangling = Some(true);
        }
        let rows = self.list_images(&filter)?;
        let ids: Vec<Digest> = {
            let mut seen = HashSet::new();
            let used: HashSet<Digest> = self
                .store
                .list_containers()?
                .into_iter()
                .map(|c| c.image_id)
                .collect();
            rows.iter()
                .filter(|r| !used.contains(&r.id) && seen.insert(r.id.clone()))
                .map(|r| r.id.clone())
                .collect()
        };
        let mut events = Vec::new();
        for id in &ids {
            for tag in self.store.image(id)?.tags {
                self.store.untag(&tag)?;
                events.push(RmiEvent::Untagged(familiar(&tag)));
            }
        }
        if ids.is_empty() {
            return Ok(RemovedImage::default());
        }
        let removed = self.store.delete_images(&ids)?;
        events.extend(removal_events(&removed, &ids));
        Ok(RemovedImage {
            events,
            reclaimed: removed.reclaimed,
        })
    }

    /// `system df`, images line.
    pub fn image_space(&self) -> Result<SpaceUsage, EngineError> {
        let images: Vec<ImageRecord> = self.store.list_images()?;
        let layers: u64 = self.store.list_layers()?.iter().map(|l| l.size).sum();
        let blobs = self.store.content_size()?;
        let size = layers + blobs;
        Ok(SpaceUsage {
            images: images.len(),
            active_images: 0,
            size,
            reclaimable: size,
        })
    }
}
