//! The OCI manifest berth writes for an image it makes (import, commit,
//! build, a docker-archive without one).

use berth_store::Digest;
use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};

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
