//! `load`: docker-archives (`docker save`, old and new layouts), OCI
//! archives and OCI image layout directories.
//!
//! The archive is read once, front to back. Entries may come in any order
//! (docker writes `manifest.json` last), so each file is staged as it
//! arrives: small JSON documents are kept in memory, anything else is
//! treated as a possible layer and unpacked into a staging directory while
//! its bytes are stored as a blob. Once the whole archive has been read the
//! manifests decide which staged layers form which image; everything is
//! verified before the store is touched, and then all images are committed
//! in one transaction. Staged files that no image uses are dropped.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use berth_store::{Digest, ImageCommit, LayerInput, StagedLayer};
use oci_spec::image::{ImageIndex, ImageManifest};
use serde::Deserialize;

use crate::image::config::{host_architecture, ImageConfig};
use crate::image::manifest::{parse_oci, OCI_MANIFEST};
use crate::{familiar, normalize_tag, Engine, EngineError};

/// Largest JSON document (config, manifest, index) accepted from an archive.
const MAX_JSON: u64 = 64 << 20;

pub enum LoadSource {
    /// A tar stream: a file or standard input.
    Stream(Box<dyn Read>),
    /// An OCI image layout directory.
    Directory(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: Digest,
    /// Familiar forms, as docker prints them.
    pub tags: Vec<String>,
    /// Tags that were taken from another image: (tag, previous image).
    pub moved_tags: Vec<(String, Digest)>,
}

enum Staged {
    Json(Vec<u8>),
    Layer(StagedLayer),
    /// A blob the store already holds as a layer: (blob, diff id, media type).
    Known(Digest, Digest, String),
    /// Not a JSON document and not a layer; the error says why, in case a
    /// manifest turns out to name it.
    Unusable(String),
    Symlink(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// One image found in the archive, before it is committed.
struct Resolved {
    config: Vec<u8>,
    manifest: Vec<u8>,
    manifest_media_type: String,
    /// (path in archive, blob digest, diff id, media type).
    layers: Vec<(String, Digest, Digest, String)>,
    tags: Vec<String>,
}

fn clean(path: &str) -> String {
    let mut p = path.trim_start_matches("./");
    while let Some(rest) = p.strip_prefix('/') {
        p = rest;
    }
    p.to_string()
}

fn blob_path(d: &str) -> String {
    format!("blobs/{}", d.replacen(':', "/", 1))
}

impl Engine {
    pub fn load(&mut self, source: LoadSource) -> Result<Vec<LoadedImage>, EngineError> {
        let mut staged = HashMap::new();
        match source {
            LoadSource::Stream(r) => self.stage_tar(r, &mut staged)?,
            LoadSource::Directory(dir) => self.stage_dir(&dir, &mut staged)?,
        }
        let resolved = resolve(&staged)?;
        if resolved.is_empty() {
            return Err(EngineError::archive("no images found in the archive"));
        }
        let mut commits = Vec::with_capacity(resolved.len());
        let mut batch = Batch::default();
        for r in resolved {
            commits.push(self.prepare_commit(r, &mut staged, &mut batch)?);
        }
        let tags: Vec<Vec<String>> = commits
            .iter()
            .map(|c| c.tags.iter().map(|t| familiar(t)).collect())
            .collect();
        let outcomes = self.store.commit_images(commits)?;
        for o in &outcomes {
            self.emit_image_id_event(&o.id, crate::events::ImageAction::Load);
        }
        Ok(outcomes
            .into_iter()
            .zip(tags)
            .map(|(o, tags)| LoadedImage {
                id: o.id,
                tags,
                moved_tags: o
                    .moved_tags
                    .into_iter()
                    .map(|(t, old)| (familiar(&t), old))
                    .collect(),
            })
            .collect())
    }

    fn stage_tar(
        &self,
        r: Box<dyn Read>,
        staged: &mut HashMap<String, Staged>,
    ) -> Result<(), EngineError> {
        // `docker save | gzip` archives load too, as with docker.
        let (_, r) = berth_store::decompress(r).map_err(|e| EngineError::io("read archive", e))?;
        let mut archive = tar::Archive::new(r);
        let entries = archive
            .entries()
            .map_err(|e| EngineError::io("read archive", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| EngineError::io("read archive", e))?;
            let path = clean(
                &entry
                    .path()
                    .map_err(|e| EngineError::io("read archive entry name", e))?
                    .to_string_lossy(),
            );
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let item = self.stage_file(&path, entry)?;
                    staged.insert(path, item);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    // docker save links a layer that appears twice to its
                    // first copy.
                    let target = entry
                        .link_name()
                        .map_err(|e| EngineError::io(format!("read link target of {path}"), e))?
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    staged.insert(path, Staged::Symlink(target));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn stage_dir(
        &self,
        dir: &Path,
        staged: &mut HashMap<String, Staged>,
    ) -> Result<(), EngineError> {
        if !dir.join("index.json").exists() {
            return Err(EngineError::archive(format!(
                "{} has no index.json: not an OCI image layout",
                dir.display()
            )));
        }
        let mut files = vec!["index.json".to_string()];
        let blobs = dir.join("blobs/sha256");
        for e in std::fs::read_dir(&blobs)
            .map_err(|e| EngineError::io(format!("read {}", blobs.display()), e))?
        {
            let e = e.map_err(|e| EngineError::io(format!("read {}", blobs.display()), e))?;
            files.push(format!("blobs/sha256/{}", e.file_name().to_string_lossy()));
        }
        for rel in files {
            let p = dir.join(&rel);
            let f =
                File::open(&p).map_err(|e| EngineError::io(format!("open {}", p.display()), e))?;
            let item = self.stage_file(&rel, f)?;
            staged.insert(rel, item);
        }
        Ok(())
    }

    fn stage_file(&self, path: &str, r: impl Read) -> Result<Staged, EngineError> {
        let mut r = BufReader::with_capacity(256 * 1024, r);
        let head = r
            .fill_buf()
            .map_err(|e| EngineError::io(format!("read {path}"), e))?;
        if matches!(
            head.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{') | Some(b'[')
        ) {
            let mut buf = Vec::new();
            r.take(MAX_JSON + 1)
                .read_to_end(&mut buf)
                .map_err(|e| EngineError::io(format!("read {path}"), e))?;
            if buf.len() as u64 > MAX_JSON {
                return Err(EngineError::archive(format!(
                    "{path} is larger than {MAX_JSON} bytes"
                )));
            }
            return Ok(Staged::Json(buf));
        }
        // A layer blob already in the store needs no second unpacking.
        if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            if let Ok(blob) = Digest::from_hex(hex) {
                if self.store.content().exists(&blob) {
                    if let Some((diff_id, media_type)) = self.store.layer_by_blob(&blob)? {
                        std::io::copy(&mut r, &mut std::io::sink())
                            .map_err(|e| EngineError::io(format!("read {path}"), e))?;
                        return Ok(Staged::Known(blob, diff_id, media_type));
                    }
                }
            }
        }
        match self.store.stage_layer(&mut r) {
            Ok(layer) => Ok(Staged::Layer(layer)),
            Err(e) => {
                // The rest of the entry must still be consumed; a read error
                // here is the archive's, not this file's.
                std::io::copy(&mut r, &mut std::io::sink())
                    .map_err(|e| EngineError::io(format!("read {path}"), e))?;
                Ok(Staged::Unusable(e.to_string()))
            }
        }
    }

    /// Turns a resolved image into a store commit, taking its staged layers.
    fn prepare_commit(
        &self,
        r: Resolved,
        staged: &mut HashMap<String, Staged>,
        batch: &mut Batch,
    ) -> Result<ImageCommit, EngineError> {
        let config = ImageConfig::parse(&r.config)?;
        let mut layers = Vec::with_capacity(r.layers.len());
        for (path, blob, diff_id, media_type) in r.layers {
            let staged_layer = match staged.remove(&path) {
                Some(Staged::Layer(l)) => Some(l),
                other => {
                    if let Some(o) = other {
                        staged.insert(path.clone(), o);
                    }
                    None
                }
            };
            let blob_size = match &staged_layer {
                Some(l) => l.blob_size(),
                None => match batch.blobs.get(&blob) {
                    Some(size) => *size,
                    None => self.store.content().size(&blob)?,
                },
            };
            batch.blobs.insert(blob.clone(), blob_size);
            layers.push(LayerInput {
                diff_id,
                blob_digest: blob,
                blob_media_type: media_type,
                blob_size,
                staged: staged_layer,
            });
        }
        // A layer already stored under another parent chain is unpacked again
        // from its stored blob.
        let mut parent = None;
        for l in layers.iter_mut() {
            let chain = berth_store::chain_id(parent.as_ref(), &l.diff_id);
            if l.staged.is_none()
                && !batch.chains.contains(&chain)
                && self.store.layer_link(&chain)?.is_none()
            {
                let f = self.store.content().open(&l.blob_digest)?;
                l.staged = Some(self.store.stage_layer(f)?);
            }
            batch.chains.insert(chain.clone());
            parent = Some(chain);
        }
        Ok(ImageCommit {
            config: self.store.stage_bytes(&r.config)?,
            manifest: self.store.stage_bytes(&r.manifest)?,
            manifest_media_type: r.manifest_media_type,
            created: config.created().map(|c| c.timestamp()),
            layers,
            tags: r.tags,
            repo_digests: Vec::new(),
        })
    }
}

/// Layers and blobs that earlier images of the same load will install.
#[derive(Default)]
struct Batch {
    chains: std::collections::HashSet<Digest>,
    blobs: HashMap<Digest, u64>,
}

/// Follows `docker save`'s links between duplicate entries.
fn lookup<'a>(staged: &'a HashMap<String, Staged>, path: &str) -> Option<(String, &'a Staged)> {
    let mut p = clean(path);
    for _ in 0..8 {
        match staged.get(&p)? {
            Staged::Symlink(target) => {
                let base = Path::new(&p).parent().unwrap_or(Path::new(""));
                p = clean(&normalize(&base.join(target)));
            }
            s => return Some((p, s)),
        }
    }
    None
}

fn normalize(p: &Path) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n.to_str().unwrap_or_default()),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.join("/")
}

fn json<'a>(
    staged: &'a HashMap<String, Staged>,
    path: &str,
    named_by: &str,
) -> Result<&'a [u8], EngineError> {
    match lookup(staged, path) {
        Some((_, Staged::Json(b))) => Ok(b),
        Some(_) => Err(EngineError::archive(format!(
            "{path}, named in {named_by}, is not a JSON document"
        ))),
        None => Err(EngineError::archive(format!(
            "{path}, named in {named_by}, is missing from the archive"
        ))),
    }
}

/// A blob-addressed JSON document, checked against its digest.
fn verified_json<'a>(
    staged: &'a HashMap<String, Staged>,
    digest: &str,
    named_by: &str,
) -> Result<&'a [u8], EngineError> {
    let bytes = json(staged, &blob_path(digest), named_by)?;
    let actual = Digest::of(bytes);
    if actual.to_string() != digest {
        return Err(EngineError::archive(format!(
            "blob {digest} does not match its digest (got {actual})"
        )));
    }
    Ok(bytes)
}

