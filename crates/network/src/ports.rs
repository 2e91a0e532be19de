//! Published ports: docker's `-p`/`--expose` syntax parsed into typed
//! values, and the host sockets that hold each published port for the
//! container's life.
//!
//! The traffic itself never passes through these sockets: the firewall
//! rewrites it to the container in the kernel. The sockets are bound but
//! never listen, so while a container runs no other process can take its
//! ports (and a connection that somehow misses the rewrite is refused, not
//! left hanging); when the monitor holding them dies, the kernel frees them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::str::FromStr;

use rustix::net::{AddressFamily, SocketFlags, SocketType};
use serde::{Deserialize, Serialize};

use crate::NetworkError;

/// A transport protocol a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = NetworkError;

    /// docker's `invalid proto: X`; the protocol is case-insensitive.
    fn from_str(s: &str) -> Result<Protocol, NetworkError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(NetworkError::invalid(format!("invalid proto: {s}"))),
        }
    }
}

/// An inclusive range of ports; a single port is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn single(port: u16) -> PortRange {
        PortRange {
            start: port,
            end: port,
        }
    }

    pub fn count(self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    pub fn is_single(self) -> bool {
        self.start == self.end
    }

    pub fn iter(self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// docker's port range syntax (`80`, `8000-8010`); `None` when malformed.
fn parse_range(s: &str) -> Option<PortRange> {
    let (start, end) = match s.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p = s.parse().ok()?;
            (p, p)
        }
    };
    (start <= end).then_some(PortRange { start, end })
}

/// A port a container listens on, as `EXPOSE`, `--expose` and the keys of
/// `ExposedPorts` name it (`80/tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContainerPort {
    pub port: u16,
    pub protocol: Protocol,
}

impl fmt::Display for ContainerPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

impl FromStr for ContainerPort {
    type Err = NetworkError;

    /// One port with an optional protocol, as an image config's
    /// `ExposedPorts` keys are written.
    fn from_str(s: &str) -> Result<ContainerPort, NetworkError> {
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let protocol = proto.parse()?;
        match port.parse::<u16>() {
            Ok(port) if port != 0 => Ok(ContainerPort { port, protocol }),
            _ => Err(NetworkError::invalid(format!("invalid port: {s}"))),
        }
    }
}

/// `--expose PORT[-END][/PROTO]`: the ports it names, in order.
pub fn parse_expose(spec: &str) -> Result<Vec<ContainerPort>, NetworkError> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let protocol: Protocol = proto.parse()?;
    let range = parse_range(ports).filter(|r| r.start != 0).ok_or_else(|| {
        NetworkError::invalid(format!(
            "invalid range format for --expose: {spec}, error: invalid range specified for port: {ports}"
        ))
    })?;
    Ok(range
        .iter()
        .map(|port| ContainerPort { port, protocol })
        .collect())
}

/// One container port published on the host, as `-p` says it: on which
/// host address (`None`: every address) and which host port (`None`: one
/// the kernel picks; a range of several: the first free one in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub container: ContainerPort,
    pub host_ip: Option<IpAddr>,
    pub host_ports: Option<PortRange>,
}

/// `-p [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`, ranges included, checked as
/// docker checks it (and with its messages). A range of container ports
/// gives one mapping per port.
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, NetworkError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let n = parts.len();
    let (ip, host, container) = match n {
        1 => ("".to_string(), "", parts[0]),
        2 => ("".to_string(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (container, proto) = match container.split_once('/') {
        Some((port, proto)) => (port, if proto.is_empty() { "tcp" } else { proto }),
        None => (container, "tcp"),
    };
    if container.is_empty() {
        return Err(NetworkError::invalid(format!(
            "no port specified: {spec}<empty>"
        )));
    }
    let protocol: Protocol = proto.parse()?;
    let host_ip = parse_host_ip(&ip)?;
    let container_range = parse_range(container)
        .filter(|r| r.start != 0)
        .ok_or_else(|| NetworkError::invalid(format!("invalid containerPort: {container}")))?;
    let host_range = if host.is_empty() {
        None
    } else {
        let range = parse_range(host)
            .ok_or_else(|| NetworkError::invalid(format!("invalid hostPort: {host}")))?;
        if range.count() != container_range.count() && !container_range.is_single() {
            return Err(NetworkError::invalid(format!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            )));
        }
        Some(range)
    };
    Ok(container_range
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let host_ports = host_range.map(|r| {
                if container_range.is_single() {
                    r
                } else {
                    PortRange::single(r.start + i as u16)
                }
            });
            PortMapping {
                container: ContainerPort { port, protocol },
                host_ip,
                // Port 0 is docker's spelling of "any port".
                host_ports: host_ports.filter(|r| *r != PortRange::single(0)),
            }
        })
        .collect())
}

