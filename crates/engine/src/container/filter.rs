//! `ps --filter` (and the API's `filters`): which containers a listing
//! wants, parsed once and matched as moby matches them.

use berth_network::ports::Protocol;
use regex::Regex;

use super::health::HealthStatus;
use super::list::MountPoint;
use super::ContainerStatus;
use super::PortSummary;
use crate::filter::{labels_match, Filters};
use crate::EngineError;
use berth_store::ContainerRecord;
use std::collections::BTreeMap;

const KEYS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// A port or port range with a protocol (`80`, `8000-8080/udp`), as
/// `publish=` and `expose=` take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortRange {
    first: u16,
    last: u16,
    protocol: Protocol,
}

impl PortRange {
    fn parse(key: &str, v: &str) -> Result<PortRange, EngineError> {
        if v.contains(':') {
            return Err(EngineError::Invalid(format!(
                "filter for '{key}' should not contain ':': {v}"
            )));
        }
        let bad = || EngineError::Invalid(format!("error while looking up for {key} {v}"));
        let (ports, protocol) = v.split_once('/').unwrap_or((v, "tcp"));
        let (first, last) = ports.split_once('-').unwrap_or((ports, ports));
        let first: u16 = first.parse().map_err(|_| bad())?;
        let last: u16 = last.parse().map_err(|_| bad())?;
        let protocol: Protocol = protocol.parse().map_err(|_| bad())?;
        if first > last {
            return Err(bad());
        }
        Ok(PortRange {
            first,
            last,
            protocol,
        })
    }

    fn contains(&self, port: u16, protocol: Protocol) -> bool {
        (self.first..=self.last).contains(&port) && protocol == self.protocol
    }
}

/// A value of `key` that must parse as a `T`.
fn parsed<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, EngineError> {
    v.parse()
        .map_err(|_| EngineError::Invalid(format!("invalid filter '{key}={v}'")))
}

/// `health=`: a status, or `none` for a container without checks.
fn parse_health(v: &str) -> Result<Option<HealthStatus>, EngineError> {
    match v {
        "starting" => Ok(Some(HealthStatus::Starting)),
        "healthy" => Ok(Some(HealthStatus::Healthy)),
        "unhealthy" => Ok(Some(HealthStatus::Unhealthy)),
        "none" => Ok(None),
        _ => Err(EngineError::Invalid(format!(
            "Unrecognised filter value for health: {v}"
        ))),
    }
}

/// Docker's container filters, parsed: values of one key are
/// alternatives, keys combine.
#[derive(Debug, Clone, Default)]
pub struct ContainerFilter {
    pub(crate) ids: Vec<Regex>,
    pub(crate) names: Vec<Regex>,
    pub(crate) labels: Vec<(String, Option<String>)>,
    pub(crate) statuses: Vec<ContainerStatus>,
    pub(crate) exited: Vec<i32>,
    pub(crate) health: Vec<Option<HealthStatus>>,
    pub(crate) ancestors: Vec<String>,
    pub(crate) before: Option<String>,
    pub(crate) since: Option<String>,
    pub(crate) volumes: Vec<String>,
    pub(crate) networks: Vec<String>,
    pub(crate) publish: Vec<PortRange>,
    pub(crate) expose: Vec<PortRange>,
    /// `is-task=true` (swarm tasks) and a Hyper-V `isolation=`: nothing
    /// here is either.
    pub(crate) never: bool,
}

/// What the filters that need more than the container's record look at,
/// gathered by the listing.
pub(crate) struct Details<'a> {
    pub health: Option<HealthStatus>,
    pub mounts: &'a [MountPoint],
    /// Names and IDs of the networks it is connected to (or its network
    /// mode, `host` or `none`, when it has no network of its own).
    pub networks: &'a [(String, String)],
    /// Its ports while it runs (none when it does not, as docker).
    pub ports: &'a [PortSummary],
    /// Whether its image is one of the `ancestor=` images or made from one.
    pub descends: bool,
}

