//! The network files a container gets, written as docker writes them:
//! `/etc/resolv.conf` and `/etc/hosts` (`--dns*`, `--add-host`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::NetworkError;

/// The address of the DNS server berth runs in each container on a
/// user-defined network (docker's).
pub const EMBEDDED_DNS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// Where systemd-resolved keeps the real upstream servers when
/// `/etc/resolv.conf` names only its stub at 127.0.0.53.
pub const SYSTEMD_RESOLV: &str = "/run/systemd/resolve/resolv.conf";

/// Public resolvers docker falls back to when the host has only loopback
/// ones, which a container on a bridge cannot reach.
const FALLBACK_V4: [&str; 2] = ["8.8.8.8", "8.8.4.4"];
const FALLBACK_V6: [&str; 2] = ["2001:4860:4860::8888", "2001:4860:4860::8844"];

/// `--dns`, `--dns-search`, `--dns-option`: each replaces the host's lines
/// of its kind when given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsOptions {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The parts of a resolv.conf berth reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolv {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl Resolv {
    pub fn parse(text: &str) -> Resolv {
        let mut r = Resolv::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // A scoped address (`fe80::1%eth0`) keeps its zone out.
                    if let Some(ip) = words.next().and_then(|w| w.split('%').next()?.parse().ok()) {
                        r.nameservers.push(ip);
                    }
                }
                // The last search/domain line wins, as for the resolver.
                Some("search") | Some("domain") => r.search = words.map(String::from).collect(),
                Some("options") => r.options.extend(words.map(String::from)),
                _ => {}
            }
        }
        r
    }
}

/// Whether the host's resolv.conf points only at systemd-resolved's stub, so
/// the servers behind it should be read from [`SYSTEMD_RESOLV`] (docker's
/// rule).
pub fn uses_systemd_stub(host: &str) -> bool {
    let r = Resolv::parse(host);
    r.nameservers == [IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53))]
}

/// A container's resolv.conf and, for the embedded DNS server, where it
/// forwards names it does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    pub content: String,
    pub upstreams: Vec<SocketAddr>,
}

/// Builds the resolv.conf of a container from the host's one.
///
/// On the default bridge (`embedded == false`) the container asks the
/// host's servers itself, so loopback ones are left out (and docker's
/// public fallbacks used when none remain); IPv6 ones only with `ipv6`. On a
/// user-defined network it asks the embedded server at 127.0.0.11 with
/// `ndots:0` (unless the options set ndots), and the server forwards to
/// the host's servers from the host's namespace, where loopback ones work.
pub fn resolv_conf(host: &str, user: &DnsOptions, embedded: bool, ipv6: bool) -> ResolvConf {
    let host_rc = Resolv::parse(host);
    let user_set = !user.servers.is_empty() || !user.search.is_empty() || !user.options.is_empty();
    let mut servers = if user.servers.is_empty() {
        host_rc.nameservers.clone()
    } else {
        user.servers.clone()
    };
    let search = if user.search.is_empty() {
        host_rc.search.clone()
    } else {
        user.search.clone()
    };
    let mut options = if user.options.is_empty() {
        host_rc.options.clone()
    } else {
        user.options.clone()
    };
    if embedded {
        let upstreams = servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect();
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".to_string());
        }
        return ResolvConf {
            content: build(&search, &[IpAddr::V4(EMBEDDED_DNS)], &options),
            upstreams,
        };
    }
    if !user.servers.is_empty() {
        // The user's servers are used as given, loopback ones included.
        return ResolvConf {
            content: build(&search, &servers, &options),
            upstreams: vec![],
        };
    }
    servers.retain(|ip| !ip.is_loopback() && (ipv6 || ip.is_ipv4()));
    if servers.is_empty() {
        servers.extend(
            FALLBACK_V4
                .iter()
                .map(|s| s.parse::<IpAddr>().expect("valid")),
        );
        if ipv6 {
            servers.extend(
                FALLBACK_V6
                    .iter()
                    .map(|s| s.parse::<IpAddr>().expect("valid")),
            );
        }
    }
    if user_set {
        return ResolvConf {
            content: build(&search, &servers, &options),
            upstreams: vec![],
        };
    }
    // Without --dns flags docker keeps the host's file as it is, minus the
    // nameserver lines it dropped.
    let mut content = String::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let keep = words
                .next()
                .and_then(|w| w.split('%').next()?.parse::<IpAddr>().ok())
                .is_some_and(|ip| servers.contains(&ip));
            if !keep {
                continue;
            }
        }
        content.push_str(line);
        content.push('\n');
    }
    if !servers.iter().any(|s| host_rc.nameservers.contains(s)) {
        for s in &servers {
            content.push_str(&format!("nameserver {s}\n"));
        }
    }
    ResolvConf {
        content,
        upstreams: vec![],
    }
}

/// docker's layout: search, nameservers, options (a search of `.` is none).
fn build(search: &[String], servers: &[IpAddr], options: &[String]) -> String {
    let mut out = String::new();
    let search = search.join(" ");
    if !search.trim().is_empty() && search.trim() != "." {
        out.push_str(&format!("search {search}\n"));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    let options = options.join(" ");
    if !options.trim().is_empty() {
        out.push_str(&format!("options {options}\n"));
    }
    out
}

/// The address of an `--add-host` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostAddress {
    Ip(IpAddr),
    /// docker's `host-gateway`: the default bridge's gateway address.
    HostGateway,
}

/// `--add-host NAME:IP` (or `NAME:host-gateway`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraHost {
    pub name: String,
    pub address: HostAddress,
}