fn parse_host_ip(ip: &str) -> Result<Option<IpAddr>, NetworkError> {
    if ip.is_empty() {
        return Ok(None);
    }
    let bare = ip
        .strip_prefix('[')
        .map(|rest| {
            rest.strip_suffix(']').ok_or_else(|| {
                NetworkError::invalid(format!("invalid IP address {ip}: missing ']' in address"))
            })
        })
        .transpose()?
        .unwrap_or(ip);
    let addr: IpAddr = bare
        .parse()
        .map_err(|_| NetworkError::invalid(format!("invalid IP address: {bare}")))?;
    // docker treats the unspecified address as "every address".
    Ok((!addr.is_unspecified() || addr.is_ipv6()).then_some(addr))
}

/// `-P`: every exposed port on a host port the kernel picks.
pub fn publish_all(exposed: &[ContainerPort]) -> Vec<PortMapping> {
    exposed
        .iter()
        .map(|&container| PortMapping {
            container,
            host_ip: None,
            host_ports: None,
        })
        .collect()
}

/// A port as it is published while the container runs: the host side has
/// a real port number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublishedPort {
    pub container: ContainerPort,
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
}

impl PublishedPort {
    /// The host address as docker shows it (`0.0.0.0` for every address).
    pub fn host_ip_text(&self) -> String {
        match self.host_ip {
            Some(ip) => ip.to_string(),
            None => Ipv4Addr::UNSPECIFIED.to_string(),
        }
    }
}

/// A published port and the socket that keeps it ours.
#[derive(Debug)]
pub struct HeldPort {
    pub port: PublishedPort,
    _socket: Option<OwnedFd>,
}

/// Binds a socket for every mapping (the first free port of a host range,
/// a kernel-chosen one when none is given), all or nothing: on an error the
/// sockets bound so far are closed with the returned vector.
pub fn hold_ports(mappings: &[PortMapping]) -> Result<Vec<HeldPort>, NetworkError> {
    let mut held: Vec<HeldPort> = Vec::with_capacity(mappings.len());
    for m in mappings {
        let proto = m.container.protocol;
        let hold = match m.host_ports {
            None => hold_one(proto, m.host_ip, 0)?,
            Some(range) if range.is_single() => hold_one(proto, m.host_ip, range.start)?,
            Some(range) => range
                .iter()
                // A port held for an earlier mapping of this container is
                // taken too, whatever the kernel would say for SO_REUSEADDR.
                .filter(|p| {
                    !held
                        .iter()
                        .any(|h| h.port.host_port == *p && h.port.container.protocol == proto)
                })
                .find_map(|p| hold_one(proto, m.host_ip, p).ok())
                .ok_or(NetworkError::NoFreePort {
                    proto,
                    start: range.start,
                    end: range.end,
                })?,
        };
        held.push(HeldPort {
            port: PublishedPort {
                container: m.container,
                host_ip: m.host_ip,
                host_port: hold.1,
            },
            _socket: hold.0,
        });
    }
    Ok(held)
}

