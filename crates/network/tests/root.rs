//! The real backends, as root, each test inside network namespaces of its
//! own (a stand-in "host" namespace and container namespaces), so nothing
//! touches the machine's own links or rules: dropping the namespaces drops
//! everything made in them.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_network::bridge::{BridgeDriver, BridgeNetwork, ContainerNs, Endpoint, NetworkBackend};
use berth_network::dns::{self, NameLookup, Resolver};
use berth_network::firewall::{Nftables, PortForward};
use berth_network::ipam::{mac_for, Ipam};
use berth_network::netlink::{Netlink, RtNetlink};
use berth_network::netns::NetNs;
use berth_network::ports::Protocol;
use berth_network::sysctl::ProcSys;

fn skip() -> bool {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return true;
    }
    if Command::new("nft").arg("--version").output().is_err() {
        eprintln!("skipped: needs nft");
        return true;
    }
    false
}

type Driver = BridgeDriver<RtNetlink, Nftables, ProcSys>;

/// A stand-in host: its own namespace with `lo` up.
fn host() -> NetNs {
    let ns = NetNs::new().unwrap();
    ns.run(|| {
        let mut nl = RtNetlink::open().unwrap();
        let lo = nl.link("lo").unwrap().unwrap();
        nl.set_up(lo.index).unwrap();
    })
    .unwrap();
    ns
}

/// Runs `f` with a driver inside the stand-in host.
fn on_host<T: Send>(host: &NetNs, f: impl FnOnce(&mut Driver) -> T + Send) -> T {
    host.run(|| {
        let mut d = BridgeDriver::new(RtNetlink::open().unwrap(), Nftables::new("bt"), ProcSys);
        f(&mut d)
    })
    .unwrap()
}

fn network(bridge: &str, subnet: &str, internal: bool) -> BridgeNetwork {
    BridgeNetwork {
        bridge: bridge.into(),
        subnets: vec![Ipam::new(subnet.parse().unwrap(), None, None).unwrap()],
        internal,
        masquerade: true,
        icc: true,
        mtu: None,
    }
}

fn endpoint(net: &BridgeNetwork, ip: &str, veth: &str) -> Endpoint {
    let ip: IpAddr = ip.parse().unwrap();
    let IpAddr::V4(v4) = ip else { panic!() };
    Endpoint {
        host_veth: veth.into(),
        interface: "eth0".into(),
        addresses: vec![ipnet::IpNet::new(ip, net.subnets[0].prefix_len()).unwrap()],
        mac: Some(mac_for(v4)),
        default_gateways: if net.internal {
            vec![]
        } else {
            vec![net.subnets[0].gateway]
        },
    }
}

/// A container namespace on `net`.
fn container(host: &NetNs, net: &BridgeNetwork, ip: &str, veth: &str) -> NetNs {
    let ns = NetNs::new().unwrap();
    let ep = endpoint(net, ip, veth);
    on_host(host, |d| d.attach(net, &ns, &ep)).unwrap();
    ns
}

/// A server in `ns` answering every connection with `reply` and the
/// address it came from.
fn serve(ns: &NetNs, port: u16, reply: &'static str) {
    let listener = ns
        .run(move || TcpListener::bind(("0.0.0.0", port)).unwrap())
        .unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let peer = s
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let _ = s.write_all(format!("{reply} {peer}").as_bytes());
        }
    });
}

/// What a connection from `ns` to `to` reads, or None when it fails.
fn fetch(ns: &NetNs, to: &str) -> Option<String> {
    fetch_within(ns, to, Duration::from_secs(3))
}

/// Whether `to` is out of reach from `ns` (a dropped SYN is retried after
/// a second, so half of one is enough to tell).
fn unreachable(ns: &NetNs, to: &str) -> bool {
    fetch_within(ns, to, Duration::from_millis(500)).is_none()
}

fn fetch_within(ns: &NetNs, to: &str, timeout: Duration) -> Option<String> {
    let to: SocketAddr = to.parse().unwrap();
    ns.run(move || {
        let mut s = TcpStream::connect_timeout(&to, timeout).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    })
    .unwrap()
}

