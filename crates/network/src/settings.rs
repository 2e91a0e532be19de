//! Networking settings: the network part of berth's config file (docker's
//! daemon.json keys where docker has them) and the driver options of
//! `network create -o`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use crate::bridge::check_bridge_name;
use crate::ipam::{default_pools, AddressPool, Ipam};
use crate::NetworkError;

/// The default bridge's name unless configured (docker's is `docker0`).
pub const DEFAULT_BRIDGE: &str = "berth0";
/// The prefix of berth's nftables tables unless configured.
pub const DEFAULT_TABLE_PREFIX: &str = "berth";

/// The network part of `/etc/berth/config.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NetworkSettings {
    /// docker's `bip`: the default bridge's address and prefix
    /// (`10.213.5.1/24`); chosen from the pools when absent.
    pub bip: Option<String>,
    /// docker's `default-address-pools`.
    pub default_address_pools: Option<Vec<AddressPool>>,
    /// docker's `mtu`, for the default bridge's containers.
    pub mtu: Option<u32>,
    /// docker's `bridge`, of which berth knows one value: `none`, no
    /// default bridge (containers default to `--network none`).
    pub bridge: Option<String>,
    /// The default bridge's interface name (berth's key: docker's `bridge`
    /// names a bridge it does not manage).
    pub bridge_name: Option<String>,
    /// The prefix of berth's nftables table names (berth's key).
    pub firewall_table: Option<String>,
    /// docker's `dns`, `dns-search`, `dns-opts`: defaults for `--dns*`.
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_opts: Vec<String>,
}

impl NetworkSettings {
    pub fn pools(&self) -> Vec<AddressPool> {
        self.default_address_pools
            .clone()
            .unwrap_or_else(default_pools)
    }

    /// `"bridge": "none"`: no default bridge.
    pub fn default_bridge_disabled(&self) -> bool {
        self.bridge.as_deref() == Some("none")
    }

    pub fn bridge_name(&self) -> &str {
        self.bridge_name.as_deref().unwrap_or(DEFAULT_BRIDGE)
    }

    pub fn table_prefix(&self) -> &str {
        self.firewall_table
            .as_deref()
            .unwrap_or(DEFAULT_TABLE_PREFIX)
    }

    /// The default bridge's configured subnet and gateway, if `bip` says.
    pub fn bip(&self) -> Result<Option<Ipam>, NetworkError> {
        let Some(bip) = &self.bip else {
            return Ok(None);
        };
        let net: IpNet = bip.parse().map_err(|_| {
            NetworkError::invalid(format!(
                "invalid bip {bip:?}: want an address with a prefix, like 10.213.5.1/24"
            ))
        })?;
        let gateway = (net.addr() != net.network()).then_some(net.addr());
        Ipam::new(net.trunc(), gateway, None).map(Some)
    }

    /// Checks what a config file says, naming the key at fault.
    pub fn validate(&self) -> Result<(), NetworkError> {
        self.bip()?;
        if let Some(b) = self.bridge.as_deref().filter(|b| *b != "none") {
            return Err(NetworkError::invalid(format!(
                "bridge {b:?}: berth makes its own default bridge; only \"none\" (no default bridge) is known here, name it with bridge-name"
            )));
        }
        check_bridge_name(self.bridge_name())
            .map_err(|e| NetworkError::invalid(format!("bridge-name: {e}")))?;
        let prefix = self.table_prefix();
        if prefix.is_empty()
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
        {
            return Err(NetworkError::invalid(format!(
                "firewall-table {prefix:?}: letters, digits, '_' or '-'"
            )));
        }
        for p in self.pools() {
            if p.size < p.base.prefix_len() || p.size > p.base.max_prefix_len() {
                return Err(NetworkError::invalid(format!(
                    "default-address-pools: size {} does not fit base {}",
                    p.size, p.base
                )));
            }
        }
        if let Some(mtu) = self.mtu {
            check_mtu(mtu)?;
        }
        Ok(())
    }
}

fn check_mtu(mtu: u32) -> Result<(), NetworkError> {
    if (68..=65535).contains(&mtu) {
        Ok(())
    } else {
        Err(NetworkError::invalid(format!(
            "invalid mtu {mtu}: between 68 and 65535"
        )))
    }
}