/// Works out the images an archive holds from its manifests.
fn resolve(staged: &HashMap<String, Staged>) -> Result<Vec<Resolved>, EngineError> {
    if let Some(Staged::Json(bytes)) = staged.get("manifest.json") {
        let entries: Vec<DockerManifestEntry> = serde_json::from_slice(bytes)
            .map_err(|e| EngineError::archive(format!("manifest.json: {e}")))?;
        return entries
            .into_iter()
            .map(|e| resolve_docker_entry(staged, e))
            .collect();
    }
    if let Some(Staged::Json(bytes)) = staged.get("index.json") {
        let index: ImageIndex =
            parse_oci(bytes).map_err(|e| EngineError::archive(format!("index.json: {e}")))?;
        let mut out = Vec::new();
        for desc in index.manifests() {
            let tags = desc
                .annotations()
                .as_ref()
                .and_then(tag_from_annotations)
                .into_iter()
                .collect::<Vec<_>>();
            let tags = tags
                .iter()
                .map(|t| normalize_tag(t))
                .collect::<Result<Vec<_>, _>>()?;
            let (digest, media_type) =
                pick_manifest(staged, desc.digest().as_ref(), desc.media_type().as_ref())?;
            out.push(resolve_oci_manifest(staged, &digest, &media_type, tags)?);
        }
        return Ok(out);
    }
    if staged.contains_key("repositories") {
        return Err(EngineError::archive(
            "legacy docker archive without manifest.json (docker before 1.10) is not supported",
        ));
    }
    Err(EngineError::archive(
        "neither manifest.json nor index.json found: not a docker or OCI image archive",
    ))
}

