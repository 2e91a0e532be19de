//! Networks: docker's `network` commands over the store and the host's
//! bridges, and what a container gets on them (`endpoint.rs`), its names
//! for the embedded DNS server (`names.rs`), docker's JSON (`inspect.rs`).

mod container;
mod endpoint;
mod filter;
mod inspect;
mod names;
mod settings;

use std::collections::BTreeMap;
use std::net::IpAddr;

use berth_network::bridge::{BridgeNetwork, NetworkBackend};
use berth_network::ipam::{self, Ipam, DOCKER0_SUBNET};
use berth_network::settings::{BridgeOptions, NetworkSettings};
use berth_store::{NetworkRecord, StoreError};
use ipnet::IpNet;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::container::now_rfc3339;
use crate::{Engine, EngineError};

pub use crate::container::{ports_text, PortSummary};
pub use crate::container::{ContainerNetworkOptions, EndpointSettings};
pub(crate) use endpoint::endpoint_aliases;
pub use endpoint::NetworkAttachment;
pub use filter::NetworkFilter;
pub use inspect::network_json;
pub(crate) use names::StoreNames;
pub(crate) use settings::{host_network, network_settings, HostNetwork};

/// The networks every berth has, as docker's.
pub const DEFAULT_NETWORK: &str = "bridge";
pub const HOST_NETWORK: &str = "host";
pub const NONE_NETWORK: &str = "none";

/// What a network is, as stored (the record's `config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// `bridge`, `host` or `null` (docker's driver names).
    pub driver: String,
    /// The bridge's interface name (bridge networks).
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub subnets: Vec<Ipam>,
    /// Whether the subnets were given by the user (`--ip` needs that, as
    /// in docker).
    #[serde(default)]
    pub user_subnets: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub ipv6: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The default `bridge`: no DNS between containers, `--add-host
    /// host-gateway` is its gateway.
    #[serde(default)]
    pub default_bridge: bool,
}

/// A network: its record and what it is.
#[derive(Debug, Clone)]
pub struct NetworkInfo {
    pub record: NetworkRecord,
    pub config: NetworkConfig,
}

impl NetworkInfo {
    fn from_record(record: NetworkRecord) -> Result<NetworkInfo, EngineError> {
        let config = serde_json::from_str(&record.config)
            .map_err(|e| EngineError::Internal(format!("network {} record: {e}", record.name)))?;
        Ok(NetworkInfo { record, config })
    }

    /// One of the three networks every berth has.
    pub fn is_predefined(&self) -> bool {
        matches!(
            self.record.name.as_str(),
            DEFAULT_NETWORK | HOST_NETWORK | NONE_NETWORK
        )
    }

    pub fn is_bridge(&self) -> bool {
        self.config.driver == "bridge"
    }

    /// The bridge as the host must have it.
    pub fn bridge_network(&self) -> Result<BridgeNetwork, EngineError> {
        let o = BridgeOptions::parse(&self.config.options)?;
        Ok(BridgeNetwork {
            bridge: self.config.bridge.clone(),
            subnets: self.config.subnets.clone(),
            internal: self.config.internal,
            masquerade: o.masquerade,
            icc: o.icc,
            mtu: o.mtu,
        })
    }
}

