//! Networks end to end, as root: the `network` commands, containers on the
//! default bridge and on user networks, published ports. Each test has its
//! own root, config file (bridge name `bt<n>...`, nft table prefix,
//! subnets under 10.213.0.0/16), and removes what it made.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::Root;

/// A root with its own network config; on drop, removes the networks,
/// bridges and nftables tables its test made.
struct NetRoot {
    root: Root,
    config: PathBuf,
    tag: String,
}

impl NetRoot {
    /// `n` picks the test's subnets: 10.213.n.0/24 for the default bridge,
    /// 10.213.(n+100).0/24 and on for user networks.
    fn new(tag: &str, n: u8) -> NetRoot {
        let root = Root::new();
        let config = format!(
            r#"{{"bridge-name": "bt{tag}0", "firewall-table": "bt{tag}", "bip": "10.213.{n}.1/24",
                "default-address-pools": [{{"base": "10.213.{}.0/24", "size": 26}}]}}"#,
            n as u16 + 100
        );
        let config = PathBuf::from(root.file("config.json", config.as_bytes()));
        NetRoot {
            root,
            config,
            tag: tag.into(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.root.cmd(args);
        c.env("BERTH_CONFIG", &self.config);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run berth")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "berth {args:?} unexpectedly succeeded"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for NetRoot {
    fn drop(&mut self) {
        let ids = self.ok_quiet(&["ps", "-a", "-q", "--no-trunc"]);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.run(&args);
        }
        // Bridges named after their network (`br-<id>`) are this test's
        // too.
        let mut names = vec![format!("bt{}", self.tag)];
        for n in self.ok_quiet(&[
            "network",
            "ls",
            "-q",
            "--no-trunc",
            "--filter",
            "type=custom",
        ]) {
            names.push(format!("br-{}", &n[..12.min(n.len())]));
            let _ = self.run(&["network", "rm", &n]);
        }
        // What berth leaves by design outlives a root: the default bridge,
        // its table and its iptables chain (docker keeps docker0 too). A
        // test removes them by hand.
        let bridge = format!("bt{}0", self.tag);
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        let table = format!("bt{}-{bridge}", self.tag);
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &table])
            .output();
        let chain = format!("BERTH-{bridge}");
        for iptables in ["iptables", "ip6tables"] {
            let ipt = |args: &[&str]| Command::new(iptables).args(args).output();
            while ipt(&["-D", "FORWARD", "-j", &chain]).is_ok_and(|o| o.status.success()) {}
            let _ = ipt(&["-F", &chain]);
            let _ = ipt(&["-X", &chain]);
        }
        // A failing test has said why already; a passing one must leave
        // nothing behind.
        if !std::thread::panicking() {
            let left = leftovers(&names, &self.root);
            assert!(left.is_empty(), "left behind: {left:#?}");
        }
    }
}

/// The links, nftables tables, iptables chains and rules whose names
/// start with (or hold) one of `names`, and the mounts under the root,
/// that are still there.
fn leftovers(names: &[String], root: &Root) -> Vec<String> {
    let ours = |l: &str| names.iter().any(|n| l.contains(n.as_str()));
    let text = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let mut left: Vec<String> = text("ip", &["-br", "link"])
        .lines()
        .filter(|l| ours(l))
        .map(|l| format!("link {l}"))
        .collect();
    left.extend(
        text("nft", &["list", "tables"])
            .lines()
            .filter(|l| ours(l))
            .map(|l| l.to_string()),
    );
    for iptables in ["iptables", "ip6tables"] {
        for table in ["filter", "nat"] {
            left.extend(
                text(iptables, &["-t", table, "-S"])
                    .lines()
                    .filter(|l| ours(l))
                    .map(|l| format!("{iptables} -t {table} {l}")),
            );
        }
    }
    left.extend(
        common::mounts_under(root)
            .into_iter()
            .map(|m| format!("mount {m}")),
    );
    left
}

impl NetRoot {
    fn ok_quiet(&self, args: &[&str]) -> Vec<String> {
        let out = self.run(args);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    }
}

fn links() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-br", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

