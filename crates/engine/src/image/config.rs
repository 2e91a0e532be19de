//! Image configs, kept as the raw JSON document.
//!
//! oci-spec's `ImageConfiguration` drops docker's extensions to the config
//! (Healthcheck, OnBuild, Shell, container_config ...), which `inspect` must
//! show and `save` must keep, so the config is read as JSON and only the
//! fields berth needs are checked. Manifests and indexes use oci-spec.

use berth_store::Digest;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::EngineError;

#[derive(Debug, Clone)]
pub struct ImageConfig {
    doc: Map<String, Value>,
    diff_ids: Vec<Digest>,
}

fn invalid(what: &str, detail: impl Into<String>) -> EngineError {
    EngineError::InvalidConfig {
        what: what.to_string(),
        detail: detail.into(),
    }
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, EngineError> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| invalid("json", e.to_string()))?;
        let Value::Object(doc) = doc else {
            return Err(invalid("json", "not a JSON object"));
        };
        let rootfs = doc
            .get("rootfs")
            .ok_or_else(|| invalid("rootfs", "missing"))?;
        let ids = rootfs
            .get("diff_ids")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let diff_ids = ids
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| invalid("rootfs.diff_ids", "not a string"))?
                    .parse()
                    .map_err(|e: berth_store::StoreError| invalid("rootfs.diff_ids", e.to_string()))
            })
            .collect::<Result<Vec<Digest>, _>>()?;
        if let Some(created) = doc.get("created").and_then(Value::as_str) {
            DateTime::parse_from_rfc3339(created)
                .map_err(|e| invalid("created", format!("{created:?}: {e}")))?;
        }
        Ok(ImageConfig { doc, diff_ids })
    }

    pub fn diff_ids(&self) -> &[Digest] {
        &self.diff_ids
    }

    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.str("created")
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.doc.get(key).and_then(Value::as_str)
    }

    /// The container defaults (`config` in the image config).
    pub fn container_config(&self) -> Option<&Map<String, Value>> {
        self.doc.get("config").and_then(Value::as_object)
    }

    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.container_config()
            .and_then(|c| c.get("Labels"))
            .and_then(Value::as_object)
    }

    pub fn history(&self) -> &[Value] {
        self.doc
            .get("history")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.doc.get(key)
    }
}

/// An OS/architecture pair (`linux/amd64`, `linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]`; None means this host's platform.
    pub(crate) fn parse(p: Option<&str>) -> Result<Platform, EngineError> {
        let Some(p) = p else {
            return Ok(Platform {
                os: "linux".into(),
                arch: host_architecture().into(),
                variant: None,
            });
        };
        let parts: Vec<&str> = p.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(EngineError::InvalidPlatform(p.to_string())),
        }
    }
}

/// The platform this berth runs containers for, in OCI terms.
pub(crate) fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Appends `entry` to an image config's `history`.
pub(crate) fn push_history(doc: &mut Map<String, Value>, entry: Map<String, Value>) {
    let mut history = doc
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    history.push(Value::Object(entry));
    doc.insert("history".into(), Value::Array(history));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_diff_ids_and_created() {
        let c = ImageConfig::parse(
            br#"{"architecture":"amd64","os":"linux","created":"2023-05-18T19:53:48.127316862Z",
                "rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#,
        )
        .unwrap();
        assert_eq!(c.diff_ids().len(), 1);
        assert_eq!(c.created().unwrap().timestamp(), 1684439628);
    }

    #[test]
    fn rejects_bad_configs_naming_the_field() {
        let err = ImageConfig::parse(br#"{"rootfs":{"diff_ids":["md5:00"]}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("rootfs.diff_ids"), "{err}");
        let err = ImageConfig::parse(br#"{"os":"linux"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("rootfs"), "{err}");
        let err = ImageConfig::parse(br#"{"rootfs":{},"created":"yesterday"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("created"), "{err}");
    }
}
