//! `images`: the images in the store, one summary per image as the Engine
//! API's `/images/json` lists them, filtered.

use std::collections::{BTreeMap, HashMap, HashSet};

use berth_reference::{familiar_match, Reference};
use berth_store::Digest;
use chrono::{DateTime, Utc};

use super::config::ImageConfig;
use crate::filter::{labels_match, Filters};
use crate::{familiar, Engine, EngineError};

/// One image: docker's `image.Summary`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSummary {
    pub id: Digest,
    /// Its tags in familiar form (`busybox:latest`), sorted; with a
    /// `reference=` filter only those that match.
    pub repo_tags: Vec<String>,
    /// `name@digest` of the manifests it is known by in registries, in
    /// familiar form.
    pub repo_digests: Vec<String>,
    pub created: Option<DateTime<Utc>>,
    /// Unpacked size of its layers.
    pub size: u64,
    pub labels: BTreeMap<String, String>,
    /// Containers created from it.
    pub containers: usize,
}

/// `--filter` for `images` and `image prune`, parsed.
#[derive(Debug, Clone, Default)]
pub struct ImageFilter {
    pub(crate) dangling: Option<bool>,
    pub(crate) references: Vec<String>,
    pub(crate) labels: Vec<(String, Option<String>)>,
    pub(crate) before: Vec<String>,
    pub(crate) since: Vec<String>,
    pub(crate) until: Option<i64>,
    /// `images -a`: also the untagged images build steps left (docker's
    /// intermediate images).
    pub all: bool,
}

const KEYS: &[&str] = &["dangling", "reference", "label", "before", "since", "until"];

impl ImageFilter {
    /// Docker's image filters: `dangling`, `reference`, `label`,
    /// `before`, `since`, `until`.
    pub fn new(filters: &Filters) -> Result<ImageFilter, EngineError> {
        filters.check_keys(KEYS)?;
        let dangling = match filters.get("dangling") {
            [] => None,
            [v] => Some(match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(EngineError::Invalid(format!(
                        "invalid filter 'dangling={v}'"
                    )))
                }
            }),
            _ => {
                return Err(EngineError::Invalid(
                    "invalid filter 'dangling': give one value".into(),
                ))
            }
        };
        let until = match filters.get("until").last() {
            Some(v) => Some(parse_until(v)?),
            None => None,
        };
        Ok(ImageFilter {
            dangling,
            references: filters.get("reference").to_vec(),
            labels: filters.labels("label"),
            before: filters.get("before").to_vec(),
            since: filters.get("since").to_vec(),
            until,
            all: false,
        })
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
    crate::events::parse_timestamp(v)
        .map(|t| t.timestamp())
        .map_err(|_| EngineError::Invalid(format!("invalid filter 'until={v}'")))
}

fn labels_of(config: Option<&ImageConfig>) -> BTreeMap<String, String> {
    config
        .and_then(|c| c.labels())
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

impl Engine {
    fn config_of(&self, id: &Digest) -> Result<ImageConfig, EngineError> {
        ImageConfig::parse(&self.store.content().read(id)?)
    }

    fn created_of(&self, name: &str) -> Result<i64, EngineError> {
        let id = self.resolve_image(name)?;
        Ok(self.store.image(&id)?.created.unwrap_or(0))
    }

    /// `images`: one summary per image, newest first.
    pub fn list_images(&self, filter: &ImageFilter) -> Result<Vec<ImageSummary>, EngineError> {
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
        let mut containers: HashMap<Digest, usize> = HashMap::new();
        for c in self.store.list_containers()? {
            *containers.entry(c.image_id).or_default() += 1;
        }
        let mut out = Vec::new();
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
            let labels = labels_of(self.config_of(&img.id).ok().as_ref());
            if !labels_match(&filter.labels, |k| labels.get(k).map(String::as_str)) {
                continue;
            }
            let tags: Vec<Reference> = img
                .tags
                .iter()
                .filter_map(|t| Reference::parse_normalized(t).ok())
                .collect();
            let mut repo_digests: Vec<String> =
                img.repo_digests.iter().map(|d| familiar(d)).collect();
            let repo_tags: Vec<Reference> = if filter.references.is_empty() {
                tags
            } else {
                // As moby: only the matching tags, and the digests of
                // their repositories; an image with none is left out.
                let matching: Vec<Reference> = tags
                    .into_iter()
                    .filter(|r| {
                        self.reference_matches(&filter.references, r)
                            .unwrap_or(false)
                    })
                    .collect();
                if matching.is_empty() {
                    continue;
                }
                let repos: HashSet<String> = matching.iter().map(|r| r.familiar_name()).collect();
                repo_digests.retain(|d| {
                    d.split_once('@')
                        .is_some_and(|(repo, _)| repos.contains(repo))
                });
                matching
            };
            out.push(ImageSummary {
                repo_tags: repo_tags.iter().map(|r| r.familiar_string()).collect(),
                repo_digests,
                created: img
                    .created
                    .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
                size: img.size,
                labels,
                containers: containers.get(&img.id).copied().unwrap_or(0),
                id: img.id,
            });
        }
        Ok(out)
    }

    fn reference_matches(&self, patterns: &[String], r: &Reference) -> Result<bool, EngineError> {
        for p in patterns {
            if familiar_match(p, r)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
