//! Shared helpers for the end-to-end tests: a private `--root` per test,
//! the `berth` binary, a busybox base image made from Debian's
//! busybox-static, and access to a real docker daemon when one is set up.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const BUSYBOX: &str = "/bin/busybox";

/// The config file every test root has, in a directory of its own.
const CONFIG: &str = "berth-config.json";

/// True when running as root; the end-to-end tests need it (overlay,
/// device nodes, ownership). Others print why they skip.
pub fn need_root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("skipping: this test needs root");
    false
}

/// A berth state directory of its own, removed at the end of the test.
pub struct Root {
    pub dir: tempfile::TempDir,
    /// Files a test makes beside its root (archives ...), removed with it.
    pub scratch: tempfile::TempDir,
    /// The `--root`: `dir` itself, or a directory deep inside it.
    root: PathBuf,
    /// Holds the config file berth is given.
    config_dir: tempfile::TempDir,
}

impl Root {
    pub fn new() -> Root {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .expect("create temp root");
        let root = Root {
            root: dir.path().to_path_buf(),
            dir,
            scratch: tempfile::Builder::new()
                .prefix("berth-test-files-")
                .tempdir()
                .expect("create temp dir"),
            config_dir: tempfile::Builder::new()
                .prefix("berth-test-config-")
                .tempdir()
                .expect("create temp dir"),
        };
        // No default bridge (docker's `"bridge": "none"`): containers of
        // tests that are not about networks get `--network none` and leave
        // no bridge or rule behind. Network tests give their own config.
        fs::write(root.config_path(), br#"{"bridge": "none"}"#).unwrap();
        root
    }

    /// A root whose path is at least `len` bytes long (in directories of
    /// 200-byte names), for what path lengths could break. SQLite opens
    /// no database path over 512 bytes.
    pub fn with_long_path(len: usize) -> Root {
        let mut root = Root::new();
        while root.root.as_os_str().len() < len {
            root.root.push("r".repeat(200));
        }
        fs::create_dir_all(&root.root).unwrap();
        root
    }

    /// Writes `data` to a file named `name` in the test's scratch directory.
    pub fn file(&self, name: &str, data: &[u8]) -> String {
        let p = self.scratch.path().join(name);
        fs::write(&p, data).unwrap();
        p.to_string_lossy().into_owned()
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The config file berth is given (`BERTH_CONFIG`), for commands run
    /// other than through [`Root::cmd`].
    pub fn config_path(&self) -> PathBuf {
        self.config_dir.path().join(CONFIG)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("--root").arg(self.path()).args(args);
        c.env_remove("BERTH_ROOT");
        c.env("BERTH_CONFIG", self.config_path());
        c
    }

    /// Runs berth and returns its output, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// Runs berth with `input` on standard input.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run berth");
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait for berth");
        writer.join().unwrap();
        out
    }

    /// Runs berth, asserts success and returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs berth, asserts failure and returns its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "berth {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["image", "inspect", image])).expect("inspect json");
        v[0].clone()
    }

    /// Names of the entries in a directory of the root (e.g. "tmp").
    pub fn entries(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.path().join(sub))
            .map(|r| {
                r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// A tar of a minimal root filesystem: busybox and a symlink per applet.
pub fn busybox_rootfs_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        assert!(
            Path::new(BUSYBOX).exists(),
            "{BUSYBOX} is missing: apt-get install busybox-static"
        );
        // One shared file, rebuilt by each test binary (its content only
        // changes with the busybox package), so runs leave nothing behind.
        let path = std::env::temp_dir().join("berth-test-busybox-rootfs.tar");
        let tmp = std::env::temp_dir().join(format!(
            "berth-test-busybox-rootfs.tar.{}",
            std::process::id()
        ));
        let list = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list");
        let mut b = tar::Builder::new(fs::File::create(&tmp).unwrap());
        let mut dirh = tar::Header::new_gnu();
        dirh.set_entry_type(tar::EntryType::Directory);
        dirh.set_mode(0o755);
        dirh.set_size(0);
        dirh.set_mtime(1_700_000_000);
        for d in ["bin/", "etc/", "tmp/"] {
            b.append_data(&mut dirh.clone(), d, std::io::empty())
                .unwrap();
        }
        b.append_path_with_name(BUSYBOX, "bin/busybox").unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            if applet == "busybox" || applet.is_empty() {
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            h.set_mtime(1_700_000_000);
            b.append_link(&mut h, format!("bin/{applet}"), "busybox")
                .unwrap();
        }
        let passwd =
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(passwd.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, "etc/passwd", &passwd[..]).unwrap();
        b.finish().unwrap();
        fs::rename(&tmp, &path).unwrap();
        path
    })
}

