//! The events of a container, with the attributes moby puts on each.

use berth_store::ContainerRecord;

use super::*;
use crate::events::{ContainerAction, ContainerActor, ContainerEvent, Event};

/// `action` on the container `record` created with `options`.
pub(crate) fn container_event(
    record: &ContainerRecord,
    options: &ContainerOptions,
    action: ContainerAction,
) -> Event {
    Event::Container(ContainerEvent {
        actor: ContainerActor {
            id: record.id.clone(),
            name: record.name.clone(),
            image: options.image.clone(),
            labels: options.labels.clone(),
        },
        action,
    })
}

impl ContainerInfo {
    /// `action` on this container.
    pub(crate) fn event(&self, action: ContainerAction) -> Event {
        container_event(&self.record, &self.options, action)
    }
}

impl crate::Engine {
    /// Emits `action` on a container under the name it has now: a
    /// long-lived holder of `info` (its monitor) may have missed a
    /// `rename`.
    pub(crate) fn emit_current(&self, info: &ContainerInfo, action: ContainerAction) {
        let mut event = info.event(action);
        if let (Event::Container(e), Ok(Some(r))) =
            (&mut event, self.store.container(&info.record.id))
        {
            e.actor.name = r.name;
        }
        self.emit(event);
    }
}

/// How long a container ran, from its recorded start to now.
pub(crate) fn ran_since(started_at: Option<&str>) -> std::time::Duration {
    started_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .unwrap_or_default()
}
