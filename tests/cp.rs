//! End-to-end tests of `cp` through the `berth` command: files and
//! directories both ways on created, running, paused and exited
//! containers, tar streams on standard input and output, docker's rules
//! for names and owners, and symlinks planted in a container that must
//! never make berth read or write the host.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;

/// A detached container, removed with `rm -f` however the test ends.
struct Running<'a> {
    root: &'a Root,
    name: String,
}

impl<'a> Running<'a> {
    /// Runs `script`, which ends in a long `sleep`, and returns once that
    /// sleep runs: whatever the script set up before it is in place.
    fn start(root: &'a Root, name: &str, script: &str) -> Running<'a> {
        Running::start_with(root, name, &[], script)
    }

    /// [`Running::start`] with more `run` options.
    fn start_with(root: &'a Root, name: &str, options: &[&str], script: &str) -> Running<'a> {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(options);
        args.extend(["busybox", "sh", "-c", script]);
        root.ok(&args);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !root
            .run(&["exec", name, "sh", "-c", "ps | grep -q '[s]leep 1000'"])
            .status
            .success()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{name} never got to its sleep"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Running {
            root,
            name: name.to_string(),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = self.root.run(&["rm", "-f", &self.name]);
    }
}

/// Runs `script` in a foreground container named `name`, which then stays
/// exited.
fn exited(root: &Root, name: &str, script: &str) {
    root.ok(&["run", "--name", name, "busybox", "sh", "-c", script]);
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// (name, entry type) of every entry of a tar.
fn tar_names(tar: &[u8]) -> Vec<(String, tar::EntryType)> {
    tar::Archive::new(tar)
        .entries()
        .expect("a tar")
        .map(|e| {
            let e = e.expect("a tar entry");
            let name = e.path().unwrap().to_string_lossy().into_owned();
            (name, e.header().entry_type())
        })
        .collect()
}

#[test]
fn host_files_land_in_created_running_and_paused_containers() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let file = root.file("hello.txt", b"hello from the host\n");
    std::os::unix::fs::chown(&file, Some(1234), Some(1234)).unwrap();

    // Created, never started: the overlay is mounted for the copy alone.
    root.ok(&["create", "--name", "made", "busybox", "cat", "/tmp/in"]);
    root.ok(&["cp", &file, "made:/tmp/in"]);
    assert!(mounts_under(&root).is_empty(), "{:?}", mounts_under(&root));
    let out = root.ok(&["start", "-a", "made"]);
    assert_eq!(out, "hello from the host\n");
    // Exited: same again, under `container cp`.
    root.ok(&["container", "cp", &file, "made:/tmp/in"]);
    assert!(mounts_under(&root).is_empty(), "{:?}", mounts_under(&root));

    let c = Running::start(&root, "live", "sleep 1000");
    // Into an existing directory, the file keeps its name; root owns it.
    root.ok(&["cp", &file, "live:/tmp"]);
    let check = |path: &str| {
        root.ok(&[
            "exec",
            &c.name,
            "sh",
            "-c",
            &format!("cat {path}; stat -c %u:%g:%a {path}"),
        ])
    };
    assert_eq!(check("/tmp/hello.txt"), "hello from the host\n0:0:644\n");
    // Onto a new name, with -a keeping the host's owner; no leading `/`.
    root.ok(&["cp", "-a", &file, "live:tmp/renamed"]);
    assert_eq!(
        check("/tmp/renamed"),
        "hello from the host\n1234:1234:644\n"
    );
    // Onto an existing file, which is replaced.
    let other = root.file("other", b"replaced\n");
    root.ok(&["cp", &other, "live:/tmp/renamed"]);
    assert_eq!(check("/tmp/renamed"), "replaced\n0:0:644\n");

    // A directory, into an existing one and as a new name; `/.` copies
    // what is in it.
    let dir = root.scratch.path().join("tree");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/a"), b"a").unwrap();
    fs::set_permissions(dir.join("sub/a"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("sub/a", dir.join("link")).unwrap();
    let dir = dir.to_str().unwrap();
    root.ok(&["cp", dir, "live:/tmp"]);
    root.ok(&["cp", dir, "live:/tmp/newname"]);
    root.ok(&["exec", "live", "mkdir", "/tmp/contents"]);
    root.ok(&["cp", &format!("{dir}/."), "live:/tmp/contents"]);
    let listing = root.ok(&[
        "exec",
        "live",
        "sh",
        "-c",
        "for d in tree newname contents; do cat /tmp/$d/sub/a; stat -c %a /tmp/$d/sub/a; \
         readlink /tmp/$d/link; done",
    ]);
    assert_eq!(listing, "a600\nsub/a\n".repeat(3));

    // Paused: the rootfs is still there to copy into and out of.
    root.ok(&["pause", "live"]);
    root.ok(&["cp", &other, "live:/tmp/while-paused"]);
    let out = root.scratch.path().join("from-paused");
    root.ok(&["cp", "live:/tmp/while-paused", out.to_str().unwrap()]);
    assert_eq!(fs::read(&out).unwrap(), b"replaced\n");
    root.ok(&["unpause", "live"]);
    assert_eq!(check("/tmp/while-paused"), "replaced\n0:0:644\n");
}

#[test]
fn a_running_containers_volumes_and_tmpfs_mounts_are_copied_through() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let volume = root.scratch.path().join("volume");
    fs::create_dir(&volume).unwrap();
    fs::write(volume.join("on-host"), b"from the volume\n").unwrap();
    let bind = format!("{}:/data", volume.display());
    let c = Running::start_with(
        &root,
        "mounted",
        &["-v", &bind, "--tmpfs", "/scratch"],
        "echo in tmpfs > /scratch/note && sleep 1000",
    );
    // Into the volume: the file is on the host, where docker puts it.
    let file = root.file("hello.txt", b"hello\n");
    root.ok(&["cp", &file, &format!("{}:/data/", c.name)]);
    assert_eq!(fs::read(volume.join("hello.txt")).unwrap(), b"hello\n");
    // Out of the volume and out of the tmpfs mount.
    let out = root.scratch.path().join("out");
    root.ok(&[
        "cp",
        &format!("{}:/data/on-host", c.name),
        out.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(&out).unwrap(), b"from the volume\n");
    root.ok(&[
        "cp",
        &format!("{}:/scratch/note", c.name),
        out.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(&out).unwrap(), b"in tmpfs\n");
    // Into the tmpfs mount: the container sees it there.
    root.ok(&["cp", &file, &format!("{}:/scratch/copied", c.name)]);
    assert_eq!(
        root.ok(&["exec", &c.name, "cat", "/scratch/copied"]),
        "hello\n"
    );
}

#[test]
fn container_files_and_directories_reach_the_host_with_their_modes() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    exited(
        &root,
        "src",
        "mkdir -p /data/dir/sub && echo one > /data/dir/one && chmod 640 /data/dir/one && \
         echo two > /data/dir/sub/two && chmod 755 /data/dir/sub/two && chmod 700 /data/dir/sub && \
         ln -s one /data/dir/link && ln /data/dir/one /data/dir/hard",
    );
    let host = root.scratch.path();
    let p = |name: &str| host.join(name).to_str().unwrap().to_string();

    // A directory to a new name becomes that directory.
    root.ok(&["cp", "src:/data/dir", &p("new")]);
    assert_eq!(fs::read(host.join("new/one")).unwrap(), b"one\n");
    assert_eq!(fs::read(host.join("new/sub/two")).unwrap(), b"two\n");
    assert_eq!(mode(&host.join("new/one")), 0o640);
    assert_eq!(mode(&host.join("new/sub/two")), 0o755);
    assert_eq!(mode(&host.join("new/sub")), 0o700);
    assert_eq!(
        fs::read_link(host.join("new/link")).unwrap(),
        Path::new("one")
    );
    let (one, hard) = (
        fs::metadata(host.join("new/one")).unwrap(),
        fs::metadata(host.join("new/hard")).unwrap(),
    );
    assert_eq!(one.ino(), hard.ino(), "hardlinks stay hardlinks");

    // Into an existing directory it keeps its name; `/.` copies contents;
    // a trailing `/` on the source is the same directory.
    fs::create_dir(host.join("existing")).unwrap();
    root.ok(&["cp", "src:/data/dir/", &p("existing")]);
    assert!(host.join("existing/dir/sub/two").is_file());
    fs::create_dir(host.join("contents")).unwrap();
    root.ok(&["cp", "src:/data/dir/.", &p("contents")]);
    assert!(host.join("contents/sub/two").is_file());
    assert!(!host.join("contents/dir").exists());

    // A file: to a new name, into a directory, onto a file.
    root.ok(&["cp", "src:/data/dir/sub/two", &p("file")]);
    assert_eq!(fs::read(host.join("file")).unwrap(), b"two\n");
    assert_eq!(mode(&host.join("file")), 0o755);
    root.ok(&["cp", "src:data/dir/one", &p("existing")]);
    assert_eq!(fs::read(host.join("existing/one")).unwrap(), b"one\n");
    root.ok(&["cp", "src:/data/dir/one", &p("file")]);
    assert_eq!(fs::read(host.join("file")).unwrap(), b"one\n");

    // docker's error cases.
    let err = root.fails(&["cp", "src:/data/dir", &p("file")]);
    assert!(err.contains("cannot copy directory"), "{err}");
    let err = root.fails(&["cp", "src:/data/dir/one", &format!("{}/", p("nodir"))]);
    assert!(err.contains("no such directory"), "{err}");
    let err = root.fails(&["cp", "src:/data/dir/one", &p("missing/deeper")]);
    assert!(err.contains("does not exist"), "{err}");
    assert!(mounts_under(&root).is_empty(), "{:?}", mounts_under(&root));
}

#[test]
fn tar_streams_on_standard_output_and_input() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    exited(
        &root,
        "box",
        "mkdir /data && echo x > /data/x && ln -s x /data/y",
    );
    let out = root.run(&["cp", "box:/data", "-"]);
    assert!(out.status.success(), "{}", stderr_text(&out));
    assert_eq!(
        tar_names(&out.stdout),
        vec![
            ("data/".to_string(), tar::EntryType::Directory),
            ("data/x".to_string(), tar::EntryType::Regular),
            ("data/y".to_string(), tar::EntryType::Symlink),
        ]
    );
    let out = root.run(&["cp", "box:/data/.", "-"]);
    let names: Vec<String> = tar_names(&out.stdout).into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["./", "x", "y"]);

    let input = raw_tar(&[
        Entry::Dir("in/"),
        Entry::File("in/f", b"from stdin\n"),
        Entry::Symlink("in/l", "f"),
    ]);
    let out = root.run_stdin(&["cp", "-", "box:/data"], &input);
    assert!(out.status.success(), "{}", stderr_text(&out));
    let out = root.run_stdin(&["cp", "-", "box:/data/x"], &input);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_text(&out).contains("destination \"box:/data/x\" must be a directory"),
        "{}",
        stderr_text(&out)
    );
    let out = root.run(&["cp", "box:/data/in/l", "-"]);
    assert_eq!(
        tar_names(&out.stdout),
        vec![("l".to_string(), tar::EntryType::Symlink)]
    );
    let out = root.run(&["cp", "-L", "box:/data/in/l", "-"]);
    let mut a = tar::Archive::new(&out.stdout[..]);
    let mut e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(
        e.path().unwrap(),
        Path::new("l"),
        "-L keeps the name asked for"
    );
    let mut data = String::new();
    std::io::Read::read_to_string(&mut e, &mut data).unwrap();
    assert_eq!(data, "from stdin\n");
    assert!(mounts_under(&root).is_empty(), "{:?}", mounts_under(&root));
}

#[test]
fn symlinks_in_a_container_never_reach_the_host() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    // A host directory the container's links aim at, with a sentinel.
    let hostdir = root.scratch.path().join("HOSTDIR");
    fs::create_dir(&hostdir).unwrap();
    fs::write(hostdir.join("sentinel"), b"host\n").unwrap();
    let host_etc_name = format!("berth-cp-test-{}", std::process::id());
    let up = format!("../../../../../..{}", hostdir.display());
    let c = Running::start(
        &root,
        "evil",
        &format!(
            "mkdir -p /ctr {} && ln -s /etc /ctr/escape && ln -s {up} /ctr/up && sleep 1000",
            root.scratch.path().display()
        ),
    );
    let file = root.file(&host_etc_name, b"payload\n");
    let host_unchanged = || {
        assert_eq!(fs::read(hostdir.join("sentinel")).unwrap(), b"host\n");
        let names: Vec<_> = fs::read_dir(&hostdir).unwrap().collect();
        assert_eq!(names.len(), 1, "nothing new in the host directory");
        assert!(!Path::new("/etc").join(&host_etc_name).exists());
    };
    let in_container = |path: &str| root.ok(&["exec", &c.name, "cat", path]);

