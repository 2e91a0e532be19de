//! `image inspect` and `history`, in docker's shapes.

use berth_store::{Digest, ImageRecord};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::image::config::ImageConfig;
use crate::{familiar, Engine, EngineError};

/// One line of `history`, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The image ID for the newest entry; None (`<missing>`) for the rest,
    /// as docker shows for images whose parents are not local.
    pub id: Option<Digest>,
    pub created: Option<DateTime<Utc>>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub empty_layer: bool,
}

/// docker's `container.Config` with every field it always prints, in its
/// order; fields docker omits when empty are added only when present.
fn docker_container_config(c: Option<&Map<String, Value>>) -> Value {
    let mut out = Map::new();
    let always: [(&str, Value); 17] = [
        ("Hostname", json!("")),
        ("Domainname", json!("")),
        ("User", json!("")),
        ("AttachStdin", json!(false)),
        ("AttachStdout", json!(false)),
        ("AttachStderr", json!(false)),
        ("ExposedPorts", Value::Null),
        ("Tty", json!(false)),
        ("OpenStdin", json!(false)),
        ("StdinOnce", json!(false)),
        ("Env", Value::Null),
        ("Cmd", Value::Null),
        ("Image", json!("")),
        ("Volumes", Value::Null),
        ("WorkingDir", json!("")),
        ("Entrypoint", Value::Null),
        ("OnBuild", Value::Null),
    ];
    for (k, default) in always {
        let v = c.and_then(|c| c.get(k)).cloned().unwrap_or(default);
        if k == "ExposedPorts" && v.is_null() {
            continue;
        }
        out.insert(k.to_string(), v);
    }
    out.insert(
        "Labels".into(),
        c.and_then(|c| c.get("Labels"))
            .cloned()
            .unwrap_or(Value::Null),
    );
    for k in [
        "Healthcheck",
        "ArgsEscaped",
        "StopSignal",
        "StopTimeout",
        "Shell",
    ] {
        if let Some(v) = c.and_then(|c| c.get(k)) {
            out.insert(k.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

fn rfc3339(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_default()
}

impl Engine {
    /// `image inspect NAME`: one JSON object in docker's shape.
    pub fn inspect_image(&self, name: &str) -> Result<Value, EngineError> {
        let id = self.resolve_image(name)?;
        let record = self.store.image(&id)?;
        let config = ImageConfig::parse(&self.store.content().read(&id)?)?;
        self.inspect_value(&record, &config)
    }

    fn inspect_value(
        &self,
        record: &ImageRecord,
        config: &ImageConfig,
    ) -> Result<Value, EngineError> {
        let layers = self.store.image_layers(&record.id)?;
        let diff_dirs: Vec<String> = layers
            .iter()
            .rev()
            .map(|l| self.store.layer_diff_dir(&l.chain_id).display().to_string())
            .collect();
        let mut graph = Map::new();
        if let Some((upper, lower)) = diff_dirs.split_first() {
            if !lower.is_empty() {
                graph.insert("LowerDir".into(), json!(lower.join(":")));
            }
            graph.insert("UpperDir".into(), json!(upper));
        }
        let mut v = json!({
            "Id": record.id.to_string(),
            "RepoTags": record.tags.iter().map(|t| familiar(t)).collect::<Vec<_>>(),
            "RepoDigests": record.repo_digests.iter().map(|d| familiar(d)).collect::<Vec<_>>(),
            "Parent": "",
            "Comment": config.str("comment").unwrap_or(""),
            "Created": config.str("created").unwrap_or("0001-01-01T00:00:00Z"),
            "DockerVersion": config.str("docker_version").unwrap_or(""),
            "Author": config.str("author").unwrap_or(""),
            "Config": docker_container_config(config.container_config()),
            "Architecture": config.str("architecture").unwrap_or(""),
        });
        if let Some(variant) = config.str("variant") {
            v["Variant"] = json!(variant);
        }
        v["Os"] = json!(config.str("os").unwrap_or(""));
        v["Size"] = json!(record.size);
        v["GraphDriver"] = json!({ "Data": graph, "Name": "overlay" });
        v["RootFS"] = json!({ "Type": "layers", "Layers": config.diff_ids().iter().map(|d| d.to_string()).collect::<Vec<_>>() });
        v["Metadata"] = json!({ "LastTagTime": record.last_tag_time.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()) });
        Ok(v)
    }

    /// `history NAME`, newest first, with each non-empty entry's layer size.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>, EngineError> {
        let id = self.resolve_image(name)?;
        let config = ImageConfig::parse(&self.store.content().read(&id)?)?;
        let layers = self.store.image_layers(&id)?;
        let mut sizes = layers.iter().map(|l| l.size);
        let mut out = Vec::new();
        for h in config.history() {
            let empty_layer = h
                .get("empty_layer")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let size = if empty_layer {
                0
            } else {
                sizes.next().unwrap_or(0)
            };
            out.push(HistoryEntry {
                id: None,
                created: h
                    .get("created")
                    .and_then(Value::as_str)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|d| d.with_timezone(&Utc)),
                created_by: h
                    .get("created_by")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                size,
                comment: h
                    .get("comment")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                empty_layer,
            });
        }
        out.reverse();
        if let Some(first) = out.first_mut() {
            first.id = Some(id);
        }
        Ok(out)
    }
}
