//! The DNS server berth runs for each container on a user-defined network
//! (docker's design): it listens on 127.0.0.11 inside the container's
//! namespace, on ports the kernel picks, with a rule in that namespace
//! sending port 53 there (so a DNS server the container runs itself can
//! still bind port 53). It answers the names of the container's networks
//! through a [`NameLookup`] and forwards the rest to the host's resolvers
//! from the host's namespace. It runs on threads of the monitor, so it
//! lives and dies with the container.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::files::EMBEDDED_DNS;
use crate::netns::NetNs;
use crate::NetworkError;

/// docker's TTL for container names.
const TTL: u32 = 600;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the names a container may resolve come from (the engine answers
/// from the store: container names, `--network-alias`es and short IDs on
/// the networks the asking container shares).
pub trait NameLookup: Send + Sync {
    /// The addresses of `name` (lower-case, no trailing dot), or `None` when
    /// it names no container, so the query goes to the host's resolvers.
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>>;
    /// The name of the container with that address.
    fn reverse(&self, ip: IpAddr) -> Option<String>;
}

/// How a query is answered.
pub struct Resolver {
    pub lookup: Arc<dyn NameLookup>,
    /// The host's resolvers (or `--dns`); asked from the host's namespace.
    pub upstreams: Vec<SocketAddr>,
    /// False on an `--internal` network: no name leaves the host.
    pub forward: bool,
}

/// What to do with a query.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The bytes of the response.
    Reply(Vec<u8>),
    /// Not a container name: ask the upstreams.
    Forward,
    /// Not a DNS message at all.
    Ignore,
}

impl Resolver {
    /// Answers from the lookup when the query is about a container.
    pub fn answer(&self, query: &[u8]) -> Answer {
        let Ok(msg) = Message::from_vec(query) else {
            return Answer::Ignore;
        };
        if msg.message_type() != MessageType::Query {
            return Answer::Ignore;
        }
        let Some(q) = msg.queries().first().cloned() else {
            return reply(&msg, ResponseCode::FormErr, vec![]);
        };
        if msg.op_code() != OpCode::Query || q.query_class() != DNSClass::IN {
            return self.fallback(&msg);
        }
        let name = q.name().to_lowercase();
        let text = name.to_ascii();
        let text = text.trim_end_matches('.');
        let records = match q.query_type() {
            RecordType::A | RecordType::AAAA => {
                let Some(ips) = self.lookup.lookup(text) else {
                    return self.fallback(&msg);
                };
                let want_v4 = q.query_type() == RecordType::A;
                ips.into_iter()
                    .filter_map(|ip| match ip {
                        IpAddr::V4(v4) if want_v4 => Some(RData::A(A(v4))),
                        IpAddr::V6(v6) if !want_v4 => Some(RData::AAAA(AAAA(v6))),
                        _ => None,
                    })
                    .map(|rdata| Record::from_rdata(q.name().clone(), TTL, rdata))
                    .collect()
            }
            RecordType::PTR => {
                let Some(target) = name
                    .parse_arpa_name()
                    .ok()
                    .filter(|net| net.prefix_len() == net.max_prefix_len())
                    .and_then(|net| self.lookup.reverse(net.addr()))
                    .and_then(|n| Name::from_ascii(format!("{n}.")).ok())
                else {
                    return self.fallback(&msg);
                };
                vec![Record::from_rdata(
                    q.name().clone(),
                    TTL,
                    RData::PTR(PTR(target)),
                )]
            }
            _ => {
                if self.lookup.lookup(text).is_some() {
                    // A container name has addresses and nothing else.
                    vec![]
                } else {
                    return self.fallback(&msg);
                }
            }
        };
        reply(&msg, ResponseCode::NoError, records)
    }

    fn fallback(&self, msg: &Message) -> Answer {
        if self.forward && !self.upstreams.is_empty() {
            Answer::Forward
        } else {
            reply(msg, ResponseCode::Refused, vec![])
        }
    }

