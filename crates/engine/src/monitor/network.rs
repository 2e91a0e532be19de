//! The monitor's part of a container's network: before the first start it
//! leases the container's addresses, makes its namespace (kept by a
//! descriptor: runc joins it, and nothing is left behind if the monitor is
//! killed), wires it to its networks, holds and forwards its published
//! ports, starts its DNS server and writes its resolv.conf and hosts; when
//! the container is done, it gives all of it back.

use std::net::IpAddr;

use berth_network::dns::{self, EmbeddedDns, Resolver};
use berth_network::files::{self, HostAddress, HostsEntries};
use berth_network::netns::NetNs;
use berth_network::ports::{self, PortMapping};
use berth_network::sandbox::Sandbox;
use berth_runtime::spec::NetworkMode;
use berth_store::StoreError;

use crate::container::ContainerInfo;
use crate::network::{
    host_network, network_settings, ContainerNetworkOptions, NetworkAttachment, StoreNames,
    DEFAULT_NETWORK,
};
use crate::{Engine, EngineError};

/// A container's network while its monitor runs.
pub(crate) struct ContainerNetwork {
    pub mode: NetworkMode,
    /// For a container with its own namespace on bridges (the files of
    /// `host` and `none` are written by the bundle as before).
    pub resolv_conf: Option<String>,
    pub hosts: Option<String>,
    sandbox: Option<Sandbox<NetNs>>,
    _dns: Option<EmbeddedDns>,
}

impl ContainerNetwork {
    pub fn none() -> ContainerNetwork {
        ContainerNetwork {
            mode: NetworkMode::None,
            resolv_conf: None,
            hosts: None,
            sandbox: None,
            _dns: None,
        }
    }
}

/// Every port `-p` and `-P` ask for.
fn port_mappings(
    opts: &ContainerNetworkOptions,
    exposed: &[ports::ContainerPort],
) -> Vec<PortMapping> {
    let mut out = opts.publish.clone();
    if opts.publish_all {
        for m in ports::publish_all(exposed) {
            if !out.iter().any(|p| p.container == m.container) {
                out.push(m);
            }
        }
    }
    out
}

fn read_host_resolv() -> String {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if files::uses_systemd_stub(&text) {
        if let Ok(real) = std::fs::read_to_string(files::SYSTEMD_RESOLV) {
            return real;
        }
    }
    text
}

impl Engine {
    /// The network of a container about to start: its ports from `-p`,
    /// and for `-P` the image's `EXPOSE`s and `--expose`.
    pub(crate) fn container_network(
        &mut self,
        info: &ContainerInfo,
    ) -> Result<ContainerNetwork, EngineError> {
        let mut exposed = info.options.net.expose.clone();
        if info.options.net.publish_all {
            let image = crate::image::config::ImageConfig::parse(
                &self.store.content().read(&info.record.image_id)?,
            )?;
            if let Some(ports) = image
                .container_config()
                .and_then(|c| c.get("ExposedPorts"))
                .and_then(|p| p.as_object())
            {
                for key in ports.keys() {
                    if let Ok(p) = key.parse::<ports::ContainerPort>() {
                        if !exposed.contains(&p) {
                            exposed.push(p);
                        }
                    }
                }
            }
        }
        let hostname = info
            .options
            .hostname
            .clone()
            .unwrap_or_else(|| info.record.id[..12].to_string());
        self.setup_container_network(info, &info.options.net, &exposed, &hostname)
    }

    /// Sets up the network of a container on bridge networks; `exposed`
    /// are the image's and `--expose`'s ports (for `-P`).
    pub(crate) fn setup_container_network(
        &mut self,
        info: &ContainerInfo,
        opts: &ContainerNetworkOptions,
        exposed: &[ports::ContainerPort],
        hostname: &str,
    ) -> Result<ContainerNetwork, EngineError> {
        let id = info.record.id.clone();
        let connections = self.container_networks(&id)?;
        if connections.is_empty() {
            return Ok(ContainerNetwork::none());
        }
        // Addresses and ports of containers whose monitor died are free.
        self.reconcile_network_leases()?;
        let mappings = port_mappings(opts, exposed);
        // A port another container of this root has published: docker's
        // "port is already allocated" (a process's is found by binding).
        let taken = self.store.all_port_bindings()?;
        for m in &mappings {
            let Some(range) = m.host_ports.filter(|r| r.is_single()) else {
                continue;
            };
            let clash = taken.iter().any(|b| {
                b.protocol == m.container.protocol.as_str()
                    && b.host_port == range.start
                    && (b.host_ip.is_empty()
                        || m.host_ip.is_none()
                        || b.host_ip == m.host_ip.map(|i| i.to_string()).unwrap_or_default())
            });
            if clash {
                return Err(StoreError::PortAllocated {
                    host_ip: m.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                    host_port: range.start,
                }
                .into());
            }
        }
        let mut attachments: Vec<NetworkAttachment> = Vec::new();
        let planned = (|| {
            let mut gateway_given = false;
            for (i, (network, settings, endpoint_id)) in connections.into_iter().enumerate() {
                let gateway = !gateway_given && !network.config.internal;
                gateway_given |= gateway;
                attachments.push(self.plan_attachment(
                    &id,
                    network,
                    settings,
                    endpoint_id,
                    i,
                    gateway,
                )?);
            }
            Ok::<_, EngineError>(())
        })();
        if let Err(e) = planned {
            let _ = self.release_network(&id);
            return Err(e);
        }
        match self.wire_container(info, opts, &attachments, &mappings, hostname) {
            Ok(net) => Ok(net),
            Err(e) => {
                let _ = self.release_network(&id);
                Err(e)
            }
        }
    }