impl ContainerFilter {
    pub fn new(filters: &Filters) -> Result<ContainerFilter, EngineError> {
        filters.check_keys(KEYS)?;
        let regexes = |key: &str| {
            filters
                .get(key)
                .iter()
                .map(|v| {
                    Regex::new(v).map_err(|e| {
                        EngineError::Invalid(format!("invalid filter '{key}={v}': {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let one = |key: &str| -> Result<Option<String>, EngineError> {
            match filters.get(key) {
                [] => Ok(None),
                [v] => Ok(Some(v.clone())),
                _ => Err(EngineError::Invalid(format!(
                    "invalid filter '{key}': give one container"
                ))),
            }
        };
        let ports = |key: &str| {
            filters
                .get(key)
                .iter()
                .map(|v| PortRange::parse(key, v))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(ContainerFilter {
            ids: regexes("id")?,
            names: regexes("name")?,
            labels: filters.labels("label"),
            statuses: filters
                .get("status")
                .iter()
                .map(|v| parsed("status", v))
                .collect::<Result<_, _>>()?,
            exited: filters
                .get("exited")
                .iter()
                .map(|v| parsed("exited", v))
                .collect::<Result<_, _>>()?,
            health: filters
                .get("health")
                .iter()
                .map(|v| parse_health(v))
                .collect::<Result<_, _>>()?,
            ancestors: filters.get("ancestor").to_vec(),
            before: one("before")?,
            since: one("since")?,
            volumes: filters.get("volume").to_vec(),
            networks: filters.get("network").to_vec(),
            publish: ports("publish")?,
            expose: ports("expose")?,
            never: filters.bool("is-task")? == Some(true)
                || filters
                    .get("isolation")
                    .iter()
                    .any(|v| v != "default" && v != "process"),
        })
    }

    /// Asking for a state lists stopped containers too, as `-a` would
    /// (docker's rule; `exited=` does not, so `ps -f exited=0` needs `-a`).
    pub(crate) fn implies_all(&self) -> bool {
        !self.statuses.is_empty()
    }

    /// The filters its record answers: `id`, `name`, `label`, `status`,
    /// `exited`, `is-task` and `isolation`.
    pub(crate) fn matches_record(
        &self,
        r: &ContainerRecord,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        let any_regex =
            |res: &[Regex], s: &str| res.is_empty() || res.iter().any(|re| re.is_match(s));
        // docker matches names with their leading slash (`name=^/web`);
        // the bare name is matched too, so `name=^web` works as well.
        let slash_name = format!("/{}", r.name);
        !self.never
            && any_regex(&self.ids, &r.id)
            && (any_regex(&self.names, &r.name) || any_regex(&self.names, &slash_name))
            && labels_match(&self.labels, |k| labels.get(k).map(String::as_str))
            && (self.statuses.is_empty() || self.statuses.contains(&r.status))
            // A container that never ran has no exit code to match.
            && (self.exited.is_empty()
                || (!r.status.is_active()
                    && r.started_at.is_some()
                    && self.exited.contains(&r.exit_code.unwrap_or(0))))
    }

    /// The rest: `health`, `volume` (a volume's name, a bind's host path or
    /// a mount's destination), `network` (a name or an ID prefix),
    /// `publish`, `expose` and `ancestor`.
    pub(crate) fn matches_details(&self, d: &Details<'_>) -> bool {
        // As moby: `publish=` is a host port, `expose=` a container port
        // (published or not), and when both are given either will do.
        let port_matches = |p: &PortSummary| {
            self.publish.iter().any(|r| {
                p.public
                    .as_ref()
                    .is_some_and(|(_, host)| r.contains(*host, p.protocol))
            }) || self
                .expose
                .iter()
                .any(|r| r.contains(p.private_port, p.protocol))
        };
        (self.health.is_empty() || self.health.contains(&d.health))
            && (self.volumes.is_empty()
                || self.volumes.iter().any(|v| {
                    d.mounts.iter().any(|m| {
                        m.destination == *v
                            || m.name.as_deref() == Some(v.as_str())
                            || (m.name.is_none() && m.source == *v)
                    })
                }))
            && (self.networks.is_empty()
                || self.networks.iter().any(|want| {
                    d.networks
                        .iter()
                        .any(|(name, id)| name == want || id.starts_with(want.as_str()))
                }))
            && ((self.publish.is_empty() && self.expose.is_empty())
                || d.ports.iter().any(port_matches))
            && (self.ancestors.is_empty() || d.descends)
    }
}

#[cfg(test)]
mod tests {
    use super::super::list::MountKind;
    use super::*;

    fn parse(args: &[&str]) -> Result<ContainerFilter, EngineError> {
        ContainerFilter::new(&Filters::from_cli(args).unwrap())
    }

    #[test]
    fn bad_values_are_refused_in_dockers_words() {
        let err = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert_eq!(err(&["status=up"]), "invalid filter 'status=up'");
        assert_eq!(
            err(&["health=ok"]),
            "Unrecognised filter value for health: ok"
        );
        assert_eq!(err(&["exited=x"]), "invalid filter 'exited=x'");
        assert_eq!(err(&["colour=red"]), "invalid filter 'colour'");
        assert_eq!(
            err(&["publish=80/xyz"]),
            "error while looking up for publish 80/xyz"
        );
        assert_eq!(
            err(&["publish=1:80"]),
            "filter for 'publish' should not contain ':': 1:80"
        );
        assert!(err(&["name=("]).starts_with("invalid filter 'name=('"));
        assert!(parse(&["status=exited", "health=none", "publish=8000-8080/udp"]).is_ok());
        // The API's form parses to the same filter, and fails the same way.
        let api = |json: &str| ContainerFilter::new(&Filters::from_json(json).unwrap());
        let f = api(r#"{"status":["exited","created"],"publish":["80"]}"#).unwrap();
        assert_eq!(
            f.statuses,
            [ContainerStatus::Exited, ContainerStatus::Created]
        );
        assert_eq!(f.publish, [PortRange::parse("publish", "80/tcp").unwrap()]);
        assert_eq!(
            api(r#"{"colour":["red"]}"#).unwrap_err().to_string(),
            "invalid filter 'colour'"
        );
    }

    fn record(name: &str, status: ContainerStatus, exit: Option<i32>) -> ContainerRecord {
        ContainerRecord {
            id: format!("{name:0>12}{}", "f".repeat(52)),
            name: name.into(),
            image_id: format!("sha256:{}", "a".repeat(64)).parse().unwrap(),
            config: String::new(),
            status,
            created_at: "2026-01-01T00:00:00Z".into(),
            started_at: exit.map(|_| "2026-01-01T00:00:01Z".into()),
            finished_at: None,
            pid: None,
            monitor_pid: None,
            exit_code: exit,
            restart_count: 0,
        }
    }

    #[test]
    fn records_match_id_name_label_status_and_exit_code() {
        let web = record("web", ContainerStatus::Running, None);
        let done = record("done", ContainerStatus::Exited, Some(3));
        let fresh = record("fresh", ContainerStatus::Created, None);
        let labels: BTreeMap<String, String> = [("tier".into(), "front".into())].into();
        let none = BTreeMap::new();
        let hits = |args: &[&str]| {
            let f = parse(args).unwrap();
            [(&web, &labels), (&done, &none), (&fresh, &none)]
                .iter()
                .filter(|(r, l)| f.matches_record(r, l))
                .map(|(r, _)| r.name.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(hits(&[]), ["web", "done", "fresh"]);
        assert_eq!(hits(&["name=^/we"]), ["web"]);
        assert_eq!(hits(&["name=^fr"]), ["fresh"]);
        assert_eq!(hits(&["name=web", "name=done"]), ["web", "done"]);
        assert_eq!(hits(&["id=0000000done"]), ["done"]);
        assert_eq!(hits(&["label=tier"]), ["web"]);
        assert_eq!(hits(&["label=tier=back"]), Vec::<&str>::new());
        assert_eq!(
            hits(&["status=exited", "status=created"]),
            ["done", "fresh"]
        );
        // A container that never ran has no exit code.
        assert_eq!(hits(&["exited=0"]), Vec::<&str>::new());
        assert_eq!(hits(&["exited=3"]), ["done"]);
        assert_eq!(hits(&["name=web", "status=exited"]), Vec::<&str>::new());
        assert_eq!(hits(&["is-task=true"]), Vec::<&str>::new());
        assert_eq!(hits(&["is-task=false"]).len(), 3);
        assert!(parse(&["status=exited"]).unwrap().implies_all());
        assert!(!parse(&["exited=0"]).unwrap().implies_all());
    }

    #[test]
    fn details_match_health_volumes_networks_ports_and_ancestry() {
        let mounts = [
            MountPoint {
                kind: MountKind::Volume,
                name: Some("data".into()),
                source: "/var/lib/berth/volumes/data/_data".into(),
                destination: "/srv".into(),
                rw: true,
            },
            MountPoint {
                kind: MountKind::Bind,
                name: None,
                source: "/home/me".into(),
                destination: "/work".into(),
                rw: false,
            },
        ];
        let networks = [("front".to_string(), "0123abcd".to_string())];
        let ports = [
            PortSummary {
                private_port: 80,
                protocol: Protocol::Tcp,
                public: Some(("0.0.0.0".into(), 8080)),
            },
            PortSummary {
                private_port: 53,
                protocol: Protocol::Udp,
                public: None,
            },
        ];
        let d = Details {
            health: Some(HealthStatus::Healthy),
            mounts: &mounts,
            networks: &networks,
            ports: &ports,
            descends: true,
        };
        let hit = |args: &[&str]| parse(args).unwrap().matches_details(&d);
        for yes in [
            &["health=healthy"][..],
            &["volume=data"],
            &["volume=/srv"],
            &["volume=/home/me"],
            &["volume=/work"],
            &["network=front"],
            &["network=0123"],
            &["network=back", "network=front"],
            &["publish=8080"],
            &["publish=8080/tcp"],
            &["publish=8000-8080/tcp"],
            &["expose=80"],
            &["expose=53/udp"],
            &["expose=50-60/udp"],
            &["publish=9", "expose=53/udp"],
            &["ancestor=bb"],
        ] {
            assert!(hit(yes), "{yes:?} should match");
        }
        for no in [
            &["health=none"][..],
            &["health=unhealthy"],
            &["volume=other"],
            &["volume=/var/lib/berth/volumes/data/_data"],
            &["network=back"],
            &["network=abcd"],
            &["publish=80"],
            &["publish=53/udp"],
            &["publish=8080/udp"],
            &["expose=443"],
            &["expose=53/tcp"],
        ] {
            assert!(!hit(no), "{no:?} should not match");
        }
    }

    #[test]
    fn port_ranges_match_ports_and_protocols() {
        let r = PortRange::parse("expose", "8000-8080").unwrap();
        assert!(r.contains(8000, Protocol::Tcp));
        assert!(r.contains(8080, Protocol::Tcp));
        assert!(!r.contains(8081, Protocol::Tcp));
        assert!(!r.contains(8000, Protocol::Udp));
        assert!(PortRange::parse("expose", "53/udp")
            .unwrap()
            .contains(53, Protocol::Udp));
    }
}
