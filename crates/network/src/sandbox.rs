//! A container's network for its life, as its monitor holds it: the
//! published ports' sockets, the endpoints on each network, the port
//! forwards. Set up in one go before the container starts (undone in
//! reverse if a step fails), torn down when it ends.

use std::net::IpAddr;

use crate::bridge::{BridgeNetwork, ContainerNs, Endpoint, NetworkBackend};
use crate::firewall::PortForward;
use crate::ports::{self, HeldPort, PortMapping, PublishedPort};
use crate::NetworkError;

/// One network a container is on.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub network: BridgeNetwork,
    pub endpoint: Endpoint,
}

/// What a running container's network is made of.
pub struct Sandbox<Ns> {
    pub ns: Ns,
    pub attachments: Vec<Attachment>,
    /// The published ports with the host ports they got.
    pub published: Vec<PublishedPort>,
    /// The forwards made, with the attachment they go through.
    forwards: Vec<(usize, Vec<PortForward>)>,
    _held: Vec<HeldPort>,
}

/// The container's address of the family the host side uses.
fn container_ip(ep: &Endpoint, host_ip: Option<IpAddr>) -> Option<IpAddr> {
    let v6 = host_ip.is_some_and(|ip| ip.is_ipv6());
    ep.addresses
        .iter()
        .map(|a| a.addr())
        .find(|a| a.is_ipv6() == v6)
}

impl<Ns: ContainerNs> Sandbox<Ns> {
    /// Gives the container in `ns` its networks and published ports
    /// (reached through the first network, as docker does). Ports are held
    /// first, so a taken one fails before anything is made.
    pub fn setup<B: NetworkBackend>(
        backend: &mut B,
        ns: Ns,
        attachments: Vec<Attachment>,
        publish: &[PortMapping],
    ) -> Result<Sandbox<Ns>, NetworkError> {
        let held = ports::hold_ports(publish)?;
        let mut sandbox = Sandbox {
            ns,
            attachments: Vec::new(),
            published: held.iter().map(|h| h.port).collect(),
            forwards: Vec::new(),
            _held: held,
        };
        match sandbox.build(backend, attachments) {
            Ok(()) => Ok(sandbox),
            Err(e) => {
                sandbox.undo(backend);
                Err(e)
            }
        }
    }

    fn build<B: NetworkBackend>(
        &mut self,
        backend: &mut B,
        attachments: Vec<Attachment>,
    ) -> Result<(), NetworkError> {
        for a in attachments {
            backend.ensure_network(&a.network)?;
            backend.attach(&a.network, &self.ns, &a.endpoint)?;
            self.attachments.push(a);
        }
        if self.published.is_empty() {
            return Ok(());
        }
        let Some(first) = self.attachments.first() else {
            return Err(NetworkError::invalid(
                "published ports need a network: not with --network none",
            ));
        };
        let mut forwards = Vec::with_capacity(self.published.len());
        for p in &self.published {
            let container_ip = container_ip(&first.endpoint, p.host_ip).ok_or_else(|| {
                NetworkError::invalid(format!(
                    "cannot publish {}:{} to {}: the container has no address of that family on {}",
                    p.host_ip_text(),
                    p.host_port,
                    p.container,
                    first.network.bridge
                ))
            })?;
            forwards.push(PortForward {
                protocol: p.container.protocol,
                host_ip: p.host_ip,
                host_port: p.host_port,
                container_ip,
                container_port: p.container.port,
            });
        }
        backend.publish(&first.network, &forwards)?;
        self.forwards.push((0, forwards));
        Ok(())
    }

    /// Connects the running container to one more network
    /// (`network connect`).
    pub fn connect<B: NetworkBackend>(
        &mut self,
        backend: &mut B,
        attachment: Attachment,
    ) -> Result<(), NetworkError> {
        backend.ensure_network(&attachment.network)?;
        backend.attach(&attachment.network, &self.ns, &attachment.endpoint)?;
        self.attachments.push(attachment);
        Ok(())
    }

    /// Takes it off a network (`network disconnect`), and the ports
    /// forwarded through it.
    pub fn disconnect<B: NetworkBackend>(
        &mut self,
        backend: &mut B,
        bridge: &str,
    ) -> Result<(), NetworkError> {
        let Some(i) = self
            .attachments
            .iter()
            .position(|a| a.network.bridge == bridge)
        else {
            return Ok(());
        };
        if let Some(pos) = self.forwards.iter().position(|(a, _)| *a == i) {
            let (_, fwds) = self.forwards.remove(pos);
            backend.unpublish(&self.attachments[i].network, &fwds)?;
        }
        backend.detach(&self.attachments[i].endpoint)?;
        self.attachments.remove(i);
        for (a, _) in self.forwards.iter_mut() {
            if *a > i {
                *a -= 1;
            }
        }
        Ok(())
    }

    fn undo<B: NetworkBackend>(&mut self, backend: &mut B) {
        for (a, fwds) in self.forwards.drain(..) {
            if let Err(e) = backend.unpublish(&self.attachments[a].network, &fwds) {
                tracing::warn!("undo port forwards: {e}");
            }
        }
        for a in self.attachments.drain(..).rev() {
            if let Err(e) = backend.detach(&a.endpoint) {
                tracing::warn!("undo endpoint {}: {e}", a.endpoint.host_veth);
            }
        }
    }

