//! An in-memory [`Netlink`] for tests without root: links, addresses and
//! routes per namespace, with a veth's peer appearing in the namespace
//! whose descriptor the request names.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use super::{Link, LinkKind, Netlink, VethPair};
use crate::NetworkError;

/// A namespace in the fake world: the host is 0; others are keyed by the
/// raw descriptor a test hands out for them.
pub type FakeNs = i32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeLink {
    pub ns: FakeNs,
    pub link: Link,
    pub addresses: Vec<IpNet>,
    pub hairpin: bool,
    /// The other end of a veth.
    pub peer: Option<(FakeNs, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRoute {
    pub ns: FakeNs,
    pub destination: IpNet,
    pub gateway: Option<IpAddr>,
    pub index: u32,
}

/// Everything every fake handle sees, and a log of the changes made.
#[derive(Debug, Default)]
pub struct FakeWorld {
    pub links: Vec<FakeLink>,
    pub routes: Vec<FakeRoute>,
    pub log: Vec<String>,
    next_index: u32,
    /// Requests that fail: the first log entry starting with a key fails
    /// with the error.
    pub failures: HashMap<String, i32>,
}

/// A handle on one namespace of a shared [`FakeWorld`].
#[derive(Debug, Clone)]
pub struct FakeNetlink {
    pub world: Arc<Mutex<FakeWorld>>,
    pub ns: FakeNs,
}

impl FakeNetlink {
    pub fn host() -> FakeNetlink {
        FakeNetlink {
            world: Arc::new(Mutex::new(FakeWorld {
                next_index: 10,
                ..FakeWorld::default()
            })),
            ns: 0,
        }
    }

    /// A handle on another namespace of the same world.
    pub fn in_ns(&self, ns: FakeNs) -> FakeNetlink {
        FakeNetlink {
            world: self.world.clone(),
            ns,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeWorld) -> T) -> T {
        f(&mut self.world.lock().expect("fake world poisoned"))
    }

    fn record(&self, entry: String) -> Result<(), NetworkError> {
        self.with(|w| {
            let failure = w
                .failures
                .iter()
                .find(|(k, _)| entry.starts_with(k.as_str()))
                .map(|(_, code)| *code);
            w.log.push(entry.clone());
            match failure {
                Some(code) => Err(NetworkError::netlink(
                    entry,
                    io::Error::from_raw_os_error(code),
                )),
                None => Ok(()),
            }
        })
    }

    fn modify(&self, index: u32, f: impl FnOnce(&mut FakeLink)) -> Result<(), NetworkError> {
        let ns = self.ns;
        self.with(|w| {
            match w
                .links
                .iter_mut()
                .find(|l| l.ns == ns && l.link.index == index)
            {
                Some(l) => {
                    f(l);
                    Ok(())
                }
                None => Err(NetworkError::netlink(
                    format!("link {index}"),
                    io::Error::from_raw_os_error(19),
                )),
            }
        })
    }

    fn add(&self, ns: FakeNs, name: &str, kind: LinkKind, up: bool) -> Result<u32, NetworkError> {
        self.with(|w| {
            if w.links.iter().any(|l| l.ns == ns && l.link.name == name) {
                return Err(NetworkError::netlink(
                    format!("create {name}"),
                    io::Error::from_raw_os_error(17),
                ));
            }
            w.next_index += 1;
            let index = w.next_index;
            w.links.push(FakeLink {
                ns,
                link: Link {
                    index,
                    name: name.to_string(),
                    kind,
                    mac: Some([0x02, 0, 0, 0, 0, index as u8]),
                    mtu: 1500,
                    up,
                    master: None,
                },
                addresses: vec![],
                hairpin: false,
                peer: None,
            });
            Ok(index)
        })
    }
}

impl Netlink for FakeNetlink {
    fn link(&mut self, name: &str) -> Result<Option<Link>, NetworkError> {
        let ns = self.ns;
        Ok(self.with(|w| {
            w.links
                .iter()
                .find(|l| l.ns == ns && l.link.name == name)
                .map(|l| l.link.clone())
        }))
    }

    fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<u32, NetworkError> {
        self.record(format!("add bridge {name}"))?;
        let index = self.add(self.ns, name, LinkKind::Bridge, false)?;
        if let Some(mtu) = mtu {
            self.modify(index, |l| l.link.mtu = mtu)?;
        }
        Ok(index)
    }

    fn add_veth(&mut self, pair: &VethPair<'_>) -> Result<(), NetworkError> {
        self.record(format!("add veth {} {}", pair.host_name, pair.peer_name))?;
        let peer_ns = pair.peer_netns.as_raw_fd();
        // The kernel makes both ends or neither.
        let taken = self.with(|w| {
            w.links
                .iter()
                .any(|l| l.ns == peer_ns && l.link.name == pair.peer_name)
        });
        if taken {
            return Err(NetworkError::netlink(
                format!("create {}", pair.peer_name),
                io::Error::from_raw_os_error(17),
            ));
        }
        let host = self.add(self.ns, pair.host_name, LinkKind::Veth, true)?;
        let peer = self.add(peer_ns, pair.peer_name, LinkKind::Veth, false)?;
        let (host_ns, host_name, peer_name) = (
            self.ns,
            pair.host_name.to_string(),
            pair.peer_name.to_string(),
        );
        self.with(|w| {
            for l in w.links.iter_mut() {
                if l.ns == host_ns && l.link.index == host {
                    l.link.master = Some(pair.bridge);
                    l.peer = Some((peer_ns, peer_name.clone()));
                    if let Some(mtu) = pair.mtu {
                        l.link.mtu = mtu;
                    }
                }
                if l.ns == peer_ns && l.link.index == peer {
                    l.peer = Some((host_ns, host_name.clone()));
                    if let Some(mac) = pair.peer_mac {
                        l.link.mac = Some(mac);
                    }
                    if let Some(mtu) = pair.mtu {
                        l.link.mtu = mtu;
                    }
                }
            }
        });
        Ok(())
    }

    fn set_up(&mut self, index: u32) -> Result<(), NetworkError> {
        self.record(format!("up {index}"))?;
        self.modify(index, |l| l.link.up = true)
    }

    fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), NetworkError> {
        self.record(format!("mtu {index} {mtu}"))?;
        self.modify(index, |l| l.link.mtu = mtu)
    }

    fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<(), NetworkError> {
        self.record(format!("mac {index}"))?;
        self.modify(index, |l| l.link.mac = Some(mac))
    }

    fn set_hairpin(&mut self, index: u32, on: bool) -> Result<(), NetworkError> {
        self.record(format!("hairpin {index} {on}"))?;
        self.modify(index, |l| l.hairpin = on)
    }

    fn add_address(&mut self, index: u32, address: IpNet) -> Result<(), NetworkError> {
        self.record(format!("address {index} {address}"))?;
        self.modify(index, |l| {
            if !l.addresses.contains(&address) {
                l.addresses.push(address)
            }
        })
    }

    fn addresses(&mut self, index: u32) -> Result<Vec<IpNet>, NetworkError> {
        let ns = self.ns;
        Ok(self.with(|w| {
            w.links
                .iter()
                .find(|l| l.ns == ns && l.link.index == index)
                .map(|l| l.addresses.clone())
                .unwrap_or_default()
        }))
    }

    fn add_route(
        &mut self,
        destination: IpNet,
        gateway: Option<IpAddr>,
        index: u32,
    ) -> Result<(), NetworkError> {
        self.record(format!("route {destination} {gateway:?} {index}"))?;
        let ns = self.ns;
        self.with(|w| {
            w.routes
                .retain(|r| !(r.ns == ns && r.destination == destination));
            w.routes.push(FakeRoute {
                ns,
                destination,
                gateway,
                index,
            });
        });
        Ok(())
    }

    fn route_destinations(&mut self) -> Result<Vec<IpNet>, NetworkError> {
        let ns = self.ns;
        Ok(self.with(|w| {
            let routes = w
                .routes
                .iter()
                .filter(|r| r.ns == ns && r.destination.prefix_len() > 0);
            let on_links = w
                .links
                .iter()
                .filter(|l| l.ns == ns && l.link.up)
                .flat_map(|l| l.addresses.iter().map(|a| a.trunc()));
            routes.map(|r| r.destination).chain(on_links).collect()
        }))
    }

    fn delete_link(&mut self, name: &str) -> Result<(), NetworkError> {
        self.record(format!("delete {name}"))?;
        let ns = self.ns;
        self.with(|w| {
            let Some(pos) = w
                .links
                .iter()
                .position(|l| l.ns == ns && l.link.name == name)
            else {
                return;
            };
            let gone = w.links.remove(pos);
            // A veth goes with its peer; routes go with their link.
            if let Some((pns, pname)) = gone.peer {
                w.links.retain(|l| !(l.ns == pns && l.link.name == pname));
            }
            w.routes
                .retain(|r| !(r.ns == ns && r.index == gone.link.index));
        });
        Ok(())
    }
}
