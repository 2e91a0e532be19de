//! `import`: a filesystem tarball becomes a one-layer image, with
//! Dockerfile-style `--change` instructions applied to its config.

use std::io::Read;

use berth_store::{Digest, ImageCommit, LayerInput};
use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::image::changes::apply_changes;
use crate::image::config::Platform;
use crate::image::manifest::manifest_json;
use crate::{normalize_tag, Engine, EngineError};

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// What the user named as the source ("-" for standard input), recorded
    /// in the history comment as docker does.
    pub source: String,
    pub reference: Option<String>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    /// `os/arch[/variant]`; the host's platform when None.
    pub platform: Option<String>,
}

impl Engine {
    pub fn import(
        &mut self,
        tarball: impl Read,
        opts: ImportOptions,
    ) -> Result<Digest, EngineError> {
        // Everything that can be refused is checked before any byte is read.
        let tag = opts.reference.as_deref().map(normalize_tag).transpose()?;
        let mut container_config = Map::new();
        apply_changes(&mut container_config, &opts.changes)?;
        let Platform { os, arch, variant } = Platform::parse(opts.platform.as_deref())?;

        let layer = self.store.stage_layer(tarball)?;
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let comment = opts
            .message
            .clone()
            .unwrap_or_else(|| format!("Imported from {}", opts.source));
        let mut config = json!({ "architecture": arch });
        if !container_config.is_empty() {
            config["config"] = Value::Object(container_config);
        }
        config["created"] = json!(now);
        config["history"] = json!([{ "created": now, "comment": comment }]);
        config["os"] = json!(os);
        config["rootfs"] = json!({ "type": "layers", "diff_ids": [layer.diff_id().to_string()] });
        if let Some(v) = variant {
            config["variant"] = json!(v);
        }
        let config = serde_json::to_vec(&config).map_err(|e| EngineError::InvalidConfig {
            what: "json".into(),
            detail: e.to_string(),
        })?;
        let config_digest = Digest::of(&config);
        let media_type = layer.compression().oci_layer_media_type().to_string();
        let manifest = manifest_json(
            &config_digest,
            config.len() as u64,
            &[(
                layer.blob_digest().clone(),
                media_type.clone(),
                layer.blob_size(),
            )],
        );
        let commit = ImageCommit {
            config: self.store.stage_bytes(&config)?,
            manifest: self.store.stage_bytes(&manifest)?,
            manifest_media_type: crate::image::manifest::OCI_MANIFEST.to_string(),
            created: Some(Utc::now().timestamp()),
            layers: vec![LayerInput {
                diff_id: layer.diff_id().clone(),
                blob_digest: layer.blob_digest().clone(),
                blob_media_type: media_type,
                blob_size: layer.blob_size(),
                staged: Some(layer),
            }],
            tags: tag.into_iter().collect(),
            repo_digests: Vec::new(),
        };
        let id = self.store.commit_images(vec![commit])?.remove(0).id;
        self.emit_image_id_event(&id, crate::events::ImageAction::Import);
        Ok(id)
    }
}
