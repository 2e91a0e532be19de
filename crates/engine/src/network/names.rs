//! The names a container's embedded DNS server answers, from the store:
//! on each user-defined network the container is on, the running
//! containers' names, `--network-alias`es, short IDs and `NAME.NETWORK`.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use berth_network::dns::NameLookup;
use berth_store::Store;

use super::endpoint_aliases;

/// A running container another one can find by name.
struct Peer {
    network: String,
    name: String,
    id: String,
    aliases: Vec<String>,
    addresses: Vec<IpAddr>,
}

/// A [`NameLookup`] over its own handle on the store (the DNS threads do
/// not share the monitor's).
pub(crate) struct StoreNames {
    store: Mutex<Store>,
    container_id: String,
}

impl StoreNames {
    pub(crate) fn open(root: &Path, container_id: &str) -> Result<StoreNames, crate::EngineError> {
        Ok(StoreNames {
            store: Mutex::new(Store::open(root)?),
            container_id: container_id.to_string(),
        })
    }

    /// Every running container on the asker's user-defined networks.
    fn peers(&self) -> Vec<Peer> {
        let Ok(store) = self.store.lock() else {
            return vec![];
        };
        let Ok(mine) = store.container_endpoints(&self.container_id) else {
            return vec![];
        };
        let mut out = Vec::new();
        for ep in mine {
            let Ok(Some(net)) = store.network(&ep.network_id) else {
                continue;
            };
            let default_bridge = serde_json::from_str::<super::NetworkConfig>(&net.config)
                .map(|c| c.default_bridge)
                .unwrap_or(true);
            if default_bridge {
                continue;
            }
            let Ok(endpoints) = store.network_endpoints(&net.id) else {
                continue;
            };
            let Ok(leases) = store.network_leases(&net.id) else {
                continue;
            };
            for peer in endpoints {
                let addresses: Vec<IpAddr> = leases
                    .iter()
                    .filter(|l| l.container_id == peer.container_id)
                    .filter_map(|l| l.address.parse().ok())
                    .collect();
                if addresses.is_empty() {
                    continue;
                }
                let Ok(Some(c)) = store.container(&peer.container_id) else {
                    continue;
                };
                out.push(Peer {
                    network: net.name.clone(),
                    name: c.name,
                    id: c.id,
                    aliases: endpoint_aliases(&peer.config),
                    addresses,
                });
            }
        }
        out
    }
}

impl NameLookup for StoreNames {
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        let mut found = Vec::new();
        for peer in self.peers() {
            let matches = |n: &str| {
                n.eq_ignore_ascii_case(&peer.name)
                    || (n.len() == 12 && peer.id.starts_with(&n.to_ascii_lowercase()))
                    || peer.aliases.iter().any(|a| a.eq_ignore_ascii_case(n))
            };
            let hit = matches(name)
                || name
                    .strip_suffix(&format!(".{}", peer.network.to_ascii_lowercase()))
                    .is_some_and(matches);
            if hit {
                found.extend(peer.addresses);
            }
        }
        (!found.is_empty()).then_some(found)
    }

    fn reverse(&self, ip: IpAddr) -> Option<String> {
        self.peers()
            .into_iter()
            .find(|peer| peer.addresses.contains(&ip))
            .map(|peer| format!("{}.{}", peer.name, peer.network))
    }
}
