use std::cmp::Ordering;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "CONTAINER")]
    container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    port: Option<String>,
}

/// `host:port` as Go's `net.JoinHostPort` writes it (IPv6 in brackets).
fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The published ports in `inspect`'s `NetworkSettings.Ports` shape
/// (`"80/tcp": [{"HostIp": .., "HostPort": ..}]`, like docker's port
/// command reads them): container port to host addresses. Networks `none`
/// and `host` publish nothing, so today every container has none.
fn published(inspect: &Value) -> Vec<(String, String)> {
    let Some(ports) = inspect["NetworkSettings"]["Ports"].as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (private, bindings) in ports {
        for b in bindings.as_array().into_iter().flatten() {
            let ip = b["HostIp"].as_str().unwrap_or_default();
            let port = b["HostPort"].as_str().unwrap_or_default();
            out.push((private.clone(), join_host_port(ip, port)));
        }
    }
    out
}

/// The lines to print: every mapping, or the host addresses of one port.
fn lines(container: &str, inspect: &Value, port: Option<&str>) -> Result<Vec<String>> {
    let ports = published(inspect);
    let mut out: Vec<String> = match port {
        None => ports
            .iter()
            .map(|(private, host)| format!("{private} -> {host}"))
            .collect(),
        Some(spec) => {
            let (number, proto) = match spec.split_once('/') {
                Some((n, p)) if !p.is_empty() => (n, p),
                Some((n, _)) => (n, "tcp"),
                None => (spec, "tcp"),
            };
            number
                .parse::<u16>()
                .with_context(|| format!("invalid port ({number})"))?;
            let key = format!("{number}/{proto}");
            let hosts: Vec<String> = ports
                .into_iter()
                .filter(|(private, _)| *private == key)
                .map(|(_, host)| host)
                .collect();
            if hosts.is_empty() {
                anyhow::bail!("No public port '{key}' published for {container}");
            }
            hosts
        }
    };
    out.sort_by(|a, b| natural_cmp(a, b));
    Ok(out)
}

/// Natural order, as docker sorts these lines: runs of digits compare as
/// numbers, so `8080/tcp` comes after `443/tcp`.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(ca), Some(cb)) = (a.chars().next(), b.chars().next()) else {
            return a.len().cmp(&b.len());
        };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (na, nb) = (
                a[..da].trim_start_matches('0'),
                b[..db].trim_start_matches('0'),
            );
            let order = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if order != Ordering::Equal {
                return order;
            }
            (a, b) = (&a[da..], &b[db..]);
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            (a, b) = (&a[ca.len_utf8()..], &b[cb.len_utf8()..]);
        }
    }
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let inspect = engine.inspect_container(&a.container)?;
    for line in lines(&a.container, &inspect, a.port.as_deref())? {
        println!("{line}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inspect() -> Value {
        json!({"NetworkSettings": {"Ports": {
            "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9443"}],
            "53/udp": null,
        }}})
    }

    #[test]
    fn lists_every_mapping_in_natural_order() {
        assert_eq!(
            lines("web", &inspect(), None).unwrap(),
            [
                "443/tcp -> 127.0.0.1:9443",
                "8080/tcp -> 0.0.0.0:8080",
                "8080/tcp -> [::]:8080",
            ]
        );
        assert!(lines("web", &json!({}), None).unwrap().is_empty());
    }

    #[test]
    fn one_port_gives_its_host_addresses_or_dockers_error() {
        assert_eq!(
            lines("web", &inspect(), Some("443")).unwrap(),
            ["127.0.0.1:9443"]
        );
        assert_eq!(
            lines("web", &inspect(), Some("8080/tcp")).unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            lines("web", &inspect(), Some("53/udp"))
                .unwrap_err()
                .to_string(),
            "No public port '53/udp' published for web"
        );
        assert_eq!(
            lines("web", &json!({}), Some("80"))
                .unwrap_err()
                .to_string(),
            "No public port '80/tcp' published for web"
        );
        assert_eq!(
            lines("web", &json!({}), Some("http"))
                .unwrap_err()
                .to_string(),
            "invalid port (http)"
        );
    }

    #[test]
    fn natural_order_compares_numbers_by_value() {
        assert_eq!(natural_cmp("9/tcp", "10/tcp"), Ordering::Less);
        assert_eq!(natural_cmp("080", "80"), Ordering::Equal);
        assert_eq!(natural_cmp("a1", "a1b"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a"), Ordering::Greater);
    }
}
