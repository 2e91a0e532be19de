//! `berth serve` driven by real clients: Debian's docker CLI, the Docker
//! SDK for Python, raw HTTP for what clients hide (headers, statuses,
//! bad input).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::{
    docker_sdk, docker_sdk_python, import_busybox, need_root, stderr_text, stdout_text, Root,
    Server,
};

#[test]
fn system_endpoints_answer_as_docker_does() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let server = Server::start(&root);
    let mode = std::fs::metadata(&server.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o660,
        "the socket is root's and its group's only"
    );

    let ping = server.request("GET", "/_ping", b"");
    assert_eq!((ping.status, &ping.body[..]), (200, &b"OK"[..]));
    assert_eq!(ping.header("api-version"), Some("1.45"));
    assert_eq!(ping.header("builder-version"), Some("1"));
    assert_eq!(ping.header("ostype"), Some("linux"));
    assert_eq!(ping.header("docker-experimental"), Some("false"));
    let head = server.request("HEAD", "/v1.41/_ping", b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("api-version"), Some("1.45"));

    for prefix in ["", "/v1.24", "/v1.41", "/v1.45"] {
        let v = server.request("GET", &format!("{prefix}/version"), b"");
        assert_eq!(v.status, 200, "{prefix}");
        assert_eq!(v.json()["ApiVersion"], "1.45");
        assert_eq!(v.json()["MinAPIVersion"], "1.24");
    }
    let new = server.request("GET", "/v1.46/version", b"");
    assert_eq!(new.status, 400);
    assert_eq!(
        new.message(),
        "client version 1.46 is too new. Maximum supported API version is 1.45"
    );
    let old = server.request("GET", "/v1.23/version", b"");
    assert_eq!(old.status, 400);
    assert!(old.message().contains("is too old"), "{}", old.message());

    let unknown = server.request("GET", "/v1.41/no/such/thing", b"");
    assert_eq!(
        (unknown.status, unknown.message().as_str()),
        (404, "page not found")
    );
    assert_eq!(
        unknown.header("content-type"),
        Some("application/json"),
        "errors are docker's JSON"
    );

    // Bad bodies: a 400 that says what was wrong, never a 500.
    let bad = server.request("POST", "/auth", b"{\"username\": ");
    assert_eq!(bad.status, 400);
    assert!(bad.message().contains("invalid JSON"), "{}", bad.message());
    let wrong = server.request("POST", "/auth", br#"{"username": 42}"#);
    assert_eq!(wrong.status, 400);
    assert!(wrong.message().contains("username"), "{}", wrong.message());
    let huge = vec![b' '; 5 << 20];
    let big = server.request("POST", "/auth", &huge);
    assert_eq!(big.status, 413, "{}", big.message());

    let out = server.docker_ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Client.APIVersion}}",
    ]);
    assert_eq!(
        out.trim(),
        "1.45 1.41",
        "the docker CLI negotiates its own version"
    );
}