#[test]
fn published_ports_from_loopback_host_addresses_and_hairpin() {
    if skip() {
        return;
    }
    let h = host();
    let net = network("bt-pub", "10.213.201.0/24", false);
    on_host(&h, |d| d.ensure_network(&net)).unwrap();
    let c = container(&h, &net, "10.213.201.2", "vethbtpub1");
    serve(&c, 80, "web");
    let fwd = PortForward {
        protocol: Protocol::Tcp,
        host_ip: None,
        host_port: 8080,
        container_ip: "10.213.201.2".parse().unwrap(),
        container_port: 80,
    };
    on_host(&h, |d| d.publish(&net, &[fwd])).unwrap();
    // The host itself, on loopback: the source is masqueraded to the gateway.
    assert_eq!(
        fetch(&h, "127.0.0.1:8080").as_deref(),
        Some("web 10.213.201.1")
    );
    // The host on another of its addresses.
    assert!(fetch(&h, "10.213.201.1:8080").unwrap().starts_with("web"));
    // The container itself, through the gateway (hairpin).
    assert_eq!(
        fetch(&c, "10.213.201.1:8080").as_deref(),
        Some("web 10.213.201.1")
    );
    // Another container on the network, the same way.
    let c2 = container(&h, &net, "10.213.201.3", "vethbtpub2");
    assert!(fetch(&c2, "10.213.201.1:8080").unwrap().starts_with("web"));
    // Direct, between containers of a network: the real source.
    assert_eq!(
        fetch(&c2, "10.213.201.2:80").as_deref(),
        Some("web 10.213.201.3")
    );
    // A port bound to 127.0.0.1 only is not reached on other addresses.
    let local_only = PortForward {
        host_ip: Some("127.0.0.1".parse().unwrap()),
        host_port: 8081,
        ..fwd
    };
    on_host(&h, |d| d.publish(&net, &[local_only])).unwrap();
    assert!(fetch(&h, "127.0.0.1:8081").is_some());
    assert!(unreachable(&c2, "10.213.201.1:8081"));
    // Unpublished: gone; unpublishing again changes nothing.
    on_host(&h, |d| d.unpublish(&net, &[fwd, local_only])).unwrap();
    assert!(unreachable(&h, "127.0.0.1:8080"));
    on_host(&h, |d| d.unpublish(&net, &[fwd])).unwrap();
    // A stale forward (a killed monitor's) is replaced by a new owner's.
    on_host(&h, |d| d.publish(&net, &[fwd])).unwrap();
    let fwd2 = PortForward {
        container_ip: "10.213.201.3".parse().unwrap(),
        ..fwd
    };
    serve(&c2, 80, "other");
    on_host(&h, |d| d.publish(&net, &[fwd2])).unwrap();
    assert!(fetch(&h, "127.0.0.1:8080").unwrap().starts_with("other"));
    // ... and the old owner's cleanup leaves the new one's alone.
    on_host(&h, |d| d.unpublish(&net, &[fwd])).unwrap();
    assert!(fetch(&h, "127.0.0.1:8080").unwrap().starts_with("other"));
}

/// A namespace standing for the world outside the host, linked to the
/// stand-in host by a veth: `10.213.209.1` (host) - `10.213.209.2` (outside).
fn outside(host: &NetNs, veth: &str) -> NetNs {
    let out = NetNs::new().unwrap();
    let fd = std::os::fd::AsFd::as_fd(&out);
    let out_ref = &out;
    host.run(move || {
        let mut nl = RtNetlink::open().unwrap();
        // A veth pair via a throwaway bridge-less link: host end plain.
        let br = nl.add_bridge(&format!("{veth}b"), None).unwrap();
        nl.set_up(br).unwrap();
        nl.add_veth(&berth_network::netlink::VethPair {
            host_name: veth,
            bridge: br,
            peer_name: "eth0",
            peer_netns: fd,
            peer_mac: None,
            mtu: None,
        })
        .unwrap();
        nl.add_address(br, "10.213.209.1/24".parse().unwrap())
            .unwrap();
        out_ref
            .configure(&mut |inner| {
                let eth0 = inner.link("eth0")?.unwrap();
                inner.add_address(eth0.index, "10.213.209.2/24".parse().unwrap())?;
                inner.set_up(eth0.index)
            })
            .unwrap();
    })
    .unwrap();
    out
}

