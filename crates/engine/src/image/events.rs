//! The events of images, with the attributes moby puts on each: `name`
//! and the image's labels.

use std::collections::BTreeMap;

use berth_store::Digest;

use super::config::ImageConfig;
use crate::events::{Event, ImageAction, ImageEvent};
use crate::Engine;

impl Engine {
    /// Emits `action` on image `image`, its actor named `actor_id` (the
    /// image ID, or the reference for pull and push) and `name`.
    pub(crate) fn emit_image_event(
        &self,
        image: &Digest,
        actor_id: String,
        name: String,
        action: ImageAction,
    ) {
        let labels: BTreeMap<String, String> = self
            .store
            .content()
            .read(image)
            .ok()
            .and_then(|bytes| ImageConfig::parse(&bytes).ok())
            .and_then(|c| {
                c.labels().map(|l| {
                    l.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
            })
            .unwrap_or_default();
        self.emit(Event::Image(ImageEvent {
            id: actor_id,
            name,
            labels,
            action,
        }));
    }

    /// Emits `action` on image `id`, named by its ID as moby does for
    /// untag, delete, load, save and import.
    pub(crate) fn emit_image_id_event(&self, id: &Digest, action: ImageAction) {
        self.emit_image_event(id, id.to_string(), id.to_string(), action);
    }
}
