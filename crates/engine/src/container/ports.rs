//! A container's ports as `ps`'s PORTS column and the API's container
//! list show them (docker's CLI's folding rules). Kept under container/ so
//! listing and filtering need nothing from network/.

use berth_network::ports::Protocol;

/// A port of a container as `ps` and the API's container list show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSummary {
    pub private_port: u16,
    pub protocol: Protocol,
    /// The host side when published.
    pub public: Option<(String, u16)>,
}

/// docker's PORTS column (its CLI's rules): ports sorted by container port,
/// protocol, address; unpublished ones, and ones published on the same
/// port number, folded into ranges first (`80-82/tcp`,
/// `0.0.0.0:80-81->80-81/tcp`), then the other published ones one by one
/// (`0.0.0.0:8080->80/tcp`).
pub fn ports_text(ports: &[PortSummary]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort_by(|a, b| {
        let key = |p: &PortSummary| {
            (
                p.private_port,
                p.protocol,
                p.public.as_ref().map(|h| h.0.clone()),
                p.public.as_ref().map(|h| h.1),
            )
        };
        key(a).cmp(&key(b))
    });
    // (address or none, protocol) -> (first, last) of the current run.
    type Group = (Option<String>, Protocol);
    let mut groups: Vec<(Group, (u16, u16))> = Vec::new();
    let mut done: Vec<String> = Vec::new();
    let mut mappings: Vec<String> = Vec::new();
    let form = |key: &Group, (first, last): (u16, u16)| {
        let range = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        };
        match &key.0 {
            Some(ip) => format!("{}:{range}->{range}/{}", host(ip), key.1),
            None => format!("{range}/{}", key.1),
        }
    };
    for p in sorted {
        let key = match &p.public {
            Some((ip, port)) if *port != p.private_port => {
                mappings.push(format!(
                    "{}:{port}->{}/{}",
                    host(ip),
                    p.private_port,
                    p.protocol
                ));
                continue;
            }
            Some((ip, _)) => (Some(ip.clone()), p.protocol),
            None => (None, p.protocol),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, (_, last))) if *last + 1 == p.private_port => *last = p.private_port,
            Some((k, run)) => {
                done.push(form(k, *run));
                *run = (p.private_port, p.private_port);
            }
            None => groups.push((key, (p.private_port, p.private_port))),
        }
    }
    done.extend(groups.iter().map(|(k, run)| form(k, *run)));
    done.extend(mappings);
    done.join(", ")
}

/// An address as a host part of `host:port` (IPv6 in brackets).
fn host(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(private: u16, public: Option<(&str, u16)>) -> PortSummary {
        PortSummary {
            private_port: private,
            protocol: Protocol::Tcp,
            public: public.map(|(ip, port)| (ip.to_string(), port)),
        }
    }

    #[test]
    fn ps_ports_column() {
        assert_eq!(
            ports_text(&[p(80, Some(("0.0.0.0", 8080)))]),
            "0.0.0.0:8080->80/tcp"
        );
        assert_eq!(
            ports_text(&[
                p(81, Some(("0.0.0.0", 8001))),
                p(80, Some(("0.0.0.0", 8000))),
                p(443, None)
            ]),
            "443/tcp, 0.0.0.0:8000->80/tcp, 0.0.0.0:8001->81/tcp"
        );
        assert_eq!(ports_text(&[p(53, Some(("::1", 53)))]), "[::1]:53->53/tcp");
        assert_eq!(
            ports_text(&[
                p(80, Some(("0.0.0.0", 80))),
                p(81, Some(("0.0.0.0", 81))),
                p(90, None),
                p(91, None)
            ]),
            "0.0.0.0:80-81->80-81/tcp, 90-91/tcp"
        );
        assert_eq!(ports_text(&[]), "");
    }
}
