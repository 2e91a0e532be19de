//! `rmi` and `image prune`.

use berth_reference::Reference;
use berth_store::{Digest, Removed};
use std::collections::HashSet;

use super::list::ImageFilter;
use crate::events::ImageAction;
use crate::{familiar, Engine, EngineError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RmiEvent {
    /// A tag, in familiar form.
    Untagged(String),
    /// An image ID or a layer chain ID.
    Deleted(Digest),
}

/// What `image prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedImage {
    pub events: Vec<RmiEvent>,
    pub reclaimed: u64,
}

fn removal_events(removed: &Removed, images: &[Digest]) -> Vec<RmiEvent> {
    images
        .iter()
        .cloned()
        .chain(removed.layers.iter().cloned())
        .map(RmiEvent::Deleted)
        .collect()
}

impl Engine {
    /// `rmi NAME`: untags a tag; deletes the image once no tag is left.
    /// Given an ID, untags every tag (all in one repository, or `force`)
    /// and deletes.
    pub fn remove_image(&mut self, name: &str, force: bool) -> Result<Vec<RmiEvent>, EngineError> {
        let by_tag = match Reference::parse_with_default_tag(name) {
            Ok(r) if r.digest().is_none() && !berth_reference::is_full_image_id(name) => {
                let full = r.to_string();
                self.store.image_by_tag(&full)?.map(|id| (id, full))
            }
            _ => None,
        };
        let target = match &by_tag {
            Some((id, _)) => id.clone(),
            None => self.resolve_image(name)?,
        };
        let users = self.containers_using(&target)?;
        if let Some(c) = users.first() {
            if !force {
                return Err(EngineError::ImageInUse {
                    reference: name.to_string(),
                    container: c.id[..12].to_string(),
                    image: target.short().to_string(),
                });
            }
        }
        let mut events = Vec::new();
        let id = match by_tag {
            Some((id, full)) => {
                self.store.untag(&full)?;
                self.emit_image_id_event(&id, ImageAction::Untag);
                events.push(RmiEvent::Untagged(familiar(&full)));
                if !self.store.image(&id)?.tags.is_empty() {
                    return Ok(events);
                }
                id
            }
            None => {
                let id = self.resolve_image(name)?;
                let record = self.store.image(&id)?;
                let repos: HashSet<String> = record
                    .tags
                    .iter()
                    .filter_map(|t| Reference::parse_normalized(t).ok())
                    .map(|r| r.name())
                    .collect();
                if repos.len() > 1 && !force {
                    return Err(EngineError::ReferencedInMultipleRepositories {
                        id: id.short().to_string(),
                    });
                }
                for tag in &record.tags {
                    self.store.untag(tag)?;
                    self.emit_image_id_event(&id, ImageAction::Untag);
                    events.push(RmiEvent::Untagged(familiar(tag)));
                }
                id
            }
        };
        // A forced removal untags, but a container still needs its image.
        if !users.is_empty() {
            return Ok(events);
        }
        let removed = self.store.delete_images(std::slice::from_ref(&id))?;
        self.emit_image_id_event(&id, ImageAction::Delete);
        events.extend(removal_events(&removed, &[id]));
        Ok(events)
    }

    /// `image prune`: dangling images, or with `all` every image, except
    /// those a container uses.
    pub fn prune_images(
        &mut self,
        all: bool,
        filter: &ImageFilter,
    ) -> Result<RemovedImage, EngineError> {
        let mut filter = filter.clone();
        // Build steps' images are the build cache: pruned with the rest.
        filter.all = true;
        if !all {
            filter.dangling = Some(true);
        }
        let rows = self.list_images(&filter)?;
        let ids: Vec<Digest> = rows
            .into_iter()
            .filter(|r| r.containers == 0)
            .map(|r| r.id)
            .collect();
        let mut events = Vec::new();
        for id in &ids {
            for tag in self.store.image(id)?.tags {
                self.store.untag(&tag)?;
                self.emit_image_id_event(id, ImageAction::Untag);
                events.push(RmiEvent::Untagged(familiar(&tag)));
            }
        }
        if ids.is_empty() {
            return Ok(RemovedImage::default());
        }
        let removed = self.store.delete_images(&ids)?;
        for id in &ids {
            self.emit_image_id_event(id, ImageAction::Delete);
        }
        events.extend(removal_events(&removed, &ids));
        Ok(RemovedImage {
            events,
            reclaimed: removed.reclaimed,
        })
    }
}
