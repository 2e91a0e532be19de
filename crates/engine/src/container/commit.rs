//! `diff`, `commit` and `export` of a container.

use berth_store::{Digest, ImageCommit, LayerInput};
use chrono::Utc;
use serde_json::{json, Map, Value};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::fs::{changes, export, scan_layer, write_layer, Change};
use super::{ContainerInfo, ContainerStatus};
use crate::image::changes::apply_changes;
use crate::image::config::{push_history, ImageConfig};
use crate::image::manifest::manifest_json;
use crate::{normalize_tag, Engine, EngineError};

/// `commit` options.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// `REPOSITORY[:TAG]` to tag the new image with.
    pub reference: Option<String>,
    /// `-a`.
    pub author: Option<String>,
    /// `-m`: the image's and its new history entry's comment.
    pub message: Option<String>,
    /// `-c`: Dockerfile instructions applied to the new config.
    pub changes: Vec<String>,
    /// `-p`: freeze a running container while its layer is read, so the
    /// layer is one consistent state.
    pub pause: bool,
}

impl Default for CommitOptions {
    fn default() -> Self {
        CommitOptions {
            reference: None,
            author: None,
            message: None,
            changes: Vec::new(),
            pause: true,
        }
    }
}

fn strings(v: &[String]) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

/// docker's `Config.Cmd` of a container: its arguments, else the image's
/// CMD unless `--entrypoint` replaced the image's entrypoint.
fn container_cmd(info: &ContainerInfo, image: &ImageConfig) -> Vec<String> {
    if !info.options.cmd.is_empty() {
        return info.options.cmd.clone();
    }
    if info.options.entrypoint.is_some() {
        return Vec::new();
    }
    image
        .container_config()
        .and_then(|c| c.get("Cmd"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The new image's `config`: the image's, with the container's settings
/// over it (what docker's `Config` of the container holds).
fn committed_config(info: &ContainerInfo, image: &ImageConfig) -> Map<String, Value> {
    let o = &info.options;
    let mut c = image.container_config().cloned().unwrap_or_default();
    c.insert("Cmd".into(), strings(&container_cmd(info, image)));
    match &o.entrypoint {
        Some(e) if e.is_empty() => {
            c.insert("Entrypoint".into(), Value::Null);
        }
        Some(e) => {
            c.insert("Entrypoint".into(), json!([e]));
        }
        None => {}
    }
    let env = crate::container::environment(info, image);
    if !env.is_empty() {
        c.insert("Env".into(), json!(env));
    }
    if let Some(w) = &o.workdir {
        c.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &o.user {
        c.insert("User".into(), json!(u));
    }
    if !o.labels.is_empty() {
        let mut labels = c
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in &o.labels {
            labels.insert(k.clone(), json!(v));
        }
        c.insert("Labels".into(), Value::Object(labels));
    }
    if let Some(s) = &o.stop_signal {
        c.insert("StopSignal".into(), json!(s));
    }
    if let Some(t) = o.stop_timeout {
        c.insert("StopTimeout".into(), json!(t));
    }
    c
}

impl Engine {
    /// A container with its writable layer and its image's layer
    /// directories, top first.
    fn container_layers(
        &mut self,
        s: &str,
    ) -> Result<(ContainerInfo, PathBuf, Vec<PathBuf>), EngineError> {
        let info = self.container(s)?;
        let upper = self.container_dir(&info.record.id).join("upper");
        let layers = self
            .store
            .image_layers(&info.record.image_id)?
            .iter()
            .rev()
            .map(|l| self.store.layer_diff_dir(&l.chain_id))
            .collect();
        Ok((info, upper, layers))
    }

    /// `diff`: what the container changed in its image's filesystem, one
    /// entry per path, sorted by path.
    pub fn container_diff(&mut self, s: &str) -> Result<Vec<Change>, EngineError> {
        let (info, upper, layers) = self.container_layers(s)?;
        changes(&upper, &layers).map_err(|e| {
            EngineError::io(
                format!("read the changes of container {}", info.record.id),
                e,
            )
        })
    }

    /// `export`: the container's filesystem, image and changes merged, as
    /// one tar written to `out`.
    pub fn export_container<W: Write>(&mut self, s: &str, out: W) -> Result<W, EngineError> {
        let (info, upper, layers) = self.container_layers(s)?;
        export(&upper, &layers, out)
            .map_err(|e| EngineError::io(format!("export container {}", info.record.id), e))
    }

    /// `commit`: the container's changes become a new layer on top of its
    /// image, with the container's settings (and `-c` changes) as the new
    /// image's config. Returns the new image's ID.
    pub fn commit_container(
        &mut self,
        s: &str,
        opts: CommitOptions,
    ) -> Result<Digest, EngineError> {
        // Everything that can be refused is checked before the container
        // is paused.
        let tag = opts.reference.as_deref().map(normalize_tag).transpose()?;
        let (info, upper, layers) = self.container_layers(s)?;
        let image_id = info.record.image_id.clone();
        let raw = self.store.content().read(&image_id)?;
        let image = ImageConfig::parse(&raw)?;
        let mut doc: Map<String, Value> =
            serde_json::from_slice(&raw).map_err(|e| EngineError::InvalidConfig {
                what: "json".into(),
                detail: e.to_string(),
            })?;
        let mut container_config = committed_config(&info, &image);
        apply_changes(&mut container_config, &opts.changes)?;
        let created_by = container_cmd(&info, &image).join(" ");
        let base_layers = self.store.image_layers(&image_id)?;

        let paused = if opts.pause && info.record.status == ContainerStatus::Running {
            let backend = self.backend(&info.options.runtime)?;
            backend.pause(&info.record.id)?;
            Some(backend)
        } else {
            None
        };
        let staged = self.stage_container_layer(&info.record.id, &upper, &layers);
        if let Some(backend) = paused {
            if let Err(e) = backend.resume(&info.record.id) {
                // Never leave it frozen silently.
                return Err(EngineError::Internal(format!(
                    "resume container {} after reading its changes: {e}",
                    info.record.id
                )));
            }
        }
        let layer = staged?;

        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        doc.insert("config".into(), Value::Object(container_config));
        doc.insert("container".into(), json!(info.record.id));
        doc.insert("created".into(), json!(now));
        // This config is berth's, not the parent's builder's.
        doc.remove("docker_version");
        doc.remove("container_config");
        match &opts.author {
            Some(a) if !a.is_empty() => {
                doc.insert("author".into(), json!(a));
            }
            _ => {
                doc.remove("author");
            }
        }
        match &opts.message {
            Some(m) if !m.is_empty() => {
                doc.insert("comment".into(), json!(m));
            }
            _ => {
                doc.remove("comment");
            }
        }
        let mut entry = Map::new();
        entry.insert("created".into(), json!(now));
        if let Some(a) = opts.author.as_deref().filter(|a| !a.is_empty()) {
            entry.insert("author".into(), json!(a));
        }
        entry.insert("created_by".into(), json!(created_by));
        if let Some(m) = opts.message.as_deref().filter(|m| !m.is_empty()) {
            entry.insert("comment".into(), json!(m));
        }
        push_history(&mut doc, entry);
        let mut diff_ids: Vec<Value> = image
            .diff_ids()
            .iter()
            .map(|d| json!(d.to_string()))
            .collect();
        diff_ids.push(json!(layer.diff_id().to_string()));
        doc.insert(
            "rootfs".into(),
            json!({ "type": "layers", "diff_ids": diff_ids }),
        );
        let config =
            serde_json::to_vec(&Value::Object(doc)).map_err(|e| EngineError::InvalidConfig {
                what: "json".into(),
                detail: e.to_string(),
            })?;

        let media_type = layer.compression().oci_layer_media_type().to_string();
        let mut descriptors: Vec<(Digest, String, u64)> = base_layers
            .iter()
            .map(|l| {
                (
                    l.blob_digest.clone(),
                    l.blob_media_type.clone(),
                    l.blob_size,
                )
            })
            .collect();
        descriptors.push((
            layer.blob_digest().clone(),
            media_type.clone(),
            layer.blob_size(),
        ));
        let manifest = manifest_json(&Digest::of(&config), config.len() as u64, &descriptors);
        let mut inputs: Vec<LayerInput> = base_layers
            .into_iter()
            .map(|l| LayerInput {
                diff_id: l.diff_id,
                blob_digest: l.blob_digest,
                blob_media_type: l.blob_media_type,
                blob_size: l.blob_size,
                staged: None,
            })
            .collect();
        inputs.push(LayerInput {
            diff_id: layer.diff_id().clone(),
            blob_digest: layer.blob_digest().clone(),
            blob_media_type: media_type,
            blob_size: layer.blob_size(),
            staged: Some(layer),
        });
        let commit = ImageCommit {
            config: self.store.stage_bytes(&config)?,
            manifest: self.store.stage_bytes(&manifest)?,
            manifest_media_type: crate::image::manifest::OCI_MANIFEST.to_string(),
            created: Some(Utc::now().timestamp()),
            layers: inputs,
            tags: tag.into_iter().collect(),
            repo_digests: Vec::new(),
        };
        let mut outcome = self.store.commit_images(vec![commit])?;
        Ok(outcome.remove(0).id)
    }

    /// Streams the container's changes as a layer tar through a pipe into
    /// the store's staging, which stores the blob and unpacks it exactly
    /// as for a pulled or loaded layer.
    pub(crate) fn stage_container_layer(
        &self,
        id: &str,
        upper: &Path,
        layers: &[PathBuf],
    ) -> Result<berth_store::StagedLayer, EngineError> {
        let what = || format!("read the changes of container {id}");
        let scan = scan_layer(upper, layers).map_err(|e| EngineError::io(what(), e))?;
        let (reader, writer) = std::io::pipe().map_err(|e| EngineError::io("create a pipe", e))?;
        std::thread::scope(|s| {
            let producer = s.spawn(move || {
                let out = write_layer(upper, &scan, io::BufWriter::with_capacity(1 << 16, writer))?;
                out.into_inner().map(drop).map_err(|e| e.into_error())
            });
            let staged = self.store.stage_layer(reader);
            // A writer that failed part-way closes the pipe early, which can
            // look like a complete (shorter) tar: its error decides.
            match producer.join() {
                Ok(Ok(())) => Ok(staged?),
                Ok(Err(e)) => Err(EngineError::io(what(), e)),
                Err(_) => Err(EngineError::Internal(format!(
                    "{}: the layer writer panicked",
                    what()
                ))),
            }
        })
    }
}
