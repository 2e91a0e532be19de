//! The real [`Firewall`]: batches of nftables text applied with `nft -f -`
//! (atomically: all of a batch or none of it), existence checks over
//! nfnetlink.
//!
//! Text rather than libnftables through FFI (no `unsafe`, no C library at
//! build time) or the `nftables` crate's JSON (the same `nft` process
//! underneath, and rules far harder to read and review than the text
//! below, which is what `nft list` prints back). `nft` runs only when a
//! network appears or goes, or a container publishes ports.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ipnet::IpNet;

use super::nfnl::{Family, NfQuery};
use super::{Firewall, NetworkRules, PortForward};
use crate::NetworkError;

/// Bumped when the rules berth writes change, so tables written by an older
/// berth are replaced.
const RULES_VERSION: u32 = 1;

/// berth's firewall on nftables.
pub struct Nftables {
    /// Tables are named `<prefix>-<bridge>`: `berth` unless configured
    /// (tests use their own).
    pub prefix: String,
    pub nft: PathBuf,
    query: Option<NfQuery>,
}

impl Nftables {
    pub fn new(prefix: impl Into<String>) -> Nftables {
        Nftables {
            prefix: prefix.into(),
            nft: PathBuf::from("nft"),
            query: None,
        }
    }

    fn query(&mut self) -> Result<&mut NfQuery, NetworkError> {
        if self.query.is_none() {
            self.query = Some(NfQuery::open().map_err(|e| fw_io("open nfnetlink socket", e))?);
        }
        Ok(self.query.as_mut().expect("just set"))
    }

    fn table_exists(&mut self, family: Family, table: &str) -> Result<bool, NetworkError> {
        self.query()?
            .table_exists(family, table)
            .map_err(|e| fw_io(&format!("look up table {} {table}", family.keyword()), e))
    }

    fn chain_exists(
        &mut self,
        family: Family,
        table: &str,
        chain: &str,
    ) -> Result<bool, NetworkError> {
        self.query()?
            .chain_exists(family, table, chain)
            .map_err(|e| {
                fw_io(
                    &format!("look up chain {} {table} {chain}", family.keyword()),
                    e,
                )
            })
    }

    /// The iptables `filter` tables whose `FORWARD` chain berth must open
    /// for the network, with whether berth's chain is there yet.
    fn iptables_forward(
        &mut self,
        net: &NetworkRules,
    ) -> Result<Vec<(Family, bool)>, NetworkError> {
        let mut out = Vec::new();
        for family in [Family::Ip, Family::Ip6] {
            let wanted = net
                .subnets
                .iter()
                .any(|s| s.addr().is_ipv4() == (family == Family::Ip));
            if wanted && self.chain_exists(family, "filter", "FORWARD")? {
                let ours = self.chain_exists(family, "filter", &compat_chain(&net.bridge))?;
                out.push((family, ours));
            }
        }
        Ok(out)
    }

