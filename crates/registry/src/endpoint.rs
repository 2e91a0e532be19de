//! How a registry name (as it appears in an image reference) maps to the
//! host the API lives on, the key its credentials are stored under, and
//! whether it may be reached without verified TLS.

use std::net::IpAddr;

use crate::RegistryError;

/// Docker Hub's name in references.
const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API is actually served.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The key docker stores Docker Hub credentials under in config.json.
pub(crate) const DOCKER_HUB_CREDENTIALS: &str = "https://index.docker.io/v1/";

/// Folds Docker Hub's spellings together so `docker.io`, `index.docker.io`
/// and the v1 URL all find the same credentials.
pub(crate) fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// The host[:port] to send API requests to.
pub(crate) fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB || registry == "index.docker.io" {
        DOCKER_HUB_API
    } else {
        registry
    }
}

/// The server address docker uses for the registry in config.json and
/// with credential helpers.
pub(crate) fn credential_key(registry: &str) -> String {
    if is_docker_hub(registry) {
        DOCKER_HUB_CREDENTIALS.to_string()
    } else {
        registry.to_string()
    }
}

/// Reduces a config.json key ("https://host/v1/", "host") to the registry
/// host it is for, as docker's `ConvertToHostname` does.
pub(crate) fn normalize_key(key: &str) -> String {
    let host = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = host.split('/').next().unwrap_or(host);
    if is_docker_hub(host) {
        DOCKER_HUB.to_string()
    } else {
        host.to_string()
    }
}

/// Rejects names that would change the meaning of a URL built from them.
pub(crate) fn validate_registry(registry: &str) -> Result<(), RegistryError> {
    let ok = !registry.is_empty()
        && registry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidName {
            kind: "registry",
            value: registry.to_string(),
            detail: "expected host[:port]".into(),
        })
    }
}

/// The host part of host[:port], without IPv6 brackets.
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => registry,
    }
}

/// Loopback registries are always plain HTTP, as with docker.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = host_of(registry);
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One `insecure-registries` entry: a name (host or host:port) or a CIDR
/// range, as docker's daemon.json accepts.
#[derive(Debug, Clone)]
pub(crate) enum InsecureEntry {
    Name(String),
    Cidr(IpAddr, u8),
}

impl InsecureEntry {
    pub(crate) fn parse(entry: &str) -> Result<InsecureEntry, RegistryError> {
        let entry = entry
            .strip_prefix("http://")
            .or_else(|| entry.strip_prefix("https://"))
            .unwrap_or(entry);
        let entry = entry.trim_end_matches('/');
        let invalid = |detail: &str| RegistryError::InvalidName {
            kind: "insecure registry",
            value: entry.to_string(),
            detail: detail.to_string(),
        };
        let Some((addr, bits)) = entry.split_once('/') else {
            validate_registry(entry)
                .map_err(|_| invalid("expected host[:port] or a CIDR range"))?;
            return Ok(InsecureEntry::Name(entry.to_string()));
        };
        let ip: IpAddr = addr.parse().map_err(|_| invalid("bad CIDR address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match bits.parse::<u8>() {
            Ok(bits) if bits <= max => Ok(InsecureEntry::Cidr(ip, bits)),
            _ => Err(invalid("bad CIDR prefix length")),
        }
    }

    pub(crate) fn matches(&self, registry: &str) -> bool {
        let host = host_of(registry);
        match self {
            InsecureEntry::Name(name) => name == registry || name == host,
            InsecureEntry::Cidr(net, bits) => match (host.parse::<IpAddr>(), net) {
                (Ok(IpAddr::V4(ip)), IpAddr::V4(net)) => {
                    prefix_eq(&ip.octets(), &net.octets(), *bits)
                }
                (Ok(IpAddr::V6(ip)), IpAddr::V6(net)) => {
                    prefix_eq(&ip.octets(), &net.octets(), *bits)
                }
                _ => false,
            },
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_maps_to_its_api_host_and_v1_credentials_key() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("quay.io"), "quay.io");
        assert_eq!(credential_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(credential_key("localhost:5000"), "localhost:5000");
        assert_eq!(normalize_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(
            normalize_key("http://reg.example:5000/v2/"),
            "reg.example:5000"
        );
    }

    #[test]
    fn loopback_registries_are_recognised() {
        for r in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:80",
            "127.3.4.5",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[fe80::1]:5000",
        ] {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn insecure_entries_match_names_hosts_and_cidrs() {
        let name = InsecureEntry::parse("reg.example:5000").unwrap();
        assert!(name.matches("reg.example:5000"));
        assert!(!name.matches("reg.example:5001"));
        let host = InsecureEntry::parse("http://reg.example").unwrap();
        assert!(host.matches("reg.example:5001"));
        let cidr = InsecureEntry::parse("10.1.0.0/16").unwrap();
        assert!(cidr.matches("10.1.200.3:5000"));
        assert!(!cidr.matches("10.2.0.1"));
        let odd = InsecureEntry::parse("192.168.1.128/25").unwrap();
        assert!(odd.matches("192.168.1.200"));
        assert!(!odd.matches("192.168.1.100"));
        let v6 = InsecureEntry::parse("fd00::/8").unwrap();
        assert!(v6.matches("[fd12::1]:5000"));
        assert!(InsecureEntry::parse("10.0.0.0/33").is_err());
        assert!(InsecureEntry::parse("bad host").is_err());
    }
}
