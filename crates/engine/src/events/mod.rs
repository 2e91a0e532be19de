//! The events journal: typed events emitted by every state change
//! ([`Engine::emit`]), kept in the store's `events` table by whichever
//! process made the change, and read back in docker's shape
//! ([`Message`]) for `berth events` and the API's `/events`
//! ([`Engine::events`], one function for both, following new events as
//! they are appended).
//!
//! A leaf of the engine: every domain emits, this module knows none of
//! them. The attributes follow moby's: a container's `image`, `name` and
//! labels on each of its events, `exitCode` on `die`, `signal` on `kill`,
//! an image's `name` and labels on image events.

mod filter;
mod message;
mod stream;
mod time;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Engine;

pub use filter::EventFilter;
pub use message::{Actor, EventType, Message};
pub use stream::{EventQuery, EventStream, NextEvent};
pub use time::parse_timestamp;

/// A container's health status (`State.Health.Status`); events carry it,
/// so it is defined here, below every domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// A state change, typed; [`Engine::emit`] records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Container(ContainerEvent),
    Image(ImageEvent),
    Volume(VolumeEvent),
    Network(NetworkEvent),
}

/// Who a container event is about: what moby puts on every one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerActor {
    pub id: String,
    pub name: String,
    /// The image as the container was created with it (`Config.Image`).
    pub image: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerEvent {
    pub actor: ContainerActor,
    pub action: ContainerAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ContainerAction {
    Create,
    Start,
    /// The container's process ended; `ran` is how long it ran.
    Die {
        exit_code: i32,
        ran: Duration,
    },
    Kill {
        signal: i32,
    },
    Stop,
    Restart,
    Pause,
    Unpause,
    Rename {
        old_name: String,
    },
    Destroy,
    ExecCreate {
        exec_id: String,
        command: Vec<String>,
    },
    ExecStart {
        exec_id: String,
        command: Vec<String>,
    },
    ExecDie {
        exec_id: String,
        exit_code: i32,
    },
    HealthStatus(HealthStatus),
    Oom,
}

/// Who an image event is about: the image's ID or the reference used
/// (pull and push name the reference), its `name` attribute, its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEvent {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub action: ImageAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageAction {
    Pull,
    Push,
    Tag,
    Untag,
    Delete,
    Load,
    Save,
    Import,
    Build,
}

/// A volume event: moby's `driver` attribute, and the container and
/// mount point for `mount` and `unmount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeEvent {
    pub name: String,
    pub driver: String,
    pub action: VolumeAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeAction {
    Create,
    Mount {
        container: String,
        destination: String,
        read_write: bool,
        propagation: String,
    },
    Unmount {
        container: String,
    },
    Destroy,
}

/// A network event: moby's `name` and `type` (the driver) attributes, and
/// the container for `connect` and `disconnect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkEvent {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub action: NetworkAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkAction {
    Create,
    Connect { container: String },
    Disconnect { container: String },
    Destroy,
}

fn command_text(command: &[String]) -> String {
    command.join(" ")
}

