//! A container's network as `inspect`, `ps` and `port` show it, in
//! docker's shapes.

use std::collections::BTreeMap;

use berth_network::ipam::format_mac;
use berth_network::ports::ContainerPort;
use serde_json::{json, Map, Value};

use crate::container::{ContainerInfo, PortSummary};
use crate::{Engine, EngineError};

impl Engine {
    /// The ports a container exposes (image `EXPOSE`, `--expose`, `-p`).
    pub(crate) fn exposed_ports(
        &mut self,
        info: &ContainerInfo,
    ) -> Result<Vec<ContainerPort>, EngineError> {
        let mut out: Vec<ContainerPort> = info.options.net.expose.clone();
        out.extend(info.options.net.publish.iter().map(|m| m.container));
        if let Ok(bytes) = self.store.content().read(&info.record.image_id) {
            let image = crate::image::config::ImageConfig::parse(&bytes)?;
            if let Some(ports) = image
                .container_config()
                .and_then(|c| c.get("ExposedPorts"))
                .and_then(Value::as_object)
            {
                out.extend(ports.keys().filter_map(|k| k.parse::<ContainerPort>().ok()));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A running container's ports, published or only exposed.
    pub fn container_ports(
        &mut self,
        info: &ContainerInfo,
    ) -> Result<Vec<PortSummary>, EngineError> {
        let bindings = self.store.container_port_bindings(&info.record.id)?;
        let mut out: Vec<PortSummary> = bindings
            .iter()
            .filter_map(|b| {
                Some(PortSummary {
                    private_port: b.container_port,
                    protocol: b.protocol.parse().ok()?,
                    public: Some((
                        if b.host_ip.is_empty() {
                            "0.0.0.0".into()
                        } else {
                            b.host_ip.clone()
                        },
                        b.host_port,
                    )),
                })
            })
            .collect();
        for p in self.exposed_ports(info)? {
            if !out
                .iter()
                .any(|s| s.private_port == p.port && s.protocol == p.protocol)
            {
                out.push(PortSummary {
                    private_port: p.port,
                    protocol: p.protocol,
                    public: None,
                });
            }
        }
        Ok(out)
    }

    /// `NetworkSettings` of `inspect`, docker 20.10's shape: the default
    /// bridge's address also at the top, every network under `Networks`,
    /// published ports under `Ports`.
    pub(crate) fn network_settings_json(
        &mut self,
        info: &ContainerInfo,
    ) -> Result<Value, EngineError> {
        let id = &info.record.id;
        let running = info.record.status.is_active();
        let leases = self.store.container_leases(id)?;
        let mut networks = Map::new();
        let mut top = json!({
            "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
        });
        for (network, settings, endpoint_id) in self.container_networks(id)? {
            let mine: Vec<&berth_store::LeaseRecord> = leases
                .iter()
                .filter(|l| l.network_id == network.record.id)
                .collect();
            let attached = running && !mine.is_empty();
            let find = |v6: bool| {
                mine.iter()
                    .find(|l| l.address.contains(':') == v6)
                    .and_then(|l| {
                        let prefix = network
                            .config
                            .subnets
                            .iter()
                            .find(|s| s.subnet.addr().is_ipv6() == v6)?
                            .prefix_len();
                        let gw = network
                            .config
                            .subnets
                            .iter()
                            .find(|s| s.subnet.addr().is_ipv6() == v6)?
                            .gateway;
                        Some((l.address.clone(), prefix, gw.to_string()))
                    })
            };
            let v4 = find(false);
            let v6 = find(true);
            let mac = match (&settings.mac, &v4) {
                (Some(m), _) => m.clone(),
                (None, Some((ip, ..))) => ip
                    .parse()
                    .map(|ip| format_mac(&berth_network::ipam::mac_for(ip)))
                    .unwrap_or_default(),
                (None, None) => String::new(),
            };
            let mut aliases: Vec<String> = Vec::new();
            if !network.config.default_bridge {
                aliases.push(id[..12].to_string());
                aliases.extend(settings.aliases.iter().cloned());
            }
            let ipam_config = if settings.ipv4.is_some() || settings.ipv6.is_some() {
                json!({
                    "IPv4Address": settings.ipv4.map(|i| i.to_string()).unwrap_or_default(),
                    "IPv6Address": settings.ipv6.map(|i| i.to_string()).unwrap_or_default(),
                })
            } else {
                Value::Null
            };
            let entry = json!({
                "IPAMConfig": ipam_config,
                "Links": null,
                "Aliases": if aliases.is_empty() { Value::Null } else { json!(aliases) },
                "NetworkID": network.record.id,
                "EndpointID": if attached { endpoint_id.clone() } else { String::new() },
                "Gateway": if attached { v4.as_ref().map(|v| v.2.clone()).unwrap_or_default() } else { String::new() },
                "IPAddress": if attached { v4.as_ref().map(|v| v.0.clone()).unwrap_or_default() } else { String::new() },
                "IPPrefixLen": if attached { v4.as_ref().map(|v| v.1).unwrap_or(0) } else { 0 },
                "IPv6Gateway": if attached { v6.as_ref().map(|v| v.2.clone()).unwrap_or_default() } else { String::new() },
                "GlobalIPv6Address": if attached { v6.as_ref().map(|v| v.0.clone()).unwrap_or_default() } else { String::new() },
                "GlobalIPv6PrefixLen": if attached { v6.as_ref().map(|v| v.1).unwrap_or(0) } else { 0 },
                "MacAddress": if attached { mac } else { String::new() },
                "DriverOpts": null,
            });
            if network.config.default_bridge {
                for k in [
                    "EndpointID",
                    "Gateway",
                    "GlobalIPv6Address",
                    "GlobalIPv6PrefixLen",
                    "IPAddress",
                    "IPPrefixLen",
                    "IPv6Gateway",
                    "MacAddress",
                ] {
                    top[k] = entry[k].clone();
                }
            }
            networks.insert(network.record.name.clone(), entry);
        }
        if networks.is_empty() {
            // `none` and `host` have an endpoint in docker too, empty.
            let name = match info.options.network.as_str() {
                "host" => "host",
                _ => "none",
            };
            if let Ok(n) = self.network(name) {
                networks.insert(name.to_string(), json!({
                    "IPAMConfig": null, "Links": null, "Aliases": null, "NetworkID": n.record.id,
                    "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                    "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": null,
                }));
            }
        }
        let mut ports = Map::new();
        if running {
            for p in self.container_ports(info)? {
                let key = format!("{}/{}", p.private_port, p.protocol);
                let entry = ports.entry(key).or_insert(Value::Null);
                if let Some((ip, port)) = p.public {
                    if entry.is_null() {
                        *entry = json!([]);
                    }
                    if let Some(list) = entry.as_array_mut() {
                        list.push(json!({"HostIp": ip, "HostPort": port.to_string()}));
                    }
                }
            }
        }
        let mut out = json!({
            "Bridge": "",
            "SandboxID": "",
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports,
            "SandboxKey": "",
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "Networks": networks,
        });
        for (k, v) in top.as_object().expect("object") {
            out[k] = v.clone();
        }
        Ok(out)
    }

    /// `HostConfig.PortBindings` and `Config.ExposedPorts` as docker shows
    /// them (from the options, running or not).
    pub(crate) fn port_config_json(
        &mut self,
        info: &ContainerInfo,
    ) -> Result<(Value, Value), EngineError> {
        let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for m in &info.options.net.publish {
            bindings
                .entry(m.container.to_string())
                .or_default()
                .push(json!({
                    "HostIp": m.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                    "HostPort": m.host_ports.map(|r| r.to_string()).unwrap_or_default(),
                }));
        }
        let exposed: Map<String, Value> = self
            .exposed_ports(info)?
            .iter()
            .map(|p| (p.to_string(), json!({})))
            .collect();
        Ok((
            json!(bindings),
            if exposed.is_empty() {
                Value::Null
            } else {
                Value::Object(exposed)
            },
        ))
    }
}
