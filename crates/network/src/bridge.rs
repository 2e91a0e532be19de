//! Bridge networks on the host and containers' endpoints on them: the
//! [`NetworkBackend`] seam and its in-process implementation over
//! [`Netlink`], [`Firewall`] and [`Sysctl`].

use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};

use ipnet::IpNet;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::firewall::{Firewall, NetworkRules, PortForward};
use crate::ipam::Ipam;
use crate::netlink::{LinkKind, Netlink, RtNetlink, VethPair};
use crate::netns::NetNs;
use crate::sysctl::Sysctl;
use crate::NetworkError;

/// A bridge network as the host must have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeNetwork {
    pub bridge: String,
    pub subnets: Vec<Ipam>,
    pub internal: bool,
    pub masquerade: bool,
    pub icc: bool,
    pub mtu: Option<u32>,
}

impl BridgeNetwork {
    pub fn rules(&self) -> NetworkRules {
        NetworkRules {
            bridge: self.bridge.clone(),
            subnets: self.subnets.iter().map(|s| s.subnet).collect(),
            internal: self.internal,
            masquerade: self.masquerade,
            icc: self.icc,
        }
    }

    /// The gateway addresses the bridge carries, with their prefixes.
    fn gateway_addresses(&self) -> Vec<IpNet> {
        self.subnets
            .iter()
            .filter_map(|s| IpNet::new(s.gateway, s.prefix_len()).ok())
            .collect()
    }
}

/// A container's interface on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The veth end on the host, on the bridge.
    pub host_veth: String,
    /// The name inside the container (`eth0`, `eth1` ...).
    pub interface: String,
    /// Its addresses, each with the subnet's prefix.
    pub addresses: Vec<IpNet>,
    pub mac: Option<[u8; 6]>,
    /// Default routes through these (the gateways of the network that
    /// gives the container its way out; none on other networks and on
    /// `--internal` ones).
    pub default_gateways: Vec<IpAddr>,
}

/// A fresh name for a host veth end, as docker makes them (`veth` and 7
/// hex digits).
pub fn veth_name() -> String {
    format!(
        "veth{:07x}",
        rand::thread_rng().gen_range(0..0x1000_0000u32)
    )
}

/// Checks a bridge name the user gave (`-o com.docker.network.bridge.name`).
pub fn check_bridge_name(name: &str) -> Result<(), NetworkError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(NetworkError::invalid(format!(
            "invalid bridge name {name:?}: 1 to 15 letters, digits, '.', '_' or '-'"
        )))
    }
}

/// A container's network namespace as the backend sees it: a descriptor
/// to move links into, and a way to change links inside.
pub trait ContainerNs {
    fn fd(&self) -> BorrowedFd<'_>;
    /// Runs `f` with a [`Netlink`] handle inside the namespace.
    fn configure(
        &self,
        f: &mut (dyn FnMut(&mut dyn Netlink) -> Result<(), NetworkError> + Send),
    ) -> Result<(), NetworkError>;
}

impl ContainerNs for NetNs {
    fn fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }

    fn configure(
        &self,
        f: &mut (dyn FnMut(&mut dyn Netlink) -> Result<(), NetworkError> + Send),
    ) -> Result<(), NetworkError> {
        self.run(|| {
            let mut nl = RtNetlink::open()?;
            f(&mut nl)
        })?
    }
}

/// What the engine asks of the host's networking.
pub trait NetworkBackend {
    /// Makes the network's bridge, addresses and rules unless they are in
    /// place already (the common case, checked without changing anything).
    fn ensure_network(&mut self, net: &BridgeNetwork) -> Result<(), NetworkError>;
    /// Removes the bridge and its rules; what is missing is skipped.
    fn remove_network(&mut self, net: &BridgeNetwork) -> Result<(), NetworkError>;
    /// Puts the container on the network: a veth pair, addresses, routes.
    fn attach(
        &mut self,
        net: &BridgeNetwork,
        ns: &dyn ContainerNs,
        ep: &Endpoint,
    ) -> Result<(), NetworkError>;
    /// Takes it off (deleting the host end deletes both).
    fn detach(&mut self, ep: &Endpoint) -> Result<(), NetworkError>;
    fn publish(&mut self, net: &BridgeNetwork, ports: &[PortForward]) -> Result<(), NetworkError>;
    fn unpublish(&mut self, net: &BridgeNetwork, ports: &[PortForward])
        -> Result<(), NetworkError>;
    /// The host's route destinations, for choosing a free subnet.
    fn host_routes(&mut self) -> Result<Vec<IpNet>, NetworkError>;
}