/// Binds one socket; returns it and the port it got.
fn hold_one(
    proto: Protocol,
    ip: Option<IpAddr>,
    port: u16,
) -> Result<(Option<OwnedFd>, u16), NetworkError> {
    let addr = SocketAddr::new(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), port);
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let (kind, protocol) = match proto {
        Protocol::Tcp => (SocketType::STREAM, None),
        Protocol::Udp => (SocketType::DGRAM, None),
        Protocol::Sctp => (SocketType::STREAM, Some(rustix::net::ipproto::SCTP)),
    };
    let fd = match rustix::net::socket_with(family, kind, SocketFlags::CLOEXEC, protocol) {
        Ok(fd) => fd,
        // Without the kernel's SCTP module nothing else can bind an SCTP
        // port either; the firewall still forwards it.
        Err(rustix::io::Errno::PROTONOSUPPORT) if proto == Protocol::Sctp && port != 0 => {
            return Ok((None, port))
        }
        Err(e) => {
            return Err(NetworkError::os(
                format!("socket for {addr}/{proto}"),
                e.into(),
            ))
        }
    };
    if addr.is_ipv6() {
        // `[::]:P` holds the IPv6 side only, as the firewall forwards each
        // family on its own.
        rustix::net::sockopt::set_ipv6_v6only(&fd, true)
            .map_err(|e| NetworkError::os(format!("IPV6_V6ONLY on {addr}"), e.into()))?;
    }
    match rustix::net::bind(&fd, &addr) {
        Ok(()) => {}
        Err(rustix::io::Errno::ADDRINUSE) => {
            return Err(NetworkError::AddressInUse { proto, ip, port })
        }
        Err(e) => return Err(NetworkError::os(format!("bind {addr}/{proto}"), e.into())),
    }
    let got = match rustix::net::getsockname(&fd)
        .map_err(|e| NetworkError::os(format!("getsockname {addr}"), e.into()))?
        .try_into()
    {
        Ok(SocketAddr::V4(a)) => a.port(),
        Ok(SocketAddr::V6(a)) => a.port(),
        Err(_) => port,
    };
    Ok((Some(fd), got))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortMapping {
        let mut v = parse_publish(spec).unwrap();
        assert_eq!(v.len(), 1, "{spec}");
        v.remove(0)
    }

    fn err(spec: &str) -> String {
        parse_publish(spec).unwrap_err().to_string()
    }

    #[test]
    fn publish_forms() {
        let m = one("80");
        assert_eq!(
            m.container,
            ContainerPort {
                port: 80,
                protocol: Protocol::Tcp
            }
        );
        assert_eq!((m.host_ip, m.host_ports), (None, None));
        let m = one("8080:80/udp");
        assert_eq!(m.container.protocol, Protocol::Udp);
        assert_eq!(m.host_ports, Some(PortRange::single(8080)));
        let m = one("127.0.0.1:8080:80");
        assert_eq!(m.host_ip, Some("127.0.0.1".parse().unwrap()));
        let m = one("127.0.0.1::80/SCTP");
        assert_eq!((m.host_ports, m.container.protocol), (None, Protocol::Sctp));
        let m = one("[::1]:8080:80");
        assert_eq!(m.host_ip, Some("::1".parse().unwrap()));
        let m = one("::1:8080:80");
        assert_eq!(m.host_ip, Some("::1".parse().unwrap()));
        assert_eq!(one("0.0.0.0:8080:80").host_ip, None);
        assert_eq!(one("0:80").host_ports, None);
    }

    #[test]
    fn publish_ranges() {
        let v = parse_publish("8000-8002:80-82").unwrap();
        let pairs: Vec<_> = v
            .iter()
            .map(|m| (m.host_ports.unwrap().start, m.container.port))
            .collect();
        assert_eq!(pairs, [(8000, 80), (8001, 81), (8002, 82)]);
        // One container port, a host range: any free port in it.
        assert_eq!(
            one("8000-8010:80").host_ports,
            Some(PortRange {
                start: 8000,
                end: 8010
            })
        );
        assert_eq!(parse_publish("80-82").unwrap().len(), 3);
    }

    #[test]
    fn publish_errors_are_dockers() {
        assert_eq!(err("8080:"), "no port specified: 8080:<empty>");
        assert_eq!(err("8080:80/icmp"), "invalid proto: icmp");
        assert_eq!(err("1.2.3:8080:80"), "invalid IP address: 1.2.3");
        assert_eq!(err("abc"), "invalid containerPort: abc");
        assert_eq!(err("70000"), "invalid containerPort: 70000");
        assert_eq!(err("x:80"), "invalid hostPort: x");
        assert_eq!(err("90-80:80"), "invalid hostPort: 90-80");
        assert_eq!(
            err("8000-8001:80-82"),
            "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"
        );
    }

    #[test]
    fn expose_forms() {
        assert_eq!(
            parse_expose("80").unwrap(),
            [ContainerPort {
                port: 80,
                protocol: Protocol::Tcp
            }]
        );
        assert_eq!(parse_expose("7000-7002/udp").unwrap().len(), 3);
        assert_eq!(
            parse_expose("x").unwrap_err().to_string(),
            "invalid range format for --expose: x, error: invalid range specified for port: x"
        );
        assert_eq!(
            "53/udp".parse::<ContainerPort>().unwrap().to_string(),
            "53/udp"
        );
        assert_eq!("80".parse::<ContainerPort>().unwrap().to_string(), "80/tcp");
    }

    #[test]
    fn held_ports_keep_others_out() {
        let held = hold_ports(&[PortMapping {
            container: ContainerPort {
                port: 80,
                protocol: Protocol::Tcp,
            },
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_ports: None,
        }])
        .unwrap();
        let port = held[0].port.host_port;
        assert_ne!(port, 0);
        let e = hold_ports(&[PortMapping {
            container: ContainerPort {
                port: 81,
                protocol: Protocol::Tcp,
            },
            host_ip: None,
            host_ports: Some(PortRange::single(port)),
        }])
        .unwrap_err();
        assert!(
            matches!(e, NetworkError::AddressInUse { port: p, .. } if p == port),
            "{e}"
        );
        // A host range skips the taken port.
        let next = hold_ports(&[PortMapping {
            container: ContainerPort {
                port: 81,
                protocol: Protocol::Tcp,
            },
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_ports: Some(PortRange {
                start: port,
                end: port.saturating_add(20),
            }),
        }])
        .unwrap();
        assert_ne!(next[0].port.host_port, port);
        drop(held);
        // Closed with its holder: the port is free again.
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