/// Imports the busybox rootfs as `name` and returns the image ID.
pub fn import_busybox(root: &Root, name: &str) -> String {
    let tar = busybox_rootfs_tar().to_str().unwrap().to_string();
    root.ok(&["import", "-c", "CMD [\"sh\"]", &tar, name])
        .trim()
        .to_string()
}

/// A docker CLI talking to the daemon the CI script started, if any.
/// With BERTH_TEST_REQUIRE_DOCKER=1 a missing daemon fails the test
/// instead of skipping it.
pub fn docker() -> Option<Command> {
    let host = std::env::var("BERTH_TEST_DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    let ok = host.as_ref().is_some_and(|h| {
        Command::new("/usr/bin/docker")
            .env("DOCKER_HOST", h)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        assert!(
            std::env::var("BERTH_TEST_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "docker is required but BERTH_TEST_DOCKER_HOST does not answer"
        );
        eprintln!("skipping docker comparison: set BERTH_TEST_DOCKER_HOST to a running dockerd");
        return None;
    }
    let mut c = Command::new("/usr/bin/docker");
    c.env("DOCKER_HOST", host.unwrap());
    Some(c)
}

pub fn docker_ok(args: &[&str]) -> String {
    let out = docker()
        .expect("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Builds a tar archive in memory from (name, kind, data/target) entries,
/// writing names byte for byte so tests can make hostile archives.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

pub fn raw_tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (name, data, link): (&str, &[u8], Option<&str>) = match e {
            Entry::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (n, d, None)
            }
            Entry::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (n, &[], None)
            }
            Entry::Symlink(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                (n, &[], Some(t))
            }
            Entry::Hardlink(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                (n, &[], Some(t))
            }
        };
        h.set_size(data.len() as u64);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A docker-archive (manifest.json layout) of one image made of `layers`
/// (uncompressed layer tars), tagged `tag`.
pub fn docker_archive(layers: &[Vec<u8>], tag: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    let history: Vec<serde_json::Value> = layers
        .iter()
        .map(|_| serde_json::json!({"created": "2024-01-01T00:00:00Z", "created_by": "test"}))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "history": history,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let config_name = format!("{}.json", sha256_hex(config.as_bytes()));
    let layer_names: Vec<String> = layers
        .iter()
        .enumerate()
        .map(|(i, _)| format!("layer{i}/layer.tar"))
        .collect();
    let manifest =
        serde_json::json!([{"Config": config_name, "RepoTags": [tag], "Layers": layer_names}])
            .to_string();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, name, data).unwrap();
    };
    for (name, layer) in layer_names.iter().zip(layers) {
        add(name, layer);
    }
    add(&config_name, config.as_bytes());
    add("manifest.json", manifest.as_bytes());
    b.into_inner().unwrap()
}

/// A private `docker-registry` (Debian's distribution registry) on a free
/// loopback port, with optional htpasswd auth, stopped when dropped.
pub struct Registry {
    pub addr: String,
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Registry {
    pub fn start(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-registry-")
            .tempdir()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}/data\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().display()
        );
        if let Some((user, password)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils)");
            assert!(out.status.success());
            fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}/htpasswd\n",
                dir.path().display()
            ));
        }
        fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (apt-get install docker-registry)");
        // Built first, so a registry that never answers is still stopped.
        let registry = Registry { addr, dir, child };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&registry.addr).is_ok() {
                return registry;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("docker-registry did not start on {}", registry.addr);
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the container tests can run (root and runc); imports the
/// busybox base as `busybox` when they can.
pub fn container_ready(root: &Root) -> bool {
    if !need_root() {
        return false;
    }
    if Command::new("runc").arg("--version").output().is_err() {
        eprintln!("skipping: runc is not installed");
        return false;
    }
    import_busybox(root, "busybox");
    true
}

/// A command's stdout as text.
pub fn stdout_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's stderr as text.
pub fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Mounts under this test's root still present.
pub fn mounts_under(root: &Root) -> Vec<String> {
    let prefix = root.path().to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

/// SIGKILLs the monitor of container `id` and returns its pid.
pub fn kill_monitor(id: &str) -> i32 {
    let monitor = monitor_pid(id).expect("a monitor process for the container");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(monitor).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    monitor
}

/// The pid of the `berth __monitor ROOT ID` process, found in /proc.
fn monitor_pid(id: &str) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        let args: Vec<&str> = cmdline.split('\0').collect();
        (args.get(1) == Some(&"__monitor") && args.get(3) == Some(&id)).then_some(pid)
    })
}

