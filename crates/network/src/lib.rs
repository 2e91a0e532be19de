//! berth's container networking, as docker's bridge driver does it:
//! bridges, veth pairs, addresses and routes over netlink
//! ([`netlink`], [`bridge`]), network namespaces held by descriptors
//! ([`netns`]), address management ([`ipam`]), published ports
//! ([`ports`]), the nftables firewall ([`firewall`]), the embedded DNS
//! server ([`dns`]) and the resolv.conf and hosts files ([`files`]).
//!
//! Nothing here shells out to `ip`, `brctl` or `sysctl`; `nft` runs only
//! when rules change. The kernel-facing pieces are behind small traits
//! ([`bridge::NetworkBackend`], [`netlink::Netlink`],
//! [`firewall::Firewall`], [`sysctl::Sysctl`]) with fakes, so the logic is
//! tested without root; `tests/` checks the real backends as root in
//! namespaces of their own.
//!
//! The engine's use of this crate (networks in the store, the monitor
//! setting up and tearing down each container's network) is being wired in
//! on issue 12.

#![deny(unsafe_code)]

pub mod bridge;
pub mod dns;
mod error;
pub mod files;
pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod ports;
pub mod sandbox;
pub mod settings;
pub mod sysctl;

pub use error::{ErrorKind, NetworkError};
