//! `network inspect` in docker's JSON shape.

use serde_json::{json, Map, Value};

use berth_network::ipam::format_mac;

use super::NetworkInfo;
use crate::{Engine, EngineError};

/// docker's `network inspect` object for a network and the running
/// containers on it.
pub fn network_json(n: &NetworkInfo, containers: Map<String, Value>) -> Value {
    let config: Vec<Value> = n
        .config
        .subnets
        .iter()
        .map(|s| {
            let mut c = Map::new();
            c.insert("Subnet".into(), json!(s.subnet.to_string()));
            if let Some(r) = s.range {
                c.insert("IPRange".into(), json!(r.to_string()));
            }
            c.insert("Gateway".into(), json!(s.gateway.to_string()));
            Value::Object(c)
        })
        .collect();
    let scope = "local";
    json!({
        "Name": n.record.name,
        "Id": n.record.id,
        "Created": n.record.created_at,
        "Scope": scope,
        "Driver": n.record.driver,
        "EnableIPv6": n.config.ipv6,
        "IPAM": {"Driver": "default", "Options": null, "Config": config},
        "Internal": n.config.internal,
        "Attachable": n.config.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": n.config.options,
        "Labels": n.config.labels,
    })
}

/// A running container's connection to a network.
struct RunningEndpoint {
    container_id: String,
    endpoint_id: String,
    mac: Option<[u8; 6]>,
}

impl Engine {
    /// `network inspect`: the network and its running containers.
    pub fn inspect_network(&mut self, name_or_id: &str) -> Result<Value, EngineError> {
        self.reconcile_network_leases()?;
        let n = self.network(name_or_id)?;
        let leases = self.store.network_leases(&n.record.id)?;
        let mut containers = Map::new();
        for RunningEndpoint {
            container_id,
            endpoint_id,
            mac,
        } in self.running_on(&n)?
        {
            let Some(c) = self.store.container(&container_id)? else {
                continue;
            };
            let prefix = |v6: bool| {
                n.config
                    .subnets
                    .iter()
                    .find(|s| s.subnet.addr().is_ipv6() == v6)
                    .map(|s| s.prefix_len())
                    .unwrap_or(0)
            };
            let addr = |v6: bool| {
                leases
                    .iter()
                    .filter(|l| l.container_id == container_id)
                    .find(|l| l.address.contains(':') == v6)
                    .map(|l| format!("{}/{}", l.address, prefix(v6)))
                    .unwrap_or_default()
            };
            containers.insert(
                container_id.clone(),
                json!({
                    "Name": c.name,
                    "EndpointID": endpoint_id,
                    "MacAddress": mac.map(|m| format_mac(&m)).unwrap_or_default(),
                    "IPv4Address": addr(false),
                    "IPv6Address": addr(true),
                }),
            );
        }
        Ok(network_json(&n, containers))
    }

    /// The running containers on a network: those holding an address
    /// there.
    fn running_on(&mut self, n: &NetworkInfo) -> Result<Vec<RunningEndpoint>, EngineError> {
        let leases = self.store.network_leases(&n.record.id)?;
        let mut out = Vec::new();
        for ep in self.store.network_endpoints(&n.record.id)? {
            let Some(v4) = leases
                .iter()
                .filter(|l| l.container_id == ep.container_id)
                .map(|l| l.address.clone())
                .next()
            else {
                continue;
            };
            let (settings, endpoint_id) = super::endpoint::parse_stored(&ep.config)?;
            let mac = match settings.mac {
                Some(m) => berth_network::ipam::parse_mac(&m).ok(),
                None => v4.parse().ok().map(berth_network::ipam::mac_for),
            };
            out.push(RunningEndpoint {
                container_id: ep.container_id,
                endpoint_id,
                mac,
            });
        }
        Ok(out)
    }
}