    // As a destination: `escape` is the container's /etc.
    root.ok(&["cp", &file, "evil:/ctr/escape"]);
    assert_eq!(in_container(&format!("/etc/{host_etc_name}")), "payload\n");
    host_unchanged();
    // Through `up`, which leads nowhere inside the container.
    let err = root.fails(&["cp", &file, "evil:/ctr/up/sentinel"]);
    assert!(err.contains("Could not find the file"), "{err}");
    host_unchanged();
    // Onto `up` itself: the file is made where the link points, inside
    // (the container has the host directory's parent, not the directory).
    root.ok(&["cp", &file, "evil:/ctr/up"]);
    assert_eq!(in_container(&hostdir.display().to_string()), "payload\n");
    host_unchanged();
    // A tar through the links lands inside as well.
    let tar = raw_tar(&[Entry::File("escape/from-tar", b"t\n")]);
    let out = root.run_stdin(&["cp", "-", "evil:/ctr"], &tar);
    assert!(out.status.success(), "{}", stderr_text(&out));
    assert_eq!(in_container("/etc/from-tar"), "t\n");
    assert!(!Path::new("/etc/from-tar").exists());

    // As a source: what is read is the container's own /etc.
    let container_passwd = in_container("/etc/passwd");
    assert_ne!(container_passwd, fs::read_to_string("/etc/passwd").unwrap());
    let out = root.scratch.path().join("passwd");
    root.ok(&["cp", "evil:/ctr/escape/passwd", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&out).unwrap(), container_passwd);
    let out = root.scratch.path().join("etc-copy");
    root.ok(&["cp", "-L", "evil:/ctr/escape", out.to_str().unwrap()]);
    assert_eq!(
        fs::read_to_string(out.join("passwd")).unwrap(),
        container_passwd
    );
    // `up` now leads to the file made through it above, in the container.
    let err = root.fails(&["cp", "evil:/ctr/up/sentinel", out.to_str().unwrap()]);
    assert!(err.contains("/ctr/up/sentinel in container evil"), "{err}");
    // Without -L the link itself is copied, not what it points at.
    let out = root.run(&["cp", "evil:/ctr/up", "-"]);
    assert_eq!(
        tar_names(&out.stdout),
        vec![("up".to_string(), tar::EntryType::Symlink)]
    );
    host_unchanged();

