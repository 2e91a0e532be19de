//! End-to-end tests of `diff`, `commit` and `export` through the `berth`
//! command, on containers run with runc: docker's change letters, a
//! committed image that runs with the changes (and `-c` changes), and an
//! export that is the flattened filesystem.

mod common;

use std::fs;
use std::io::Read;
use std::time::{Duration, Instant};

use common::*;

/// Loads `layered`: busybox with a second layer adding `/data/a` and
/// `/data/b`.
fn load_layered(root: &Root) {
    let base = fs::read(busybox_rootfs_tar()).unwrap();
    let data = raw_tar(&[
        Entry::Dir("data/"),
        Entry::File("data/a", b"a"),
        Entry::File("data/b", b"b"),
    ]);
    let out = root.run_stdin(&["load"], &docker_archive(&[base, data], "layered:latest"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the container every test starts from: a file added, one changed,
/// one deleted.
fn changed_container(root: &Root, name: &str) {
    root.ok(&[
        "run",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        "echo hello > /newfile && echo extra:x:1:1::/:/bin/sh >> /etc/passwd && rm /bin/ls",
    ]);
}

/// (name, entry type, contents) of every entry of a tar.
fn tar_entries(tar: &[u8]) -> Vec<(String, tar::EntryType, Vec<u8>)> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .expect("a tar")
        .map(|e| {
            let mut e = e.expect("a tar entry");
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let kind = e.header().entry_type();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, kind, data)
        })
        .collect()
}

#[test]
fn diff_shows_dockers_letters() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    changed_container(&root, "changed");
    // Runtime mount points (/proc, /etc/hosts ...) are not changes, as in
    // docker, where they live in the init layer.
    assert_eq!(
        root.ok(&["diff", "changed"]),
        "C /bin\nD /bin/ls\nC /etc\nC /etc/passwd\nA /newfile\n"
    );
    // A container that changed nothing has no changes.
    root.ok(&["run", "--name", "idle", "busybox", "true"]);
    assert_eq!(root.ok(&["diff", "idle"]), "");
    // A created container, never started, neither.
    root.ok(&["create", "--name", "fresh", "busybox"]);
    assert_eq!(root.ok(&["diff", "fresh"]), "");
    let err = root.fails(&["diff", "no-such-container"]);
    assert!(
        err.contains("No such container: no-such-container"),
        "{err}"
    );

    // A directory removed and made again hides everything it had.
    load_layered(&root);
    root.ok(&[
        "run",
        "--name",
        "opaque",
        "layered",
        "sh",
        "-c",
        "rm -rf /data && mkdir /data && echo new > /data/new",
    ]);
    assert_eq!(
        root.ok(&["diff", "opaque"]),
        "C /data\nD /data/a\nD /data/b\nA /data/new\n"
    );
}

