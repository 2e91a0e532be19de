//! An event as docker sends it: `GET /events`'s JSON and what
//! `docker events` prints from.

use std::collections::BTreeMap;

use berth_store::EventRecord;
use serde_json::{json, Value};

use crate::EngineError;

/// Engine events are `local`; swarm's are `swarm`.
pub(crate) const LOCAL_SCOPE: &str = "local";

/// What an event is about: docker's event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Builder,
    Config,
    Container,
    Daemon,
    Image,
    Network,
    Node,
    Plugin,
    Secret,
    Service,
    Volume,
}

impl EventType {
    const ALL: [EventType; 11] = [
        EventType::Builder,
        EventType::Config,
        EventType::Container,
        EventType::Daemon,
        EventType::Image,
        EventType::Network,
        EventType::Node,
        EventType::Plugin,
        EventType::Secret,
        EventType::Service,
        EventType::Volume,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Builder => "builder",
            EventType::Config => "config",
            EventType::Container => "container",
            EventType::Daemon => "daemon",
            EventType::Image => "image",
            EventType::Network => "network",
            EventType::Node => "node",
            EventType::Plugin => "plugin",
            EventType::Secret => "secret",
            EventType::Service => "service",
            EventType::Volume => "volume",
        }
    }
}

impl std::str::FromStr for EventType {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<EventType, EngineError> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| EngineError::Invalid(format!("invalid filter 'type={s}'")))
    }
}

/// Who an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub attributes: BTreeMap<String, String>,
}

/// One event of the journal, in docker's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: EventType,
    /// docker's action: `start`, `die`, `exec_create: sh -c ls`,
    /// `health_status: healthy` ...
    pub action: String,
    pub actor: Actor,
    pub scope: String,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

impl Message {
    pub(crate) fn from_record(r: EventRecord) -> Result<Message, EngineError> {
        let kind = r.kind.parse().map_err(|_| {
            EngineError::Internal(format!("event {} has an unknown type {:?}", r.seq, r.kind))
        })?;
        let attributes = serde_json::from_str(&r.attributes).map_err(|e| {
            EngineError::Internal(format!("event {} has bad attributes: {e}", r.seq))
        })?;
        Ok(Message {
            kind,
            action: r.action,
            actor: Actor {
                id: r.actor_id,
                attributes,
            },
            scope: r.scope,
            time_nano: r.time_nano,
        })
    }

    /// The JSON docker's `/events` sends, with the fields docker still
    /// fills for old clients (`status`, `id`, `from`) on container and
    /// image events.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::Map::new();
        if matches!(self.kind, EventType::Container | EventType::Image) {
            v.insert("status".into(), json!(self.action));
            v.insert("id".into(), json!(self.actor.id));
            if let Some(image) = self
                .actor
                .attributes
                .get("image")
                .filter(|_| self.kind == EventType::Container)
            {
                v.insert("from".into(), json!(image));
            }
        }
        v.insert("Type".into(), json!(self.kind.as_str()));
        v.insert("Action".into(), json!(self.action));
        v.insert(
            "Actor".into(),
            json!({"ID": self.actor.id, "Attributes": self.actor.attributes}),
        );
        v.insert("scope".into(), json!(self.scope));
        v.insert(
            "time".into(),
            json!(self.time_nano.div_euclid(1_000_000_000)),
        );
        v.insert("timeNano".into(), json!(self.time_nano));
        Value::Object(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_dockers_fields() {
        let m = Message {
            kind: EventType::Container,
            action: "start".into(),
            actor: Actor {
                id: "abc".into(),
                attributes: BTreeMap::from([
                    ("image".into(), "bb:latest".into()),
                    ("name".into(), "web".into()),
                ]),
            },
            scope: "local".into(),
            time_nano: 1_796_643_737_695_144_203,
        };
        assert_eq!(
            m.to_json().to_string(),
            r#"{"status":"start","id":"abc","from":"bb:latest","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"bb:latest","name":"web"}},"scope":"local","time":1796643737,"timeNano":1796643737695144203}"#
        );
        let net = Message {
            kind: EventType::Network,
            ..m
        };
        assert!(net.to_json().get("status").is_none());
    }
}