#[test]
fn clients_manage_images() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let id = import_busybox(&root, "busybox");
    let server = Server::start(&root);

    let listed = server.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(listed.trim(), format!("busybox:latest {}", &id[7..19]));
    server.docker_ok(&["tag", "busybox", "localhost:5000/team/bb:1"]);
    // The CLI sees what the server did, and the other way round.
    let tags = root.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(tags.contains("localhost:5000/team/bb:1"), "{tags}");
    let inspected = server.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{json .RepoTags}} {{json .Config.Cmd}}",
        "localhost:5000/team/bb:1",
    ]);
    assert_eq!(
        inspected.trim(),
        format!("{id} [\"busybox:latest\",\"localhost:5000/team/bb:1\"] [\"sh\"]")
    );
    // Events: past ones up to now, and new ones as another process makes
    // them.
    let until = format!("{}", chrono_now_secs());
    let past = server.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}}",
    ]);
    assert!(past.contains("image tag"), "{past}");
    let mut follow = Command::new("/usr/bin/docker")
        .env("DOCKER_HOST", server.docker_host())
        .args([
            "events",
            "--filter",
            "event=untag",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    root.ok(&["tag", "busybox", "follow:me"]);
    root.ok(&["rmi", "follow:me"]);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(follow.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let _ = follow.kill();
    let _ = follow.wait();
    // docker names an untag by the image's ID.
    assert_eq!(line.trim(), format!("untag {id}"));

    let history = server.docker_ok(&["history", "--format", "{{.ID}} {{.Size}}", "busybox"]);
    assert!(history.starts_with(&id[7..19]), "{history}");

    let missing = server.docker(&["image", "inspect", "nothing:here"]);
    assert!(!missing.status.success());
    assert!(
        stderr_text(&missing).contains("No such image: nothing:here"),
        "{}",
        stderr_text(&missing)
    );

    if let Some(python) = docker_sdk_python() {
        let out = docker_sdk(
            &python,
            &server,
            r#"
assert client.ping()
print(client.version()["ApiVersion"])
img = client.images.get("busybox")
print(img.id, sorted(img.tags))
img.tag("sdk/copy", "v2")
print(sorted(t for i in client.images.list() for t in i.tags))
client.images.remove("sdk/copy:v2")
try:
    client.images.get("nothing:here")
except docker.errors.ImageNotFound as e:
    print("not found:", e.explanation)
"#,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "1.45");
        assert!(lines[1].starts_with(&id), "{out}");
        assert_eq!(
            lines[2],
            "['busybox:latest', 'localhost:5000/team/bb:1', 'sdk/copy:v2']"
        );
        assert_eq!(lines[3], "not found: No such image: nothing:here");
    }

    server.docker_ok(&["rmi", "localhost:5000/team/bb:1"]);
    let used = server.docker_ok(&["rmi", "busybox"]);
    assert!(used.contains("Untagged: busybox:latest"), "{used}");
    assert!(used.contains(&format!("Deleted: {id}")), "{used}");
    assert_eq!(root.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn a_killed_server_is_replaced_and_tcp_needs_client_certificates() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    import_busybox(&root, "busybox");
    let mut server = Server::start(&root);
    server.kill();
    assert!(server.socket.exists(), "a SIGKILL leaves the socket behind");
    // The next server takes over the stale socket and sees the same store.
    let server = Server::start(&root);
    assert!(server.docker_ok(&["images"]).contains("busybox"));

    // Off loopback, no plain TCP: refused before anything listens.
    let out = root.run(&["serve", "-H", "tcp://0.0.0.0:1"]);
    assert!(!out.status.success());
    assert!(
        stderr_text(&out).contains("--tlsverify"),
        "{}",
        stderr_text(&out)
    );
    let out = root.run(&["serve", "-H", "tcp://example.com:2376"]);
    assert!(!out.status.success());

    let Some(tls) = TlsFiles::make(&root) else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("tcp://127.0.0.1:{port}");
    let mut child = root
        .cmd(&[
            "serve",
            "-H",
            &addr,
            "--tlsverify",
            "--tlscacert",
            &tls.file("ca.pem"),
            "--tlscert",
            &tls.file("server.pem"),
            "--tlskey",
            &tls.file("server-key.pem"),
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let docker = |with_cert: bool| {
        let mut c = Command::new("/usr/bin/docker");
        c.env(
            "DOCKER_CONFIG",
            root.scratch.path().join("tls-docker-config"),
        )
        .args([
            "-H",
            &addr,
            "--tlsverify",
            "--tlscacert",
            &tls.file("ca.pem"),
        ]);
        if with_cert {
            c.args([
                "--tlscert",
                &tls.file("client.pem"),
                "--tlskey",
                &tls.file("client-key.pem"),
            ]);
        }
        c.args(["images", "--format", "{{.Repository}}"])
            .output()
            .unwrap()
    };
    let ok = docker(true);
    let refused = docker(false);
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok.status.success(), "{}", stderr_text(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "busybox");
    assert!(
        !refused.status.success(),
        "a client without a certificate is refused"
    );
}

fn chrono_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate,
/// made with openssl in the test's scratch directory.
struct TlsFiles {
    dir: std::path::PathBuf,
}

impl TlsFiles {
    fn make(root: &Root) -> Option<TlsFiles> {
        if Command::new("openssl").arg("version").output().is_err() {
            eprintln!("skipping the TLS checks: openssl is not installed");
            return None;
        }
        let dir = root.scratch.path().join("tls");
        std::fs::create_dir_all(&dir).unwrap();
        let sh = |script: &str| {
            let out = Command::new("sh")
                .arg("-ec")
                .arg(script)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "{script}: {}", stderr_text(&out));
        };
        sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=berth-test-ca 2>/dev/null");
        for (name, ext) in [
            (
                "server",
                "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
            ),
            ("client", "extendedKeyUsage=clientAuth"),
        ] {
            std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
            sh(&format!(
                "openssl req -newkey rsa:2048 -nodes -keyout {name}-key.pem -out {name}.csr -subj /CN={name} 2>/dev/null
                 openssl x509 -req -in {name}.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out {name}.pem -days 2 -extfile {name}.ext 2>/dev/null"
            ));
        }
        Some(TlsFiles { dir })
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

#[test]
fn the_docker_cli_drives_a_containers_lifecycle() {
    let root = Root::new();
    if !common::container_ready(&root) {
        return;
    }
    let server = Server::start(&root);
    let id = root
        .ok(&[
            "create",
            "--name",
            "life",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; touch /made; trap 'exit 3' TERM; while true; do sleep 0.1; done",
        ])
        .trim()
        .to_string();
    server.docker_ok(&["start", "life"]);
    let state = server.docker_ok(&["inspect", "--format", "{{.Id}} {{.State.Status}}", "life"]);
    assert_eq!(state.trim(), format!("{id} running"));
    // Output and errors, each on its own stream.
    let mut logs = String::new();
    for _ in 0..100 {
        let out = server.docker(&["logs", "life"]);
        logs = format!("{}|{}", stdout_text(&out).trim(), stderr_text(&out).trim());
        if logs == "out|err" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(logs, "out|err");
    let top = server.docker_ok(&["top", "life"]);
    assert!(top.contains("sh -c echo out"), "{top}");
    server.docker_ok(&["pause", "life"]);
    let paused = server.docker_ok(&["inspect", "--format", "{{.State.Status}}", "life"]);
    assert_eq!(paused.trim(), "paused");
    server.docker_ok(&["unpause", "life"]);
    let diff = server.docker_ok(&["diff", "life"]);
    assert!(diff.lines().any(|l| l == "A /made"), "{diff}");
    server.docker_ok(&["stop", "-t", "5", "life"]);
    let waited = server.docker_ok(&["wait", "life"]);
    assert_eq!(waited.trim(), "3", "the exit code of the trap");
    let exported = Command::new("sh")
        .arg("-c")
        .arg("/usr/bin/docker export life | tar t | grep -c '^made$'")
        .env("DOCKER_HOST", server.docker_host())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&exported.stdout).trim(), "1");
    server.docker_ok(&["rename", "life", "renamed"]);
    let missing = server.docker(&["start", "life"]);
    assert!(
        stderr_text(&missing).contains("No such container: life"),
        "{}",
        stderr_text(&missing)
    );
    server.docker_ok(&["rm", "renamed"]);
    assert_eq!(root.ok(&["ps", "-aq"]).trim(), "");
    assert!(common::mounts_under(&root).is_empty());
    // The monitor the server started was reaped, not left a zombie.
    let zombies = Command::new("sh")
        .arg("-c")
        .arg(format!("grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | while read f; do grep -q \"^PPid:\\s*{}$\" $f && echo $f; done", server.pid()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&zombies.stdout).trim(), "");
}