#[test]
fn outbound_nat_isolation_and_internal() {
    if skip() {
        return;
    }
    let h = host();
    let world = outside(&h, "bt-ext");
    serve(&world, 80, "outside");
    let a = network("bt-a", "10.213.202.0/24", false);
    let b = network("bt-b", "10.213.203.0/24", false);
    let internal = network("bt-int", "10.213.204.0/24", true);
    for n in [&a, &b, &internal] {
        on_host(&h, |d| d.ensure_network(n)).unwrap();
    }
    let a1 = container(&h, &a, "10.213.202.2", "vethbta1");
    let a2 = container(&h, &a, "10.213.202.3", "vethbta2");
    let b1 = container(&h, &b, "10.213.203.2", "vethbtb1");
    let i1 = container(&h, &internal, "10.213.204.2", "vethbti1");
    let i2 = container(&h, &internal, "10.213.204.3", "vethbti2");
    for (ns, ip) in [(&a2, "a2"), (&b1, "b1"), (&i1, "i1"), (&i2, "i2")] {
        serve(ns, 80, ip);
    }
    // Out through the host, masqueraded to the host's address there.
    assert_eq!(
        fetch(&a1, "10.213.209.2:80").as_deref(),
        Some("outside 10.213.209.1")
    );
    // Within a network: yes; across networks: no.
    assert!(fetch(&a1, "10.213.202.3:80").is_some());
    assert!(unreachable(&a1, "10.213.203.2:80"));
    assert!(unreachable(&b1, "10.213.202.3:80"));
    // Internal: its containers talk, nothing leaves or enters.
    assert!(fetch(&i1, "10.213.204.3:80").is_some());
    assert!(unreachable(&i1, "10.213.209.2:80"));
    assert!(unreachable(&i1, "10.213.202.3:80"));
    assert!(unreachable(&a1, "10.213.204.2:80"));
    // Nor does anything reach containers straight from outside.
    assert!(unreachable(&world, "10.213.202.3:80"));
    // Removing a network removes its rules and bridge.
    on_host(&h, |d| d.remove_network(&b)).unwrap();
    let tables = h
        .run(|| {
            Command::new("nft")
                .args(["list", "tables"])
                .output()
                .unwrap()
        })
        .unwrap();
    let tables = String::from_utf8_lossy(&tables.stdout).to_string();
    assert!(!tables.contains("bt-bt-b"), "{tables}");
    assert!(tables.contains("bt-bt-a"), "{tables}");
    assert!(on_host(&h, |d| d.netlink.link("bt-b")).unwrap().is_none());
}

