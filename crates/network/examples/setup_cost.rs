//! What a container's network costs to set up and tear down, in process
//! and with netavark (+ aardvark-dns), measured in a stand-in host
//! namespace so the machine's own links and rules are untouched.
//!
//!     cargo run --release -p berth-network --example setup_cost [N]
//!
//! Needs root, nft, and /usr/lib/podman/netavark for the comparison.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_network::bridge::{BridgeDriver, BridgeNetwork, Endpoint, NetworkBackend};
use berth_network::dns::{self, NameLookup, Resolver};
use berth_network::firewall::{Nftables, PortForward};
use berth_network::ipam::{mac_for, Ipam};
use berth_network::netlink::{Netlink, RtNetlink};
use berth_network::netns::NetNs;
use berth_network::ports::{self, Protocol};
use berth_network::sysctl::ProcSys;

const NETAVARK: &str = "/usr/lib/podman/netavark";
const AARDVARK: &str = "/usr/lib/podman/aardvark-dns";

struct NoNames;
impl NameLookup for NoNames {
    fn lookup(&self, _: &str) -> Option<Vec<std::net::IpAddr>> {
        None
    }
    fn reverse(&self, _: std::net::IpAddr) -> Option<String> {
        None
    }
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn report(what: &str, setup: Vec<Duration>, teardown: Vec<Duration>) {
    let count = teardown.len();
    println!(
        "{what:<44} setup {:>7.2} ms   teardown {:>7.2} ms   (median of {count})",
        median(setup),
        median(teardown),
    );
}

fn berth(host: &NetNs, n: usize, publish: bool, with_dns: bool) -> (Vec<Duration>, Vec<Duration>) {
    let net = BridgeNetwork {
        bridge: "bt-cost".into(),
        subnets: vec![Ipam::new("10.213.240.0/24".parse().unwrap(), None, None).unwrap()],
        internal: false,
        masquerade: true,
        icc: true,
        mtu: None,
    };
    let (mut setup, mut teardown) = (vec![], vec![]);
    host.run(|| {
        let mut d = BridgeDriver::new(RtNetlink::open().unwrap(), Nftables::new("bt"), ProcSys);
        d.ensure_network(&net).unwrap();
        for i in 0..n {
            let ip: std::net::Ipv4Addr = format!("10.213.240.{}", 2 + i % 200).parse().unwrap();
            let ep = Endpoint {
                host_veth: berth_network::bridge::veth_name(),
                interface: "eth0".into(),
                addresses: vec![format!("{ip}/24").parse().unwrap()],
                mac: Some(mac_for(ip)),
                default_gateways: vec![net.subnets[0].gateway],
            };
            let fwd = PortForward {
                protocol: Protocol::Tcp,
                host_ip: None,
                host_port: 0,
                container_ip: ip.into(),
                container_port: 80,
            };
            let t = Instant::now();
            let ns = NetNs::new().unwrap();
            // What every start does: check the network, then attach.
            d.ensure_network(&net).unwrap();
            d.attach(&net, &ns, &ep).unwrap();
            let mut held = vec![];
            let mut fwds = vec![];
            if publish {
                held = ports::hold_ports(&ports::parse_publish("80").unwrap()).unwrap();
                fwds = vec![PortForward {
                    host_port: held[0].port.host_port,
                    ..fwd
                }];
                d.publish(&net, &fwds).unwrap();
            }
            let server = with_dns.then(|| {
                dns::start(
                    &ns,
                    Resolver {
                        lookup: Arc::new(NoNames),
                        upstreams: vec![],
                        forward: false,
                    },
                    Path::new("nft"),
                )
                .unwrap()
            });
            setup.push(t.elapsed());
            let t = Instant::now();
            // What a monitor does when its container ends: the ports go; the
            // namespace, and the veth with it, the kernel frees in the
            // background once the last descriptor closes.
            d.unpublish(&net, &fwds).unwrap();
            drop(held);
            drop(server);
            drop(ns);
            teardown.push(t.elapsed());
        }
        d.remove_network(&net).unwrap();
    })
    .unwrap();
    (setup, teardown)
}

fn netavark_config(publish: bool, with_dns: bool, ip: &str) -> String {
    let ports = if publish {
        r#"[{"host_ip": "", "container_port": 80, "host_port": 18080, "range": 1, "protocol": "tcp"}]"#
    } else {
        "[]"
    };
    format!(
        r#"{{"container_id": "{id}", "container_name": "cost",
  "port_mappings": {ports},
  "networks": {{"cost": {{"static_ips": ["{ip}"], "aliases": ["cost"], "interface_name": "eth0"}}}},
  "network_info": {{"cost": {{"name": "cost", "id": "{id}", "driver": "bridge",
    "network_interface": "bt-nva", "subnets": [{{"subnet": "10.213.241.0/24", "gateway": "10.213.241.1"}}],
    "ipv6_enabled": false, "internal": false, "dns_enabled": {with_dns},
    "ipam_options": {{"driver": "host-local"}}}}}}}}"#,
        id = "f922ffdda5718b26ea585a500d5ad05191da5461b06d6f62e4d1f66ca901a253",
    )
}

