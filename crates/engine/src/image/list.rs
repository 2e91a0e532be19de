//! `images`: the images in the store, filtered.

use berth_reference::{familiar_match, Reference};
use berth_store::Digest;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::HashSet;

use super::config::ImageConfig;
use crate::{Engine, EngineError};

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

fn labels_match(labels: Option<&Map<String, Value>>, want: &[(String, Option<String>)]) -> bool {
    want.iter()
        .all(|(k, v)| match (labels.and_then(|l| l.get(k)), v) {
            (Some(_), None) => true,
            (Some(actual), Some(v)) => actual.as_str() == Some(v.as_str()),
            (None, _) => false,
        })
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
}
