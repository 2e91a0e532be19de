//! Address management as pure logic: which subnet a new network gets, and
//! which address a new endpoint gets in it. The store keeps the leases (in
//! one transaction with the choice, so two containers started at once
//! never get the same address); this module only decides.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::NetworkError;

/// docker0's subnet: never chosen by default, even while docker0 is
/// absent, so a dockerd started later gets its usual one.
pub const DOCKER0_SUBNET: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(172, 17, 0, 0), 16) {
    Ok(n) => n,
    Err(_) => panic!("valid"),
};

/// A range to carve network subnets from, as docker's daemon.json
/// `default-address-pools` entries say it (`{"base": ..., "size": 24}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    pub base: IpNet,
    pub size: u8,
}

/// docker's default IPv4 pools (172.17-31.0.0/16, then 192.168.0.0/16 in
/// /20s), and for IPv6 a /48 of unique-local space in /64s.
pub fn default_pools() -> Vec<AddressPool> {
    // 172.16.0.0/16 is left out, as docker leaves it out (EC2's resolver).
    let mut pools: Vec<AddressPool> = (17..=31)
        .map(|b| AddressPool {
            base: IpNet::V4(Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).expect("valid")),
            size: 16,
        })
        .collect();
    pools.push(AddressPool {
        base: IpNet::V4(Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16).expect("valid")),
        size: 20,
    });
    pools.push(AddressPool {
        base: IpNet::V6(
            Ipv6Net::new(Ipv6Addr::new(0xfdb0, 0xe7b1, 0x5e70, 0, 0, 0, 0, 0), 48).expect("valid"),
        ),
        size: 64,
    });
    pools
}

/// The first subnet of the pools, of the wanted family, that overlaps none
/// of `taken` (the host's routes and addresses, other networks' subnets,
/// docker0's).
pub fn choose_subnet(
    pools: &[AddressPool],
    taken: &[IpNet],
    ipv6: bool,
) -> Result<IpNet, NetworkError> {
    for pool in pools.iter().filter(|p| p.base.addr().is_ipv6() == ipv6) {
        if pool.size < pool.base.prefix_len() || pool.size > pool.base.max_prefix_len() {
            continue;
        }
        let Ok(subnets) = pool.base.subnets(pool.size) else {
            continue;
        };
        // A /48 has 65536 /64s: enough to look at, never enough to list.
        for subnet in subnets.take(1 << 16) {
            if !taken.iter().any(|t| overlaps(t, &subnet)) {
                return Ok(subnet);
            }
        }
    }
    Err(NetworkError::PoolsExhausted(if ipv6 { 6 } else { 4 }))
}

/// Whether two networks share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// One subnet of a network and how addresses are handed out in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipam {
    pub subnet: IpNet,
    pub gateway: IpAddr,
    /// `--ip-range`: where container addresses come from (the whole subnet
    /// when absent).
    pub range: Option<IpNet>,
}

impl Ipam {
    /// Checks a network's address settings as docker does: the gateway and
    /// range lie in the subnet; the gateway defaults to the first address.
    pub fn new(
        subnet: IpNet,
        gateway: Option<IpAddr>,
        range: Option<IpNet>,
    ) -> Result<Ipam, NetworkError> {
        let subnet = subnet.trunc();
        if host_count(&subnet) < 2 {
            return Err(NetworkError::invalid(format!(
                "subnet {subnet} is too small for a gateway and a container"
            )));
        }
        if let Some(range) = range {
            if range.addr().is_ipv6() != subnet.addr().is_ipv6() || !subnet.contains(&range) {
                return Err(NetworkError::invalid(format!(
                    "no matching subnet for range {range}"
                )));
            }
        }
        let gateway = match gateway {
            Some(gw) if !subnet.contains(&gw) => {
                return Err(NetworkError::invalid(format!(
                    "no matching subnet for gateway {gw}"
                )))
            }
            Some(gw) => gw,
            None => nth(&subnet, 1),
        };
        Ok(Ipam {
            subnet,
            gateway,
            range: range.map(|r| r.trunc()),
        })
    }

    fn pool(&self) -> IpNet {
        self.range.unwrap_or(self.subnet)
    }

    /// Whether `ip` is one a container may have: in the subnet, not its
    /// network or broadcast address, not the gateway.
    fn usable(&self, ip: IpAddr) -> bool {
        self.subnet.contains(&ip)
            && ip != self.gateway
            && ip != self.subnet.network()
            && !(ip.is_ipv4() && ip == self.subnet.broadcast())
    }

    /// The next free address after `last` (docker's serial allocation: an
    /// address just released is not handed out again at once), wrapping
    /// round the pool.
    pub fn allocate(
        &self,
        in_use: &HashSet<IpAddr>,
        last: Option<IpAddr>,
    ) -> Result<IpAddr, NetworkError> {
        let pool = self.pool();
        let first = to_u128(pool.network());
        let end = to_u128(pool.broadcast());
        let start = match last.filter(|l| pool.contains(l)) {
            Some(l) => to_u128(l).wrapping_add(1),
            None => first,
        };
        let size = end - first + 1;
        // Taken addresses are few, and the unusable ones at most three, so
        // a free one is found within that many steps of `start`.
        let steps = (in_use.len() as u128 + 4).min(size);
        for i in 0..steps {
            let n = first + (start - first + i) % size;
            let ip = from_u128(n, pool.addr().is_ipv4());
            if self.usable(ip) && !in_use.contains(&ip) {
                return Ok(ip);
            }
        }
        Err(NetworkError::SubnetFull {
            family: if pool.addr().is_ipv4() { 4 } else { 6 },
            network: self.subnet.to_string(),
        })
    }