/// `network create`.
#[derive(Debug, Clone, Default)]
pub struct NetworkCreateOptions {
    pub name: String,
    /// Empty: `bridge`.
    pub driver: String,
    pub subnets: Vec<IpNet>,
    pub gateways: Vec<IpAddr>,
    pub ip_ranges: Vec<IpNet>,
    pub internal: bool,
    pub ipv6: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

fn random_id() -> String {
    let bytes: [u8; 32] = rand::thread_rng().gen();
    hex::encode(bytes)
}

/// docker's CLI rules for matching `--gateway`s and `--ip-range`s to
/// `--subnet`s, with its messages.
fn consolidate_ipam(o: &NetworkCreateOptions) -> Result<Vec<Ipam>, EngineError> {
    if o.subnets.is_empty() && (!o.gateways.is_empty() || !o.ip_ranges.is_empty()) {
        return Err(EngineError::Invalid(
            "every ip-range or gateway must have a corresponding subnet".into(),
        ));
    }
    for (i, a) in o.subnets.iter().enumerate() {
        if o.subnets[..i].iter().any(|b| ipam::overlaps(a, b)) {
            return Err(EngineError::Invalid(
                "multiple overlapping subnet configuration is not supported".into(),
            ));
        }
    }
    let mut gateways: Vec<Option<IpAddr>> = vec![None; o.subnets.len()];
    let mut ranges: Vec<Option<IpNet>> = vec![None; o.subnets.len()];
    for gw in &o.gateways {
        let i = o
            .subnets
            .iter()
            .position(|s| s.contains(gw))
            .ok_or_else(|| EngineError::Invalid(format!("no matching subnet for gateway {gw}")))?;
        if let Some(prev) = gateways[i] {
            return Err(EngineError::Invalid(format!(
                "cannot configure multiple gateways ({prev}, {gw}) for the same subnet ({})",
                o.subnets[i]
            )));
        }
        gateways[i] = Some(*gw);
    }
    for r in &o.ip_ranges {
        let i = o
            .subnets
            .iter()
            .position(|s| s.contains(r))
            .ok_or_else(|| EngineError::Invalid(format!("no matching subnet for range {r}")))?;
        if let Some(prev) = ranges[i] {
            return Err(EngineError::Invalid(format!(
                "cannot configure multiple ranges ({prev}, {r}) on the same subnet ({})",
                o.subnets[i]
            )));
        }
        ranges[i] = Some(*r);
    }
    o.subnets
        .iter()
        .zip(gateways.into_iter().zip(ranges))
        .map(|(s, (gw, r))| Ipam::new(*s, gw, r).map_err(EngineError::from))
        .collect()
}

impl Engine {
    fn network_infos(&self) -> Result<Vec<NetworkInfo>, EngineError> {
        self.store
            .list_networks()?
            .into_iter()
            .map(NetworkInfo::from_record)
            .collect()
    }

    /// Subnets a new network must not overlap: the host's routes, docker0's,
    /// every berth network's.
    fn taken_subnets(&self, host: &mut HostNetwork) -> Result<Vec<IpNet>, EngineError> {
        let mut taken = host.host_routes()?;
        taken.push(IpNet::V4(DOCKER0_SUBNET));
        for n in self.network_infos()? {
            taken.extend(n.config.subnets.iter().map(|s| s.subnet));
        }
        Ok(taken)
    }

    fn insert_network(
        &mut self,
        name: &str,
        config: &NetworkConfig,
    ) -> Result<NetworkInfo, EngineError> {
        let record = NetworkRecord {
            id: random_id(),
            name: name.to_string(),
            driver: config.driver.clone(),
            config: serde_json::to_string(config).expect("serializable"),
            created_at: now_rfc3339(),
        };
        self.store.insert_network(&record)?;
        Ok(NetworkInfo {
            record,
            config: config.clone(),
        })
    }

    /// The `bridge`, `host` and `none` networks, made on first use: the
    /// default bridge's subnet is `bip`, or the first free pool.
    pub(crate) fn predefined_networks(&mut self) -> Result<(), EngineError> {
        let have: Vec<String> = self
            .store
            .list_networks()?
            .into_iter()
            .map(|n| n.name)
            .collect();
        if [DEFAULT_NETWORK, HOST_NETWORK, NONE_NETWORK]
            .iter()
            .all(|n| have.iter().any(|h| h == n))
        {
            return Ok(());
        }
        let settings = network_settings()?;
        let wanted_bridge = !settings.default_bridge_disabled();
        if !wanted_bridge
            && have.iter().any(|h| h == HOST_NETWORK)
            && have.iter().any(|h| h == NONE_NETWORK)
        {
            return Ok(());
        }
        for (name, driver) in [(HOST_NETWORK, "host"), (NONE_NETWORK, "null")] {
            if !have.iter().any(|h| h == name) {
                let config = NetworkConfig {
                    driver: driver.into(),
                    bridge: String::new(),
                    subnets: vec![],
                    user_subnets: false,
                    internal: false,
                    ipv6: false,
                    attachable: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    default_bridge: false,
                };
                ignore_exists(self.insert_network(name, &config))?;
            }
        }
        if wanted_bridge && !have.iter().any(|h| h == DEFAULT_NETWORK) {
            let config = self.default_bridge_config(&settings)?;
            ignore_exists(self.insert_network(DEFAULT_NETWORK, &config))?;
        }
        Ok(())
    }