fn netavark(
    host: &NetNs,
    n: usize,
    publish: bool,
    with_dns: bool,
) -> Option<(Vec<Duration>, Vec<Duration>)> {
    if !Path::new(NETAVARK).exists() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut setup, mut teardown) = (vec![], vec![]);
    host.run(|| {
        for i in 0..n {
            let ip = format!("10.213.241.{}", 2 + i % 200);
            let config = netavark_config(publish, with_dns, &ip);
            let run = |cmd: &str, ns: &NetNs| {
                let mut child = Command::new(NETAVARK)
                    .arg("--config")
                    .arg(dir.path())
                    .args(["--aardvark-binary", AARDVARK, cmd])
                    .arg(ns.proc_path())
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(config.as_bytes())
                    .unwrap();
                let out = child.wait_with_output().unwrap();
                if !out.status.success() {
                    eprintln!(
                        "netavark {cmd} failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
            };
            let t = Instant::now();
            let ns = NetNs::new().unwrap();
            run("setup", &ns);
            setup.push(t.elapsed());
            let t = Instant::now();
            run("teardown", &ns);
            drop(ns);
            teardown.push(t.elapsed());
        }
        let mut nl = RtNetlink::open().unwrap();
        let _ = nl.delete_link("bt-nva");
    })
    .unwrap();
    Some((setup, teardown))
}

/// MB/s of 1 GiB sent from the host to 127.0.0.1:`port` and read by a
/// sink in the container.
fn throughput(host: &NetNs, container: &NetNs, port: u16) -> f64 {
    use std::io::{Read, Write};
    let sink = container
        .run(|| std::net::TcpListener::bind("0.0.0.0:80").unwrap())
        .unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = sink.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n as u64,
            }
        }
    });
    let total: u64 = 1 << 30;
    let t = Instant::now();
    host.run(|| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let buf = vec![7u8; 1 << 16];
        let mut sent = 0;
        while sent < total {
            s.write_all(&buf).unwrap();
            sent += buf.len() as u64;
        }
    })
    .unwrap();
    assert_eq!(reader.join().unwrap(), total);
    total as f64 / t.elapsed().as_secs_f64() / 1e6
}

/// A userland proxy as docker's: accepts on 127.0.0.1:`port` in the host,
/// copies to the container's address.
fn userland_proxy(host: &NetNs, port: u16, to: &'static str) {
    let listener = host
        .run(move || std::net::TcpListener::bind(("127.0.0.1", port)).unwrap())
        .unwrap();
    let host_fd = NetNs::open(&host.proc_path()).unwrap();
    std::thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let upstream = host_fd
            .run(|| std::net::TcpStream::connect(to).unwrap())
            .unwrap();
        let (a, mut b) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let t = std::thread::spawn(move || std::io::copy(&mut b, &mut a.try_clone().unwrap()));
        let (mut c, mut u) = (client, upstream);
        let _ = std::io::copy(&mut c, &mut u);
        let _ = u.shutdown(std::net::Shutdown::Write);
        let _ = t.join();
    });
}

fn throughput_both(host: &NetNs) {
    let net = BridgeNetwork {
        bridge: "bt-thru".into(),
        subnets: vec![Ipam::new("10.213.242.0/24".parse().unwrap(), None, None).unwrap()],
        internal: false,
        masquerade: true,
        icc: true,
        mtu: None,
    };
    let ep = Endpoint {
        host_veth: "vethbtthru".into(),
        interface: "eth0".into(),
        addresses: vec!["10.213.242.2/24".parse().unwrap()],
        mac: None,
        default_gateways: vec![net.subnets[0].gateway],
    };
    let c1 = NetNs::new().unwrap();
    host.run(|| {
        let mut d = BridgeDriver::new(RtNetlink::open().unwrap(), Nftables::new("bt"), ProcSys);
        d.ensure_network(&net).unwrap();
        d.attach(&net, &c1, &ep).unwrap();
        d.publish(
            &net,
            &[PortForward {
                protocol: Protocol::Tcp,
                host_ip: None,
                host_port: 18081,
                container_ip: "10.213.242.2".parse().unwrap(),
                container_port: 80,
            }],
        )
        .unwrap();
    })
    .unwrap();
    println!(
        "1 GiB to 127.0.0.1, DNAT in the kernel: {:>8.0} MB/s",
        throughput(host, &c1, 18081)
    );
    let c2 = NetNs::new().unwrap();
    let ep2 = Endpoint {
        host_veth: "vethbtthru2".into(),
        addresses: vec!["10.213.242.3/24".parse().unwrap()],
        ..ep
    };
    host.run(|| {
        let mut d = BridgeDriver::new(RtNetlink::open().unwrap(), Nftables::new("bt"), ProcSys);
        d.attach(&net, &c2, &ep2).unwrap();
    })
    .unwrap();
    userland_proxy(host, 18082, "10.213.242.3:80");
    println!(
        "1 GiB to 127.0.0.1, a userland proxy:   {:>8.0} MB/s",
        throughput(host, &c2, 18082)
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let host = NetNs::new().unwrap();
    host.run(|| {
        let mut nl = RtNetlink::open().unwrap();
        let lo = nl.link("lo").unwrap().unwrap();
        nl.set_up(lo.index).unwrap();
    })
    .unwrap();
    throughput_both(&host);
    for (publish, with_dns, label) in [
        (false, false, "default bridge"),
        (true, false, "default bridge, -p 80"),
        (false, true, "user network (embedded dns)"),
    ] {
        let (s, t) = berth(&host, n, publish, with_dns);
        report(&format!("berth in process: {label}"), s, t);
        if let Some((s, t)) = netavark(&host, n, publish, with_dns) {
            report(&format!("netavark 1.4: {label}"), s, t);
        }
    }
}