impl Event {
    /// The event as docker sends it, without its time: (type, action,
    /// actor ID, attributes).
    fn wire(self) -> (EventType, String, String, BTreeMap<String, String>) {
        match self {
            Event::Container(ContainerEvent { actor, action }) => {
                let mut attrs = actor.labels;
                attrs.insert("image".into(), actor.image);
                attrs.insert("name".into(), actor.name);
                let action = match action {
                    ContainerAction::Create => "create".into(),
                    ContainerAction::Start => "start".into(),
                    ContainerAction::Die { exit_code, ran } => {
                        attrs.insert("exitCode".into(), exit_code.to_string());
                        attrs.insert("execDuration".into(), ran.as_secs().to_string());
                        "die".into()
                    }
                    ContainerAction::Kill { signal } => {
                        attrs.insert("signal".into(), signal.to_string());
                        "kill".into()
                    }
                    ContainerAction::Stop => "stop".into(),
                    ContainerAction::Restart => "restart".into(),
                    ContainerAction::Pause => "pause".into(),
                    ContainerAction::Unpause => "unpause".into(),
                    ContainerAction::Rename { old_name } => {
                        attrs.insert("oldName".into(), old_name);
                        "rename".into()
                    }
                    ContainerAction::Destroy => "destroy".into(),
                    ContainerAction::ExecCreate { exec_id, command } => {
                        attrs.insert("execID".into(), exec_id);
                        format!("exec_create: {}", command_text(&command))
                    }
                    ContainerAction::ExecStart { exec_id, command } => {
                        attrs.insert("execID".into(), exec_id);
                        format!("exec_start: {}", command_text(&command))
                    }
                    ContainerAction::ExecDie { exec_id, exit_code } => {
                        attrs.insert("execID".into(), exec_id);
                        attrs.insert("exitCode".into(), exit_code.to_string());
                        "exec_die".into()
                    }
                    ContainerAction::HealthStatus(status) => {
                        format!("health_status: {}", status.as_str())
                    }
                    ContainerAction::Oom => "oom".into(),
                };
                (EventType::Container, action, actor.id, attrs)
            }
            Event::Image(ImageEvent {
                id,
                name,
                labels,
                action,
            }) => {
                let mut attrs = labels;
                attrs.insert("name".into(), name);
                let action = match action {
                    ImageAction::Pull => "pull",
                    ImageAction::Push => "push",
                    ImageAction::Tag => "tag",
                    ImageAction::Untag => "untag",
                    ImageAction::Delete => "delete",
                    ImageAction::Load => "load",
                    ImageAction::Save => "save",
                    ImageAction::Import => "import",
                    ImageAction::Build => "build",
                };
                (EventType::Image, action.into(), id, attrs)
            }
            Event::Volume(VolumeEvent {
                name,
                driver,
                action,
            }) => {
                let mut attrs = BTreeMap::from([("driver".to_string(), driver)]);
                let action = match action {
                    VolumeAction::Create => "create",
                    VolumeAction::Mount {
                        container,
                        destination,
                        read_write,
                        propagation,
                    } => {
                        attrs.insert("container".into(), container);
                        attrs.insert("destination".into(), destination);
                        attrs.insert("read/write".into(), read_write.to_string());
                        attrs.insert("propagation".into(), propagation);
                        "mount"
                    }
                    VolumeAction::Unmount { container } => {
                        attrs.insert("container".into(), container);
                        "unmount"
                    }
                    VolumeAction::Destroy => "destroy",
                };
                (EventType::Volume, action.into(), name, attrs)
            }
            Event::Network(NetworkEvent {
                id,
                name,
                driver,
                action,
            }) => {
                let mut attrs =
                    BTreeMap::from([("name".to_string(), name), ("type".to_string(), driver)]);
                let action = match action {
                    NetworkAction::Create => "create",
                    NetworkAction::Connect { container } => {
                        attrs.insert("container".into(), container);
                        "connect"
                    }
                    NetworkAction::Disconnect { container } => {
                        attrs.insert("container".into(), container);
                        "disconnect"
                    }
                    NetworkAction::Destroy => "destroy",
                };
                (EventType::Network, action.into(), id, attrs)
            }
        }
    }
}

impl Engine {
    /// Appends an event to the journal. The change it tells of is made
    /// already, so a journal that cannot be written is logged, not
    /// failed on.
    pub fn emit(&self, event: Event) {
        let (kind, action, actor_id, attributes) = event.wire();
        let attributes = serde_json::to_string(&attributes).expect("attributes serialize");
        let row = berth_store::NewEvent {
            kind: kind.as_str(),
            action: &action,
            actor_id: &actor_id,
            attributes: &attributes,
            scope: message::LOCAL_SCOPE,
        };
        if let Err(error) = self.store.append_event(&row) {
            tracing::warn!(%error, kind = kind.as_str(), %action, "event not recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> ContainerActor {
        ContainerActor {
            id: "c0ffee".into(),
            name: "web".into(),
            image: "bb:latest".into(),
            labels: BTreeMap::from([("tier".into(), "front".into())]),
        }
    }

    #[test]
    fn container_events_carry_mobys_attributes() {
        let (kind, action, id, attrs) = Event::Container(ContainerEvent {
            actor: web(),
            action: ContainerAction::Die {
                exit_code: 3,
                ran: Duration::from_millis(2500),
            },
        })
        .wire();
        assert_eq!(
            (kind, action.as_str(), id.as_str()),
            (EventType::Container, "die", "c0ffee")
        );
        assert_eq!(
            attrs,
            BTreeMap::from([
                ("execDuration".into(), "2".into()),
                ("exitCode".into(), "3".into()),
                ("image".into(), "bb:latest".into()),
                ("name".into(), "web".into()),
                ("tier".into(), "front".into()),
            ])
        );
        let (_, action, _, attrs) = Event::Container(ContainerEvent {
            actor: web(),
            action: ContainerAction::ExecCreate {
                exec_id: "e1".into(),
                command: vec!["sh".into(), "-c".into(), "true".into()],
            },
        })
        .wire();
        assert_eq!(action, "exec_create: sh -c true");
        assert_eq!(attrs["execID"], "e1");
        let (_, action, _, _) = Event::Container(ContainerEvent {
            actor: web(),
            action: ContainerAction::HealthStatus(HealthStatus::Healthy),
        })
        .wire();
        assert_eq!(action, "health_status: healthy");
    }

    #[test]
    fn image_events_name_the_image() {
        let (kind, action, id, attrs) = Event::Image(ImageEvent {
            id: "sha256:abc".into(),
            name: "bb:v2".into(),
            labels: BTreeMap::new(),
            action: ImageAction::Tag,
        })
        .wire();
        assert_eq!(
            (kind, action.as_str(), id.as_str()),
            (EventType::Image, "tag", "sha256:abc")
        );
        assert_eq!(attrs, BTreeMap::from([("name".into(), "bb:v2".into())]));
    }
}
