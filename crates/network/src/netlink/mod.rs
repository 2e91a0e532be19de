//! Links, addresses and routes: the [`Netlink`] seam, its real backend
//! over an rtnetlink socket ([`RtNetlink`]) and an in-memory fake.
//!
//! One handle talks to one network namespace: the one its socket was made
//! in. The host's handle is made on any thread of the host; a container's
//! on a thread inside its namespace ([`crate::netns::NetNs::run`]).

use std::net::IpAddr;
use std::os::fd::BorrowedFd;

use ipnet::IpNet;

use crate::NetworkError;

pub mod fake;
mod rtnl;

pub use rtnl::RtNetlink;

/// What kind of link a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Bridge,
    Veth,
    Other,
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: LinkKind,
    pub mac: Option<[u8; 6]>,
    pub mtu: u32,
    pub up: bool,
    /// The bridge this link is a port of.
    pub master: Option<u32>,
}

/// A veth pair to make: one end on the host (on a bridge, up), the other
/// already inside a container's namespace (down, for the inside to bring
/// up once configured).
#[derive(Debug, Clone, Copy)]
pub struct VethPair<'a> {
    pub host_name: &'a str,
    pub bridge: u32,
    pub peer_name: &'a str,
    pub peer_netns: BorrowedFd<'a>,
    pub peer_mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
}

/// The link operations berth needs, in one namespace.
pub trait Netlink {
    /// The link of that name, if there is one.
    fn link(&mut self, name: &str) -> Result<Option<Link>, NetworkError>;
    /// Makes a bridge (down, without addresses) and returns its index.
    fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<u32, NetworkError>;
    /// Makes a veth pair as [`VethPair`] says, in one request.
    fn add_veth(&mut self, pair: &VethPair<'_>) -> Result<(), NetworkError>;
    fn set_up(&mut self, index: u32) -> Result<(), NetworkError>;
    fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), NetworkError>;
    fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<(), NetworkError>;
    /// Lets a bridge port send frames back out where they came in, which
    /// a container reaching its own published port through the gateway
    /// needs.
    fn set_hairpin(&mut self, index: u32, on: bool) -> Result<(), NetworkError>;
    /// Adds an address (an existing one is kept as it is).
    fn add_address(&mut self, index: u32, address: IpNet) -> Result<(), NetworkError>;
    /// The addresses on a link.
    fn addresses(&mut self, index: u32) -> Result<Vec<IpNet>, NetworkError>;
    /// Adds (or replaces) a route to `destination` out of `index`, through
    /// `gateway` when given.
    fn add_route(
        &mut self,
        destination: IpNet,
        gateway: Option<IpAddr>,
        index: u32,
    ) -> Result<(), NetworkError>;
    /// The destinations of every route in every table, default routes left
    /// out: what a new subnet must not overlap.
    fn route_destinations(&mut self) -> Result<Vec<IpNet>, NetworkError>;
    /// Deletes a link; a missing one is not an error.
    fn delete_link(&mut self, name: &str) -> Result<(), NetworkError>;
}