    fn default_bridge_config(
        &self,
        settings: &NetworkSettings,
    ) -> Result<NetworkConfig, EngineError> {
        let ipam = match settings.bip()? {
            Some(ipam) => ipam,
            None => {
                let mut host = host_network(settings)?;
                let taken = self.taken_subnets(&mut host)?;
                let subnet = ipam::choose_subnet(&settings.pools(), &taken, false)?;
                Ipam::new(subnet, None, None)?
            }
        };
        let bridge = settings.bridge_name().to_string();
        let mut options = BTreeMap::new();
        options.insert(
            "com.docker.network.bridge.default_bridge".into(),
            "true".into(),
        );
        options.insert("com.docker.network.bridge.enable_icc".into(), "true".into());
        options.insert(
            "com.docker.network.bridge.enable_ip_masquerade".into(),
            "true".into(),
        );
        options.insert(
            "com.docker.network.bridge.host_binding_ipv4".into(),
            "0.0.0.0".into(),
        );
        options.insert("com.docker.network.bridge.name".into(), bridge.clone());
        if let Some(mtu) = settings.mtu {
            options.insert("com.docker.network.driver.mtu".into(), mtu.to_string());
        }
        Ok(NetworkConfig {
            driver: "bridge".into(),
            bridge,
            subnets: vec![ipam],
            user_subnets: settings.bip.is_some(),
            internal: false,
            ipv6: false,
            attachable: false,
            labels: BTreeMap::new(),
            options,
            default_bridge: true,
        })
    }

    /// `network create`; returns the new network's ID.
    pub fn create_network(&mut self, o: &NetworkCreateOptions) -> Result<String, EngineError> {
        self.predefined_networks()?;
        let driver = if o.driver.is_empty() {
            "bridge"
        } else {
            o.driver.as_str()
        };
        if driver != "bridge" {
            return Err(EngineError::NotFound(format!(
                "plugin {driver:?} not found"
            )));
        }
        if !crate::container::valid_name(&o.name) {
            return Err(EngineError::Invalid(format!(
                "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                o.name
            )));
        }
        if self
            .store
            .find_networks(&o.name)?
            .iter()
            .any(|n| n.name == o.name)
        {
            return Err(StoreError::NetworkExists(o.name.clone()).into());
        }
        let bridge_opts = BridgeOptions::parse(&o.options)?;
        let settings = network_settings()?;
        let mut host = host_network(&settings)?;
        let taken = self.taken_subnets(&mut host)?;
        let mut subnets = consolidate_ipam(o)?;
        let user_subnets = !subnets.is_empty();
        for s in &subnets {
            let others: Vec<IpNet> = self
                .network_infos()?
                .iter()
                .flat_map(|n| n.config.subnets.iter().map(|s| s.subnet))
                .collect();
            if others.iter().any(|t| ipam::overlaps(t, &s.subnet)) {
                return Err(EngineError::Conflict(format!(
                    "Pool overlaps with other one on this address space: {}",
                    s.subnet
                )));
            }
        }
        if !subnets.iter().any(|s| s.subnet.addr().is_ipv4()) {
            let subnet = ipam::choose_subnet(&settings.pools(), &taken, false)?;
            subnets.insert(0, Ipam::new(subnet, None, None)?);
        }
        if o.ipv6 && !subnets.iter().any(|s| s.subnet.addr().is_ipv6()) {
            let subnet = ipam::choose_subnet(&settings.pools(), &taken, true)?;
            subnets.push(Ipam::new(subnet, None, None)?);
        }
        let id_hint = random_id();
        let bridge = match &bridge_opts.bridge_name {
            Some(b) => {
                if self.network_infos()?.iter().any(|n| &n.config.bridge == b) {
                    return Err(EngineError::Conflict(format!(
                        "bridge name {b} is in use by another network"
                    )));
                }
                b.clone()
            }
            None => format!("br-{}", &id_hint[..12]),
        };
        let config = NetworkConfig {
            driver: "bridge".into(),
            bridge,
            subnets,
            user_subnets,
            internal: o.internal,
            ipv6: o.ipv6,
            attachable: o.attachable,
            labels: o.labels.clone(),
            options: o.options.clone(),
            default_bridge: false,
        };
        let record = NetworkRecord {
            id: id_hint,
            name: o.name.clone(),
            driver: "bridge".into(),
            config: serde_json::to_string(&config).expect("serializable"),
            created_at: now_rfc3339(),
        };
        self.store.insert_network(&record)?;
        // docker makes the bridge at once; a failure takes the record back.
        let info = NetworkInfo { record, config };
        let net = info.bridge_network()?;
        if let Err(e) = host.ensure_network(&net) {
            // What was made before the failure (the bridge, part of the
            // rules) goes with the record.
            let _ = host.remove_network(&net);
            let _ = self.store.delete_network(&info.record.id);
            return Err(e.into());
        }
        Ok(info.record.id)
    }