fn tag_from_annotations(a: &HashMap<String, String>) -> Option<String> {
    if let Some(name) = a.get("io.containerd.image.name") {
        return Some(name.clone());
    }
    // A bare tag ("latest") names no repository; only a full name is a tag.
    a.get("org.opencontainers.image.ref.name")
        .filter(|n| n.contains(':') || n.contains('/'))
        .cloned()
}

/// Descends through image indexes (manifest lists) to the manifest for
/// this host's platform.
fn pick_manifest(
    staged: &HashMap<String, Staged>,
    digest: &str,
    media_type: &str,
) -> Result<(String, String), EngineError> {
    let is_index = media_type.ends_with("image.index.v1+json")
        || media_type.ends_with("manifest.list.v2+json");
    if !is_index {
        return Ok((digest.to_string(), media_type.to_string()));
    }
    let bytes = verified_json(staged, digest, "index.json")?;
    let index: ImageIndex =
        parse_oci(bytes).map_err(|e| EngineError::archive(format!("index {digest}: {e}")))?;
    let arch = host_architecture();
    let chosen = index
        .manifests()
        .iter()
        .find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == arch
            })
        })
        .ok_or_else(|| {
            EngineError::archive(format!("index {digest} has no image for linux/{arch}"))
        })?;
    pick_manifest(
        staged,
        chosen.digest().as_ref(),
        chosen.media_type().as_ref(),
    )
}

