//! The firewall: outbound NAT, published ports, isolation between
//! networks, `--internal`. The [`Firewall`] seam, the real backend over
//! `nft` ([`Nftables`]) and a fake.
//!
//! Every network has a table of its own (`table inet berth-<bridge>`), so
//! berth never touches a rule it did not make: adding a network adds its
//! table in one batch, removing it deletes the table. Published ports are
//! elements of that table's maps, added and removed per container; a
//! container without `-p` changes no rule at all. Whether a network's
//! table is in place is asked of the kernel directly over nfnetlink
//! (microseconds), so `nft` runs only when something must change.
//!
//! Coexistence with iptables users (docker): docker sets the iptables
//! `FORWARD` policy to DROP, and with `br_netfilter` even traffic between
//! two containers on one bridge passes that chain. A drop in any base chain
//! is final in nftables, so berth's own table cannot overrule it. When an
//! iptables `filter` table with a `FORWARD` chain exists, berth adds a chain
//! of its own there (`BERTH-<bridge>`, accepting the bridge's traffic in
//! both directions; berth's own table does the filtering) and a jump to it
//! at the end of `FORWARD`, after docker's and the user's rules, written in
//! the subset of nftables that iptables-nft reads back, so `iptables -S`
//! and docker keep working. It goes with the network.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ports::Protocol;
use crate::NetworkError;

pub mod fake;
mod nfnl;
mod nft;

pub use nft::Nftables;

/// What the firewall needs to know about a network.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkRules {
    pub bridge: String,
    pub subnets: Vec<IpNet>,
    /// `--internal`: no traffic in or out of the network but between its
    /// containers.
    pub internal: bool,
    /// docker's `com.docker.network.bridge.enable_ip_masquerade`.
    pub masquerade: bool,
    /// docker's `com.docker.network.bridge.enable_icc`: containers of the
    /// network may talk to each other.
    pub icc: bool,
}

/// A published port as the firewall forwards it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortForward {
    pub protocol: Protocol,
    /// `None`: every address of the host.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
}

/// The firewall operations berth needs.
pub trait Firewall {
    /// Puts the network's rules in place unless they already are; says
    /// whether anything changed.
    fn ensure_network(&mut self, net: &NetworkRules) -> Result<bool, NetworkError>;
    /// Removes everything [`Firewall::ensure_network`] and
    /// [`Firewall::add_ports`] made for the network; a network that has
    /// nothing is not an error.
    fn remove_network(&mut self, net: &NetworkRules) -> Result<(), NetworkError>;
    /// Forwards published ports to a container on the network.
    fn add_ports(&mut self, net: &NetworkRules, ports: &[PortForward]) -> Result<(), NetworkError>;
    /// Stops forwarding them. A port that is not forwarded, or forwarded to
    /// someone else now, is left alone.
    fn remove_ports(
        &mut self,
        net: &NetworkRules,
        ports: &[PortForward],
    ) -> Result<(), NetworkError>;
}
