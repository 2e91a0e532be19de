//! A container's network options as its spec keeps them: plain data the
//! network module reads when it connects the container.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A container's settings on one network (`--network-alias`, `--ip`,
/// `--ip6`, `--mac-address`; docker's `EndpointSettings`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSettings {
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    #[serde(default)]
    pub ipv6: Option<std::net::Ipv6Addr>,
    #[serde(default)]
    pub mac: Option<String>,
}

/// A container's network options beyond the network names
/// (`-p`, `-P`, `--dns*`, `--add-host`, `--domainname`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerNetworkOptions {
    #[serde(default)]
    pub publish: Vec<berth_network::ports::PortMapping>,
    #[serde(default)]
    pub publish_all: bool,
    #[serde(default)]
    pub expose: Vec<berth_network::ports::ContainerPort>,
    #[serde(default)]
    pub dns: berth_network::files::DnsOptions,
    #[serde(default)]
    pub extra_hosts: Vec<berth_network::files::ExtraHost>,
    #[serde(default)]
    pub domainname: String,
}
