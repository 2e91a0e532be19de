use std::net::IpAddr;
use std::path::PathBuf;

use crate::ports::Protocol;

/// What kind of failure a [`NetworkError`] is, for the front ends' one
/// table of exit codes and HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input is malformed (a flag, a config value).
    Invalid,
    /// The request clashes with the state of the host or of other
    /// containers (a taken port or address, an exhausted pool).
    Conflict,
    /// Something named does not exist.
    NotFound,
    /// The kernel or a tool failed.
    Internal,
}

/// Everything that can go wrong while setting up or tearing down a
/// container's network.
///
/// Messages are lower-case and say what failed on what, except where
/// docker's wording is kept because scripts match on it.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A flag or option is malformed; the text is docker's where docker has
    /// one (`invalid containerPort: x`, `invalid proto: x`, ...).
    #[error("{0}")]
    Invalid(String),
    /// docker's wording for a host port another container holds.
    #[error("Bind for {}:{port} failed: port is already allocated", display_ip(.ip))]
    PortAllocated { ip: Option<IpAddr>, port: u16 },
    /// docker's wording for a host port some process on the host holds.
    #[error("listen {}{} {}:{port}: bind: address already in use", .proto, family(.ip), display_ip(.ip))]
    AddressInUse {
        proto: Protocol,
        ip: Option<IpAddr>,
        port: u16,
    },
    /// No host port of a range could be bound.
    #[error("no free host port in {start}-{end}/{proto}")]
    NoFreePort {
        proto: Protocol,
        start: u16,
        end: u16,
    },
    /// docker's wording when every default pool overlaps something.
    #[error("could not find an available, non-overlapping IPv{0} address pool among the defaults to assign to the network")]
    PoolsExhausted(u8),
    /// docker's wording for a full subnet.
    #[error("no available IPv{family} addresses on this network's address pools: {network}")]
    SubnetFull { family: u8, network: String },
    /// docker's wording for a `--ip` another container has.
    #[error("Address already in use")]
    AddressTaken(IpAddr),
    /// A netlink request failed; `what` names the request and its object.
    #[error("{what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// `nft` failed or could not run; `detail` is its own message.
    #[error("firewall: {detail}")]
    Firewall { detail: String },
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A socket or thread operation failed.
    #[error("{what}: {source}")]
    Os {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn display_ip(ip: &Option<IpAddr>) -> String {
    match ip {
        None => "0.0.0.0".to_string(),
        Some(IpAddr::V6(v6)) => format!("[{v6}]"),
        Some(ip) => ip.to_string(),
    }
}

fn family(ip: &Option<IpAddr>) -> &'static str {
    match ip {
        Some(IpAddr::V6(_)) => "6",
        _ => "4",
    }
}

impl NetworkError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::Invalid(_) => ErrorKind::Invalid,
            NetworkError::PortAllocated { .. }
            | NetworkError::AddressInUse { .. }
            | NetworkError::NoFreePort { .. }
            | NetworkError::PoolsExhausted(_)
            | NetworkError::SubnetFull { .. }
            | NetworkError::AddressTaken(_) => ErrorKind::Conflict,
            NetworkError::Netlink { source, .. } | NetworkError::Os { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorKind::NotFound
            }
            NetworkError::Netlink { .. }
            | NetworkError::Firewall { .. }
            | NetworkError::Io { .. }
            | NetworkError::Os { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn invalid(text: impl Into<String>) -> NetworkError {
        NetworkError::Invalid(text.into())
    }

    pub(crate) fn os(what: impl Into<String>, source: std::io::Error) -> NetworkError {
        NetworkError::Os {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn netlink(what: impl Into<String>, source: std::io::Error) -> NetworkError {
        NetworkError::Netlink {
            what: what.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_wording_for_taken_ports() {
        let e = NetworkError::PortAllocated {
            ip: None,
            port: 8080,
        };
        assert_eq!(
            e.to_string(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        let e = NetworkError::AddressInUse {
            proto: Protocol::Tcp,
            ip: Some("127.0.0.1".parse().unwrap()),
            port: 80,
        };
        assert_eq!(
            e.to_string(),
            "listen tcp4 127.0.0.1:80: bind: address already in use"
        );
        assert_eq!(e.kind(), ErrorKind::Conflict);
    }
}
