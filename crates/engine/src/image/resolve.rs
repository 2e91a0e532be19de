//! What a user typed (a name, `name:tag`, an image ID or a prefix of one)
//! resolved to an image, and `tag`.

use berth_reference::Reference;
use berth_store::Digest;

use crate::{Engine, EngineError};

impl Engine {
    /// Resolves what a user typed (a name, `name:tag`, a full or short image
    /// ID) to an image ID, the way docker does: a reference first, then an
    /// ID prefix.
    pub fn resolve_image(&self, s: &str) -> Result<Digest, EngineError> {
        if let Some(hex) = s.strip_prefix("sha256:") {
            return self.resolve_id_prefix(hex, s);
        }
        if berth_reference::is_full_image_id(s) {
            return self.resolve_id_prefix(s, s);
        }
        if let Ok(r) = Reference::parse_with_default_tag(s) {
            let found = match r.digest() {
                None => self.store.image_by_tag(&r.to_string())?,
                Some(d) => self
                    .store
                    .image_by_repo_digest(&format!("{}@{d}", r.name()))?,
            };
            if let Some(id) = found {
                return Ok(id);
            }
        }
        if !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return self.resolve_id_prefix(s, s);
        }
        Err(EngineError::NoSuchImage(s.to_string()))
    }

    fn resolve_id_prefix(&self, hex: &str, original: &str) -> Result<Digest, EngineError> {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EngineError::NoSuchImage(original.to_string()));
        }
        let mut ids = self.store.images_by_id_prefix(&hex.to_ascii_lowercase())?;
        match ids.len() {
            0 => Err(EngineError::NoSuchImage(original.to_string())),
            1 => Ok(ids.remove(0)),
            _ => Err(EngineError::AmbiguousId(original.to_string())),
        }
    }

    /// `tag SOURCE TARGET`.
    pub fn tag(&mut self, source: &str, target: &str) -> Result<(), EngineError> {
        let id = self.resolve_image(source)?;
        let target = Reference::parse_with_default_tag(target)?;
        if target.digest().is_some() {
            return Err(EngineError::TagWithDigest);
        }
        self.store.tag(&target.to_string(), &id)?;
        self.emit_image_event(
            &id,
            id.to_string(),
            crate::familiar(&target.to_string()),
            crate::events::ImageAction::Tag,
        );
        Ok(())
    }
}