fn resolve_oci_manifest(
    staged: &HashMap<String, Staged>,
    digest: &str,
    media_type: &str,
    tags: Vec<String>,
) -> Result<Resolved, EngineError> {
    let manifest = verified_json(staged, digest, "index.json")?.to_vec();
    let m: ImageManifest = parse_oci(&manifest)
        .map_err(|e| EngineError::archive(format!("manifest {digest}: {e}")))?;
    let config_digest = m.config().digest().to_string();
    let config = verified_json(staged, &config_digest, &format!("manifest {digest}"))?.to_vec();
    let cfg = ImageConfig::parse(&config)?;
    if cfg.diff_ids().len() != m.layers().len() {
        return Err(EngineError::archive(format!(
            "manifest {digest} lists {} layers but its config lists {} diff ids",
            m.layers().len(),
            cfg.diff_ids().len()
        )));
    }
    let mut layers = Vec::new();
    for (desc, diff_id) in m.layers().iter().zip(cfg.diff_ids()) {
        let blob: Digest = desc.digest().to_string().parse()?;
        let path = blob_path(&blob.to_string());
        let (path, found) = lookup(staged, &path).ok_or_else(|| {
            EngineError::archive(format!("manifest {digest} names missing blob {blob}"))
        })?;
        check_layer(found, &path, &blob, diff_id)?;
        layers.push((path, blob, diff_id.clone(), desc.media_type().to_string()));
    }
    Ok(Resolved {
        config,
        manifest,
        manifest_media_type: media_type.to_string(),
        layers,
        tags,
    })
}

/// Checks that a staged entry is the layer a manifest expects.
fn check_layer(
    found: &Staged,
    path: &str,
    blob: &Digest,
    diff_id: &Digest,
) -> Result<(), EngineError> {
    let (actual_blob, actual_diff) = match found {
        Staged::Layer(l) => (l.blob_digest(), l.diff_id()),
        Staged::Known(b, d, _) => (b, d),
        Staged::Unusable(e) => return Err(EngineError::archive(format!("layer {path}: {e}"))),
        _ => {
            return Err(EngineError::archive(format!(
                "layer {path} is not a tar archive"
            )))
        }
    };
    if actual_blob != blob {
        return Err(EngineError::archive(format!(
            "layer {path} does not match its digest {blob} (got {actual_blob})"
        )));
    }
    if actual_diff != diff_id {
        return Err(EngineError::archive(format!(
            "layer {path} has diff id {actual_diff} but the image config expects {diff_id}"
        )));
    }
    Ok(())
}

