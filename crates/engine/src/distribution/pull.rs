//! `pull`: a manifest from a registry (an index picks this platform), its
//! config, and its layers downloaded in parallel, each unpacked while it
//! streams in; then one commit. Layers the store already has are not
//! fetched; a blob that fails mid-stream is fetched again from the start.

use std::collections::VecDeque;
use std::sync::Mutex;

use berth_reference::Reference;
use berth_registry::{Client, Manifest};
use berth_store::{
    chain_id, Digest, ImageCommit, LayerInput, LayerStager, StagedLayer, StoreError,
};
use oci_spec::image::{ImageIndex, ImageManifest};

use crate::distribution::registry::{registry_client, RegistryOptions};
use crate::events::ImageAction;
use crate::image::config::{ImageConfig, Platform};
use crate::image::manifest::parse_oci;
use crate::progress::{CountingReader, Progress};
use crate::{familiar, Engine, EngineError};

/// Layers downloaded at once, as docker's default `max-concurrent-downloads`.
const PARALLEL_DOWNLOADS: usize = 3;
/// Attempts per blob when the connection drops mid-stream.
const BLOB_ATTEMPTS: usize = 3;
/// Largest image config accepted.
const MAX_CONFIG: u64 = 16 << 20;

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `os/arch[/variant]`; this host's when None.
    pub platform: Option<String>,
    /// Every tag of the repository.
    pub all_tags: bool,
    pub registry: RegistryOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// Familiar form of what was pulled (`busybox:latest`, `x@sha256:..`).
    pub name: String,
    /// Full form (`docker.io/library/busybox:latest`), as docker prints last.
    pub full_name: String,
    /// The digest of the manifest (or index) the reference resolved to.
    pub digest: String,
    pub id: Digest,
    /// The store already had this image under this name.
    pub up_to_date: bool,
}

fn is_index(media_type: &str) -> bool {
    media_type.ends_with("image.index.v1+json") || media_type.ends_with("manifest.list.v2+json")
}

/// Whether a stored layer media type can be unpacked by berth.
fn is_layer(media_type: &str) -> bool {
    media_type.contains("layer") || media_type.contains("rootfs.diff")
}