    // The same once it is stopped, through the overlay mounted for cp.
    root.ok(&["stop", "-t", "0", "evil"]);
    root.ok(&["cp", &file, "evil:/ctr/escape/again"]);
    let out = root.scratch.path().join("again");
    root.ok(&["cp", "evil:/ctr/escape/again", out.to_str().unwrap()]);
    assert_eq!(fs::read(&out).unwrap(), b"payload\n");
    assert!(!Path::new("/etc/again").exists());
    host_unchanged();
    assert!(mounts_under(&root).is_empty(), "{:?}", mounts_under(&root));
}

#[test]
fn errors_name_what_is_missing_and_exit_1() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&["create", "--name", "c", "busybox"]);
    let out_path = root.scratch.path().join("out");
    let out = root.run(&["cp", "c:/no/such/file", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_text(&out).contains("Could not find the file /no/such/file in container c"),
        "{}",
        stderr_text(&out)
    );
    let missing = root.scratch.path().join("missing");
    let out = root.run(&["cp", missing.to_str().unwrap(), "c:/tmp"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_text(&out).contains(missing.to_str().unwrap()),
        "{}",
        stderr_text(&out)
    );
    let file = root.file("f", b"f");
    let out = root.run(&["cp", &file, "c:/no/such/dir/f"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_text(&out).contains("Could not find the file /no/such/dir in container c"),
        "{}",
        stderr_text(&out)
    );
    let err = root.fails(&["cp", &file, "nosuch:/tmp"]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    let err = root.fails(&["cp", "c:/etc", "c:/tmp"]);
    assert!(
        err.contains("copying between containers is not supported"),
        "{err}"
    );
    let err = root.fails(&["cp", &file, "/tmp"]);
    assert!(
        err.contains("must specify at least one container source"),
        "{err}"
    );
    assert!(mounts_under(&root).is_empty(), "{:?}", mounts_under(&root));
}
