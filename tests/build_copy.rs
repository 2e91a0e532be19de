//! End-to-end tests of `COPY` and `ADD` in `berth build`: `--from` a stage
//! (by name and by index) and an image, archives unpacked by `ADD` (and
//! hostile ones refused), downloads from a loopback HTTP server with and
//! without `--checksum`, and `--chown` by name.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// Writes a context of `files` and its `Dockerfile` into a fresh
/// directory of the test's scratch space.
fn context(root: &Root, name: &str, dockerfile: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = root.scratch.path().join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for (path, data) in files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }
    dir
}

fn build(root: &Root, dir: &std::path::Path, tag: &str) -> String {
    root.ok(&["build", "-t", tag, dir.to_str().unwrap()])
}

/// Runs `script` with the image's shell and returns what it printed.
fn sh(root: &Root, image: &str, script: &str) -> String {
    root.ok(&["run", "--rm", image, "sh", "-c", script])
}

fn tar_of(entries: &[(&str, &[u8], u32, u64)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, mode, uid) in entries {
        let mut h = tar::Header::new_gnu();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
        }
        h.set_mode(*mode);
        h.set_uid(*uid);
        h.set_gid(*uid);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(data).unwrap();
    xz.finish().unwrap()
}

#[test]
fn copy_from_stages_by_name_and_index_and_from_an_image() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dockerfile = "\
FROM busybox AS builder
RUN mkdir -p /out && echo built > /out/app && chmod 750 /out/app && chown 5:6 /out/app \
 && ln -s app /out/link && echo temp > /out/gone
RUN rm /out/gone
FROM busybox
COPY --from=builder /out/app /by-name
COPY --from=0 /out/ /by-index/
COPY --from=BUILDER /out/l* /followed/
COPY --from=busybox /bin/busybox /bb
";
    let dir = context(&root, "ctx", dockerfile, &[]);
    let out = build(&root, &dir, "multi:1");
    assert!(out.contains("Successfully tagged multi:1"), "{out}");
    let shown = sh(
        &root,
        "multi:1",
        "cat /by-name; stat -c '%a %u:%g' /by-name; \
         ls -A /by-index; readlink /by-index/link; \
         cat /followed/link; cmp /bb /bin/busybox && stat -c %a /bb",
    );
    assert_eq!(
        shown, "built\n750 5:6\napp\nlink\napp\nbuilt\n755\n",
        "a file from the builder keeps its bytes and mode, and its owner (docker keeps it without --chown); \
         the removed file does not come along"
    );

    // Nothing changed: every step comes from the cache.
    let again = build(&root, &dir, "multi:1");
    assert_eq!(again.matches(" ---> Using cache").count(), 6, "{again}");

    // An image that is neither here nor anywhere: a loopback registry
    // nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let missing = format!("127.0.0.1:{port}/nothing/here:1");
    let dir = context(
        &root,
        "missing",
        &format!("FROM busybox\nCOPY --from={missing} /a /a\n"),
        &[],
    );
    let stderr = root.fails(&["build", "-t", "never:1", dir.to_str().unwrap()]);
    assert!(
        stderr.contains(&format!(
            "Dockerfile:2: COPY --from={missing}: no stage or image named \"{missing}\" exists"
        )),
        "{stderr}"
    );
    root.fails(&["image", "inspect", "never:1"]);

    let dir = context(
        &root,
        "nofile",
        "FROM busybox AS b\nFROM busybox\nCOPY --from=b /nope /x\n",
        &[],
    );
    let stderr = root.fails(&["build", dir.to_str().unwrap()]);
    assert!(
        stderr.contains(
            "Dockerfile:3: COPY failed: file not found in --from=b: stat nope: file does not exist"
        ),
        "{stderr}"
    );
}

#[test]
fn add_unpacks_local_archives_and_copies_other_files() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let tar = tar_of(&[
        ("dir/", b"", 0o755, 0),
        ("dir/x", b"x in the archive\n", 0o644, 0),
        ("y", b"y\n", 0o640, 1234),
    ]);
    let dockerfile = "\
FROM busybox
ADD app.tar.gz /gz/
ADD app.tar.xz /xz
ADD plain.txt /plain/
ADD fake.tar.gz /fake/
COPY app.tar.gz /copied/
";
    let dir = context(
        &root,
        "ctx",
        dockerfile,
        &[
            ("app.tar.gz", &gzip(&tar)),
            ("app.tar.xz", &xz(&tar)),
            ("plain.txt", b"plain\n"),
            ("fake.tar.gz", b"only named like an archive\n"),
        ],
    );
    build(&root, &dir, "unpacked:1");
    let shown = sh(
        &root,
        "unpacked:1",
        "cat /gz/dir/x /xz/dir/x; stat -c '%a %u:%g' /gz/y; cat /plain/plain.txt /fake/fake.tar.gz; \
         test -f /copied/app.tar.gz && echo copied as is",
    );
    assert_eq!(
        shown,
        "x in the archive\nx in the archive\n640 1234:1234\nplain\nonly named like an archive\ncopied as is\n"
    );
}