/// Bridges, veths and rules made in process.
pub struct BridgeDriver<N, F, S> {
    pub netlink: N,
    pub firewall: F,
    pub sysctl: S,
}

impl<N: Netlink, F: Firewall, S: Sysctl> BridgeDriver<N, F, S> {
    pub fn new(netlink: N, firewall: F, sysctl: S) -> Self {
        BridgeDriver {
            netlink,
            firewall,
            sysctl,
        }
    }
}

/// docker's fixed MAC for a bridge it makes is random; a bridge without
/// one set takes its lowest port's, which changes as containers come and
/// go and makes neighbours' caches wrong.
fn random_mac() -> [u8; 6] {
    let mut mac: [u8; 6] = rand::thread_rng().gen();
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// Sets up a container's side of an endpoint from inside its namespace.
pub fn configure_inside(nl: &mut dyn Netlink, ep: &Endpoint) -> Result<(), NetworkError> {
    if let Some(lo) = nl.link("lo")? {
        if !lo.up {
            nl.set_up(lo.index)?;
        }
    }
    let link = nl.link(&ep.interface)?.ok_or_else(|| {
        NetworkError::netlink(
            format!("find {} in the container", ep.interface),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    for addr in &ep.addresses {
        nl.add_address(link.index, *addr)?;
    }
    nl.set_up(link.index)?;
    for gw in &ep.default_gateways {
        let any = if gw.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
        nl.add_route(any.parse().expect("valid"), Some(*gw), link.index)?;
    }
    Ok(())
}

impl<N: Netlink, F: Firewall, S: Sysctl> NetworkBackend for BridgeDriver<N, F, S> {
    fn ensure_network(&mut self, net: &BridgeNetwork) -> Result<(), NetworkError> {
        let link = match self.netlink.link(&net.bridge)? {
            Some(l) if l.kind == LinkKind::Bridge || l.kind == LinkKind::Other => l,
            Some(_) => {
                return Err(NetworkError::invalid(format!(
                    "{} exists and is not a bridge",
                    net.bridge
                )))
            }
            None => {
                let index = self.netlink.add_bridge(&net.bridge, net.mtu)?;
                self.netlink.set_mac(index, random_mac())?;
                self.netlink.link(&net.bridge)?.ok_or_else(|| {
                    NetworkError::netlink(
                        format!("create bridge {}", net.bridge),
                        std::io::Error::from(std::io::ErrorKind::NotFound),
                    )
                })?
            }
        };
        let have = self.netlink.addresses(link.index)?;
        for addr in net.gateway_addresses() {
            if !have.contains(&addr) {
                self.netlink.add_address(link.index, addr)?;
            }
        }
        if !link.up {
            self.netlink.set_up(link.index)?;
        }
        if net.subnets.iter().any(|s| s.subnet.addr().is_ipv4()) {
            // docker's default (`--ip-forward`): the host routes for its
            // containers.
            self.sysctl.ensure("net/ipv4/ip_forward", "1")?;
            // Published ports on 127.0.0.1 are rewritten to the container
            // with their loopback source, which may then leave through
            // this bridge (and is masqueraded there).
            self.sysctl
                .ensure(&format!("net/ipv4/conf/{}/route_localnet", net.bridge), "1")?;
        }
        if net.subnets.iter().any(|s| s.subnet.addr().is_ipv6()) {
            self.sysctl.ensure("net/ipv6/conf/all/forwarding", "1")?;
        }
        self.firewall.ensure_network(&net.rules())?;
        Ok(())
    }

    fn remove_network(&mut self, net: &BridgeNetwork) -> Result<(), NetworkError> {
        self.firewall.remove_network(&net.rules())?;
        self.netlink.delete_link(&net.bridge)
    }

    fn attach(
        &mut self,
        net: &BridgeNetwork,
        ns: &dyn ContainerNs,
        ep: &Endpoint,
    ) -> Result<(), NetworkError> {
        let bridge = self.netlink.link(&net.bridge)?.ok_or_else(|| {
            NetworkError::netlink(
                format!("find bridge {}", net.bridge),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })?;
        self.netlink.add_veth(&VethPair {
            host_name: &ep.host_veth,
            bridge: bridge.index,
            peer_name: &ep.interface,
            peer_netns: ns.fd(),
            peer_mac: ep.mac,
            mtu: net.mtu,
        })?;
        let result = (|| {
            let host = self.netlink.link(&ep.host_veth)?.ok_or_else(|| {
                NetworkError::netlink(
                    format!("find {}", ep.host_veth),
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                )
            })?;
            self.netlink.set_hairpin(host.index, true)?;
            ns.configure(&mut |nl| configure_inside(nl, ep))
        })();
        if result.is_err() {
            let _ = self.netlink.delete_link(&ep.host_veth);
        }
        result
    }

    fn detach(&mut self, ep: &Endpoint) -> Result<(), NetworkError> {
        self.netlink.delete_link(&ep.host_veth)
    }

    fn publish(&mut self, net: &BridgeNetwork, ports: &[PortForward]) -> Result<(), NetworkError> {
        self.firewall.add_ports(&net.rules(), ports)
    }

    fn unpublish(
        &mut self,
        net: &BridgeNetwork,
        ports: &[PortForward],
    ) -> Result<(), NetworkError> {
        self.firewall.remove_ports(&net.rules(), ports)
    }

    fn host_routes(&mut self) -> Result<Vec<IpNet>, NetworkError> {
        self.netlink.route_destinations()
    }
}

/// A [`ContainerNs`] of the fake netlink world, for tests without root.
pub mod fake {
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

    use super::ContainerNs;
    use crate::netlink::fake::{FakeLink, FakeNetlink};
    use crate::netlink::{Link, LinkKind, Netlink};
    use crate::NetworkError;

    /// A namespace of the fake world, named by a real (meaningless)
    /// descriptor.
    pub struct FakeNs {
        pub fd: OwnedFd,
        pub nl: FakeNetlink,
    }

    impl FakeNs {
        pub fn new(host: &FakeNetlink) -> FakeNs {
            let fd: OwnedFd = std::fs::File::open("/dev/null").expect("/dev/null").into();
            let nl = host.in_ns(fd.as_raw_fd());
            nl.world
                .lock()
                .expect("fake world poisoned")
                .links
                .push(FakeLink {
                    ns: fd.as_raw_fd(),
                    link: Link {
                        index: 1,
                        name: "lo".into(),
                        kind: LinkKind::Other,
                        mac: None,
                        mtu: 65536,
                        up: false,
                        master: None,
                    },
                    addresses: vec![],
                    hairpin: false,
                    peer: None,
                });
            FakeNs { fd, nl }
        }
    }

    impl ContainerNs for FakeNs {
        fn fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }
        fn configure(
            &self,
            f: &mut (dyn FnMut(&mut dyn Netlink) -> Result<(), NetworkError> + Send),
        ) -> Result<(), NetworkError> {
            f(&mut self.nl.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeNs;
    use super::*;
    use crate::firewall::fake::FakeFirewall;
    use crate::netlink::fake::FakeNetlink;
    use crate::ports::Protocol;
    use crate::sysctl::FakeSysctl;
    use std::os::fd::AsRawFd;

    fn net() -> BridgeNetwork {
        BridgeNetwork {
            bridge: "bt-unit".into(),
            subnets: vec![Ipam::new("10.213.3.0/24".parse().unwrap(), None, None).unwrap()],
            internal: false,
            masquerade: true,
            icc: true,
            mtu: None,
        }
    }

    fn driver() -> BridgeDriver<FakeNetlink, FakeFirewall, FakeSysctl> {
        BridgeDriver::new(
            FakeNetlink::host(),
            FakeFirewall::default(),
            FakeSysctl::default(),
        )
    }

    fn endpoint() -> Endpoint {
        Endpoint {
            host_veth: "vethabc1234".into(),
            interface: "eth0".into(),
            addresses: vec!["10.213.3.2/24".parse().unwrap()],
            mac: Some([2, 0x42, 10, 213, 3, 2]),
            default_gateways: vec!["10.213.3.1".parse().unwrap()],
        }
    }

    #[test]
    fn ensure_network_sets_up_once() {
        let mut d = driver();
        d.ensure_network(&net()).unwrap();
        let link = d.netlink.clone().link("bt-unit").unwrap().unwrap();
        assert!(link.up);
        assert_eq!(
            d.netlink.clone().addresses(link.index).unwrap(),
            ["10.213.3.1/24".parse::<IpNet>().unwrap()]
        );
        assert_eq!(d.sysctl.get("net/ipv4/ip_forward").as_deref(), Some("1"));
        assert_eq!(
            d.sysctl
                .get("net/ipv4/conf/bt-unit/route_localnet")
                .as_deref(),
            Some("1")
        );
        assert_eq!(d.firewall.batches, 1);
        let changes = d.netlink.world.lock().unwrap().log.len();
        // Second time: everything is in place, nothing changes.
        d.ensure_network(&net()).unwrap();
        assert_eq!(d.netlink.world.lock().unwrap().log.len(), changes);
        assert_eq!((d.firewall.batches, d.sysctl.writes), (1, 2));
    }

    #[test]
    fn a_lost_address_is_put_back() {
        let mut d = driver();
        d.ensure_network(&net()).unwrap();
        d.netlink.world.lock().unwrap().links[0].addresses.clear();
        d.ensure_network(&net()).unwrap();
        assert_eq!(d.netlink.world.lock().unwrap().links[0].addresses.len(), 1);
    }

    #[test]
    fn attach_and_detach() {
        let mut d = driver();
        let n = net();
        d.ensure_network(&n).unwrap();
        let ns = FakeNs::new(&d.netlink);
        d.attach(&n, &ns, &endpoint()).unwrap();
        let w = d.netlink.world.lock().unwrap();
        let host = w
            .links
            .iter()
            .find(|l| l.link.name == "vethabc1234")
            .unwrap();
        assert!(host.hairpin);
        assert_eq!(host.link.master, Some(w.links[0].link.index));
        let eth0 = w
            .links
            .iter()
            .find(|l| l.ns == ns.fd.as_raw_fd() && l.link.name == "eth0")
            .unwrap();
        assert_eq!(eth0.addresses, ["10.213.3.2/24".parse::<IpNet>().unwrap()]);
        assert_eq!(eth0.link.mac, Some([2, 0x42, 10, 213, 3, 2]));
        let lo = w
            .links
            .iter()
            .find(|l| l.ns == ns.fd.as_raw_fd() && l.link.name == "lo")
            .unwrap();
        assert!(lo.link.up);
        assert_eq!(w.routes.len(), 1);
        assert_eq!(w.routes[0].gateway, Some("10.213.3.1".parse().unwrap()));
        drop(w);
        d.detach(&endpoint()).unwrap();
        let w = d.netlink.world.lock().unwrap();
        assert!(w
            .links
            .iter()
            .all(|l| l.link.name != "vethabc1234" && l.link.name != "eth0"));
    }

    #[test]
    fn a_failed_attach_leaves_no_veth() {
        let mut d = driver();
        let n = net();
        d.ensure_network(&n).unwrap();
        let ns = FakeNs::new(&d.netlink);
        d.netlink
            .world
            .lock()
            .unwrap()
            .failures
            .insert("route".into(), 17);
        assert!(d.attach(&n, &ns, &endpoint()).is_err());
        let w = d.netlink.world.lock().unwrap();
        assert!(w
            .links
            .iter()
            .all(|l| l.link.name != "vethabc1234" && l.link.name != "eth0"));
    }

    #[test]
    fn ports_and_removal() {
        let mut d = driver();
        let n = net();
        d.ensure_network(&n).unwrap();
        let p = PortForward {
            protocol: Protocol::Tcp,
            host_ip: None,
            host_port: 8080,
            container_ip: "10.213.3.2".parse().unwrap(),
            container_port: 80,
        };
        d.publish(&n, &[p]).unwrap();
        assert_eq!(d.firewall.ports["bt-unit"], [p]);
        d.unpublish(&n, &[p]).unwrap();
        assert!(d.firewall.ports["bt-unit"].is_empty());
        // No ports: no batch.
        let before = d.firewall.batches;
        d.publish(&n, &[]).unwrap();
        assert_eq!(d.firewall.batches, before);
        d.remove_network(&n).unwrap();
        assert!(d.netlink.clone().link("bt-unit").unwrap().is_none());
        assert!(d.firewall.networks.is_empty());
    }

    #[test]
    fn names() {
        let v = veth_name();
        assert_eq!(v.len(), 11);
        assert!(v.starts_with("veth"));
        check_bridge_name("berth0").unwrap();
        assert!(check_bridge_name("a-name-that-is-too-long").is_err());
        assert!(check_bridge_name("bad name").is_err());
    }
}