/// A `berth serve` of the test's own, on a socket in its scratch
/// directory, stopped (by pid) when dropped.
pub struct Server {
    pub socket: PathBuf,
    child: std::process::Child,
}

impl Server {
    pub fn start(root: &Root) -> Server {
        let socket = root.scratch.path().join("api/berth.sock");
        let child = root
            .cmd(&["serve", "-H", &format!("unix://{}", socket.display())])
            .stdin(Stdio::null())
            .spawn()
            .expect("start berth serve");
        let server = Server { socket, child };
        for _ in 0..200 {
            if std::os::unix::net::UnixStream::connect(&server.socket).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("berth serve did not listen on {}", server.socket.display());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `DOCKER_HOST` for clients.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Debian's docker CLI, talking to this server.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/docker")
            .env("DOCKER_HOST", self.docker_host())
            .env(
                "DOCKER_CONFIG",
                self.socket.parent().unwrap().join("docker-config"),
            )
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run /usr/bin/docker (apt-get install docker.io)")
    }

    /// Runs the docker CLI, asserts success and returns its stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            stdout_text(&out),
            stderr_text(&out)
        );
        stdout_text(&out)
    }

    /// One HTTP/1.1 request on the socket: status, headers (lower-case
    /// names) and body.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> HttpReply {
        use std::io::Read;
        let mut s = std::os::unix::net::UnixStream::connect(&self.socket).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        // A server that refuses a body stops reading it: its answer
        // still comes.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        // Closing with that body unread resets the connection once its
        // answer has been read: the bytes read before stay in `raw`.
        match s.read_to_end(&mut raw) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => {}
            Err(e) => panic!("read the answer to {method} {path}: {e}"),
        }
        HttpReply::parse(&raw)
    }

    /// SIGKILLs the server, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.child.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        );
        let _ = self.child.wait();
    }
}

pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    fn parse(raw: &[u8]) -> HttpReply {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP answer");
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = raw[end + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
        {
            body = dechunk(&body);
        }
        HttpReply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Docker's error message, `{"message": ...}`.
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[i + 4 + size..];
    }
    out
}

/// The Python of the venv with the Docker SDK for Python (`docker` from
/// PyPI) that .ci/run makes: `BERTH_TEST_PYTHON`, else
/// /opt/berth-test-venv/bin/python; `None` (with a note on stderr) when
/// it is missing.
pub fn docker_sdk_python() -> Option<PathBuf> {
    let python = std::env::var_os("BERTH_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/berth-test-venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "skipping Docker SDK for Python checks: no `docker` module for {} (set BERTH_TEST_PYTHON, or run .ci/run)",
            python.display()
        );
        return None;
    }
    Some(python)
}

/// Runs `script` with the Docker SDK's Python against `server`
/// (`client = docker.DockerClient(base_url=...)` is set up first) and
/// returns its stdout, asserting success.
pub fn docker_sdk(python: &Path, server: &Server, script: &str) -> String {
    let prelude = format!(
        "import docker, json, sys\nclient = docker.DockerClient(base_url={:?}, version='auto')\napi = client.api\n",
        server.docker_host()
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed ({}):\n{script}\nstdout: {}\nstderr: {}",
        out.status,
        stdout_text(&out),
        stderr_text(&out)
    );
    stdout_text(&out)
}