fn resolve_docker_entry(
    staged: &HashMap<String, Staged>,
    e: DockerManifestEntry,
) -> Result<Resolved, EngineError> {
    let config = json(staged, &e.config, "manifest.json")?.to_vec();
    let config_digest = Digest::of(&config);
    let cfg = ImageConfig::parse(&config)?;
    if cfg.diff_ids().len() != e.layers.len() {
        return Err(EngineError::archive(format!(
            "manifest.json lists {} layers for {} but its config lists {} diff ids",
            e.layers.len(),
            e.config,
            cfg.diff_ids().len()
        )));
    }
    let mut layers = Vec::new();
    for (layer_path, diff_id) in e.layers.iter().zip(cfg.diff_ids()) {
        let (path, found) = lookup(staged, layer_path).ok_or_else(|| {
            EngineError::archive(format!(
                "layer {layer_path}, named in manifest.json, is missing from the archive"
            ))
        })?;
        let (blob, media_type) = match found {
            Staged::Layer(l) => (
                l.blob_digest().clone(),
                l.compression().oci_layer_media_type().to_string(),
            ),
            Staged::Known(b, _, mt) => (b.clone(), mt.clone()),
            Staged::Unusable(err) => {
                return Err(EngineError::archive(format!("layer {layer_path}: {err}")))
            }
            _ => {
                return Err(EngineError::archive(format!(
                    "layer {layer_path} is not a tar archive"
                )))
            }
        };
        check_layer(found, &path, &blob, diff_id)?;
        layers.push((path, blob, diff_id.clone(), media_type));
    }
    // docker's newer archives carry the OCI manifest too: keep it byte for
    // byte when it describes exactly these blobs.
    let (manifest, manifest_media_type) = match stored_manifest_for(staged, &config_digest, &layers)
    {
        Some(found) => found,
        None => synthesize_manifest(&config_digest, config.len() as u64, &layers, staged)?,
    };
    let tags = e
        .repo_tags
        .unwrap_or_default()
        .iter()
        .map(|t| normalize_tag(t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Resolved {
        config,
        manifest,
        manifest_media_type,
        layers,
        tags,
    })
}

fn stored_manifest_for(
    staged: &HashMap<String, Staged>,
    config: &Digest,
    layers: &[(String, Digest, Digest, String)],
) -> Option<(Vec<u8>, String)> {
    let Some(Staged::Json(index)) = staged.get("index.json") else {
        return None;
    };
    let index = ImageIndex::from_reader(&index[..]).ok()?;
    for desc in index.manifests() {
        let bytes = verified_json(staged, desc.digest().as_ref(), "index.json").ok()?;
        let Ok(m) = ImageManifest::from_reader(bytes) else {
            continue;
        };
        let same_layers = m.layers().len() == layers.len()
            && m.layers()
                .iter()
                .zip(layers)
                .all(|(d, l)| d.digest().to_string() == l.1.to_string());
        if m.config().digest().to_string() == config.to_string() && same_layers {
            return Some((bytes.to_vec(), desc.media_type().to_string()));
        }
    }
    None
}

/// An OCI manifest for an image that arrived without one.
fn synthesize_manifest(
    config: &Digest,
    config_size: u64,
    layers: &[(String, Digest, Digest, String)],
    staged: &HashMap<String, Staged>,
) -> Result<(Vec<u8>, String), EngineError> {
    let descs = layers
        .iter()
        .map(|(path, blob, _, media_type)| {
            let size = match lookup(staged, path) {
                Some((_, Staged::Layer(l))) => l.blob_size(),
                _ => 0,
            };
            (blob.clone(), media_type.clone(), size)
        })
        .collect::<Vec<_>>();
    Ok((
        crate::image::manifest::manifest_json(config, config_size, &descs),
        OCI_MANIFEST.to_string(),
    ))
}
