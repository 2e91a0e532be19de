//! OCI manifests: the one berth writes for an image it makes (import,
//! commit, build, a docker-archive without one), and reading the indexes
//! and manifests of archives and registries with errors that say what is
//! wrong.

use berth_store::Digest;
use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// An OCI manifest for a config and layer blobs (digest, media type, size).
pub(crate) fn manifest_json(
    config: &Digest,
    config_size: u64,
    layers: &[(Digest, String, u64)],
) -> Vec<u8> {
    let oci = |d: &Digest| {
        oci_spec::image::Digest::try_from(d.to_string()).expect("a validated sha256 digest")
    };
    let layers = layers
        .iter()
        .map(|(d, mt, size)| Descriptor::new(MediaType::from(mt.as_str()), *size, oci(d)))
        .collect::<Vec<_>>();
    let m: ImageManifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_size,
            oci(config),
        ))
        .layers(layers)
        .build()
        .expect("all required manifest fields are set");
    m.to_string()
        .expect("a manifest always serializes")
        .into_bytes()
}

/// Parses an OCI index or manifest. Every `digest` in it is checked first,
/// so a bad one is reported as "invalid digest ..." (oci-spec would say
/// "serde failed" for it, and for any other mistake); then oci-spec's own
/// checks run, reported with serde's message.
pub(crate) fn parse_oci<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    check_digests(&value)?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn check_digests(value: &Value) -> Result<(), String> {
    match value {
        Value::Object(map) => map.iter().try_for_each(|(key, v)| match (key.as_str(), v) {
            ("digest", Value::String(d)) => {
                d.parse::<Digest>().map(drop).map_err(|e| e.to_string())
            }
            _ => check_digests(v),
        }),
        Value::Array(items) => items.iter().try_for_each(check_digests),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ImageIndex;

    fn index(digest: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":1}}]}}"#
        )
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        let err = parse_oci::<ImageIndex>(index("sha256:../../x").as_bytes()).unwrap_err();
        assert_eq!(
            err,
            r#"invalid digest "sha256:../../x": expected sha256:<64 lowercase hex digits>"#
        );
        let err = parse_oci::<ImageIndex>(br#"{"schemaVersion":2,"manifests":"x"}"#).unwrap_err();
        assert_eq!(err, r#"invalid type: string "x", expected a sequence"#);
        let err = parse_oci::<ImageIndex>(b"not json").unwrap_err();
        assert_eq!(err, "expected ident at line 1 column 2");
        let good = index(&format!("sha256:{}", "a".repeat(64)));
        assert_eq!(
            parse_oci::<ImageIndex>(good.as_bytes())
                .unwrap()
                .manifests()
                .len(),
            1
        );
    }
}
