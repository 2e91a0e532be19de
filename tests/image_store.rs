//! End-to-end tests of the image store through the `berth` command: import,
//! list, inspect, tag, rmi, history, save/load round trips, whiteouts and
//! hardlinks, hostile and broken archives, killed processes, and docker
//! interoperability when a docker daemon is available.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn import_then_list_inspect_and_format() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let id = import_busybox(&root, "busybox");
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "import prints the image ID: {id}"
    );

    let table = root.ok(&["images"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{header:?}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], &["busybox", "latest", &id[7..19]]);
    assert!(row.last().unwrap().ends_with("MB"), "size column: {row:?}");

    assert_eq!(root.ok(&["images", "-q"]).trim(), &id[7..19]);
    assert_eq!(root.ok(&["images", "--no-trunc", "-q"]).trim(), id);
    assert_eq!(
        root.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        "busybox:latest"
    );
    let json: serde_json::Value =
        serde_json::from_str(root.ok(&["images", "--format", "json"]).trim()).unwrap();
    assert_eq!(json["Repository"], "busybox");
    assert_eq!(json["ID"], &id[7..19]);
    assert_eq!(
        root.ok(&["image", "ls", "-q"]),
        root.ok(&["images", "-q"]),
        "image ls is an alias"
    );

    let v = root.inspect("busybox");
    assert_eq!(v["Id"], id);
    assert_eq!(v["RepoTags"], serde_json::json!(["busybox:latest"]));
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(v["Size"].as_u64().unwrap() > 1_000_000);
    assert_eq!(
        root.ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{index .RepoTags 0}}",
            &id[7..19]
        ])
        .trim(),
        format!("{id} busybox:latest")
    );

    // The layer is really unpacked: busybox and its applet links.
    let upper = v["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
    assert!(Path::new(upper).join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(Path::new(upper).join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
}

#[test]
fn import_applies_changes_and_message() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let tar = busybox_rootfs_tar().to_str().unwrap().to_string();
    let data = fs::read(&tar).unwrap();
    let out = root.run_stdin(
        &[
            "import",
            "-m",
            "made by a test",
            "-c",
            "ENV A=1 B=two",
            "-c",
            "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
            "-c",
            "CMD echo hi",
            "-c",
            "WORKDIR /srv",
            "-c",
            "USER nobody",
            "-c",
            "EXPOSE 80/tcp 53/udp",
            "-c",
            "LABEL org.example=yes",
            "-c",
            "VOLUME /data",
            "-",
            "example/app:1.0",
        ],
        &data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = root.inspect("example/app:1.0");
    let c = &v["Config"];
    assert_eq!(c["Env"], serde_json::json!(["A=1", "B=two"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["User"], "nobody");
    assert_eq!(
        c["ExposedPorts"],
        serde_json::json!({"53/udp": {}, "80/tcp": {}})
    );
    assert_eq!(c["Labels"], serde_json::json!({"org.example": "yes"}));
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
    let history = root.ok(&["history", "example/app:1.0"]);
    assert!(
        history
            .lines()
            .next()
            .unwrap()
            .starts_with("IMAGE          CREATED"),
        "{history}"
    );
    assert!(history.contains("made by a test"), "{history}");
    assert_eq!(
        root.ok(&["history", "-q", "example/app:1.0"]).trim(),
        v["Id"].as_str().unwrap()[7..19].to_string()
    );

    let err = root.fails(&["import", "-c", "FROBNICATE x", &tar, "bad"]);
    assert!(
        err.contains("FROBNICATE") || err.to_lowercase().contains("frobnicate"),
        "{err}"
    );
    let err = root.fails(&["import", &tar, "Bad:Name"]);
    assert!(err.contains("invalid reference format"), "{err}");
    assert_eq!(
        root.ok(&["images", "-q"]).lines().count(),
        1,
        "failed imports add nothing"
    );
    assert!(
        root.entries("tmp").is_empty(),
        "failed imports leave no temporary files"
    );
}

#[test]
fn tag_rmi_and_garbage_collection() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let id = import_busybox(&root, "busybox");
    root.ok(&["tag", "busybox", "localhost:5000/tools/bb:v1"]);
    root.ok(&["image", "tag", &id, "other"]);
    let repos = root.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut repos: Vec<&str> = repos.lines().collect();
    repos.sort();
    assert_eq!(
        repos,
        [
            "busybox:latest",
            "localhost:5000/tools/bb:v1",
            "other:latest"
        ]
    );
    assert_eq!(
        root.ok(&[
            "images",
            "--filter",
            "reference=localhost:5000/*/*",
            "--format",
            "{{.Tag}}"
        ])
        .trim(),
        "v1"
    );
    assert_eq!(
        root.ok(&["images", "other", "--format", "{{.Repository}}"])
            .trim(),
        "other"
    );

    // An ID with tags in several repositories needs -f.
    let err = root.fails(&["rmi", &id[7..19]]);
    assert!(
        err.contains("image is referenced in multiple repositories"),
        "{err}"
    );

    assert_eq!(
        root.ok(&["rmi", "busybox"]).trim(),
        "Untagged: busybox:latest"
    );
    assert_eq!(root.ok(&["rmi", "other"]).trim(), "Untagged: other:latest");
    let out = root.ok(&["image", "rm", "localhost:5000/tools/bb:v1"]);
    assert!(
        out.starts_with("Untagged: localhost:5000/tools/bb:v1\nDeleted: "),
        "{out}"
    );
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(root.ok(&["images", "-q"]), "");
    assert!(
        root.entries("blobs/sha256").is_empty(),
        "blobs removed with the last image"
    );
    assert_eq!(
        root.entries("layers"),
        ["l"],
        "layers removed with the last image"
    );
    assert!(root.entries("layers/l").is_empty());

    let out = root.run(&["rmi", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such image: nosuch"));
    let err = root.fails(&["tag", "nosuch", "x"]);
    assert!(err.contains("No such image: nosuch"), "{err}");
}

#[test]
fn shared_layers_survive_removal_of_one_image() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let base = raw_tar(&[Entry::Dir("etc/"), Entry::File("etc/os", b"base\n")]);
    let top_a = raw_tar(&[Entry::File("a", b"a\n")]);
    let top_b = raw_tar(&[Entry::File("b", b"b\n")]);
    let a = root.file("a.tar", &docker_archive(&[base.clone(), top_a], "img-a:1"));
    let b = root.file("b.tar", &docker_archive(&[base, top_b], "img-b:1"));
    root.ok(&["load", "-i", &a]);
    root.ok(&["load", "-i", &b]);
    assert_eq!(
        root.entries("layers").len(),
        4,
        "3 layer dirs (base shared) + l: {:?}",
        root.entries("layers")
    );
    root.ok(&["rmi", "img-a:1"]);
    let v = root.inspect("img-b:1");
    let lower = v["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap();
    assert_eq!(
        fs::read(Path::new(lower).join("etc/os")).unwrap(),
        b"base\n",
        "shared base layer kept"
    );
    assert_eq!(root.entries("layers").len(), 3);
}

#[test]
fn save_and_load_round_trip_keeps_the_image_id() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let id = import_busybox(&root, "busybox:1");
    let archive = root.file("saved.tar", b"");
    root.ok(&["save", "-o", &archive, "busybox:1"]);
    let oci = root.file("saved-oci.tar", b"");
    root.ok(&["save", "--format", "oci-archive", "-o", &oci, "busybox:1"]);
    root.ok(&["rmi", "busybox:1"]);
    assert_eq!(root.ok(&["images", "-q"]), "");

    assert_eq!(
        root.ok(&["load", "-i", &archive]).trim(),
        "Loaded image: busybox:1"
    );
    assert_eq!(root.inspect("busybox:1")["Id"], id);
    root.ok(&["rmi", "busybox:1"]);

    assert_eq!(
        root.ok(&["load", "-i", &oci]).trim(),
        "Loaded image: busybox:1"
    );
    assert_eq!(root.inspect("busybox:1")["Id"], id);

    // An OCI image layout directory (the oci-archive unpacked).
    let layout = tempfile::tempdir().unwrap();
    tar::Archive::new(fs::File::open(&oci).unwrap())
        .unpack(layout.path())
        .unwrap();
    let from_dir = Root::new();
    assert_eq!(
        from_dir
            .ok(&["load", "-i", layout.path().to_str().unwrap()])
            .trim(),
        "Loaded image: busybox:1"
    );
    assert_eq!(from_dir.inspect("busybox:1")["Id"], id);

    // From standard input, and into a second store.
    let other = Root::new();
    let out = other.run_stdin(&["load"], &fs::read(&archive).unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(other.inspect("busybox:1")["Id"], id);

    // Saving to a terminal-less stdout works too and gives the same bytes.
    let out = root.cmd(&["save", "busybox:1"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        out.stdout,
        fs::read(&archive).unwrap(),
        "save is deterministic"
    );

    // An OCI tool reads berth's archives.
    if Path::new("/usr/bin/skopeo").exists() {
        for (kind, path) in [("docker-archive", &archive), ("oci-archive", &oci)] {
            let out = Command::new("skopeo")
                .args(["inspect", "--raw", "--config", &format!("{kind}:{path}")])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "skopeo {kind}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                format!("sha256:{}", sha256_hex(&out.stdout)),
                id,
                "skopeo sees the same config"
            );
        }
    }
}

#[test]
fn whiteouts_and_hardlinks_survive_load_and_save() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let lower = raw_tar(&[
        Entry::Dir("a/"),
        Entry::File("a/gone", b"delete me\n"),
        Entry::File("a/kept", b"keep\n"),
        Entry::Hardlink("a/kept-link", "a/kept"),
        Entry::Dir("d/"),
        Entry::File("d/old", b"old\n"),
    ]);
    let upper = raw_tar(&[
        Entry::File("a/.wh.gone", b""),
        Entry::Dir("d/"),
        Entry::File("d/.wh..wh..opq", b""),
        Entry::File("d/new", b"new\n"),
    ]);
    let archive = root.file("wh.tar", &docker_archive(&[lower, upper], "wh:1"));
    root.ok(&["load", "-i", &archive]);
    let v = root.inspect("wh:1");
    let data = &v["GraphDriver"]["Data"];
    let lower_dir = Path::new(data["LowerDir"].as_str().unwrap());
    let upper_dir = Path::new(data["UpperDir"].as_str().unwrap());

    let kept = fs::metadata(lower_dir.join("a/kept")).unwrap();
    let link = fs::metadata(lower_dir.join("a/kept-link")).unwrap();
    assert_eq!(kept.ino(), link.ino(), "hardlink kept as a hardlink");
    let wh = fs::symlink_metadata(upper_dir.join("a/gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout is a 0/0 char device"
    );
    let mut buf = [0u8; 1];
    let n = rustix::fs::lgetxattr(upper_dir.join("d"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y", "opaque directory marked for overlay");

    // Overlay shows what docker would: the whiteouts hide the lower files.
    let mnt = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let upper_rw = tempfile::tempdir().unwrap();
    let opts = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        upper_dir.display(),
        lower_dir.display(),
        upper_rw.path().display(),
        work.path().display()
    );
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(mnt.path())
        .status()
        .unwrap();
    assert!(status.success(), "mount overlay");
    let gone = mnt.path().join("a/gone").exists();
    let mut d: Vec<String> = fs::read_dir(mnt.path().join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let kept_text = fs::read(mnt.path().join("a/kept")).unwrap();
    Command::new("umount").arg(mnt.path()).status().unwrap();
    d.sort();
    assert!(!gone, "whited-out file hidden");
    assert_eq!(d, ["new"], "opaque directory hides the lower contents");
    assert_eq!(kept_text, b"keep\n");

    // Saved back, the archive has OCI whiteouts again and the same ID.
    let saved = root.file("wh-saved.tar", b"");
    root.ok(&["save", "-o", &saved, "wh:1"]);
    let names = tar_names_nested(&fs::read(&saved).unwrap());
    assert!(names.iter().any(|n| n == "a/.wh.gone"), "{names:?}");
    assert!(names.iter().any(|n| n == "d/.wh..wh..opq"), "{names:?}");
    let other = Root::new();
    other.ok(&["load", "-i", &saved]);
    assert_eq!(other.inspect("wh:1")["Id"], v["Id"]);
}

/// Names of entries inside the layer tars of an image archive.
fn tar_names_nested(archive: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut a = tar::Archive::new(archive);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if data.len() >= 512 && &data[257..262] == b"ustar" {
            let mut inner = tar::Archive::new(&data[..]);
            for ie in inner.entries().unwrap() {
                out.push(ie.unwrap().path().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[test]
fn hostile_archives_are_refused_and_write_nothing() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let victim = root.scratch.path().join("victim");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "parent dir",
            raw_tar(&[Entry::File("../../../../../../../../tmp/escaped", b"x")]),
        ),
        (
            "absolute",
            raw_tar(&[Entry::File("/etc/berth-escaped", b"x")]),
        ),
        (
            "under a symlink",
            raw_tar(&[
                Entry::Symlink("up", victim.to_str().unwrap()),
                Entry::File("up/file", b"x"),
            ]),
        ),
        (
            "hardlink out",
            raw_tar(&[Entry::Hardlink("shadow", "../../../../../../etc/shadow")]),
        ),
        (
            "whiteout of its own directory",
            raw_tar(&[Entry::Dir("etc/"), Entry::File("etc/.wh..", b"")]),
        ),
        (
            "terminal controls",
            raw_tar(&[Entry::File("../\x1b]0;owned\x07\x1b[2J", b"x")]),
        ),
    ];
    for (what, layer) in cases {
        let archive = root.file("evil.tar", &docker_archive(&[layer], "evil:1"));
        let err = root.fails(&["load", "-i", &archive]);
        assert!(err.contains("refusing tar entry"), "{what}: {err}");
        assert_eq!(root.ok(&["images", "-q"]), "", "{what}: nothing loaded");
        assert!(root.entries("tmp").is_empty(), "{what}: staging cleaned");
        assert!(root.entries("blobs/sha256").is_empty(), "{what}: no blobs");
    }
    let archive = root.file(
        "evil.tar",
        &docker_archive(&[raw_tar(&[Entry::File("a/.wh..", b"")])], "evil:1"),
    );
    let err = root.fails(&["load", "-i", &archive]);
    assert!(
        err.contains(r#"refusing tar entry "a/.wh..": it whites out ".""#),
        "{err}"
    );
    let archive = root.file(
        "evil.tar",
        &docker_archive(&[raw_tar(&[Entry::File("../\x1b[2J", b"x")])], "evil:1"),
    );
    let err = root.fails(&["load", "-i", &archive]);
    assert!(
        err.contains(r#"refusing tar entry "../\x1b[2J""#) && !err.contains('\x1b'),
        "escaped: {err:?}"
    );
    assert!(!victim.exists());
    assert!(!Path::new("/tmp/escaped").exists());
    assert!(!Path::new("/etc/berth-escaped").exists());
}

#[test]
fn broken_archives_fail_cleanly() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    import_busybox(&root, "busybox");
    let good = root.file("good.tar", b"");
    root.ok(&["save", "-o", &good, "busybox"]);
    let bytes = fs::read(&good).unwrap();
    let fresh = Root::new();

    let truncated = root.file("truncated.tar", &bytes[..bytes.len() / 2]);
    let err = fresh.fails(&["load", "-i", &truncated]);
    assert!(err.contains("load"), "{err}");

    let garbage = root.file("garbage.tar", b"this is not an archive at all");
    fresh.fails(&["load", "-i", &garbage]);

    // A layer whose bytes do not match the digest in its name and manifest.
    let layer = raw_tar(&[Entry::File("x", b"x")]);
    let archive = docker_archive(&[layer], "bad:1");
    let other_layer = raw_tar(&[Entry::File("y", b"y")]);
    let mismatched = {
        let mut b = tar::Builder::new(Vec::new());
        let mut src = tar::Archive::new(&archive[..]);
        for e in src.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            if name.ends_with("layer.tar") {
                data = other_layer.clone();
            }
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, &name, &data[..]).unwrap();
        }
        b.into_inner().unwrap()
    };
    let f = root.file("mismatch.tar", &mismatched);
    let err = fresh.fails(&["load", "-i", &f]);
    assert!(err.contains("diff id"), "{err}");

    // An OCI layout whose manifest names a blob that is not there.
    let oci = root.file("oci.tar", b"");
    root.ok(&["save", "--format", "oci-archive", "-o", &oci, "busybox"]);
    let dir = tempfile::tempdir().unwrap();
    let mut a = tar::Archive::new(fs::File::open(&oci).unwrap());
    a.unpack(dir.path()).unwrap();
    let layer_blob = fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    fs::remove_file(&layer_blob).unwrap();
    let err = fresh.fails(&["load", "-i", dir.path().to_str().unwrap()]);
    assert!(err.contains("missing blob"), "{err}");

    // An OCI layout whose index names a blob by a path, not a digest.
    let bad_index = tempfile::tempdir().unwrap();
    fs::create_dir_all(bad_index.path().join("blobs/sha256")).unwrap();
    fs::write(
        bad_index.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(
        bad_index.path().join("index.json"),
        r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../x","size":1}]}"#,
    )
    .unwrap();
    let err = fresh.fails(&["load", "-i", bad_index.path().to_str().unwrap()]);
    assert!(
        err.contains(r#"index.json: invalid digest "sha256:../../x""#),
        "{err}"
    );

    assert_eq!(fresh.ok(&["images", "-q"]), "", "nothing half-loaded");
    assert!(
        fresh.entries("tmp").is_empty(),
        "{:?}",
        fresh.entries("tmp")
    );
    assert!(fresh.entries("blobs/sha256").is_empty());
    assert_eq!(fresh.entries("layers"), ["l"]);
}

#[test]
fn killed_load_leaves_a_usable_store() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    // A layer big enough that the load is still running when it is killed.
    let big: Vec<u8> = (0..64u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let layer = raw_tar(&[Entry::File("big", &big)]);
    let archive = root.file("big.tar", &docker_archive(&[layer], "big:1"));
    let mut child = root.cmd(&["load", "-i", &archive]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    // The next command works and sweeps what the killed one left.
    assert_eq!(root.ok(&["images", "-q"]), "");
    assert!(root.entries("tmp").is_empty(), "{:?}", root.entries("tmp"));
    root.ok(&["load", "-i", &archive]);
    assert_eq!(
        root.ok(&["images", "--format", "{{.Repository}}"]).trim(),
        "big"
    );
}

#[test]
fn concurrent_imports_on_one_root() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let tar = busybox_rootfs_tar().to_str().unwrap().to_string();
    let children: Vec<_> = (0..4)
        .map(|i| root.cmd(&["import", &tar, &format!("bb:{i}")]).output())
        .collect();
    let ids: Vec<String> = children
        .into_iter()
        .map(|o| String::from_utf8(o.unwrap().stdout).unwrap())
        .collect();
    let out = root.ok(&["images", "--format", "{{.Tag}}"]);
    let mut tags: Vec<&str> = out.lines().collect();
    tags.sort();
    assert_eq!(tags, ["0", "1", "2", "3"], "{ids:?}");
}

#[test]
fn prune_and_system_df() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let tar = busybox_rootfs_tar().to_str().unwrap().to_string();
    root.ok(&["import", &tar]);
    import_busybox(&root, "busybox");
    let df = root.ok(&["system", "df"]);
    let header = df.lines().next().unwrap();
    assert!(
        header.starts_with("TYPE") && header.contains("RECLAIMABLE"),
        "{df}"
    );
    assert!(df.lines().nth(1).unwrap().starts_with("Images"), "{df}");
    assert_eq!(
        root.ok(&["images", "--filter", "dangling=true", "-q"])
            .lines()
            .count(),
        1
    );
    let out = root.ok(&["image", "prune", "-f"]);
    assert!(
        out.starts_with("Deleted Images:\ndeleted: sha256:"),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert_eq!(
        root.ok(&["images", "-q"]).lines().count(),
        1,
        "tagged image kept"
    );
    root.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(root.ok(&["images", "-q"]), "");
}

#[test]
fn bad_flags_exit_like_docker() {
    let root = Root::new();
    let out = root.run(&["images", "--bogus"]);
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn docker_archives_interoperate_with_docker() {
    if !need_root() {
        return;
    }
    let Some(_) = docker() else { return };
    let root = Root::new();
    let tag = format!("berth-test-{}:1", std::process::id());
    // A multi-layer image made by docker, with a whiteout and a hardlink.
    let tar = busybox_rootfs_tar().to_str().unwrap().to_string();
    let base = format!("berth-test-base-{}:1", std::process::id());
    docker_ok(&["import", "-c", "CMD [\"sh\"]", &tar, &base]);
    let ctx = tempfile::tempdir().unwrap();
    fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {base}\nRUN echo hi > /hello && ln /hello /hardlink\nRUN rm /bin/ls && echo x > /x\nENV FOO=bar\n"),
    )
    .unwrap();
    let out = docker()
        .unwrap()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", &tag])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docker_id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &tag])
        .trim()
        .to_string();

    let archive = root.file("from-docker.tar", b"");
    docker_ok(&["save", "-o", &archive, &tag]);
    root.ok(&["load", "-i", &archive]);
    assert_eq!(
        root.inspect(&tag)["Id"],
        docker_id,
        "berth shows docker's image ID"
    );
    assert!(root.ok(&["images", "--no-trunc"]).contains(&docker_id));
    let v = root.inspect(&tag);
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 3);

    let back = root.file("to-docker.tar", b"");
    root.ok(&["save", "-o", &back, &tag]);
    docker_ok(&["rmi", &tag]);
    docker_ok(&["load", "-i", &back]);
    assert_eq!(
        docker_ok(&["image", "inspect", "--format", "{{.Id}}", &tag]).trim(),
        docker_id,
        "docker loads berth's archive with the same ID"
    );
    let out = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tag,
        "sh",
        "-c",
        "cat /hello; ls /bin/ls 2>&1 || true",
    ]);
    assert!(out.starts_with("hi\n"), "{out}");
    let _ = docker_ok(&["rmi", &tag, &base]);
}

#[test]
fn compressed_archives_load() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    let id = import_busybox(&root, "busybox");
    let archive = root.file("plain.tar", b"");
    root.ok(&["save", "-o", &archive, "busybox"]);
    let status = Command::new("gzip")
        .args(["-f", &archive])
        .status()
        .unwrap();
    assert!(status.success());
    let other = Root::new();
    assert_eq!(
        other.ok(&["load", "-i", &format!("{archive}.gz")]).trim(),
        "Loaded image: busybox:latest"
    );
    assert_eq!(other.inspect("busybox")["Id"], id);
}

/// Unmounts a test's tmpfs even when the test fails.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_cleanly() {
    if !need_root() {
        return;
    }
    let root = Root::new();
    // Room for the database but not for the 2 MB busybox layer twice (blob
    // and unpacked copy).
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(root.path())
        .status()
        .unwrap();
    assert!(status.success(), "mount tmpfs");
    let _mounted = Mounted(root.path().to_path_buf());
    let tar = busybox_rootfs_tar().to_str().unwrap().to_string();
    let err = root.fails(&["import", &tar, "busybox"]);
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(root.ok(&["images", "-q"]), "", "nothing half-imported");
    assert!(root.entries("tmp").is_empty(), "{:?}", root.entries("tmp"));
    assert!(root.entries("blobs/sha256").is_empty());
    // A small image still fits afterwards: the store is usable.
    let small = root.file("small.tar", &raw_tar(&[Entry::File("hello", b"hello\n")]));
    root.ok(&["import", &small, "small"]);
    assert_eq!(
        root.ok(&["images", "--format", "{{.Repository}}"]).trim(),
        "small"
    );
}