    /// The network a name or ID (prefix) means, docker's way.
    pub fn network(&mut self, name_or_id: &str) -> Result<NetworkInfo, EngineError> {
        self.predefined_networks()?;
        let found = self.store.find_networks(name_or_id)?;
        let exact = found
            .iter()
            .find(|n| n.name == name_or_id || n.id == name_or_id)
            .cloned();
        let record = match exact {
            Some(r) => r,
            None if found.len() == 1 => found.into_iter().next().expect("one"),
            None if found.is_empty() => {
                return Err(EngineError::NotFound(format!(
                    "network {name_or_id} not found"
                )))
            }
            None => {
                return Err(EngineError::Invalid(format!(
                    "network {name_or_id} is ambiguous ({} matches found based on ID prefix)",
                    found.len()
                )))
            }
        };
        NetworkInfo::from_record(record)
    }

    /// The networks a filter takes (`network ls`), by name.
    pub fn list_networks(
        &mut self,
        filter: &NetworkFilter,
    ) -> Result<Vec<NetworkInfo>, EngineError> {
        self.predefined_networks()?;
        let mut taken = Vec::new();
        for n in self.network_infos()? {
            let in_use = self.network_in_use(&n)?;
            if filter.matches(&n, in_use) {
                taken.push(n);
            }
        }
        Ok(taken)
    }

