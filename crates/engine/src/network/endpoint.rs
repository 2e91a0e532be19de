//! What a container gets on its networks while it runs: addresses leased
//! in the store (chosen in the same transaction), a MAC, its interface and
//! host veth names; and giving it all back when it stops (or, for a killed
//! monitor, when the next command notices).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use berth_network::bridge::{veth_name, Endpoint, NetworkBackend};
use berth_network::firewall::PortForward;
use berth_network::ipam::{self, Ipam};
use berth_network::ports::Protocol;
use berth_network::sandbox::Attachment;
use berth_store::{EndpointRecord, PortBindingRecord};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{host_network, network_settings, NetworkInfo};
use crate::container::EndpointSettings;
use crate::{Engine, EngineError};

/// What the store keeps for a connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredEndpoint {
    settings: EndpointSettings,
    /// docker's `EndpointID`, made once per connection.
    endpoint_id: String,
    /// The host end of its veth while the container runs, for
    /// `network disconnect`.
    #[serde(default)]
    host_veth: Option<String>,
}

/// The `--network-alias`es in a stored connection.
pub(crate) fn endpoint_aliases(config: &str) -> Vec<String> {
    serde_json::from_str::<StoredEndpoint>(config)
        .map(|e| e.settings.aliases)
        .unwrap_or_default()
}

/// The settings and endpoint ID of a stored connection.
pub(crate) fn parse_stored(config: &str) -> Result<(EndpointSettings, String), EngineError> {
    let e: StoredEndpoint = serde_json::from_str(config)
        .map_err(|e| EngineError::Internal(format!("endpoint record: {e}")))?;
    Ok((e.settings, e.endpoint_id))
}

/// A container on one network while it runs.
#[derive(Debug, Clone)]
pub struct NetworkAttachment {
    pub network: NetworkInfo,
    pub endpoint_id: String,
    pub settings: EndpointSettings,
    pub addresses: Vec<IpNet>,
    pub mac: [u8; 6],
    pub interface: String,
    pub host_veth: String,
    /// This network gives the container its default route.
    pub gateway: bool,
}

impl NetworkAttachment {
    pub fn sandbox_attachment(&self) -> Result<Attachment, EngineError> {
        let network = self.network.bridge_network()?;
        Ok(Attachment {
            endpoint: Endpoint {
                host_veth: self.host_veth.clone(),
                interface: self.interface.clone(),
                addresses: self.addresses.clone(),
                mac: Some(self.mac),
                default_gateways: if self.gateway {
                    network.subnets.iter().map(|s| s.gateway).collect()
                } else {
                    vec![]
                },
            },
            network,
        })
    }

    pub fn ip(&self, v6: bool) -> Option<IpAddr> {
        self.addresses
            .iter()
            .map(|a| a.addr())
            .find(|a| a.is_ipv6() == v6)
    }
}

fn choose(
    ipam: &Ipam,
    wanted: Option<IpAddr>,
    in_use: &[String],
    last: Option<&str>,
) -> Result<String, EngineError> {
    let used: HashSet<IpAddr> = in_use.iter().filter_map(|a| a.parse().ok()).collect();
    let ip = match wanted {
        Some(ip) => {
            ipam.check_static(ip, &used)?;
            ip
        }
        None => ipam.allocate(&used, last.and_then(|l| l.parse().ok()))?,
    };
    Ok(ip.to_string())
}

