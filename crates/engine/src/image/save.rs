//! `save`: images to a docker-archive or an OCI archive.
//!
//! The docker-archive written here is docker 25's layout: an OCI image
//! layout (`blobs/sha256/...`, `index.json`, `oci-layout`) plus docker's
//! `manifest.json`, with uncompressed layers named by their diff ids. Older
//! docker (20.10) loads it through `manifest.json`, newer docker and OCI
//! tools through `index.json`. The OCI archive keeps every stored blob byte
//! for byte (compressed layers stay compressed).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, Write};

use berth_reference::Reference;
use berth_store::{decompress, Digest, HashingReader, ImageLayer};
use serde_json::{json, Value};

use crate::image::manifest::{manifest_json, OCI_MANIFEST};
use crate::{familiar, Engine, EngineError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    DockerArchive,
    OciArchive,
}

/// One image to write, with the tags (full references) to record for it.
struct Target {
    id: Digest,
    tags: Vec<String>,
}

fn is_uncompressed(media_type: &str) -> bool {
    media_type.ends_with(".tar") || media_type == "application/vnd.docker.image.rootfs.diff.tar"
}

struct ArchiveWriter<W: Write> {
    tar: tar::Builder<W>,
    written: HashSet<String>,
}

impl<W: Write> ArchiveWriter<W> {
    fn new(out: W) -> Result<Self, EngineError> {
        let mut w = ArchiveWriter {
            tar: tar::Builder::new(out),
            written: HashSet::new(),
        };
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut h = header(0);
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            w.tar
                .append_data(&mut h, dir, io::empty())
                .map_err(|e| EngineError::io("write archive", e))?;
        }
        Ok(w)
    }

    /// Appends a file once; later calls with the same name are skipped
    /// (layers shared by several saved images).
    fn file(&mut self, name: &str, size: u64, data: impl Read) -> Result<(), EngineError> {
        if !self.written.insert(name.to_string()) {
            return Ok(());
        }
        let mut h = header(size);
        self.tar
            .append_data(&mut h, name, data)
            .map_err(|e| EngineError::io(format!("write {name} to archive"), e))
    }

    fn bytes(&mut self, name: &str, data: &[u8]) -> Result<(), EngineError> {
        self.file(name, data.len() as u64, data)
    }

    fn finish(self) -> Result<W, EngineError> {
        self.tar
            .into_inner()
            .map_err(|e| EngineError::io("finish archive", e))
    }
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn index_entry(manifest: &Digest, media_type: &str, size: usize, tag: Option<&str>) -> Value {
    let mut v = json!({ "mediaType": media_type, "digest": manifest.to_string(), "size": size });
    if let Some(full) = tag.and_then(|t| Reference::parse_normalized(t).ok()) {
        v["annotations"] = json!({
            "io.containerd.image.name": full.to_string(),
            "org.opencontainers.image.ref.name": full.tag().unwrap_or("latest"),
        });
    }
    v
}

