//! Where `berth serve` listens: `-H` addresses, the unix socket with its
//! permissions, TCP with TLS and client certificates.

mod tls;
mod unix;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

pub(crate) use tls::acceptor;
pub use tls::TlsFiles;
pub(crate) use unix::bind_unix;

use crate::error::ApiError;

/// The default `-H`, docker's `/var/run/docker.sock` in berth's place.
pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";

/// One `-H` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Host {
    /// Whether a TCP address is reachable only from this machine.
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Unix(_) => true,
            Host::Tcp(addr) => addr.ip().is_loopback(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

impl FromStr for Host {
    type Err = ApiError;

    /// `unix:///path`, `tcp://ADDR:PORT` (`tcp://:PORT` for every address,
    /// port 2375 when left out), as dockerd's `-H` takes them; names other
    /// than `localhost` are refused rather than resolved.
    fn from_str(s: &str) -> Result<Host, ApiError> {
        let bad = |why: &str| ApiError::Setup(format!("invalid -H {s:?}: {why}"));
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Ok(Host::Unix(PathBuf::from(DEFAULT_SOCKET)));
            }
            if !path.starts_with('/') {
                return Err(bad("the socket path must be absolute"));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        let Some(rest) = s.strip_prefix("tcp://") else {
            return Err(bad("expected unix:///PATH or tcp://ADDR:PORT"));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') || h.starts_with('[') => (h, p),
            _ => (rest, ""),
        };
        let port: u16 = if port.is_empty() {
            2375
        } else {
            port.parse().map_err(|_| bad("the port is not a number"))?
        };
        let ip: IpAddr = match host.trim_start_matches('[').trim_end_matches(']') {
            "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            h => h
                .parse()
                .map_err(|_| bad("the address must be an IP address or localhost"))?,
        };
        Ok(Host::Tcp(SocketAddr::new(ip, port)))
    }
}

/// The TLS settings of `berth serve`, as dockerd's flags give them.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// `--tls`: serve TCP over TLS.
    pub tls: bool,
    /// `--tlsverify`: TLS, and clients must show a certificate signed by
    /// `--tlscacert`.
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsSettings {
    /// The files TLS needs, when TLS is asked for.
    pub(crate) fn files(&self) -> Result<Option<TlsFiles>, ApiError> {
        if !self.tls && !self.verify {
            return Ok(None);
        }
        let need = |p: &Option<PathBuf>, flag: &str| {
            p.clone()
                .ok_or_else(|| ApiError::Setup(format!("TLS needs {flag}")))
        };
        Ok(Some(TlsFiles {
            cert: need(&self.cert, "--tlscert")?,
            key: need(&self.key, "--tlskey")?,
            client_ca: if self.verify {
                Some(need(&self.ca, "--tlscacert")?)
            } else {
                None
            },
        }))
    }
}

/// Refuses a TCP address off loopback that would let clients in without a
/// certificate: the API is root on this machine.
pub(crate) fn check_exposure(host: &Host, tls: Option<&TlsFiles>) -> Result<(), ApiError> {
    if host.is_loopback() || tls.is_some_and(|t| t.client_ca.is_some()) {
        return Ok(());
    }
    Err(ApiError::Setup(format!(
        "refusing to listen on {host} without client certificates: anyone who can reach it would be root on this machine; use --tlsverify with --tlscacert, --tlscert and --tlskey, or a loopback address"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_dockerd_takes_them() {
        let h = |s: &str| s.parse::<Host>();
        assert_eq!(
            h("unix:///tmp/x.sock").unwrap(),
            Host::Unix("/tmp/x.sock".into())
        );
        assert_eq!(h("unix://").unwrap(), Host::Unix(DEFAULT_SOCKET.into()));
        assert_eq!(
            h("tcp://127.0.0.1:2376").unwrap(),
            Host::Tcp("127.0.0.1:2376".parse().unwrap())
        );
        assert_eq!(
            h("tcp://:2376").unwrap(),
            Host::Tcp("0.0.0.0:2376".parse().unwrap())
        );
        assert_eq!(
            h("tcp://localhost").unwrap(),
            Host::Tcp("127.0.0.1:2375".parse().unwrap())
        );
        assert_eq!(
            h("tcp://[::1]:5000").unwrap(),
            Host::Tcp("[::1]:5000".parse().unwrap())
        );
        assert!(h("unix://relative").is_err());
        assert!(h("tcp://example.com:1").is_err());
        assert!(h("fd://").is_err());
        assert!(h("tcp://1.2.3.4:x").is_err());
    }

    #[test]
    fn only_loopback_goes_without_client_certificates() {
        let local: Host = "tcp://127.0.0.1:1".parse().unwrap();
        let all: Host = "tcp://0.0.0.0:1".parse().unwrap();
        assert!(check_exposure(&local, None).is_ok());
        let e = check_exposure(&all, None).unwrap_err().to_string();
        assert!(e.contains("--tlsverify"), "{e}");
        let server_only = TlsFiles {
            cert: "c".into(),
            key: "k".into(),
            client_ca: None,
        };
        assert!(check_exposure(&all, Some(&server_only)).is_err());
        let verified = TlsFiles {
            client_ca: Some("ca".into()),
            ..server_only
        };
        assert!(check_exposure(&all, Some(&verified)).is_ok());
        let settings = TlsSettings {
            verify: true,
            cert: Some("c".into()),
            key: Some("k".into()),
            ..Default::default()
        };
        assert!(settings
            .files()
            .unwrap_err()
            .to_string()
            .contains("--tlscacert"));
    }
}