    fn apply(&self, batch: &str) -> Result<(), NetworkError> {
        tracing::debug!(batch, "nft -f -");
        let mut child = Command::new(&self.nft)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fw_io(&format!("run {}", self.nft.display()), e))?;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(batch.as_bytes())
            .map_err(|e| fw_io("write to nft", e))?;
        let out = child
            .wait_with_output()
            .map_err(|e| fw_io("wait for nft", e))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(NetworkError::Firewall {
            detail: format!("nft failed ({}): {}", out.status, stderr.trim()),
        })
    }

    /// Handles of the rules in `filter FORWARD` that jump to berth's chain
    /// for the bridge.
    fn compat_jumps(&self, family: Family, bridge: &str) -> Result<Vec<u64>, NetworkError> {
        let out = Command::new(&self.nft)
            .args([
                "-j",
                "-a",
                "list",
                "chain",
                family.keyword(),
                "filter",
                "FORWARD",
            ])
            .output()
            .map_err(|e| fw_io(&format!("run {}", self.nft.display()), e))?;
        if !out.status.success() {
            return Err(NetworkError::Firewall {
                detail: format!(
                    "nft list chain failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(jump_handles(&out.stdout, &compat_chain(bridge)))
    }
}

fn fw_io(what: &str, e: std::io::Error) -> NetworkError {
    NetworkError::Firewall {
        detail: format!("{what}: {e}"),
    }
}

pub(crate) fn table_name(prefix: &str, bridge: &str) -> String {
    format!("{prefix}-{bridge}")
}

fn compat_chain(bridge: &str) -> String {
    format!("BERTH-{bridge}")
}

/// A name for the rules a network has, stable across builds (FNV-1a over
/// their JSON), kept as an empty chain in the table so a check can tell an
/// up-to-date table from a stale one of the same name.
pub(crate) fn config_chain(net: &NetworkRules) -> String {
    let text = format!(
        "{RULES_VERSION}{}",
        serde_json::to_string(net).expect("serializable")
    );
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("config-{h:016x}")
}

fn saddr(net: &IpNet) -> &'static str {
    if net.addr().is_ipv4() {
        "ip saddr"
    } else {
        "ip6 saddr"
    }
}

/// The table of one network, as one `nft -f` batch.
pub(crate) fn network_table(prefix: &str, net: &NetworkRules) -> String {
    let table = table_name(prefix, &net.bridge);
    let br = &net.bridge;
    let v6 = net.subnets.iter().any(|s| s.addr().is_ipv6());
    let mut t = String::new();
    let _ = writeln!(t, "table inet {table} {{");
    let _ = writeln!(t, "\tchain {} {{\n\t}}", config_chain(net));
    let _ = writeln!(
        t,
        "\tmap ports4 {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}"
    );
    let _ = writeln!(
        t,
        "\tmap ports4any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}"
    );
    if v6 {
        let _ = writeln!(t, "\tmap ports6 {{ type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }}");
        let _ = writeln!(
            t,
            "\tmap ports6any {{ type inet_proto . inet_service : ipv6_addr . inet_service; }}"
        );
    }
    // Published ports, for traffic to any of the host's own addresses:
    // from elsewhere (prerouting) and from the host itself (output),
    // loopback included.
    let _ = writeln!(t, "\tchain publish {{");
    let _ = writeln!(
        t,
        "\t\tfib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports4"
    );
    let _ = writeln!(
        t,
        "\t\tfib daddr type local dnat ip to meta l4proto . th dport map @ports4any"
    );
    if v6 {
        let _ = writeln!(
            t,
            "\t\tfib daddr type local dnat ip6 to ip6 daddr . meta l4proto . th dport map @ports6"
        );
        let _ = writeln!(
            t,
            "\t\tfib daddr type local dnat ip6 to meta l4proto . th dport map @ports6any"
        );
    }
    let _ = writeln!(t, "\t}}");
    let _ = writeln!(t, "\tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tjump publish\n\t}}");
    let _ = writeln!(t, "\tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump publish\n\t}}");
    let _ = writeln!(
        t,
        "\tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;"
    );
    for s in &net.subnets {
        if net.masquerade && !net.internal {
            // Out to anywhere but the bridge itself: NAT to the host.
            let _ = writeln!(t, "\t\t{} {s} oifname != \"{br}\" masquerade", saddr(s));
        }
        // A container reaching a published port of its own network
        // through the host (hairpin): the answer must come back the same
        // way.
        let _ = writeln!(
            t,
            "\t\toifname \"{br}\" {} {s} ct status dnat masquerade",
            saddr(s)
        );
    }
    // The host reaching a published port on 127.0.0.1: a loopback source
    // means nothing to the container.
    let _ = writeln!(t, "\t\toifname \"{br}\" ip saddr 127.0.0.0/8 masquerade");
    let _ = writeln!(t, "\t}}");
    let _ = writeln!(
        t,
        "\tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;"
    );
    let _ = writeln!(
        t,
        "\t\toifname \"{br}\" iifname != \"{br}\" ct state established,related accept"
    );
    if !net.internal {
        let _ = writeln!(
            t,
            "\t\toifname \"{br}\" iifname != \"{br}\" ct status dnat accept"
        );
    }
    // Nothing else comes in from outside: not from other networks, not
    // from other hosts routing to container addresses.
    let _ = writeln!(t, "\t\toifname \"{br}\" iifname != \"{br}\" drop");
    if net.internal {
        let _ = writeln!(t, "\t\tiifname \"{br}\" oifname != \"{br}\" drop");
    }
    if !net.icc {
        let _ = writeln!(t, "\t\tiifname \"{br}\" oifname \"{br}\" drop");
    }
    let _ = writeln!(t, "\t}}");
    let _ = writeln!(t, "}}");
    t
}

/// berth's chain in iptables' `filter` table, in the subset iptables-nft
/// reads back (`-A BERTH-x -i x -j ACCEPT`).
pub(crate) fn compat_batch(family: Family, bridge: &str) -> String {
    let f = family.keyword();
    let chain = compat_chain(bridge);
    format!(
        "add chain {f} filter {chain}\n\
         add rule {f} filter {chain} iifname \"{bridge}\" counter accept\n\
         add rule {f} filter {chain} oifname \"{bridge}\" counter accept\n\
         add rule {f} filter FORWARD counter jump {chain}\n"
    )
}

/// The map and element text of a port forward: `(map, "key : value")`.
pub(crate) fn port_element(p: &PortForward) -> (&'static str, String) {
    let dest = match p.container_ip {
        IpAddr::V4(ip) => format!("{ip} . {}", p.container_port),
        IpAddr::V6(ip) => format!("{ip} . {}", p.container_port),
    };
    let v6 = p.container_ip.is_ipv6();
    match p.host_ip {
        None => (
            if v6 { "ports6any" } else { "ports4any" },
            format!("{} . {} : {dest}", p.protocol, p.host_port),
        ),
        Some(ip) => (
            if v6 { "ports6" } else { "ports4" },
            format!("{ip} . {} . {} : {dest}", p.protocol, p.host_port),
        ),
    }
}

fn element_key(element: &str) -> &str {
    element.split(" : ").next().unwrap_or(element)
}

/// Removes the element only when it is ours: adding an element whose key
/// holds another value fails, which aborts the pair (and the batch).
pub(crate) fn remove_port_lines(table: &str, p: &PortForward) -> String {
    let (map, element) = port_element(p);
    format!(
        "add element inet {table} {map} {{ {element} }}\ndelete element inet {table} {map} {{ {} }}\n",
        element_key(&element)
    )
}

/// The handles of rules in an `nft -j -a list chain` output that jump to
/// `target`.
fn jump_handles(json: &[u8], target: &str) -> Vec<u64> {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(json) else {
        return vec![];
    };
    let items = doc["nftables"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .filter_map(|item| {
            let rule = item.get("rule")?;
            let jumps = rule["expr"]
                .as_array()?
                .iter()
                .any(|e| e["jump"]["target"].as_str() == Some(target));
            jumps.then(|| rule["handle"].as_u64()).flatten()
        })
        .collect()
}

impl Firewall for Nftables {
    fn ensure_network(&mut self, net: &NetworkRules) -> Result<bool, NetworkError> {
        let table = table_name(&self.prefix, &net.bridge);
        let exists = self.table_exists(Family::Inet, &table)?;
        let current = exists && self.chain_exists(Family::Inet, &table, &config_chain(net))?;
        let compat = self.iptables_forward(net)?;
        if current && compat.iter().all(|(_, ours)| *ours) {
            return Ok(false);
        }
        let mut batch = String::new();
        if !current {
            if exists {
                batch.push_str(&format!("delete table inet {table}\n"));
            }
            batch.push_str(&network_table(&self.prefix, net));
        }
        for (family, ours) in compat {
            if !ours {
                batch.push_str(&compat_batch(family, &net.bridge));
            }
        }
        self.apply(&batch)?;
        Ok(true)
    }

    fn remove_network(&mut self, net: &NetworkRules) -> Result<(), NetworkError> {
        let table = table_name(&self.prefix, &net.bridge);
        let mut batch = String::new();
        if self.table_exists(Family::Inet, &table)? {
            batch.push_str(&format!("delete table inet {table}\n"));
        }
        let chain = compat_chain(&net.bridge);
        for family in [Family::Ip, Family::Ip6] {
            if !self.chain_exists(family, "filter", &chain)? {
                continue;
            }
            let f = family.keyword();
            if self.chain_exists(family, "filter", "FORWARD")? {
                for handle in self.compat_jumps(family, &net.bridge)? {
                    batch.push_str(&format!("delete rule {f} filter FORWARD handle {handle}\n"));
                }
            }
            batch.push_str(&format!(
                "flush chain {f} filter {chain}\ndelete chain {f} filter {chain}\n"
            ));
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.apply(&batch)
    }

    fn add_ports(&mut self, net: &NetworkRules, ports: &[PortForward]) -> Result<(), NetworkError> {
        if ports.is_empty() {
            return Ok(());
        }
        let table = table_name(&self.prefix, &net.bridge);
        let mut batch = String::new();
        for p in ports {
            let (map, element) = port_element(p);
            batch.push_str(&format!("add element inet {table} {map} {{ {element} }}\n"));
        }
        if self.apply(&batch).is_ok() {
            return Ok(());
        }
        // A key still holding a container that is gone (its monitor was
        // killed): the port is ours now, as we hold its socket.
        let mut batch = String::new();
        for p in ports {
            let (map, element) = port_element(p);
            let key = element_key(&element);
            let probe = format!("add element inet {table} {map} {{ {element} }}\n");
            if self.apply(&probe).is_err() {
                batch.push_str(&format!("delete element inet {table} {map} {{ {key} }}\n"));
            }
            batch.push_str(&format!("add element inet {table} {map} {{ {element} }}\n"));
        }
        self.apply(&batch)
    }

    fn remove_ports(
        &mut self,
        net: &NetworkRules,
        ports: &[PortForward],
    ) -> Result<(), NetworkError> {
        if ports.is_empty() {
            return Ok(());
        }
        let table = table_name(&self.prefix, &net.bridge);
        if !self.table_exists(Family::Inet, &table)? {
            return Ok(());
        }
        let batch: String = ports.iter().map(|p| remove_port_lines(&table, p)).collect();
        if self.apply(&batch).is_ok() {
            return Ok(());
        }
        // One of them is someone else's by now: the others one by one.
        for p in ports {
            let _ = self.apply(&remove_port_lines(&table, p));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Protocol;

    fn net() -> NetworkRules {
        NetworkRules {
            bridge: "bt0".into(),
            subnets: vec!["10.213.0.0/24".parse().unwrap()],
            internal: false,
            masquerade: true,
            icc: true,
        }
    }

    #[test]
    fn table_rules() {
        let t = network_table("berth", &net());
        assert!(t.starts_with("table inet berth-bt0 {\n"));
        assert!(t.contains("ip saddr 10.213.0.0/24 oifname != \"bt0\" masquerade"));
        assert!(t.contains("oifname \"bt0\" iifname != \"bt0\" ct status dnat accept"));
        assert!(!t.contains("ports6"));
        let internal = NetworkRules {
            internal: true,
            ..net()
        };
        let t = network_table("berth", &internal);
        assert!(!t.contains("oifname != \"bt0\" masquerade"));
        assert!(t.contains("iifname \"bt0\" oifname != \"bt0\" drop"));
        assert!(!t.contains("ct status dnat accept"));
        let v6 = NetworkRules {
            subnets: vec!["fd00:213::/64".parse().unwrap()],
            ..net()
        };
        assert!(network_table("berth", &v6)
            .contains("ip6 saddr fd00:213::/64 oifname != \"bt0\" masquerade"));
    }

    #[test]
    fn config_chain_names_the_rules() {
        assert_eq!(config_chain(&net()), config_chain(&net()));
        assert_ne!(
            config_chain(&net()),
            config_chain(&NetworkRules {
                icc: false,
                ..net()
            })
        );
    }

    #[test]
    fn port_elements() {
        let p = PortForward {
            protocol: Protocol::Tcp,
            host_ip: None,
            host_port: 8080,
            container_ip: "10.213.0.2".parse().unwrap(),
            container_port: 80,
        };
        assert_eq!(
            port_element(&p),
            ("ports4any", "tcp . 8080 : 10.213.0.2 . 80".to_string())
        );
        let p = PortForward {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            protocol: Protocol::Udp,
            ..p
        };
        assert_eq!(
            port_element(&p),
            (
                "ports4",
                "127.0.0.1 . udp . 8080 : 10.213.0.2 . 80".to_string()
            )
        );
        assert_eq!(
            remove_port_lines("berth-bt0", &p),
            "add element inet berth-bt0 ports4 { 127.0.0.1 . udp . 8080 : 10.213.0.2 . 80 }\n\
             delete element inet berth-bt0 ports4 { 127.0.0.1 . udp . 8080 }\n"
        );
    }

    #[test]
    fn finds_jumps_by_target() {
        let json = br#"{"nftables":[{"metainfo":{}},{"chain":{"name":"FORWARD"}},
            {"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":7,"expr":[{"counter":{"packets":0,"bytes":0}},{"jump":{"target":"BERTH-bt0"}}]}},
            {"rule":{"handle":9,"expr":[{"jump":{"target":"DOCKER-USER"}}]}}]}"#;
        assert_eq!(jump_handles(json, "BERTH-bt0"), [7]);
        assert!(jump_handles(b"garbage", "x").is_empty());
    }
}