    /// Ends the container's network: the forwards go, then the sockets
    /// and the namespace (whose veths the kernel deletes with it).
    pub fn teardown<B: NetworkBackend>(mut self, backend: &mut B) -> Result<(), NetworkError> {
        let mut first_error = None;
        for (a, fwds) in self.forwards.drain(..) {
            if let Err(e) = backend.unpublish(&self.attachments[a].network, &fwds) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::fake::FakeNs;
    use crate::bridge::BridgeDriver;
    use crate::firewall::fake::FakeFirewall;
    use crate::ipam::Ipam;
    use crate::netlink::fake::FakeNetlink;
    use crate::netlink::Netlink;
    use crate::sysctl::FakeSysctl;

    type Driver = BridgeDriver<FakeNetlink, FakeFirewall, FakeSysctl>;

    fn driver() -> Driver {
        BridgeDriver::new(
            FakeNetlink::host(),
            FakeFirewall::default(),
            FakeSysctl::default(),
        )
    }

    fn attachment(bridge: &str, subnet: &str, ip: &str, veth: &str) -> Attachment {
        let ipam = Ipam::new(subnet.parse().unwrap(), None, None).unwrap();
        Attachment {
            endpoint: Endpoint {
                host_veth: veth.into(),
                interface: "eth0".into(),
                addresses: vec![format!("{ip}/{}", ipam.prefix_len()).parse().unwrap()],
                mac: None,
                default_gateways: vec![ipam.gateway],
            },
            network: BridgeNetwork {
                bridge: bridge.into(),
                subnets: vec![ipam],
                internal: false,
                masquerade: true,
                icc: true,
                mtu: None,
            },
        }
    }

    fn links(d: &Driver) -> Vec<String> {
        d.netlink
            .world
            .lock()
            .unwrap()
            .links
            .iter()
            .map(|l| l.link.name.clone())
            .collect()
    }

    #[test]
    fn setup_publishes_through_the_first_network() {
        let mut d = driver();
        let ns = FakeNs::new(&d.netlink);
        let publish = ports::parse_publish("127.0.0.1::80").unwrap();
        let a = attachment("bt-s1", "10.213.10.0/24", "10.213.10.2", "vethsb1");
        let sb = Sandbox::setup(&mut d, ns, vec![a], &publish).unwrap();
        assert_eq!(sb.published.len(), 1);
        let fwd = &d.firewall.ports["bt-s1"][0];
        assert_eq!(fwd.container_ip, "10.213.10.2".parse::<IpAddr>().unwrap());
        assert_eq!(fwd.host_port, sb.published[0].host_port);
        assert!(links(&d).contains(&"vethsb1".to_string()));
        sb.teardown(&mut d).unwrap();
        assert!(d.firewall.ports["bt-s1"].is_empty());
    }

    #[test]
    fn a_failed_step_undoes_the_others() {
        let mut d = driver();
        let ns = FakeNs::new(&d.netlink);
        d.firewall.failing.insert("bt-s2".into());
        let publish = ports::parse_publish("127.0.0.1::80").unwrap();
        let a = attachment("bt-s2", "10.213.11.0/24", "10.213.11.2", "vethsb2");
        let mut b = attachment("bt-s3", "10.213.12.0/24", "10.213.12.2", "vethsb3");
        b.endpoint.interface = "eth1".into();
        assert!(Sandbox::setup(&mut d, ns, vec![a, b], &publish).is_err());
        let names = links(&d);
        assert!(!names.iter().any(|n| n.starts_with("vethsb")), "{names:?}");
    }

    #[test]
    fn no_network_no_ports() {
        let mut d = driver();
        let ns = FakeNs::new(&d.netlink);
        let publish = ports::parse_publish("127.0.0.1::80").unwrap();
        let e = Sandbox::setup(&mut d, ns, vec![], &publish).err().unwrap();
        assert!(e.to_string().contains("--network none"), "{e}");
        // Without ports nothing touches the firewall.
        let ns = FakeNs::new(&d.netlink);
        let sb = Sandbox::setup(&mut d, ns, vec![], &[]).unwrap();
        sb.teardown(&mut d).unwrap();
        assert_eq!(d.firewall.batches, 0);
    }

    #[test]
    fn connect_and_disconnect() {
        let mut d = driver();
        let ns = FakeNs::new(&d.netlink);
        let a = attachment("bt-s4", "10.213.13.0/24", "10.213.13.2", "vethsb4");
        let mut sb = Sandbox::setup(&mut d, ns, vec![a], &[]).unwrap();
        let mut b = attachment("bt-s5", "10.213.14.0/24", "10.213.14.2", "vethsb5");
        b.endpoint.interface = "eth1".into();
        b.endpoint.default_gateways.clear();
        sb.connect(&mut d, b).unwrap();
        let mut inside = sb.ns.nl.clone();
        assert!(inside.link("eth1").unwrap().is_some());
        sb.disconnect(&mut d, "bt-s5").unwrap();
        assert!(inside.link("eth1").unwrap().is_none());
        assert_eq!(sb.attachments.len(), 1);
    }
}
