//! A [`Firewall`] that remembers what it was asked, for tests without root.

use std::collections::{BTreeMap, BTreeSet};

use super::{Firewall, NetworkRules, PortForward};
use crate::NetworkError;

#[derive(Debug, Default)]
pub struct FakeFirewall {
    /// Networks whose rules are in place, by bridge.
    pub networks: BTreeMap<String, NetworkRules>,
    /// Forwarded ports, by bridge.
    pub ports: BTreeMap<String, Vec<PortForward>>,
    /// How many times rules were written (what `nft` would have run for).
    pub batches: usize,
    /// Bridges whose ports cannot be added.
    pub failing: BTreeSet<String>,
}

impl Firewall for FakeFirewall {
    fn ensure_network(&mut self, net: &NetworkRules) -> Result<bool, NetworkError> {
        if self.networks.get(&net.bridge) == Some(net) {
            return Ok(false);
        }
        self.batches += 1;
        self.networks.insert(net.bridge.clone(), net.clone());
        Ok(true)
    }

    fn remove_network(&mut self, net: &NetworkRules) -> Result<(), NetworkError> {
        if self.networks.remove(&net.bridge).is_some() {
            self.batches += 1;
        }
        self.ports.remove(&net.bridge);
        Ok(())
    }

    fn add_ports(&mut self, net: &NetworkRules, ports: &[PortForward]) -> Result<(), NetworkError> {
        if ports.is_empty() {
            return Ok(());
        }
        if self.failing.contains(&net.bridge) {
            return Err(NetworkError::Firewall {
                detail: format!("fake failure on {}", net.bridge),
            });
        }
        self.batches += 1;
        self.ports
            .entry(net.bridge.clone())
            .or_default()
            .extend_from_slice(ports);
        Ok(())
    }

    fn remove_ports(
        &mut self,
        net: &NetworkRules,
        ports: &[PortForward],
    ) -> Result<(), NetworkError> {
        if ports.is_empty() {
            return Ok(());
        }
        self.batches += 1;
        if let Some(held) = self.ports.get_mut(&net.bridge) {
            held.retain(|p| !ports.contains(p));
        }
        Ok(())
    }
}