#[test]
fn diff_of_a_running_container() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/marker; sleep 60",
    ]);
    let start = Instant::now();
    let mut diff = String::new();
    while start.elapsed() < Duration::from_secs(10) {
        diff = root.ok(&["diff", "live"]);
        if diff.contains("/tmp/marker") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(diff, "C /tmp\nA /tmp/marker\n");
    // Committed while running: paused for the commit, then resumed.
    let id = root.ok(&["commit", "live", "live:1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let ps = root.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("live Up"), "{ps}");
    root.ok(&["commit", "--pause=false", "live", "live:2"]);
    assert_eq!(
        root.ok(&["run", "--rm", "live:1", "ls", "/tmp/marker"]),
        "/tmp/marker\n"
    );
    root.ok(&["rm", "-f", "live"]);
}

#[test]
fn commit_makes_an_image_of_the_changes() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    changed_container(&root, "changed");
    let base_history = root.ok(&["history", "-q", "busybox"]).lines().count();
    let id = root.ok(&[
        "commit",
        "-a",
        "Jane <jane@example.com>",
        "-m",
        "a message",
        "changed",
        "snap:1",
    ]);
    let id = id.trim();
    assert!(
        id.len() == 71 && id.starts_with("sha256:"),
        "docker prints the full image id: {id}"
    );
    let images = root.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(
        images.contains(&format!("snap:1 {}", &id[7..19])),
        "{images}"
    );
    let history = root.ok(&["history", "--no-trunc", "snap:1"]);
    assert_eq!(history.lines().count(), base_history + 2, "{history}");
    let newest = history.lines().nth(1).unwrap();
    assert!(newest.starts_with(id), "{history}");
    assert!(newest.contains("sh -c echo hello > /newfile"), "{history}");
    assert!(newest.contains("a message"), "{history}");
    let inspect = root.inspect("snap:1");
    assert_eq!(inspect["Author"], "Jane <jane@example.com>");
    assert_eq!(inspect["Comment"], "a message");
    assert_eq!(
        inspect["Config"]["Cmd"][0], "sh",
        "the container's command becomes the image's"
    );
    let base_layers = root.inspect("busybox")["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        inspect["RootFS"]["Layers"].as_array().unwrap().len(),
        base_layers + 1
    );

    assert_eq!(
        root.ok(&["run", "--rm", "snap:1", "cat", "/newfile"]),
        "hello\n"
    );
    assert_eq!(
        root.ok(&["run", "--rm", "snap:1", "tail", "-n", "1", "/etc/passwd"]),
        "extra:x:1:1::/:/bin/sh\n"
    );
    let out = root.run(&["run", "--rm", "snap:1", "test", "-e", "/bin/ls"]);
    assert_eq!(out.status.code(), Some(1), "/bin/ls is deleted");
    let out = root.run(&["run", "--rm", "snap:1", "sh", "-c", "ls /bin/ls"]);
    assert_ne!(out.status.code(), Some(0), "ls is gone");
    // Nothing the runtime made for the container went into the image.
    root.ok(&["run", "--name", "from-snap", "snap:1", "true"]);
    assert_eq!(root.ok(&["diff", "from-snap"]), "");

    // -c changes apply to the new config.
    root.ok(&["commit", "-c", "CMD [\"echo\",\"x\"]", "changed", "snap:2"]);
    assert_eq!(root.ok(&["run", "--rm", "snap:2"]), "x\n");
    root.ok(&[
        "commit",
        "--change",
        "ENV GREETING=hi",
        "--change",
        "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
        "--change",
        "CMD [\"echo $GREETING\"]",
        "changed",
        "snap:3",
    ]);
    assert_eq!(root.ok(&["run", "--rm", "snap:3"]), "hi\n");

    // Untagged commit: only the id.
    let untagged = root.ok(&["commit", "changed"]);
    assert!(untagged.trim().starts_with("sha256:"), "{untagged}");
    assert!(
        root.ok(&["images", "-q"])
            .lines()
            .any(|l| untagged.trim()[7..].starts_with(l)),
        "listed untagged"
    );

    // Refused before anything is written.
    let before = root.ok(&["images", "-q"]);
    let err = root.fails(&["commit", "-c", "RUN true", "changed", "bad:1"]);
    assert!(err.contains("RUN is not a valid change command"), "{err}");
    let err = root.fails(&["commit", "changed", "Not A Reference"]);
    assert!(err.contains("invalid reference format"), "{err}");
    assert_eq!(root.ok(&["images", "-q"]), before);
}

#[test]
fn commit_keeps_an_opaque_directory_opaque() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    load_layered(&root);
    root.ok(&[
        "run",
        "--name",
        "opaque",
        "layered",
        "sh",
        "-c",
        "rm -rf /data && mkdir /data && echo new > /data/new",
    ]);
    root.ok(&["commit", "opaque", "opaque:1"]);
    assert_eq!(
        root.ok(&["run", "--rm", "opaque:1", "ls", "/data"]),
        "new\n"
    );
    assert_eq!(
        root.ok(&["run", "--rm", "layered", "ls", "/data"]),
        "a\nb\n",
        "the image underneath is untouched"
    );
}

#[test]
fn export_gives_the_flattened_filesystem() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    changed_container(&root, "changed");
    let file = root.scratch.path().join("changed.tar");
    root.ok(&["export", "-o", file.to_str().unwrap(), "changed"]);
    let tar = fs::read(&file).unwrap();
    let entries = tar_entries(&tar);
    let names: Vec<&str> = entries.iter().map(|(n, _, _)| n.as_str()).collect();
    assert!(names.contains(&"newfile"), "{names:?}");
    assert!(names.contains(&"bin/busybox"), "{names:?}");
    assert!(names.contains(&"bin/"), "{names:?}");
    assert!(!names.contains(&"bin/ls"), "deleted: {names:?}");
    assert!(
        !names.iter().any(|n| n.contains(".wh.")),
        "no whiteouts: {names:?}"
    );
    let passwd = entries.iter().find(|(n, _, _)| n == "etc/passwd").unwrap();
    assert!(
        String::from_utf8_lossy(&passwd.2).ends_with("extra:x:1:1::/:/bin/sh\n"),
        "the container's version"
    );
    let newfile = entries.iter().find(|(n, _, _)| n == "newfile").unwrap();
    assert_eq!(newfile.1, tar::EntryType::Regular);
    assert_eq!(newfile.2, b"hello\n");
    let sh = entries.iter().find(|(n, _, _)| n == "bin/sh").unwrap();
    assert_eq!(sh.1, tar::EntryType::Symlink);
    // Each path once.
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());

    // To standard output when it is not a terminal: the same bytes.
    let out = root.run(&["export", "changed"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, tar);
    // Nothing left beside the output file.
    assert_eq!(
        fs::read_dir(root.scratch.path()).unwrap().count(),
        1,
        "only the archive"
    );

    // A directory removed and made again: none of the old contents.
    load_layered(&root);
    root.ok(&[
        "run",
        "--name",
        "opaque",
        "layered",
        "sh",
        "-c",
        "rm -rf /data && mkdir /data && echo new > /data/new",
    ]);
    let out = root.run(&["export", "opaque"]);
    let names: Vec<String> = tar_entries(&out.stdout)
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    assert!(names.contains(&"data/new".to_string()), "{names:?}");
    assert!(!names.contains(&"data/a".to_string()), "{names:?}");
    assert!(names.contains(&"etc/passwd".to_string()), "{names:?}");

    let err = root.fails(&["export", "no-such-container"]);
    assert!(
        err.contains("No such container: no-such-container"),
        "{err}"
    );
}
