//! Disk space used by images, for `system df`.

use std::collections::HashMap;

use berth_store::{Digest, ImageRecord};

use crate::{Engine, EngineError};

/// `system df` for images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpaceUsage {
    pub images: usize,
    pub active_images: usize,
    /// Unpacked layers (shared ones once) plus stored blobs.
    pub size: u64,
    pub reclaimable: u64,
}

impl Engine {
    /// `system df`, images line.
    pub fn image_space(&self) -> Result<SpaceUsage, EngineError> {
        let images: Vec<ImageRecord> = self.store.list_images()?;
        let layers: u64 = self.store.list_layers()?.iter().map(|l| l.size).sum();
        let blobs = self.store.content_size()?;
        let size = layers + blobs;
        Ok(SpaceUsage {
            images: images.len(),
            active_images: 0,
            size,
            reclaimable: size,
        })
    }

    /// `system df -v`: each image's shared size, the bytes of its layers
    /// that another image uses too (docker's SHARED SIZE; the rest is its
    /// UNIQUE SIZE).
    pub fn image_shared_sizes(&self) -> Result<HashMap<Digest, u64>, EngineError> {
        let shared: HashMap<Digest, u64> = self
            .store
            .list_layers()?
            .into_iter()
            .filter(|l| l.images > 1)
            .map(|l| (l.chain_id, l.size))
            .collect();
        let mut out = HashMap::new();
        for image in self.store.list_images()? {
            let size = self
                .store
                .image_layers(&image.id)?
                .iter()
                .filter_map(|l| shared.get(&l.chain_id))
                .sum();
            out.insert(image.id, size);
        }
        Ok(out)
    }
}