#[test]
fn an_archive_cannot_write_outside_the_destination() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let climbing = raw_tar(&[Entry::File("../../evil", b"x")]);
    let through_link = raw_tar(&[
        Entry::Symlink("etc", "/etc"),
        Entry::File("etc/passwd", b"owned\n"),
    ]);
    for (name, archive, message) in [
        (
            "climbing",
            climbing,
            "archive entry \"../../evil\" is outside of \"/dest\"",
        ),
        (
            "link",
            through_link,
            "archive entry \"etc/passwd\" goes through the symlink \"etc\"",
        ),
    ] {
        let dir = context(
            &root,
            name,
            "FROM busybox\nADD evil.tar /dest/\n",
            &[("evil.tar", &archive)],
        );
        let stderr = root.fails(&["build", "-t", "evil:1", dir.to_str().unwrap()]);
        assert!(stderr.contains("Dockerfile:2"), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        root.fails(&["image", "inspect", "evil:1"]);
    }
    assert!(!root.scratch.path().join("evil").exists());
    assert!(!root.path().join("evil").exists());
}

/// A loopback HTTP server for `files` (path, body), each served with a
/// fixed `Last-Modified`. It stops when dropped, or by itself after two
/// minutes.
struct Server {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

impl Server {
    fn start(files: Vec<(String, Vec<u8>)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stopping.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &files),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(_) => break,
                }
            }
        });
        Server {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, files: &[(String, Vec<u8>)]) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65536 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let response = match files.iter().find(|(p, _)| p == path) {
        Some((_, body)) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: {LAST_MODIFIED}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = stream.write_all(&response);
}

#[test]
fn add_downloads_urls_and_checks_their_checksum() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let data = b"downloaded bytes\n".to_vec();
    let archive = gzip(&tar_of(&[("inside", b"i\n", 0o644, 0)]));
    let server = Server::start(vec![
        ("/files/data.bin".to_string(), data.clone()),
        ("/files/app.tar.gz".to_string(), archive),
    ]);
    let good = format!("sha256:{}", sha256_hex(&data));
    let dockerfile = format!(
        "FROM busybox\n\
         ADD --checksum={good} {} /dl/\n\
         ADD {} /named\n\
         ADD {} /remote/\n",
        server.url("/files/data.bin"),
        server.url("/files/data.bin"),
        server.url("/files/app.tar.gz"),
    );
    let dir = context(&root, "ctx", &dockerfile, &[]);
    build(&root, &dir, "fetched:1");
    let shown = sh(
        &root,
        "fetched:1",
        "cat /dl/data.bin /named; stat -c '%a %u:%g %Y' /dl/data.bin; ls /remote",
    );
    assert_eq!(
        shown, "downloaded bytes\ndownloaded bytes\n600 0:0 1445412480\napp.tar.gz\n",
        "mode 0600, mtime from Last-Modified, a downloaded archive stays packed"
    );

    let bad = format!("sha256:{}", "0".repeat(64));
    let url = server.url("/files/data.bin");
    let dir = context(
        &root,
        "bad",
        &format!("FROM busybox\nADD --checksum={bad} {url} /dl/\n"),
        &[],
    );
    let stderr = root.fails(&["build", "-t", "unchecked:1", dir.to_str().unwrap()]);
    assert!(
        stderr.contains(&format!(
            "Dockerfile:2: ADD: checksum mismatch for {url}: expected {bad}, got {good}"
        )),
        "{stderr}"
    );
    root.fails(&["image", "inspect", "unchecked:1"]);

    let missing = server.url("/files/missing");
    let dir = context(
        &root,
        "missing",
        &format!("FROM busybox\nADD {missing} /dl/\n"),
        &[],
    );
    let stderr = root.fails(&["build", dir.to_str().unwrap()]);
    assert!(
        stderr.contains(&format!("failed to GET {missing} with status 404")),
        "{stderr}"
    );
}

#[test]
fn chown_by_user_and_group_names() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dockerfile = "\
FROM busybox
COPY passwd group /etc/
COPY --chown=app:staff a.txt /owned/a
COPY --chown=app a.txt /owned/b
COPY --chown=7:8 --chmod=640 --link a.txt /owned/c
";
    let passwd = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    let group = b"root:x:0:\nstaff:x:50:app\napp:x:1001:\n";
    let dir = context(
        &root,
        "ctx",
        dockerfile,
        &[("passwd", passwd), ("group", group), ("a.txt", b"a\n")],
    );
    build(&root, &dir, "owned:1");
    assert_eq!(
        sh(&root, "owned:1", "cd /owned && stat -c '%n %a %u:%g' a b c"),
        "a 644 1000:50\nb 644 1000:1001\nc 640 7:8\n"
    );

    let dir = context(
        &root,
        "unknown",
        "FROM busybox\nCOPY --chown=ghost a.txt /a\n",
        &[("a.txt", b"a\n")],
    );
    let stderr = root.fails(&["build", dir.to_str().unwrap()]);
    assert!(
        stderr.contains(
            "Dockerfile:2: COPY failed: unable to convert uid/gid chown string to host mapping: can't find uid for user ghost: no such user: ghost"
        ),
        "{stderr}"
    );
}