    /// Checks a `--ip` the user chose.
    pub fn check_static(&self, ip: IpAddr, in_use: &HashSet<IpAddr>) -> Result<(), NetworkError> {
        if !self.usable(ip) {
            return Err(NetworkError::invalid(format!(
                "invalid address {ip}: it does not belong to any of this network's usable addresses ({})",
                self.subnet
            )));
        }
        if in_use.contains(&ip) {
            return Err(NetworkError::AddressTaken(ip));
        }
        Ok(())
    }

    /// The prefix an endpoint's address is given with.
    pub fn prefix_len(&self) -> u8 {
        self.subnet.prefix_len()
    }
}

fn host_count(net: &IpNet) -> u128 {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    let total = if bits >= 128 {
        u128::MAX
    } else {
        1u128 << bits
    };
    if net.addr().is_ipv4() {
        total.saturating_sub(2)
    } else {
        total.saturating_sub(1)
    }
}

fn nth(net: &IpNet, n: u128) -> IpAddr {
    from_u128(to_u128(net.network()) + n, net.addr().is_ipv4())
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(n: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

/// docker's MAC for a container address: `02:42` and the four IPv4 bytes,
/// so it is unique wherever the address is.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff` (`--mac-address`).
pub fn parse_mac(text: &str) -> Result<[u8; 6], NetworkError> {
    let bad = || NetworkError::invalid(format!("{text} is not a valid mac address"));
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_subnet_skips_docker0_and_host_routes() {
        let pools = default_pools();
        let taken = [
            IpNet::V4(DOCKER0_SUBNET),
            net("172.18.5.0/24"),
            net("192.0.2.0/24"),
        ];
        assert_eq!(
            choose_subnet(&pools, &taken, false).unwrap(),
            net("172.19.0.0/16")
        );
        // A default route (0.0.0.0/0) is not a route to avoid: callers
        // leave it out; a pool covering everything then has nothing left.
        let all: Vec<IpNet> = vec![net("172.16.0.0/12"), net("192.168.0.0/16")];
        assert_eq!(
            choose_subnet(&pools, &all, false).unwrap_err().to_string(),
            "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
        );
        let v6 = choose_subnet(&pools, &[], true).unwrap();
        assert_eq!(v6.prefix_len(), 64);
    }

    #[test]
    fn configured_pools_are_used_in_order() {
        let pools = [AddressPool {
            base: net("10.213.0.0/16"),
            size: 24,
        }];
        let taken = [net("10.213.0.0/24"), net("10.213.1.7/32")];
        assert_eq!(
            choose_subnet(&pools, &taken, false).unwrap(),
            net("10.213.2.0/24")
        );
    }

    #[test]
    fn gateway_and_range_are_checked() {
        let i = Ipam::new(net("10.213.7.0/24"), None, None).unwrap();
        assert_eq!(i.gateway, ip("10.213.7.1"));
        let e = Ipam::new(net("10.213.7.0/24"), Some(ip("10.213.8.1")), None).unwrap_err();
        assert_eq!(e.to_string(), "no matching subnet for gateway 10.213.8.1");
        let e = Ipam::new(net("10.213.7.0/24"), None, Some(net("10.213.0.0/16"))).unwrap_err();
        assert_eq!(e.to_string(), "no matching subnet for range 10.213.0.0/16");
        // Host bits in a subnet are dropped, as docker 20.10 does.
        assert_eq!(
            Ipam::new(net("10.213.7.9/24"), None, None).unwrap().subnet,
            net("10.213.7.0/24")
        );
    }

    #[test]
    fn allocation_is_serial_and_skips_what_is_taken() {
        let i = Ipam::new(net("10.213.7.0/29"), None, None).unwrap();
        let mut used = HashSet::new();
        assert_eq!(i.allocate(&used, None).unwrap(), ip("10.213.7.2"));
        used.insert(ip("10.213.7.2"));
        used.insert(ip("10.213.7.3"));
        assert_eq!(
            i.allocate(&used, Some(ip("10.213.7.2"))).unwrap(),
            ip("10.213.7.4")
        );
        // After the last one it wraps round, past the broadcast address.
        assert_eq!(
            i.allocate(&used, Some(ip("10.213.7.6"))).unwrap(),
            ip("10.213.7.4")
        );
        for n in 4..=6 {
            used.insert(ip(&format!("10.213.7.{n}")));
        }
        let e = i.allocate(&used, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no available IPv4 addresses on this network's address pools: 10.213.7.0/29"
        );
    }

    #[test]
    fn allocation_stays_in_the_ip_range() {
        let i = Ipam::new(net("10.213.0.0/16"), None, Some(net("10.213.9.128/25"))).unwrap();
        assert_eq!(
            i.allocate(&HashSet::new(), None).unwrap(),
            ip("10.213.9.128")
        );
        let v6 = Ipam::new(net("fd00:213::/64"), None, None).unwrap();
        assert_eq!(v6.gateway, ip("fd00:213::1"));
        assert_eq!(
            v6.allocate(&HashSet::new(), None).unwrap(),
            ip("fd00:213::2")
        );
    }

    #[test]
    fn static_addresses() {
        let i = Ipam::new(net("10.213.7.0/24"), None, None).unwrap();
        let used: HashSet<IpAddr> = [ip("10.213.7.5")].into();
        i.check_static(ip("10.213.7.6"), &used).unwrap();
        assert_eq!(
            i.check_static(ip("10.213.7.5"), &used)
                .unwrap_err()
                .to_string(),
            "Address already in use"
        );
        assert!(i.check_static(ip("10.213.7.1"), &used).is_err());
        assert!(i.check_static(ip("10.213.8.1"), &used).is_err());
    }

    #[test]
    fn macs() {
        let mac = mac_for(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(&mac), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02").unwrap(), mac);
        assert!(parse_mac("02:42:ac:11:00").is_err());
    }
}