    fn wire_container(
        &mut self,
        info: &ContainerInfo,
        opts: &ContainerNetworkOptions,
        attachments: &[NetworkAttachment],
        mappings: &[PortMapping],
        hostname: &str,
    ) -> Result<ContainerNetwork, EngineError> {
        let settings = network_settings()?;
        let mut host = host_network(&settings)?;
        let ns = NetNs::new()?;
        let sandbox_attachments = attachments
            .iter()
            .map(NetworkAttachment::sandbox_attachment)
            .collect::<Result<Vec<_>, _>>()?;
        let sandbox = Sandbox::setup(&mut host, ns, sandbox_attachments, mappings).map_err(|e| {
            match e {
                e @ berth_network::NetworkError::AddressInUse { .. } => EngineError::Conflict(format!(
                    "driver failed programming external connectivity on endpoint {} ({}): Error starting userland proxy: {e}",
                    info.record.name,
                    attachments.first().map(|a| a.endpoint_id.as_str()).unwrap_or_default()
                )),
                e => e.into(),
            }
        })?;
        if let Some(first) = attachments.first() {
            let forwards: Vec<_> = sandbox
                .published
                .iter()
                .filter_map(|p| {
                    Some(berth_network::firewall::PortForward {
                        protocol: p.container.protocol,
                        host_ip: p.host_ip,
                        host_port: p.host_port,
                        container_ip: first.ip(p.host_ip.is_some_and(|i| i.is_ipv6()))?,
                        container_port: p.container.port,
                    })
                })
                .collect();
            if let Err(e) =
                self.record_port_bindings(&info.record.id, &first.network.record.id, &forwards)
            {
                let _ = sandbox.teardown(&mut host);
                return Err(e);
            }
        }
        let user_network = attachments.iter().any(|a| !a.network.config.default_bridge);
        let ipv6 = attachments.iter().any(|a| a.ip(true).is_some());
        let dns_opts = files::DnsOptions {
            servers: if opts.dns.servers.is_empty() {
                settings.dns.clone()
            } else {
                opts.dns.servers.clone()
            },
            search: if opts.dns.search.is_empty() {
                settings.dns_search.clone()
            } else {
                opts.dns.search.clone()
            },
            options: if opts.dns.options.is_empty() {
                settings.dns_opts.clone()
            } else {
                opts.dns.options.clone()
            },
        };
        let resolv = files::resolv_conf(&read_host_resolv(), &dns_opts, user_network, ipv6);
        let dns = if user_network {
            let lookup = StoreNames::open(self.store.root(), &info.record.id)?;
            let forward = attachments.iter().any(|a| !a.network.config.internal);
            Some(dns::start(
                &sandbox.ns,
                Resolver {
                    lookup: std::sync::Arc::new(lookup),
                    upstreams: resolv.upstreams.clone(),
                    forward,
                },
                std::path::Path::new("nft"),
            )?)
        } else {
            None
        };
        let gateway = self.host_gateway()?;
        let extra: Vec<(&str, IpAddr)> = opts
            .extra_hosts
            .iter()
            .filter_map(|h| match h.address {
                HostAddress::Ip(ip) => Some((h.name.as_str(), ip)),
                HostAddress::HostGateway => gateway.map(|g| (h.name.as_str(), g)),
            })
            .collect();
        let hosts = files::hosts_file(&HostsEntries {
            extra,
            addresses: attachments
                .iter()
                .flat_map(|a| a.addresses.iter().map(|n| n.addr()))
                .collect(),
            hostname,
            domainname: &opts.domainname,
        });
        Ok(ContainerNetwork {
            mode: NetworkMode::Join(sandbox.ns.proc_path()),
            resolv_conf: Some(resolv.content),
            hosts: Some(hosts),
            sandbox: Some(sandbox),
            _dns: dns,
        })
    }

    /// `host-gateway`: the default bridge's gateway (docker's rule).
    pub(crate) fn host_gateway(&mut self) -> Result<Option<IpAddr>, EngineError> {
        let bridge = self.network(DEFAULT_NETWORK)?;
        Ok(bridge
            .config
            .subnets
            .iter()
            .find(|s| s.gateway.is_ipv4())
            .map(|s| s.gateway))
    }

    /// Gives back a container's network once it is done: the forwards
    /// (from the store, so a `--rm` container removed already is not
    /// undone twice), then the sockets and the namespace.
    pub(crate) fn teardown_container_network(&mut self, id: &str, net: ContainerNetwork) {
        if net.sandbox.is_some() {
            if let Err(e) = self.release_network(id) {
                tracing::warn!("release the network of {id}: {e}");
            }
        }
        drop(net);
    }
}