impl Engine {
    /// Writes `names` as one archive to `out`.
    pub fn save<W: Write>(
        &self,
        names: &[String],
        format: SaveFormat,
        out: W,
    ) -> Result<W, EngineError> {
        let targets = self.save_targets(names)?;
        let mut w = ArchiveWriter::new(out)?;
        let mut index = Vec::new();
        let mut docker_manifest = Vec::new();
        for t in &targets {
            let config = self.store.content().read(&t.id)?;
            let layers = self.store.image_layers(&t.id)?;
            let image = self.store.image(&t.id)?;
            let (manifest, media_type, layer_names) = match format {
                SaveFormat::OciArchive => {
                    for l in &layers {
                        let f = self.store.content().open(&l.blob_digest)?;
                        w.file(&blob_name(&l.blob_digest), l.blob_size, f)?;
                    }
                    let m = self.store.content().read(&image.manifest_digest)?;
                    (m, image.manifest_media_type.clone(), Vec::new())
                }
                SaveFormat::DockerArchive => {
                    let mut descs = Vec::with_capacity(layers.len());
                    for l in &layers {
                        let size = self.write_uncompressed_layer(&mut w, l)?;
                        descs.push((
                            l.diff_id.clone(),
                            "application/vnd.oci.image.layer.v1.tar".to_string(),
                            size,
                        ));
                    }
                    let stored_is_plain = layers
                        .iter()
                        .all(|l| l.blob_digest == l.diff_id && is_uncompressed(&l.blob_media_type));
                    let m = if stored_is_plain {
                        self.store.content().read(&image.manifest_digest)?
                    } else {
                        manifest_json(&t.id, config.len() as u64, &descs)
                    };
                    let media_type = if stored_is_plain {
                        image.manifest_media_type.clone()
                    } else {
                        OCI_MANIFEST.to_string()
                    };
                    (
                        m,
                        media_type,
                        layers.iter().map(|l| blob_name(&l.diff_id)).collect(),
                    )
                }
            };
            let manifest_digest = Digest::of(&manifest);
            w.bytes(&blob_name(&t.id), &config)?;
            w.bytes(&blob_name(&manifest_digest), &manifest)?;
            if t.tags.is_empty() {
                index.push(index_entry(
                    &manifest_digest,
                    &media_type,
                    manifest.len(),
                    None,
                ));
            }
            for tag in &t.tags {
                index.push(index_entry(
                    &manifest_digest,
                    &media_type,
                    manifest.len(),
                    Some(tag),
                ));
            }
            let repo_tags: Vec<String> = t.tags.iter().map(|t| familiar(t)).collect();
            docker_manifest.push(json!({
                "Config": blob_name(&t.id),
                "RepoTags": if repo_tags.is_empty() { Value::Null } else { json!(repo_tags) },
                "Layers": layer_names,
            }));
        }
        let index = json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index });
        w.bytes("index.json", index.to_string().as_bytes())?;
        if format == SaveFormat::DockerArchive {
            w.bytes(
                "manifest.json",
                Value::Array(docker_manifest).to_string().as_bytes(),
            )?;
        }
        w.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let out = w.finish()?;
        for t in &targets {
            self.emit_image_id_event(&t.id, crate::events::ImageAction::Save);
        }
        Ok(out)
    }

    /// Writes a layer as the uncompressed tar its diff id names, returning
    /// its size. A compressed blob is unpacked to a temporary file first:
    /// a tar entry needs its size before its bytes.
    fn write_uncompressed_layer<W: Write>(
        &self,
        w: &mut ArchiveWriter<W>,
        l: &ImageLayer,
    ) -> Result<u64, EngineError> {
        let name = blob_name(&l.diff_id);
        if l.blob_digest == l.diff_id {
            let f = self.store.content().open(&l.blob_digest)?;
            w.file(&name, l.blob_size, f)?;
            return Ok(l.blob_size);
        }
        let blob = self.store.content().open(&l.blob_digest)?;
        let (_, decoded) = decompress(blob)
            .map_err(|e| EngineError::io(format!("read layer {}", l.blob_digest), e))?;
        let mut hashing = HashingReader::new(decoded);
        let mut tmp = tempfile_in(&self.store.root().join("tmp"))?;
        io::copy(&mut hashing, &mut tmp)
            .map_err(|e| EngineError::io(format!("unpack layer {}", l.blob_digest), e))?;
        let (digest, size) = hashing
            .finish()
            .map_err(|e| EngineError::io(format!("unpack layer {}", l.blob_digest), e))?;
        if digest != l.diff_id {
            return Err(EngineError::archive(format!(
                "stored layer {} unpacks to {digest}, not its diff id {}",
                l.blob_digest, l.diff_id
            )));
        }
        tmp.rewind()
            .map_err(|e| EngineError::io("rewind temporary layer", e))?;
        w.file(&name, size, tmp)?;
        Ok(size)
    }

    /// docker's rules: `name:tag` saves that tag, a bare repository name all
    /// of its tags, an image ID the image untagged.
    fn save_targets(&self, names: &[String]) -> Result<Vec<Target>, EngineError> {
        let mut targets: Vec<Target> = Vec::new();
        let mut add = |id: Digest, tag: Option<String>| {
            let pos = match targets.iter().position(|t| t.id == id) {
                Some(p) => p,
                None => {
                    targets.push(Target {
                        id,
                        tags: Vec::new(),
                    });
                    targets.len() - 1
                }
            };
            if let Some(tag) = tag {
                if !targets[pos].tags.contains(&tag) {
                    targets[pos].tags.push(tag);
                }
            }
        };
        let images = self.store.list_images()?;
        for name in names {
            if let Ok(r) = Reference::parse_normalized(name) {
                if r.is_name_only() {
                    let prefix = format!("{}:", r.name());
                    let mut found = false;
                    for img in &images {
                        for tag in img.tags.iter().filter(|t| t.starts_with(&prefix)) {
                            add(img.id.clone(), Some(tag.clone()));
                            found = true;
                        }
                    }
                    if found {
                        continue;
                    }
                }
                if r.digest().is_none() {
                    let full = r.clone().tag_name_only().to_string();
                    if let Some(id) = self.store.image_by_tag(&full)? {
                        add(id, Some(full));
                        continue;
                    }
                }
            }
            add(self.resolve_image(name)?, None);
        }
        Ok(targets)
    }
}

/// An anonymous temporary file in the store's `tmp/`, gone when closed.
fn tempfile_in(dir: &std::path::Path) -> Result<File, EngineError> {
    tempfile::tempfile_in(dir)
        .map_err(|e| EngineError::io(format!("create temporary file in {}", dir.display()), e))
}