impl Engine {
    pub fn pull(
        &mut self,
        name: &str,
        opts: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<Vec<Pulled>, EngineError> {
        let reference = Reference::parse_normalized(name)?;
        let client = registry_client(&opts.registry)?;
        let platform = Platform::parse(opts.platform.as_deref())?;
        let references = if opts.all_tags {
            if !reference.is_name_only() {
                return Err(EngineError::InvalidPull(
                    "tag can't be used with --all-tags/-a".into(),
                ));
            }
            let tags = client.list_tags(reference.domain(), reference.path())?;
            tags.iter()
                .map(|t| reference.with_tag(t))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            vec![reference.tag_name_only()]
        };
        let mut out = Vec::new();
        for r in references {
            out.push(self.pull_one(&client, &r, &platform, progress)?);
        }
        Ok(out)
    }

    fn pull_one(
        &mut self,
        client: &Client,
        reference: &Reference,
        platform: &Platform,
        progress: &dyn Progress,
    ) -> Result<Pulled, EngineError> {
        let (registry, repository) = (reference.domain(), reference.path());
        let tag_or_digest = reference.digest().or(reference.tag()).unwrap_or("latest");
        progress.message(&format!(
            "{}: Pulling from {}",
            reference.tag().unwrap_or(tag_or_digest),
            Reference::parse_normalized(&reference.name())
                .map(|r| r.familiar_name())
                .unwrap_or_default()
        ));
        let top = client.get_manifest(registry, repository, tag_or_digest)?;
        let manifest = self.platform_manifest(client, registry, repository, &top, platform)?;
        let parsed: ImageManifest = parse_oci(&manifest.bytes)
            .map_err(|e| EngineError::InvalidPull(format!("manifest {}: {e}", manifest.digest)))?;

        let config_digest: Digest = parsed.config().digest().to_string().parse()?;
        let config_bytes = self.fetch_config(client, registry, repository, &config_digest)?;
        let config = ImageConfig::parse(&config_bytes)?;
        let layers: Vec<_> = parsed
            .layers()
            .iter()
            .filter(|d| is_layer(d.media_type().as_ref()))
            .collect();
        if layers.len() != config.diff_ids().len() {
            return Err(EngineError::InvalidPull(format!(
                "manifest {} lists {} layers but its config lists {} diff ids",
                manifest.digest,
                layers.len(),
                config.diff_ids().len()
            )));
        }
        // Before any download: the store would refuse it at the end.
        berth_store::check_layer_count(layers.len())?;

        let full_tag = reference.tag().map(|_| reference.to_string());
        let already = self.store.image(&config_digest).ok();
        let up_to_date = already.as_ref().is_some_and(|img| {
            full_tag.as_ref().is_some_and(|t| img.tags.contains(t))
                && img
                    .repo_digests
                    .contains(&format!("{}@{}", reference.name(), top.digest))
        });

        // Which layers must be fetched: those whose chain the store lacks.
        let mut inputs = Vec::with_capacity(layers.len());
        let mut jobs = VecDeque::new();
        let mut parent: Option<Digest> = None;
        for (i, (desc, diff_id)) in layers.iter().zip(config.diff_ids()).enumerate() {
            let blob: Digest = desc.digest().to_string().parse()?;
            let chain = chain_id(parent.as_ref(), diff_id);
            let have_layer = self.store.layer_link(&chain)?.is_some();
            let have_blob = self.store.content().exists(&blob);
            if have_layer && have_blob {
                progress.status(blob.short(), "Already exists");
            } else {
                progress.status(blob.short(), "Pulling fs layer");
                jobs.push_back(i);
            }
            inputs.push(LayerInput {
                diff_id: diff_id.clone(),
                blob_digest: blob,
                blob_media_type: desc.media_type().to_string(),
                blob_size: desc.size(),
                staged: None,
            });
            parent = Some(chain);
        }
        let fetched = self.fetch_layers(client, registry, repository, &inputs, jobs, progress)?;
        for (i, staged) in fetched {
            inputs[i].staged = Some(staged);
        }

        let mut repo_digests = vec![(reference.name(), top.digest.clone())];
        repo_digests.dedup();
        let commit = ImageCommit {
            config: self.store.stage_bytes(&config_bytes)?,
            manifest: self.store.stage_bytes(&manifest.bytes)?,
            manifest_media_type: manifest.media_type.clone(),
            created: config.created().map(|c| c.timestamp()),
            layers: inputs,
            tags: full_tag.into_iter().collect(),
            repo_digests,
        };
        let outcome = self.store.commit_images(vec![commit])?.remove(0);
        let name = familiar(&reference.to_string());
        self.emit_image_event(
            &outcome.id,
            name.clone(),
            familiar(&reference.name()),
            ImageAction::Pull,
        );
        progress.message(&format!("Digest: {}", top.digest));
        Ok(Pulled {
            name,
            full_name: reference.to_string(),
            digest: top.digest,
            id: outcome.id,
            up_to_date,
        })
    }

    /// Follows an index (manifest list) to the manifest for `platform`.
    fn platform_manifest(
        &self,
        client: &Client,
        registry: &str,
        repository: &str,
        top: &Manifest,
        platform: &Platform,
    ) -> Result<Manifest, EngineError> {
        if !is_index(&top.media_type) {
            return Ok(top.clone());
        }
        let index: ImageIndex = parse_oci(&top.bytes)
            .map_err(|e| EngineError::InvalidPull(format!("index {}: {e}", top.digest)))?;
        let chosen = index
            .manifests()
            .iter()
            .find(|d| {
                d.platform().as_ref().is_some_and(|p| {
                    p.os().to_string() == platform.os
                        && p.architecture().to_string() == platform.arch
                        && platform
                            .variant
                            .as_ref()
                            .is_none_or(|v| p.variant().as_deref() == Some(v.as_str()))
                })
            })
            .ok_or_else(|| {
                let variant = platform
                    .variant
                    .as_ref()
                    .map(|v| format!("/{v}"))
                    .unwrap_or_default();
                EngineError::InvalidPull(format!(
                    "no matching manifest for {}/{}{variant} in the manifest list entries",
                    platform.os, platform.arch
                ))
            })?;
        let m = client.get_manifest(registry, repository, chosen.digest().as_ref())?;
        if is_index(&m.media_type) {
            return Err(EngineError::InvalidPull(format!(
                "index {} points at another index",
                top.digest
            )));
        }
        Ok(m)
    }

    fn fetch_config(
        &self,
        client: &Client,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<Vec<u8>, EngineError> {
        if self.store.content().exists(digest) {
            return Ok(self.store.content().read(digest)?);
        }
        let mut bytes = Vec::new();
        let blob = client.get_blob(registry, repository, &digest.to_string())?;
        std::io::Read::read_to_end(&mut std::io::Read::take(blob, MAX_CONFIG + 1), &mut bytes)
            .map_err(|e| EngineError::io(format!("read config {digest}"), e))?;
        if bytes.len() as u64 > MAX_CONFIG {
            return Err(EngineError::InvalidPull(format!(
                "config {digest} is larger than {MAX_CONFIG} bytes"
            )));
        }
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(EngineError::InvalidPull(format!(
                "config {digest} does not match its digest (got {actual})"
            )));
        }
        Ok(bytes)
    }

    /// Downloads and unpacks the layers at `jobs` (indexes into `layers`),
    /// a few at a time.
    fn fetch_layers(
        &self,
        client: &Client,
        registry: &str,
        repository: &str,
        layers: &[LayerInput],
        jobs: VecDeque<usize>,
        progress: &dyn Progress,
    ) -> Result<Vec<(usize, StagedLayer)>, EngineError> {
        let queue = Mutex::new(jobs);
        let results = Mutex::new(Vec::new());
        let failure: Mutex<Option<EngineError>> = Mutex::new(None);
        let stager = self.store.stager();
        let workers = PARALLEL_DOWNLOADS.min(queue.lock().expect("queue lock").len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    if failure.lock().expect("failure lock").is_some() {
                        return;
                    }
                    let Some(i) = queue.lock().expect("queue lock").pop_front() else {
                        return;
                    };
                    match fetch_layer(client, registry, repository, &layers[i], &stager, progress) {
                        Ok(staged) => results.lock().expect("results lock").push((i, staged)),
                        Err(e) => {
                            failure.lock().expect("failure lock").get_or_insert(e);
                            return;
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().expect("failure lock") {
            return Err(e);
        }
        Ok(results.into_inner().expect("results lock"))
    }
}

fn fetch_layer(
    client: &Client,
    registry: &str,
    repository: &str,
    layer: &LayerInput,
    stager: &LayerStager,
    progress: &dyn Progress,
) -> Result<StagedLayer, EngineError> {
    let id = layer.blob_digest.short();
    let mut attempt = 0;
    let staged = loop {
        attempt += 1;
        let blob = client.get_blob(registry, repository, &layer.blob_digest.to_string())?;
        let reader = CountingReader::new(blob, id, Some(layer.blob_size), progress);
        match stager.stage_layer(reader) {
            Ok(staged) => break staged,
            // A dropped connection: fetch the blob again from the start.
            Err(StoreError::Io { what, error }) if attempt < BLOB_ATTEMPTS => {
                tracing::warn!(layer = %layer.blob_digest, attempt, "{what}: {error}; retrying");
                progress.status(
                    id,
                    &format!(
                        "Retrying in {attempt} second{}",
                        if attempt == 1 { "" } else { "s" }
                    ),
                );
                std::thread::sleep(std::time::Duration::from_secs(attempt as u64));
            }
            Err(StoreError::BadLayer { blob, .. }) if blob != layer.blob_digest => {
                return Err(EngineError::InvalidPull(format!(
                    "layer {} does not match its digest (got {blob})",
                    layer.blob_digest
                )))
            }
            Err(e) => {
                return Err(EngineError::InvalidPull(format!(
                    "layer {}: {e}",
                    layer.blob_digest
                )))
            }
        }
    };
    progress.status(id, "Verifying Checksum");
    if staged.blob_digest() != &layer.blob_digest {
        return Err(EngineError::InvalidPull(format!(
            "layer {} does not match its digest (got {})",
            layer.blob_digest,
            staged.blob_digest()
        )));
    }
    if staged.diff_id() != &layer.diff_id {
        return Err(EngineError::InvalidPull(format!(
            "layer {} unpacks to {} but the image config expects {}",
            layer.blob_digest,
            staged.diff_id(),
            layer.diff_id
        )));
    }
    progress.status(id, "Download complete");
    progress.status(id, "Pull complete");
    Ok(staged)
}
