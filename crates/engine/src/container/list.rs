//! Listing containers, the ones that use an image, and pruning stopped ones.

use berth_store::{ContainerRecord, Digest, StoreError};

use super::*;
use crate::{Engine, EngineError};

impl Engine {
    pub fn list_containers(&mut self) -> Result<Vec<ContainerInfo>, EngineError> {
        let records = self.store.list_containers()?;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let r = self.reconcile(r)?;
            let options = serde_json::from_str(&r.config).unwrap_or_default();
            out.push(ContainerInfo { record: r, options });
        }
        Ok(out)
    }
    /// Containers that use an image, for `rmi`.
    pub(crate) fn containers_using(
        &self,
        image: &Digest,
    ) -> Result<Vec<ContainerRecord>, StoreError> {
        Ok(self
            .store
            .list_containers()?
            .into_iter()
            .filter(|c| &c.image_id == image)
            .collect())
    }
}

impl Engine {
    /// `container prune`: removes every container that is not running;
    /// returns their IDs.
    pub fn prune_containers(&mut self) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        for c in self.list_containers()? {
            if !c.record.status.is_active() {
                self.destroy_container(&c.record.id, Some(&c.options.runtime), false)?;
                removed.push(c.record.id);
            }
        }
        Ok(removed)
    }
}
