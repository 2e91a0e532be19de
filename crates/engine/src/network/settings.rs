//! The network settings of berth's config file, and the backend they give.

use std::path::PathBuf;

use berth_network::bridge::BridgeDriver;
use berth_network::firewall::Nftables;
use berth_network::netlink::RtNetlink;
use berth_network::settings::NetworkSettings;
use berth_network::sysctl::ProcSys;

use crate::EngineError;

/// The in-process backend the engine and monitors use.
pub(crate) type HostNetwork = BridgeDriver<RtNetlink, Nftables, ProcSys>;

/// Where berth's config file is (`BERTH_CONFIG` moves it).
fn config_path() -> PathBuf {
    std::env::var_os("BERTH_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/berth/config.json"))
}

/// Reads the network keys of the config file (docker's daemon.json keys);
/// a missing file is the defaults.
pub(crate) fn network_settings() -> Result<NetworkSettings, EngineError> {
    let path = config_path();
    let settings: NetworkSettings = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| EngineError::InvalidConfig {
            what: path.display().to_string(),
            detail: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => NetworkSettings::default(),
        Err(e) => return Err(EngineError::io(format!("read {}", path.display()), e)),
    };
    settings
        .validate()
        .map_err(|e| EngineError::InvalidConfig {
            what: path.display().to_string(),
            detail: e.to_string(),
        })?;
    Ok(settings)
}

pub(crate) fn host_network(settings: &NetworkSettings) -> Result<HostNetwork, EngineError> {
    Ok(BridgeDriver::new(
        RtNetlink::open()?,
        Nftables::new(settings.table_prefix()),
        ProcSys,
    ))
}