/// The driver options of a bridge network (`network create -o`), docker's
/// keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeOptions {
    pub bridge_name: Option<String>,
    pub masquerade: bool,
    pub icc: bool,
    pub mtu: Option<u32>,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        BridgeOptions {
            bridge_name: None,
            masquerade: true,
            icc: true,
            mtu: None,
        }
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, NetworkError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(NetworkError::invalid(format!(
            "invalid value {value:?} for option {key}: not a boolean"
        ))),
    }
}

impl BridgeOptions {
    /// Reads docker's bridge driver options; unknown `com.docker.network.*`
    /// ones are refused rather than ignored, others are kept as labels are.
    pub fn parse(options: &BTreeMap<String, String>) -> Result<BridgeOptions, NetworkError> {
        let mut o = BridgeOptions::default();
        for (key, value) in options {
            match key.as_str() {
                "com.docker.network.bridge.name" => {
                    check_bridge_name(value)?;
                    o.bridge_name = Some(value.clone());
                }
                "com.docker.network.bridge.enable_ip_masquerade" => {
                    o.masquerade = parse_bool(key, value)?
                }
                "com.docker.network.bridge.enable_icc" => o.icc = parse_bool(key, value)?,
                "com.docker.network.driver.mtu" => {
                    let mtu = value.parse().map_err(|_| {
                        NetworkError::invalid(format!(
                            "invalid value {value:?} for option {key}: not a number"
                        ))
                    })?;
                    check_mtu(mtu)?;
                    o.mtu = Some(mtu);
                }
                // Accepted and meaningless here, as for docker on a bridge
                // it made itself.
                "com.docker.network.bridge.default_bridge"
                | "com.docker.network.bridge.host_binding_ipv4" => {}
                other if other.starts_with("com.docker.network.") => {
                    return Err(NetworkError::invalid(format!(
                        "unsupported network option {other}"
                    )))
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_keys() {
        let s: NetworkSettings = serde_json::from_str(
            r#"{"bip": "10.213.5.1/24", "bridge-name": "bt0", "firewall-table": "bt",
                "default-address-pools": [{"base": "10.213.128.0/17", "size": 24}], "dns": ["10.213.0.53"]}"#,
        )
        .unwrap();
        s.validate().unwrap();
        let bip = s.bip().unwrap().unwrap();
        assert_eq!(bip.subnet, "10.213.5.0/24".parse::<IpNet>().unwrap());
        assert_eq!(bip.gateway, "10.213.5.1".parse::<IpAddr>().unwrap());
        assert_eq!((s.bridge_name(), s.table_prefix()), ("bt0", "bt"));
        assert_eq!(s.pools().len(), 1);
        let d = NetworkSettings::default();
        assert_eq!((d.bridge_name(), d.table_prefix()), ("berth0", "berth"));
        assert!(d.bip().unwrap().is_none());
        let bad = NetworkSettings {
            bip: Some("10.213.5.1".into()),
            ..d.clone()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("invalid bip"));
        let bad = NetworkSettings {
            bridge_name: Some("way-too-long-for-linux".into()),
            ..d
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("bridge-name:"));
    }

    #[test]
    fn bridge_options() {
        let mut m = BTreeMap::new();
        m.insert(
            "com.docker.network.bridge.name".to_string(),
            "bt-x".to_string(),
        );
        m.insert(
            "com.docker.network.bridge.enable_icc".to_string(),
            "false".to_string(),
        );
        m.insert(
            "com.docker.network.driver.mtu".to_string(),
            "1400".to_string(),
        );
        m.insert("my.own".to_string(), "x".to_string());
        let o = BridgeOptions::parse(&m).unwrap();
        assert_eq!(o.bridge_name.as_deref(), Some("bt-x"));
        assert!(!o.icc && o.masquerade);
        assert_eq!(o.mtu, Some(1400));
        m.insert(
            "com.docker.network.bridge.bogus".to_string(),
            "1".to_string(),
        );
        assert!(BridgeOptions::parse(&m).is_err());
    }
}
