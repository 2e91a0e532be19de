//! Disk space used by images, for `system df`.

use berth_store::ImageRecord;

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
}