/// docker's FORWARD policy DROP (and an iptables rule of "docker's"): berth's
/// traffic still flows, iptables still reads its table, and the chain berth
/// added goes with the network.
#[test]
fn coexists_with_an_iptables_drop_policy() {
    if skip() {
        return;
    }
    if Command::new("iptables").arg("--version").output().is_err() {
        eprintln!("skipped: needs iptables");
        return;
    }
    let h = host();
    let iptables = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        h.run(move || Command::new("iptables").args(&args).output().unwrap())
            .unwrap()
    };
    assert!(iptables(&["-P", "FORWARD", "DROP"]).status.success());
    assert!(
        iptables(&["-A", "FORWARD", "-i", "docker0", "-j", "ACCEPT"])
            .status
            .success()
    );
    let world = outside(&h, "bt-ext2");
    serve(&world, 80, "outside");
    let net = network("bt-ipt", "10.213.205.0/24", false);
    on_host(&h, |d| d.ensure_network(&net)).unwrap();
    let c1 = container(&h, &net, "10.213.205.2", "vethbtipt1");
    let c2 = container(&h, &net, "10.213.205.3", "vethbtipt2");
    serve(&c2, 80, "c2");
    assert!(fetch(&c1, "10.213.205.3:80").is_some());
    assert!(fetch(&c1, "10.213.209.2:80").is_some());
    let rules = iptables(&["-S"]);
    assert!(
        rules.status.success(),
        "{}",
        String::from_utf8_lossy(&rules.stderr)
    );
    let text = String::from_utf8_lossy(&rules.stdout).to_string();
    assert!(
        text.contains("-A FORWARD -i docker0 -j ACCEPT\n-A FORWARD -j BERTH-bt-ipt"),
        "{text}"
    );
    assert!(
        text.contains("-A BERTH-bt-ipt -i bt-ipt -j ACCEPT"),
        "{text}"
    );
    // In place already: nothing to do.
    on_host(&h, |d| d.ensure_network(&net)).unwrap();
    on_host(&h, |d| d.remove_network(&net)).unwrap();
    let text = String::from_utf8_lossy(&iptables(&["-S"]).stdout).to_string();
    assert!(!text.contains("BERTH"), "{text}");
    assert!(text.contains("-A FORWARD -i docker0 -j ACCEPT"), "{text}");
}

struct Names;

impl NameLookup for Names {
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        (name == "web").then(|| vec!["10.213.206.9".parse().unwrap()])
    }
    fn reverse(&self, _: IpAddr) -> Option<String> {
        None
    }
}

fn a_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn embedded_dns_answers_on_127_0_0_11() {
    if skip() {
        return;
    }
    let h = host();
    let net = network("bt-dns", "10.213.206.0/24", false);
    on_host(&h, |d| d.ensure_network(&net)).unwrap();
    let c = container(&h, &net, "10.213.206.2", "vethbtdns1");
    let server = dns::start(
        &c,
        Resolver {
            lookup: Arc::new(Names),
            upstreams: vec![],
            forward: false,
        },
        std::path::Path::new("nft"),
    )
    .unwrap();
    assert_ne!(server.udp_port, 53);
    let answer = c
        .run(|| {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.send_to(&a_query("web"), "127.0.0.11:53").unwrap();
            let mut buf = [0u8; 512];
            let n = s.recv(&mut buf).unwrap();
            buf[..n].to_vec()
        })
        .unwrap();
    assert_eq!(&answer[..2], &[0x12, 0x34]);
    assert_eq!(&answer[answer.len() - 4..], &[10, 213, 206, 9]);
    // Over TCP too.
    let answer = c
        .run(|| {
            let mut s = TcpStream::connect("127.0.0.11:53").unwrap();
            let q = a_query("web");
            let mut framed = (q.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&q);
            s.write_all(&framed).unwrap();
            let mut len = [0u8; 2];
            s.read_exact(&mut len).unwrap();
            let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut msg).unwrap();
            msg
        })
        .unwrap();
    assert_eq!(&answer[answer.len() - 4..], &[10, 213, 206, 9]);
    // The container's own server can still have port 53.
    c.run(|| UdpSocket::bind("0.0.0.0:53").unwrap()).unwrap();
}

#[test]
fn a_dropped_namespace_takes_its_veth_along() {
    if skip() {
        return;
    }
    let h = host();
    let net = network("bt-gone", "10.213.207.0/24", false);
    on_host(&h, |d| d.ensure_network(&net)).unwrap();
    let c = container(&h, &net, "10.213.207.2", "vethbtgone");
    assert!(on_host(&h, |d| d.netlink.link("vethbtgone"))
        .unwrap()
        .is_some());
    drop(c);
    let start = Instant::now();
    while on_host(&h, |d| d.netlink.link("vethbtgone"))
        .unwrap()
        .is_some()
    {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "veth outlived its namespace"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