    /// Asks each upstream in turn; the first answer wins.
    fn forward_udp(&self, query: &[u8]) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65535];
        for up in &self.upstreams {
            let bind: SocketAddr = if up.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
                .parse()
                .ok()?;
            let Ok(sock) = UdpSocket::bind(bind) else {
                continue;
            };
            let _ = sock.set_read_timeout(Some(UPSTREAM_TIMEOUT));
            if sock.connect(up).is_err() || sock.send(query).is_err() {
                continue;
            }
            if let Ok(n) = sock.recv(&mut buf) {
                return Some(buf[..n].to_vec());
            }
        }
        None
    }

    fn forward_tcp(&self, query: &[u8]) -> Option<Vec<u8>> {
        for up in &self.upstreams {
            let Ok(mut s) = TcpStream::connect_timeout(up, UPSTREAM_TIMEOUT) else {
                continue;
            };
            let _ = s.set_read_timeout(Some(UPSTREAM_TIMEOUT));
            if write_framed(&mut s, query).is_err() {
                continue;
            }
            if let Ok(Some(answer)) = read_framed(&mut s) {
                return Some(answer);
            }
        }
        None
    }

    /// The answer to send back for a query, forwarding when needed.
    fn respond(&self, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
        match self.answer(query) {
            Answer::Reply(bytes) => Some(bytes),
            Answer::Ignore => None,
            Answer::Forward => {
                let answer = if tcp {
                    self.forward_tcp(query)
                } else {
                    self.forward_udp(query)
                };
                answer.or_else(|| {
                    let msg = Message::from_vec(query).ok()?;
                    match reply(&msg, ResponseCode::ServFail, vec![]) {
                        Answer::Reply(b) => Some(b),
                        _ => None,
                    }
                })
            }
        }
    }
}

fn reply(query: &Message, code: ResponseCode, answers: Vec<Record>) -> Answer {
    let mut msg = Message::new();
    msg.set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(code);
    if let Some(q) = query.queries().first() {
        msg.add_query(q.clone());
    }
    msg.add_answers(answers);
    match msg.to_vec() {
        Ok(bytes) => Answer::Reply(bytes),
        Err(_) => Answer::Ignore,
    }
}

fn read_framed(s: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match s.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut msg)?;
    Ok(Some(msg))
}