impl FromStr for ExtraHost {
    type Err = NetworkError;

    /// docker's checks and messages. The name ends at the first colon, so
    /// an IPv6 address needs no brackets (docker 20.10 syntax; `NAME=IP` is
    /// accepted too, as newer docker allows).
    fn from_str(s: &str) -> Result<ExtraHost, NetworkError> {
        let (name, addr) = s
            .split_once('=')
            .or_else(|| s.split_once(':'))
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| NetworkError::invalid(format!("bad format for add-host: {s:?}")))?;
        let address = if addr == "host-gateway" {
            HostAddress::HostGateway
        } else {
            let bare = addr
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .unwrap_or(addr);
            HostAddress::Ip(bare.parse().map_err(|_| {
                NetworkError::invalid(format!("invalid IP address in add-host: {addr:?}"))
            })?)
        };
        Ok(ExtraHost {
            name: name.to_string(),
            address,
        })
    }
}

/// What a container's /etc/hosts says.
#[derive(Debug, Clone, Default)]
pub struct HostsEntries<'a> {
    /// `--add-host`, `host-gateway` already resolved.
    pub extra: Vec<(&'a str, IpAddr)>,
    /// The container's own addresses on its networks.
    pub addresses: Vec<IpAddr>,
    pub hostname: &'a str,
    pub domainname: &'a str,
}

/// docker's /etc/hosts: the loopback and IPv6 names, the `--add-host`
/// entries, then the container's own name on each of its addresses.
pub fn hosts_file(e: &HostsEntries<'_>) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, ip) in &e.extra {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    let names = if e.domainname.is_empty() {
        e.hostname.to_string()
    } else {
        format!("{}.{} {}", e.hostname, e.domainname, e.hostname)
    };
    for ip in &e.addresses {
        out.push_str(&format!("{ip}\t{names}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "# host\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver fd00::53\nsearch corp.example\noptions edns0\n";

    #[test]
    fn default_bridge_drops_loopback_servers() {
        let rc = resolv_conf(HOST, &DnsOptions::default(), false, false);
        assert_eq!(
            rc.content,
            "# host\nnameserver 10.255.255.53\nsearch corp.example\noptions edns0\n"
        );
        assert!(rc.upstreams.is_empty());
        let rc = resolv_conf(HOST, &DnsOptions::default(), false, true);
        assert!(rc.content.contains("nameserver fd00::53\n"));
        let rc = resolv_conf(
            "nameserver 127.0.0.53\n",
            &DnsOptions::default(),
            false,
            false,
        );
        assert_eq!(rc.content, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }

    #[test]
    fn user_options_replace_their_kind() {
        let user = DnsOptions {
            servers: vec!["10.213.0.1".parse().unwrap()],
            search: vec![],
            options: vec!["ndots:2".into()],
        };
        let rc = resolv_conf(HOST, &user, false, false);
        assert_eq!(
            rc.content,
            "search corp.example\nnameserver 10.213.0.1\noptions ndots:2\n"
        );
        let user = DnsOptions {
            search: vec![".".into()],
            ..DnsOptions::default()
        };
        let rc = resolv_conf(HOST, &user, false, false);
        assert_eq!(rc.content, "nameserver 10.255.255.53\noptions edns0\n");
    }

    #[test]
    fn embedded_server_for_user_networks() {
        let rc = resolv_conf(HOST, &DnsOptions::default(), true, false);
        assert_eq!(
            rc.content,
            "search corp.example\nnameserver 127.0.0.11\noptions edns0 ndots:0\n"
        );
        assert_eq!(rc.upstreams.len(), 3);
        assert_eq!(rc.upstreams[0], "127.0.0.53:53".parse().unwrap());
        let user = DnsOptions {
            servers: vec!["10.213.0.1".parse().unwrap()],
            options: vec!["ndots:3".into()],
            ..DnsOptions::default()
        };
        let rc = resolv_conf(HOST, &user, true, false);
        assert_eq!(
            rc.content,
            "search corp.example\nnameserver 127.0.0.11\noptions ndots:3\n"
        );
        assert_eq!(rc.upstreams, ["10.213.0.1:53".parse().unwrap()]);
        assert!(uses_systemd_stub("nameserver 127.0.0.53\noptions edns0\n"));
        assert!(!uses_systemd_stub(HOST));
    }

    #[test]
    fn add_host_forms() {
        let h: ExtraHost = "db:10.213.0.9".parse().unwrap();
        assert_eq!(h.address, HostAddress::Ip("10.213.0.9".parse().unwrap()));
        let h: ExtraHost = "v6:fd00::1".parse().unwrap();
        assert_eq!(h.address, HostAddress::Ip("fd00::1".parse().unwrap()));
        let h: ExtraHost = "gw:host-gateway".parse().unwrap();
        assert_eq!(h.address, HostAddress::HostGateway);
        assert_eq!(
            "nocolon".parse::<ExtraHost>().unwrap_err().to_string(),
            "bad format for add-host: \"nocolon\""
        );
        assert_eq!(
            "a:b".parse::<ExtraHost>().unwrap_err().to_string(),
            "invalid IP address in add-host: \"b\""
        );
    }

    #[test]
    fn hosts_like_docker() {
        let text = hosts_file(&HostsEntries {
            extra: vec![("db", "10.213.0.9".parse().unwrap())],
            addresses: vec!["10.213.0.2".parse().unwrap()],
            hostname: "web",
            domainname: "example.org",
        });
        assert!(
            text.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        );
        assert!(
            text.ends_with("10.213.0.9\tdb\n10.213.0.2\tweb.example.org web\n"),
            "{text}"
        );
    }
}
