//! `events --filter`: which events a reader wants, as moby matches them.

use super::message::{EventType, Message};
use crate::filter::{labels_match, Filters};
use crate::EngineError;

/// The keys `events --filter` takes (docker's; those about swarm match
/// nothing here).
const KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// A parsed `events --filter`: values of one key are alternatives,
/// different keys must all match.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    types: Vec<EventType>,
    events: Vec<String>,
    containers: Vec<String>,
    images: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    scopes: Vec<String>,
    /// Keys about what berth never reports (daemon, plugin, swarm): any
    /// value of them matches nothing.
    never: bool,
}

impl EventFilter {
    pub fn new(filters: &Filters) -> Result<EventFilter, EngineError> {
        filters.check_keys(KEYS)?;
        let types = filters
            .get("type")
            .iter()
            .map(|t| t.parse())
            .collect::<Result<_, _>>()?;
        let never = ["config", "daemon", "node", "plugin", "secret", "service"]
            .iter()
            .any(|k| !filters.get(k).is_empty());
        Ok(EventFilter {
            types,
            events: filters.get("event").to_vec(),
            containers: filters.get("container").to_vec(),
            images: filters.get("image").to_vec(),
            volumes: filters.get("volume").to_vec(),
            networks: filters.get("network").to_vec(),
            labels: filters.labels("label"),
            scopes: filters.get("scope").to_vec(),
            never,
        })
    }

    /// Whether `m` passes, as moby's `events.Filter.Include`.
    pub fn matches(&self, m: &Message) -> bool {
        let attr = |k: &str| m.actor.attributes.get(k).map(String::as_str);
        !self.never
            && (self.types.is_empty() || self.types.contains(&m.kind))
            && self.event_matches(&m.action)
            && (self.scopes.is_empty() || self.scopes.contains(&m.scope))
            && self.named(&self.containers, EventType::Container, m)
            && self.named(&self.volumes, EventType::Volume, m)
            && self.named(&self.networks, EventType::Network, m)
            && self.image_matches(m)
            && labels_match(&self.labels, attr)
    }

    /// `event=`: exact, but `health_status`, `exec_create` and
    /// `exec_start` also match the actions that carry a detail after a
    /// colon (moby#25798).
    fn event_matches(&self, action: &str) -> bool {
        if self.events.is_empty() {
            return true;
        }
        let prefix = self
            .events
            .iter()
            .any(|e| matches!(e.as_str(), "health_status" | "exec_create" | "exec_start"));
        self.events
            .iter()
            .any(|e| e == action || (prefix && action.starts_with(e.as_str())))
    }

    /// `container=`, `volume=`, `network=`: the ID or the `name`
    /// attribute, or a prefix of either; only events of that type pass.
    fn named(&self, wanted: &[String], kind: EventType, m: &Message) -> bool {
        if wanted.is_empty() {
            return true;
        }
        if m.kind != kind {
            return false;
        }
        let name = m.actor.attributes.get("name").map(String::as_str);
        wanted.iter().any(|w| {
            m.actor.id.starts_with(w.as_str()) || name.is_some_and(|n| n.starts_with(w.as_str()))
        })
    }

    /// `image=`: an image event's ID or name, or a container event's
    /// image, with or without its tag.
    fn image_matches(&self, m: &Message) -> bool {
        if self.images.is_empty() {
            return true;
        }
        let attr = if m.kind == EventType::Image {
            "name"
        } else {
            "image"
        };
        let name = m
            .actor
            .attributes
            .get(attr)
            .map(String::as_str)
            .unwrap_or("");
        let candidates = [
            m.actor.id.as_str(),
            name,
            strip_tag(&m.actor.id),
            strip_tag(name),
        ];
        self.images
            .iter()
            .any(|w| candidates.iter().any(|c| !c.is_empty() && c == w))
    }
}

/// `busybox:latest` → `busybox`; a port (`host:5000/app`) is no tag, and
/// an ID (`sha256:...`) keeps its algorithm.
fn strip_tag(name: &str) -> &str {
    if name.starts_with("sha256:") {
        return name;
    }
    let name = name.split_once('@').map_or(name, |(n, _)| n);
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::events::message::Actor;

    fn message(kind: EventType, action: &str, id: &str, attrs: &[(&str, &str)]) -> Message {
        Message {
            kind,
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes: attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            },
            scope: "local".into(),
            time_nano: 0,
        }
    }

    fn filter(args: &[&str]) -> EventFilter {
        EventFilter::new(&Filters::from_cli(args).unwrap()).unwrap()
    }

    #[test]
    fn filters_match_as_mobys() {
        let start = message(
            EventType::Container,
            "start",
            "c0ffee11",
            &[("image", "bb:latest"), ("name", "web"), ("tier", "front")],
        );
        let health = message(
            EventType::Container,
            "health_status: healthy",
            "c0ffee11",
            &[("image", "bb:latest"), ("name", "web")],
        );
        let tag = message(EventType::Image, "tag", "sha256:abc", &[("name", "bb:v2")]);
        assert!(filter(&[]).matches(&start));
        assert!(filter(&["type=container"]).matches(&start));
        assert!(!filter(&["type=image"]).matches(&start));
        assert!(filter(&["type=image", "type=container"]).matches(&start));
        assert!(filter(&["event=start"]).matches(&start));
        assert!(!filter(&["event=sta"]).matches(&start));
        assert!(filter(&["event=health_status"]).matches(&health));
        assert!(filter(&["container=web"]).matches(&start));
        assert!(filter(&["container=c0ff"]).matches(&start));
        assert!(!filter(&["container=db"]).matches(&start));
        assert!(!filter(&["container=web"]).matches(&tag));
        assert!(filter(&["image=bb"]).matches(&start));
        assert!(filter(&["image=bb:latest"]).matches(&start));
        assert!(!filter(&["image=bb:v2"]).matches(&start));
        assert!(filter(&["image=bb"]).matches(&tag));
        assert!(filter(&["image=sha256:abc"]).matches(&tag));
        assert!(filter(&["label=tier"]).matches(&start));
        assert!(filter(&["label=tier=front"]).matches(&start));
        assert!(!filter(&["label=tier=back"]).matches(&start));
        assert!(!filter(&["label=tier", "label=zone"]).matches(&start));
        assert!(!filter(&["daemon=x"]).matches(&start));
        assert!(!filter(&["event=start", "container=db"]).matches(&start));
    }

    #[test]
    fn unknown_keys_and_types_are_refused() {
        let bad = |args: &[&str]| {
            EventFilter::new(&Filters::from_cli(args).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(bad(&["colour=red"]), "invalid filter 'colour'");
        assert_eq!(bad(&["type=vm"]), "invalid filter 'type=vm'");
    }

    #[test]
    fn tags_are_stripped_but_not_ports() {
        assert_eq!(strip_tag("bb:latest"), "bb");
        assert_eq!(strip_tag("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(strip_tag("localhost:5000/app:v1"), "localhost:5000/app");
        assert_eq!(strip_tag("sha256:abc"), "sha256:abc");
    }
}