impl Engine {
    /// Records a container's connection to a network (at create, or
    /// `network connect`), checking its settings against the network.
    pub(crate) fn connect_endpoint(
        &mut self,
        container_id: &str,
        network: &NetworkInfo,
        settings: &EndpointSettings,
        position: u32,
    ) -> Result<(), EngineError> {
        if !network.is_bridge() {
            return Err(EngineError::Invalid(format!(
                "container cannot be connected to network {} (driver {})",
                network.record.name, network.config.driver
            )));
        }
        if (settings.ipv4.is_some() || settings.ipv6.is_some()) && !network.config.user_subnets {
            return Err(EngineError::Invalid(
                "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
            ));
        }
        if !settings.aliases.is_empty() && network.config.default_bridge {
            return Err(EngineError::Invalid(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        for ip in settings
            .ipv4
            .map(IpAddr::V4)
            .into_iter()
            .chain(settings.ipv6.map(IpAddr::V6))
        {
            if !network
                .config
                .subnets
                .iter()
                .any(|s| s.subnet.contains(&ip))
            {
                return Err(EngineError::Invalid(format!(
                    "invalid address {ip}: it does not belong to any of this network's subnets"
                )));
            }
        }
        if let Some(mac) = &settings.mac {
            ipam::parse_mac(mac)?;
        }
        let stored = StoredEndpoint {
            settings: settings.clone(),
            endpoint_id: super::random_id(),
            host_veth: None,
        };
        self.store.put_endpoint(&EndpointRecord {
            container_id: container_id.to_string(),
            network_id: network.record.id.clone(),
            position,
            config: serde_json::to_string(&stored).expect("serializable"),
        })?;
        Ok(())
    }

    /// The container's connections with their settings, in order.
    pub(crate) fn container_networks(
        &mut self,
        container_id: &str,
    ) -> Result<Vec<(NetworkInfo, EndpointSettings, String)>, EngineError> {
        let mut out = Vec::new();
        for ep in self.store.container_endpoints(container_id)? {
            let Some(rec) = self.store.network(&ep.network_id)? else {
                continue;
            };
            let stored: StoredEndpoint = serde_json::from_str(&ep.config)
                .map_err(|e| EngineError::Internal(format!("endpoint record: {e}")))?;
            out.push((
                NetworkInfo::from_record(rec)?,
                stored.settings,
                stored.endpoint_id,
            ));
        }
        Ok(out)
    }

    /// Leases the container its addresses on one network and names its
    /// links: the step before the monitor wires it up.
    pub(crate) fn plan_attachment(
        &mut self,
        container_id: &str,
        network: NetworkInfo,
        settings: EndpointSettings,
        endpoint_id: String,
        index: usize,
        gateway: bool,
    ) -> Result<NetworkAttachment, EngineError> {
        let mut addresses = Vec::new();
        for ipam in network.config.subnets.clone() {
            let v6 = ipam.subnet.addr().is_ipv6();
            let wanted = if v6 {
                settings.ipv6.map(IpAddr::V6)
            } else {
                settings.ipv4.map(IpAddr::V4)
            };
            let ip = self
                .store
                .lease(&network.record.id, container_id, v6, |used, last| {
                    choose(&ipam, wanted, used, last)
                })?;
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| EngineError::Internal(format!("leased address {ip}")))?;
            addresses.push(IpNet::new(ip, ipam.prefix_len()).expect("prefix of its subnet"));
        }
        let mac = match &settings.mac {
            Some(m) => ipam::parse_mac(m)?,
            None => match addresses.iter().find_map(|a| match a.addr() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            }) {
                Some(v4) => ipam::mac_for(v4),
                None => ipam::mac_for(Ipv4Addr::from(rand::random::<u32>())),
            },
        };
        let host_veth = veth_name();
        self.store.put_endpoint(&EndpointRecord {
            container_id: container_id.to_string(),
            network_id: network.record.id.clone(),
            position: index as u32,
            config: serde_json::to_string(&StoredEndpoint {
                settings: settings.clone(),
                endpoint_id: endpoint_id.clone(),
                host_veth: Some(host_veth.clone()),
            })
            .expect("serializable"),
        })?;
        Ok(NetworkAttachment {
            gateway: gateway && !network.config.internal,
            network,
            endpoint_id,
            settings,
            addresses,
            mac,
            interface: format!("eth{index}"),
            host_veth,
        })
    }

    /// `network connect`: records the connection and, when the container
    /// runs, wires it into its namespace at once.
    pub fn connect_network(
        &mut self,
        network: &str,
        container: &str,
        settings: &EndpointSettings,
    ) -> Result<(), EngineError> {
        let info = self.container(container)?;
        let network = self.network(network)?;
        if matches!(info.options.network.as_str(), "host" | "none")
            || self.container_networks(&info.record.id)?.is_empty()
        {
            return Err(EngineError::Conflict(format!(
                "container {} is on network {:?}: it cannot be connected to other networks",
                info.record.name, info.options.network
            )));
        }
        let current = self.container_networks(&info.record.id)?;
        if current
            .iter()
            .any(|(n, ..)| n.record.id == network.record.id)
        {
            return Err(EngineError::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                info.record.name, network.record.name
            )));
        }
        let index = current.len();
        self.connect_endpoint(&info.record.id, &network, settings, index as u32)?;
        if !info.record.status.is_active() {
            return Ok(());
        }
        let (_, endpoint_id) = self
            .container_networks(&info.record.id)?
            .into_iter()
            .find(|(n, ..)| n.record.id == network.record.id)
            .map(|(_, s, id)| (s, id))
            .ok_or_else(|| EngineError::Internal("connection just made is gone".into()))?;
        let attachment = self.plan_attachment(
            &info.record.id,
            network.clone(),
            settings.clone(),
            endpoint_id,
            index,
            false,
        )?;
        let wired = (|| {
            let pid = info.record.pid.ok_or_else(|| {
                EngineError::Conflict(format!("container {} is not running", info.record.name))
            })?;
            let ns = berth_network::netns::NetNs::open(std::path::Path::new(&format!(
                "/proc/{pid}/ns/net"
            )))?;
            let settings = network_settings()?;
            let mut host = host_network(&settings)?;
            let a = attachment.sandbox_attachment()?;
            host.ensure_network(&a.network)?;
            host.attach(&a.network, &ns, &a.endpoint)?;
            Ok::<_, EngineError>(())
        })();
        if let Err(e) = wired {
            let _ = self
                .store
                .delete_endpoint(&info.record.id, &network.record.id);
            return Err(e);
        }
        Ok(())
    }

    /// `network disconnect`: takes the container off the network (its
    /// veth, addresses and ports there) and forgets the connection.
    pub fn disconnect_network(
        &mut self,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<(), EngineError> {
        let network = self.network(network)?;
        let info = match self.container(container) {
            Ok(info) => info,
            Err(e) if force && e.kind() == crate::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let endpoint = self
            .store
            .container_endpoints(&info.record.id)?
            .into_iter()
            .find(|e| e.network_id == network.record.id)
            .ok_or_else(|| {
                EngineError::Conflict(format!(
                    "container {} is not connected to network {}",
                    info.record.id, network.record.name
                ))
            })?;
        let stored: StoredEndpoint = serde_json::from_str(&endpoint.config)
            .map_err(|e| EngineError::Internal(format!("endpoint record: {e}")))?;
        if info.record.status.is_active() {
            let settings = network_settings()?;
            let mut host = host_network(&settings)?;
            let bindings = self.store.container_port_bindings(&info.record.id)?;
            let fwds: Vec<PortForward> = bindings
                .iter()
                .filter(|b| b.network_id == network.record.id)
                .filter_map(|b| {
                    Some(PortForward {
                        protocol: b.protocol.parse().ok()?,
                        host_ip: (!b.host_ip.is_empty())
                            .then(|| b.host_ip.parse().ok())
                            .flatten(),
                        host_port: b.host_port,
                        container_ip: b.container_ip.parse().ok()?,
                        container_port: b.container_port,
                    })
                })
                .collect();
            if network.is_bridge() {
                host.unpublish(&network.bridge_network()?, &fwds)?;
            }
            if let Some(veth) = &stored.host_veth {
                host.detach(&Endpoint {
                    host_veth: veth.clone(),
                    interface: String::new(),
                    addresses: vec![],
                    mac: None,
                    default_gateways: vec![],
                })?;
            }
        }
        self.store
            .delete_endpoint(&info.record.id, &network.record.id)?;
        Ok(())
    }

    /// Records the ports a running container published.
    pub(crate) fn record_port_bindings(
        &mut self,
        container_id: &str,
        network_id: &str,
        forwards: &[PortForward],
    ) -> Result<(), EngineError> {
        let records: Vec<PortBindingRecord> = forwards
            .iter()
            .map(|f| PortBindingRecord {
                container_id: container_id.to_string(),
                network_id: network_id.to_string(),
                protocol: f.protocol.to_string(),
                host_ip: f.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                host_port: f.host_port,
                container_ip: f.container_ip.to_string(),
                container_port: f.container_port,
            })
            .collect();
        self.store.add_port_bindings(&records)?;
        Ok(())
    }

    /// Gives back what a container held while it ran: its port forwards
    /// (only those still pointing at it), its published ports and
    /// addresses. Its veths went with its namespace.
    pub(crate) fn release_network(&mut self, container_id: &str) -> Result<(), EngineError> {
        let ports = self.store.container_port_bindings(container_id)?;
        if !ports.is_empty() {
            let settings = network_settings()?;
            let mut host = host_network(&settings)?;
            let mut by_network: Vec<(String, Vec<PortForward>)> = Vec::new();
            for p in &ports {
                let fwd = PortForward {
                    protocol: p.protocol.parse::<Protocol>()?,
                    host_ip: (!p.host_ip.is_empty())
                        .then(|| p.host_ip.parse())
                        .transpose()
                        .map_err(|_| {
                            EngineError::Internal(format!(
                                "port binding host address {}",
                                p.host_ip
                            ))
                        })?,
                    host_port: p.host_port,
                    container_ip: p.container_ip.parse().map_err(|_| {
                        EngineError::Internal(format!("port binding address {}", p.container_ip))
                    })?,
                    container_port: p.container_port,
                };
                match by_network.iter_mut().find(|(n, _)| *n == p.network_id) {
                    Some((_, v)) => v.push(fwd),
                    None => by_network.push((p.network_id.clone(), vec![fwd])),
                }
            }
            for (network_id, fwds) in by_network {
                if let Some(rec) = self.store.network(&network_id)? {
                    let net = NetworkInfo::from_record(rec)?;
                    if let Err(e) = host.unpublish(&net.bridge_network()?, &fwds) {
                        tracing::warn!("release ports of {container_id}: {e}");
                    }
                }
            }
        }
        self.store.release_container_network(container_id)?;
        Ok(())
    }

    /// Releases what containers whose monitor died (and whose processes
    /// are gone) still hold, so their addresses and ports are free again.
    pub(crate) fn reconcile_network_leases(&mut self) -> Result<(), EngineError> {
        let mut holders: Vec<String> = self
            .store
            .all_leases()?
            .into_iter()
            .map(|l| l.container_id)
            .chain(
                self.store
                    .all_port_bindings()?
                    .into_iter()
                    .map(|p| p.container_id),
            )
            .collect();
        holders.sort();
        holders.dedup();
        for id in holders {
            if let Some(record) = self.store.container(&id)? {
                let record = self.reconcile(record)?;
                if !record.status.is_active() {
                    self.release_network(&id)?;
                }
            }
        }
        Ok(())
    }
}