fn tables() -> String {
    String::from_utf8_lossy(
        &Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

#[test]
fn network_commands() {
    if !common::need_root() {
        return;
    }
    let r = NetRoot::new("nc", 20);
    let ls = r.ok(&["network", "ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    );
    assert!(
        ls.contains(" bridge ") && ls.contains(" host ") && ls.contains(" none "),
        "{ls}"
    );
    let id = r.ok(&[
        "network",
        "create",
        "--label",
        "team=a",
        "-o",
        "com.docker.network.bridge.name=btnc-front",
        "front",
    ]);
    assert_eq!(id.trim().len(), 64);
    r.ok(&[
        "network",
        "create",
        "--subnet",
        "10.213.199.0/24",
        "--gateway",
        "10.213.199.254",
        "--internal",
        "back",
    ]);
    assert!(links().contains("btnc-front"));
    assert!(tables().contains("table inet btnc-btnc-front"));
    let v: serde_json::Value =
        serde_json::from_str(&r.ok(&["network", "inspect", "back"])).unwrap();
    assert_eq!(v[0]["IPAM"]["Config"][0]["Gateway"], "10.213.199.254");
    assert_eq!(v[0]["Internal"], true);
    assert_eq!(
        r.ok(&["network", "inspect", "-f", "{{.Labels.team}}", "front"])
            .trim(),
        "a"
    );
    // The pool picked the first free /26 of the configured base.
    let subnet = r.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        "front",
    ]);
    assert_eq!(subnet.trim(), "10.213.120.0/26");
    assert_eq!(
        r.ok(&[
            "network",
            "ls",
            "--filter",
            "label=team=a",
            "--format",
            "{{.Name}}"
        ])
        .trim(),
        "front"
    );
    assert_eq!(
        r.ok(&[
            "network",
            "ls",
            "-f",
            "type=custom",
            "--format",
            "{{.Name}}"
        ]),
        "back\nfront\n"
    );
    // docker's errors.
    assert!(r
        .fails(&["network", "create", "front"])
        .contains("network with name front already exists"));
    assert!(r
        .fails(&["network", "create", "--subnet", "10.213.199.0/25", "dup"])
        .contains("Pool overlaps"));
    assert!(r
        .fails(&[
            "network",
            "create",
            "--gateway",
            "10.213.5.1",
            "--subnet",
            "10.213.6.0/24",
            "g"
        ])
        .contains("no matching subnet for gateway 10.213.5.1"));
    assert!(r
        .fails(&["network", "create", "-d", "overlay", "o"])
        .contains("plugin \"overlay\" not found"));
    assert!(r
        .fails(&["network", "rm", "bridge"])
        .contains("bridge is a pre-defined network and cannot be removed"));
    assert!(r
        .fails(&["network", "rm", "nope"])
        .contains("No such network: nope"));
    assert_eq!(r.ok(&["network", "rm", "front"]).trim(), "front");
    assert!(!links().contains("btnc-front"));
    assert!(!tables().contains("btnc-btnc-front"));
    let pruned = r.ok(&["network", "prune", "-f"]);
    assert_eq!(pruned, "Deleted Networks:\nback\n");
    assert!(!tables().contains("btnc-br-"), "{}", tables());
}

/// The page a GET of `path` on `addr` returns (the body), or None.
fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split("\r\n\r\n").nth(1).map(str::to_string)
}

/// A detached busybox httpd serving `page` at /index.html.
fn web(r: &NetRoot, extra: &[&str], page: &str) -> String {
    let script =
        format!("mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["bb:1", "sh", "-c", &script]);
    let id = r.ok(&args).trim().to_string();
    // httpd listens within a few milliseconds of the start.
    std::thread::sleep(std::time::Duration::from_millis(300));
    id
}

fn map_elements(table: &str) -> String {
    let out = Command::new("nft")
        .args(["list", "map", "inet", table, "ports4any"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().filter(|l| l.contains("elements")).collect()
}

#[test]
fn default_bridge_and_published_ports() {
    if !common::need_root() {
        return;
    }
    let r = NetRoot::new("db", 21);
    common::import_busybox(&r.root, "bb:1");
    // eth0 with an address of the default bridge, a default route through
    // its gateway, and a resolver (the host's; no lookup is made).
    let out = r.ok(&[
        "run",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        "ip addr show eth0; ip route; grep -c nameserver /etc/resolv.conf",
    ]);
    assert!(out.contains("inet 10.213.21."), "{out}");
    assert!(out.contains("default via 10.213.21.1 dev eth0"), "{out}");
    assert!(
        out.trim_end()
            .ends_with(|c: char| c.is_ascii_digit() && c != '0'),
        "{out}"
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // A web image, built on the default bridge (a build's RUN steps are
    // there too, as docker's), run with -p as the README's demo does.
    let ctx = r.root.scratch.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb:1\nRUN ip route | grep 'default via 10.213.21.1'\n\
         RUN mkdir /www && echo hello > /www/index.html\n\
         EXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
    )
    .unwrap();
    r.ok(&["build", "-q", "-t", "netweb", ctx.to_str().unwrap()]);
    let publish = format!("{port}:80");
    let id = r
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            &publish,
            "-p",
            "127.0.0.1::81",
            "--expose",
            "443",
            "netweb",
        ])
        .trim()
        .to_string();
    // httpd listens within a few milliseconds of the start.
    std::thread::sleep(std::time::Duration::from_millis(300));
    // From the host: loopback, and the host's other addresses.
    assert_eq!(
        http_get(&format!("127.0.0.1:{port}"), "/index.html").as_deref(),
        Some("hello\n")
    );
    assert_eq!(
        http_get(&format!("10.213.21.1:{port}"), "/index.html").as_deref(),
        Some("hello\n")
    );
    // From another container, through the gateway (hairpin).
    let get =
        format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc 10.213.21.1 {port} | tail -1");
    assert_eq!(
        r.ok(&["run", "--rm", "bb:1", "sh", "-c", &get]).trim(),
        "hello"
    );
    // port, ps and inspect say where.
    let ports = r.ok(&["port", "web"]);
    assert!(
        ports.contains(&format!("80/tcp -> 0.0.0.0:{port}")),
        "{ports}"
    );
    assert!(ports.contains("81/tcp -> 127.0.0.1:"), "{ports}");
    let ps = r.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(
        ps.contains(&format!("0.0.0.0:{port}->80/tcp")) && ps.contains("443/tcp"),
        "{ps}"
    );
    let v: serde_json::Value = serde_json::from_str(&r.ok(&["inspect", "web"])).unwrap();
    let ns = &v[0]["NetworkSettings"];
    assert_eq!(ns["Gateway"], "10.213.21.1");
    assert!(ns["IPAddress"].as_str().unwrap().starts_with("10.213.21."));
    assert_eq!(ns["Networks"]["bridge"]["IPAddress"], ns["IPAddress"]);
    assert_eq!(ns["Ports"]["80/tcp"][0]["HostPort"], port.to_string());
    assert_eq!(ns["Ports"]["443/tcp"], serde_json::Value::Null);
    // A port another container has, and one a host process has.
    let e = String::from_utf8_lossy(&r.run(&["run", "-d", "-p", &publish, "bb:1", "true"]).stderr)
        .into_owned();
    assert!(
        e.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{e}"
    );
    let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let held = holder.local_addr().unwrap().port();
    let e = String::from_utf8_lossy(
        &r.run(&["run", "-d", "-p", &format!("{held}:80"), "bb:1", "true"])
            .stderr,
    )
    .into_owned();
    assert!(
        e.contains(&format!(
            "listen tcp4 0.0.0.0:{held}: bind: address already in use"
        )),
        "{e}"
    );
    // -P: every exposed port on a port of the kernel's choosing.
    let all = r
        .ok(&["run", "-d", "-P", "--expose", "7000", "bb:1", "sleep", "60"])
        .trim()
        .to_string();
    assert!(r.ok(&["port", &all, "7000"]).starts_with("0.0.0.0:"));
    let none = r.run(&[
        "build",
        "-q",
        "--no-cache",
        "--network",
        "none",
        ctx.to_str().unwrap(),
    ]);
    assert!(
        !none.status.success(),
        "RUN --network none had a default route"
    );
    // A killed monitor's container: the next command gives it all back.
    common::kill_monitor(&id);
    r.ok(&["rm", "-f", "web", &all]);
    assert_eq!(map_elements("btdb-btdb0"), "", "forwards left behind");
    assert!(http_get(&format!("127.0.0.1:{port}"), "/index.html").is_none());
    // The veths went with the namespaces (the kernel frees them in the
    // background).
    let start = std::time::Instant::now();
    while !Command::new("ip")
        .args(["link", "show", "master", "btdb0"])
        .output()
        .unwrap()
        .stdout
        .is_empty()
    {
        assert!(
            start.elapsed().as_secs() < 5,
            "veths left on the bridge: {}",
            links()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn user_networks_names_isolation_and_internal() {
    if !common::need_root() {
        return;
    }
    let r = NetRoot::new("un", 22);
    common::import_busybox(&r.root, "bb:1");
    // app and other are dual-stack: an IPv4 subnet from the pool and the
    // IPv6 one given.
    for n in [
        &["--ipv6", "--subnet", "fd00:213:22::/64", "app"][..],
        &["--ipv6", "--subnet", "fd00:213:23::/64", "other"],
        &["--internal", "closed"],
    ] {
        let mut args = vec!["network", "create"];
        args.extend_from_slice(n);
        r.ok(&args);
    }
    // --dns 127.0.0.1: a name berth does not know goes nowhere but the
    // host's loopback.
    web(
        &r,
        &[
            "--name",
            "web",
            "--network",
            "app",
            "--network-alias",
            "site",
            "--dns",
            "127.0.0.1",
        ],
        "app-page",
    );
    let fetch = |host: &str| {
        format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} 80 | tail -1")
    };
    let web_ip6 = r
        .ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.app.GlobalIPv6Address}}",
            "web",
        ])
        .trim()
        .to_string();
    assert!(web_ip6.starts_with("fd00:213:22::"), "{web_ip6}");
    // By name, alias and short ID on the same network; over IPv6 by
    // address and by the name's AAAA record.
    let short = r.ok(&["inspect", "-f", "{{.Id}}", "web"])[..12].to_string();
    let script = format!(
        "nslookup web >/dev/null && nslookup site >/dev/null && {} && {} && {} && \
         nslookup -type=aaaa web | grep -q 'Address: {web_ip6}$' && {}",
        fetch("web"),
        fetch("site"),
        fetch(&short),
        fetch(&web_ip6)
    );
    let out = r.ok(&[
        "run",
        "--rm",
        "--network",
        "app",
        "--dns",
        "127.0.0.1",
        "bb:1",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out, "app-page\napp-page\napp-page\napp-page\n");
    let web_ip = r
        .ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.app.IPAddress}}",
            "web",
        ])
        .trim()
        .to_string();
    // Not from another network (over IPv4 or IPv6), not from the default
    // bridge (where the name is not known either), not from an internal
    // one.
    let both = format!("{}; {}", fetch(&web_ip), fetch(&web_ip6));
    for net in ["other", "bridge", "closed"] {
        let out = r.run(&[
            "run",
            "--rm",
            "--network",
            net,
            "--dns",
            "127.0.0.1",
            "bb:1",
            "sh",
            "-c",
            &both,
        ]);
        assert!(
            String::from_utf8_lossy(&out.stdout).trim().is_empty(),
            "reached web from {net}"
        );
    }
    let out = r.run(&[
        "run",
        "--rm",
        "--dns",
        "127.0.0.1",
        "bb:1",
        "nslookup",
        "web",
    ]);
    assert!(
        !out.status.success(),
        "the default bridge resolved a container name"
    );
    // An internal network has no route out.
    let routes = r.ok(&["run", "--rm", "--network", "closed", "bb:1", "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    // A running container connected to the network reaches web by name;
    // disconnected, its interface is gone.
    let c = r
        .ok(&[
            "run",
            "-d",
            "--name",
            "late",
            "--network",
            "other",
            "--dns",
            "127.0.0.1",
            "bb:1",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    r.ok(&["network", "connect", "app", "late"]);
    assert_eq!(
        r.ok(&["exec", &c, "sh", "-c", &fetch("web")]).trim(),
        "app-page"
    );
    r.ok(&["network", "disconnect", "app", "late"]);
    assert!(!r.ok(&["exec", &c, "ip", "addr"]).contains("eth1"));
    // In use: refused, naming the container.
    let e = r.fails(&["network", "rm", "app"]);
    assert!(
        e.contains("has active endpoints") && e.contains("web"),
        "{e}"
    );
    r.ok(&["rm", "-f", "web", "late"]);
    r.ok(&["network", "rm", "app", "other", "closed"]);
}

/// `ps --filter` over what networks, ports and volumes record, from the
/// CLI and (the same engine call) from the docker CLI through `berth
/// serve`: one set of containers, many checks.
#[test]
fn ps_filters_by_network_port_volume_and_state() {
    if !common::need_root() {
        return;
    }
    let r = NetRoot::new("pf", 23);
    common::import_busybox(&r.root, "bb:1");
    r.ok(&["network", "create", "front"]);
    let front = r.ok(&["network", "inspect", "-f", "{{.Id}}", "front"]);
    // A bind: containers get no named volumes yet.
    let data = r.config.parent().unwrap().join("data");
    std::fs::create_dir(&data).unwrap();
    let bind = format!("{}:/srv", data.display());
    let long = ["sleep", "300"];
    let run = |name: &str, extra: &[&str], cmd: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.push("bb:1");
        args.extend_from_slice(cmd);
        r.ok(&args);
    };
    run(
        "web",
        &[
            "--network",
            "front",
            "-p",
            "127.0.0.1:38023:80",
            "-v",
            &bind,
            "-l",
            "tier=web",
        ],
        &long,
    );
    run("worker", &["--expose", "53/udp"], &long);
    assert_eq!(
        r.run(&["run", "--name", "done", "bb:1", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    r.ok(&["create", "--name", "fresh", "bb:1"]);
    let ps = |filters: &[&str]| {
        let mut args = vec!["ps", "--format", "{{.Names}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        let out = r.ok(&args);
        let mut names: Vec<String> = out.lines().map(str::to_string).collect();
        names.sort();
        names.join(" ")
    };
    for (filters, want) in [
        (&[][..], "web worker"),
        (&["network=front"], "web"),
        (&["network=bridge"], "worker"),
        // publish= names the host's port, expose= the container's.
        (&["publish=38023"], "web"),
        (&["publish=38000-38100/tcp"], "web"),
        (&["publish=80"], ""),
        (&["publish=38023/udp"], ""),
        (&["expose=50-60/udp"], "worker"),
        (&["expose=80"], "web"),
        (&[&*format!("volume={}", data.display())], "web"),
        (&["volume=/srv"], "web"),
        (&["label=tier=web"], "web"),
        (&["name=^/wor"], "worker"),
        (&["ancestor=bb:1", "network=front"], "web"),
        (&["status=exited"], "done"),
        (&["status=created", "status=exited"], "done fresh"),
        (&["status=running", "network=front"], "web"),
        (&["before=fresh"], "web worker"),
        (&["since=worker"], ""),
    ] {
        assert_eq!(ps(filters), want, "ps --filter {filters:?}");
    }
    assert_eq!(ps(&[&format!("network={}", &front.trim()[..10])]), "web");
    let exited = r.ok(&[
        "ps",
        "-a",
        "--filter",
        "exited=3",
        "--format",
        "{{.Status}}",
    ]);
    assert!(exited.starts_with("Exited (3) "), "{exited}");
    let ports = r.ok(&[
        "ps",
        "--filter",
        "name=web",
        "--format",
        "{{.Ports}} {{.Networks}}",
    ]);
    assert!(
        ports.contains("127.0.0.1:") && ports.contains("->80/tcp front"),
        "{ports}"
    );
    assert_eq!(
        r.ok(&["ps", "-n", "2", "--format", "{{.Names}}"]),
        "fresh\ndone\n"
    );
    assert_eq!(r.ok(&["ps", "-l", "--format", "{{.Names}}"]), "fresh\n");
    let err = r.fails(&["ps", "--filter", "colour=red"]);
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    let err = r.fails(&["ps", "--filter", "status=up"]);
    assert!(err.contains("invalid filter 'status=up'"), "{err}");

    // The docker CLI through `berth serve` lists the same.
    if !std::path::Path::new("/usr/bin/docker").exists() {
        eprintln!("skipping docker ps through berth serve: no /usr/bin/docker");
        return;
    }
    let server = common::Server::start(&r.root);
    let docker_ps = |args: &[&str]| {
        let mut full = vec!["ps", "--format", "{{.Names}}"];
        full.extend_from_slice(args);
        let mut names: Vec<String> = server
            .docker_ok(&full)
            .lines()
            .map(str::to_string)
            .collect();
        names.sort();
        names.join(" ")
    };
    assert_eq!(docker_ps(&["--filter", "network=front"]), "web");
    assert_eq!(docker_ps(&["--filter", "publish=38023/tcp"]), "web");
    assert_eq!(docker_ps(&["--filter", "expose=80"]), "web");
    assert_eq!(docker_ps(&["--filter", "expose=53/udp"]), "worker");
    assert_eq!(docker_ps(&["-a", "--filter", "exited=3"]), "done");
    assert_eq!(docker_ps(&["-a", "--filter", "volume=/srv"]), "web");
    assert_eq!(docker_ps(&["-n", "1"]), "fresh");
    let ports = server.docker_ok(&["ps", "--filter", "name=web", "--format", "{{.Ports}}"]);
    assert_eq!(ports.trim(), "127.0.0.1:38023->80/tcp");
    let out = server.docker(&["ps", "--filter", "colour=red"]);
    assert!(!out.status.success());
    assert!(
        common::stderr_text(&out).contains("invalid filter 'colour'"),
        "{}",
        common::stderr_text(&out)
    );
}