fn write_framed(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(|_| std::io::Error::other("message too long"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    s.write_all(&out)
}

/// A running embedded DNS server; it stops when dropped.
pub struct EmbeddedDns {
    pub udp_port: u16,
    pub tcp_port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for EmbeddedDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The rule, inside the container's namespace, that sends 127.0.0.11:53
/// to the server's ports.
fn redirect_rules(udp: u16, tcp: u16) -> String {
    format!(
        "table ip berth-dns {{\n\tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n\
         \t\tip daddr {EMBEDDED_DNS} udp dport 53 dnat to {EMBEDDED_DNS}:{udp}\n\
         \t\tip daddr {EMBEDDED_DNS} tcp dport 53 dnat to {EMBEDDED_DNS}:{tcp}\n\t}}\n}}\n"
    )
}

/// Starts the server for a container whose namespace is `netns` (its `lo`
/// must be up). `nft` is run inside the namespace for the redirect.
pub fn start(netns: &NetNs, resolver: Resolver, nft: &Path) -> Result<EmbeddedDns, NetworkError> {
    let (udp, tcp) = netns.run(|| -> Result<(UdpSocket, TcpListener), NetworkError> {
        let udp = UdpSocket::bind((EMBEDDED_DNS, 0)).map_err(|e| {
            NetworkError::os(format!("bind {EMBEDDED_DNS}/udp in the container"), e)
        })?;
        let tcp = TcpListener::bind((EMBEDDED_DNS, 0)).map_err(|e| {
            NetworkError::os(format!("bind {EMBEDDED_DNS}/tcp in the container"), e)
        })?;
        let port = |a: std::io::Result<SocketAddr>| a.map(|a| a.port()).unwrap_or(0);
        let rules = redirect_rules(port(udp.local_addr()), port(tcp.local_addr()));
        // Spawned from this thread, nft runs in the container's namespace.
        let mut child = Command::new(nft)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| NetworkError::Firewall {
                detail: format!("run {}: {e}", nft.display()),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(rules.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| NetworkError::Firewall {
                detail: format!("wait for nft: {e}"),
            })?;
        if !out.status.success() {
            return Err(NetworkError::Firewall {
                detail: format!(
                    "dns redirect: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok((udp, tcp))
    })??;
    let udp_port = udp.local_addr().map(|a| a.port()).unwrap_or(0);
    let tcp_port = tcp.local_addr().map(|a| a.port()).unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let resolver = Arc::new(resolver);
    serve_udp(udp, resolver.clone(), stop.clone())?;
    serve_tcp(tcp, resolver, stop.clone())?;
    Ok(EmbeddedDns {
        udp_port,
        tcp_port,
        stop,
    })
}

const POLL: Duration = Duration::from_millis(500);

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), NetworkError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(|e| NetworkError::os("spawn a dns thread", e))
}

fn serve_udp(
    sock: UdpSocket,
    resolver: Arc<Resolver>,
    stop: Arc<AtomicBool>,
) -> Result<(), NetworkError> {
    sock.set_read_timeout(Some(POLL))
        .map_err(|e| NetworkError::os("dns socket timeout", e))?;
    spawn("berth-dns-udp", move || {
        let mut buf = vec![0u8; 65535];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let query = buf[..n].to_vec();
            if let Answer::Reply(bytes) = resolver.answer(&query) {
                let _ = sock.send_to(&bytes, from);
                continue;
            }
            // Forwarding waits on the network: not on the serving thread.
            let (resolver, sock) = (resolver.clone(), sock.try_clone());
            let _ = spawn("berth-dns-fwd", move || {
                if let (Some(bytes), Ok(sock)) = (resolver.respond(&query, false), sock) {
                    let _ = sock.send_to(&bytes, from);
                }
            });
        }
    })
}

fn serve_tcp(
    listener: TcpListener,
    resolver: Arc<Resolver>,
    stop: Arc<AtomicBool>,
) -> Result<(), NetworkError> {
    listener
        .set_nonblocking(true)
        .map_err(|e| NetworkError::os("dns listener", e))?;
    spawn("berth-dns-tcp", move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let resolver = resolver.clone();
            let _ = spawn("berth-dns-conn", move || {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                while let Ok(Some(query)) = read_framed(&mut stream) {
                    let Some(answer) = resolver.respond(&query, true) else {
                        break;
                    };
                    if write_framed(&mut stream, &answer).is_err() {
                        break;
                    }
                }
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use std::collections::HashMap;

    struct Names(HashMap<String, Vec<IpAddr>>);

    impl NameLookup for Names {
        fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
            self.0.get(name).cloned()
        }
        fn reverse(&self, ip: IpAddr) -> Option<String> {
            self.0
                .iter()
                .find(|(_, ips)| ips.contains(&ip))
                .map(|(n, _)| n.clone())
        }
    }

    fn resolver(forward: bool) -> Resolver {
        let names = HashMap::from([
            ("web".to_string(), vec!["10.213.1.2".parse().unwrap()]),
            (
                "db".to_string(),
                vec!["10.213.1.3".parse().unwrap(), "fd00::3".parse().unwrap()],
            ),
        ]);
        Resolver {
            lookup: Arc::new(Names(names)),
            upstreams: vec!["10.213.1.1:53".parse().unwrap()],
            forward,
        }
    }

    fn query(name: &str, kind: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(42).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
        m.to_vec().unwrap()
    }

    fn parse(a: Answer) -> Message {
        match a {
            Answer::Reply(b) => Message::from_vec(&b).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_container_names() {
        let r = resolver(true);
        let m = parse(r.answer(&query("WEB.", RecordType::A)));
        assert_eq!(m.id(), 42);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert_eq!(m.answers().len(), 1);
        assert_eq!(
            m.answers()[0].data(),
            &RData::A(A("10.213.1.2".parse().unwrap()))
        );
        // A name with only an IPv4 address has no AAAA: an empty answer,
        // not a forward.
        let m = parse(r.answer(&query("web.", RecordType::AAAA)));
        assert!(m.answers().is_empty());
        let m = parse(r.answer(&query("db.", RecordType::AAAA)));
        assert_eq!(m.answers().len(), 1);
        let m = parse(r.answer(&query("2.1.213.10.in-addr.arpa.", RecordType::PTR)));
        assert_eq!(
            m.answers()[0].data(),
            &RData::PTR(PTR(Name::from_ascii("web.").unwrap()))
        );
    }

    #[test]
    fn other_names_go_upstream_unless_internal() {
        assert_eq!(
            resolver(true).answer(&query("example.org.", RecordType::A)),
            Answer::Forward
        );
        let m = parse(resolver(false).answer(&query("example.org.", RecordType::A)));
        assert_eq!(m.response_code(), ResponseCode::Refused);
        assert_eq!(resolver(true).answer(b"\x00"), Answer::Ignore);
    }

    #[test]
    fn forwards_and_relays_the_answer() {
        // A stand-in upstream on loopback answering every query.
        let up = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = up.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = up.recv_from(&mut buf).unwrap();
            let q = Message::from_vec(&buf[..n]).unwrap();
            let Answer::Reply(b) = reply(&q, ResponseCode::NXDomain, vec![]) else {
                panic!()
            };
            up.send_to(&b, from).unwrap();
        });
        let r = Resolver {
            upstreams: vec![addr],
            ..resolver(true)
        };
        let out = r
            .respond(&query("example.org.", RecordType::A), false)
            .unwrap();
        assert_eq!(
            Message::from_vec(&out).unwrap().response_code(),
            ResponseCode::NXDomain
        );
    }

    #[test]
    fn redirect_rule_text() {
        let t = redirect_rules(40001, 40002);
        assert!(t.contains("ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:40001"));
        assert!(t.contains("tcp dport 53 dnat to 127.0.0.11:40002"));
    }
}