    /// `network rm`: refused for the predefined networks and for one a
    /// running container is on (naming them); the bridge and its rules go.
    pub fn remove_network(&mut self, name_or_id: &str) -> Result<NetworkInfo, EngineError> {
        let info = self.network(name_or_id)?;
        if info.is_predefined() {
            return Err(EngineError::Conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                info.record.name
            )));
        }
        self.reconcile_network_leases()?;
        let mut users: Vec<String> = self
            .store
            .all_leases()?
            .into_iter()
            .filter(|l| l.network_id == info.record.id)
            .map(|l| l.container_id)
            .collect();
        users.dedup();
        if !users.is_empty() {
            let mut names = Vec::with_capacity(users.len());
            for id in users {
                names.push(match self.store.container(&id)? {
                    Some(c) => c.name,
                    None => id,
                });
            }
            return Err(network_in_use(&info, &names));
        }
        // The host's side goes first, the record last: a process killed in
        // between leaves a network that a second `network rm` (or the next
        // container on it) finds and finishes, never a bridge or firewall
        // rules that no record names.
        let bridge = if info.is_bridge() {
            let settings = network_settings()?;
            let mut host = host_network(&settings)?;
            let net = info.bridge_network()?;
            host.remove_network(&net)?;
            Some((host, net))
        } else {
            None
        };
        match self.store.delete_network(&info.record.id) {
            Ok(()) => Ok(info),
            Err(StoreError::NetworkInUse { containers }) => {
                // A container joined since the check: it needs the bridge.
                if let Some((mut host, net)) = bridge {
                    host.ensure_network(&net)?;
                }
                Err(network_in_use(&info, &containers))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The network a container is on when it names none: `bridge`, or
    /// `none` when the config file turns the default bridge off.
    pub fn default_network_mode(&self) -> Result<&'static str, EngineError> {
        Ok(if network_settings()?.default_bridge_disabled() {
            NONE_NETWORK
        } else {
            DEFAULT_NETWORK
        })
    }

    /// Checks `--network` and what goes with it at create; returns the
    /// bridge network to connect the container to, if any.
    pub(crate) fn container_network_for(
        &mut self,
        opts: &mut crate::ContainerOptions,
    ) -> Result<Option<NetworkInfo>, EngineError> {
        let mode = match opts.network.as_str() {
            "" | "default" => self.default_network_mode()?.to_string(),
            other => other.to_string(),
        };
        if opts.network.is_empty() {
            opts.network = "default".into();
        }
        let publishes = !opts.net.publish.is_empty() || opts.net.publish_all;
        match mode.as_str() {
            NONE_NETWORK => {
                if publishes {
                    return Err(EngineError::Conflict(
                        "conflicting options: port publishing and the container type network mode"
                            .into(),
                    ));
                }
                Ok(None)
            }
            HOST_NETWORK => {
                // docker discards published ports on the host's network.
                opts.net.publish.clear();
                opts.net.publish_all = false;
                Ok(None)
            }
            m if m.starts_with("container:") => Err(EngineError::NotImplemented(
                "--network container:NAME is not supported yet".into(),
            )),
            name => {
                let network = self.network(name)?;
                match network.config.driver.as_str() {
                    "bridge" => Ok(Some(network)),
                    "null" => Ok(None),
                    _ => Ok(None),
                }
            }
        }
    }

    /// Whether any container (running or not) is connected to a network.
    pub fn network_in_use(&mut self, n: &NetworkInfo) -> Result<bool, EngineError> {
        Ok(!self.store.network_endpoints(&n.record.id)?.is_empty())
    }

    /// `network prune`: the user networks a filter takes that no
    /// container is connected to; returns their names.
    pub fn prune_networks(&mut self, filter: &NetworkFilter) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        for n in self.list_networks(&NetworkFilter::default())? {
            if n.is_predefined() || !filter.matches(&n, false) || self.network_in_use(&n)? {
                continue;
            }
            match self.remove_network(&n.record.id) {
                Ok(_) => removed.push(n.record.name),
                Err(e) if e.kind() == crate::ErrorKind::Conflict => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

fn network_in_use(info: &NetworkInfo, containers: &[String]) -> EngineError {
    EngineError::Conflict(format!(
        "error while removing network: network {} id {} has active endpoints ({})",
        info.record.name,
        info.record.id,
        containers.join(", ")
    ))
}

fn ignore_exists(r: Result<NetworkInfo, EngineError>) -> Result<(), EngineError> {
    match r {
        Ok(_) | Err(EngineError::Store(StoreError::NetworkExists(_))) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(subnets: &[&str], gateways: &[&str], ranges: &[&str]) -> NetworkCreateOptions {
        NetworkCreateOptions {
            name: "n".into(),
            subnets: subnets.iter().map(|s| s.parse().unwrap()).collect(),
            gateways: gateways.iter().map(|s| s.parse().unwrap()).collect(),
            ip_ranges: ranges.iter().map(|s| s.parse().unwrap()).collect(),
            ..NetworkCreateOptions::default()
        }
    }

    #[test]
    fn ipam_is_consolidated_as_docker_does() {
        let v = consolidate_ipam(&opts(
            &["10.213.1.0/24", "10.213.2.0/24"],
            &["10.213.2.254"],
            &["10.213.1.128/25"],
        ))
        .unwrap();
        assert_eq!(v[0].range, Some("10.213.1.128/25".parse().unwrap()));
        assert_eq!(v[1].gateway, "10.213.2.254".parse::<IpAddr>().unwrap());
        let err = |o| consolidate_ipam(&o).unwrap_err().to_string();
        assert_eq!(
            err(opts(&[], &["10.0.0.1"], &[])),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            err(opts(&["10.213.1.0/24"], &["10.213.9.1"], &[])),
            "no matching subnet for gateway 10.213.9.1"
        );
        assert_eq!(
            err(opts(&["10.213.0.0/16", "10.213.1.0/24"], &[], &[])),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(
            err(opts(&["10.213.1.0/24"], &["10.213.1.1", "10.213.1.2"], &[])),
            "cannot configure multiple gateways (10.213.1.1, 10.213.1.2) for the same subnet (10.213.1.0/24)"
        );
    }
}
