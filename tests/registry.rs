//! End-to-end push and pull against a real registry (Debian's
//! docker-registry on loopback), with and without auth, and against docker.

mod common;

use std::fs;
use std::process::Command;

use common::*;

#[test]
fn push_then_pull_into_an_empty_store_gives_the_same_image() {
    if !need_root() {
        return;
    }
    let registry = Registry::start(None);
    let root = Root::new();
    let id = import_busybox(&root, "busybox");
    let name = format!("{}/test/busybox:1", registry.addr);
    root.ok(&["tag", "busybox", &name]);
    let out = root.ok(&["push", &name]);
    assert!(
        out.starts_with(&format!(
            "The push refers to repository [{}/test/busybox]",
            registry.addr
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let digest_line = out.lines().last().unwrap();
    assert!(digest_line.starts_with("1: digest: sha256:"), "{out}");
    let digest = digest_line.split_whitespace().nth(2).unwrap().to_string();
    assert_eq!(
        root.inspect(&name)["RepoDigests"],
        serde_json::json!([format!("{}/test/busybox@{digest}", registry.addr)])
    );

    // Pushing again sends nothing.
    let again = root.ok(&["push", &name]);
    assert!(
        again.contains("Layer already exists") && !again.contains(": Pushed"),
        "{again}"
    );

    let other = Root::new();
    let out = other.ok(&["pull", &name]);
    assert!(out.contains(": Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(out.lines().last().unwrap(), name);
    assert_eq!(other.inspect(&name)["Id"], id);
    let digests = other.ok(&["images", "--digests", "--format", "{{.Digest}}"]);
    assert_eq!(digests.trim(), digest);
    let again = other.ok(&["pull", &name]);
    assert!(
        again.contains(&format!("Status: Image is up to date for {name}")),
        "{again}"
    );

    // By digest, into a third store; the image is then known by that digest.
    let third = Root::new();
    let by_digest = format!("{}/test/busybox@{digest}", registry.addr);
    third.ok(&["pull", "-q", &by_digest]);
    assert_eq!(third.inspect(&by_digest)["Id"], id);
    assert_eq!(
        third.ok(&["images", "--format", "{{.Tag}}"]).trim(),
        "<none>"
    );

    // All tags.
    root.ok(&[
        "tag",
        "busybox",
        &format!("{}/test/busybox:2", registry.addr),
    ]);
    root.ok(&["push", "-a", &format!("{}/test/busybox", registry.addr)]);
    let fourth = Root::new();
    fourth.ok(&["pull", "-a", &format!("{}/test/busybox", registry.addr)]);
    let mut tags: Vec<String> = fourth
        .ok(&["images", "--format", "{{.Tag}}"])
        .lines()
        .map(str::to_string)
        .collect();
    tags.sort();
    assert_eq!(tags, ["1", "2"]);
}

#[test]
fn pull_failures_leave_the_store_as_it_was() {
    if !need_root() {
        return;
    }
    let registry = Registry::start(None);
    let root = Root::new();
    let err = root.fails(&["pull", &format!("{}/no/such:1", registry.addr)]);
    assert!(
        err.to_lowercase().contains("manifest unknown") || err.contains("404"),
        "{err}"
    );
    let err = root.fails(&["push", &format!("{}/not/local:1", registry.addr)]);
    assert!(
        err.contains("An image does not exist locally with the tag"),
        "{err}"
    );
    // A registry that is not there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    root.fails(&["pull", &format!("127.0.0.1:{port}/x:1")]);
    assert_eq!(root.ok(&["images", "-q"]), "");
    assert!(root.entries("tmp").is_empty());

    // A blob corrupted in the registry's storage is refused.
    import_busybox(&root, "busybox");
    let name = format!("{}/corrupt/busybox:1", registry.addr);
    root.ok(&["tag", "busybox", &name]);
    root.ok(&["push", &name]);
    let layer = root.inspect(&name)["RootFS"]["Layers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let blob = registry.data_dir().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{}/data",
        &layer[7..9],
        &layer[7..]
    ));
    let mut bytes = fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n - 2000] ^= 0xff;
    fs::write(&blob, bytes).unwrap();
    let fresh = Root::new();
    let err = fresh.fails(&["pull", &name]);
    assert!(
        err.contains("does not match") || err.contains("digest"),
        "{err}"
    );
    assert_eq!(fresh.ok(&["images", "-q"]), "");
    assert!(fresh.entries("tmp").is_empty());
    assert!(fresh.entries("blobs/sha256").is_empty());
}

#[test]
fn login_push_and_pull_with_basic_auth() {
    if !need_root() {
        return;
    }
    let registry = Registry::start(Some(("alice", "s3cret")));
    let root = Root::new();
    let config = tempfile::tempdir().unwrap();
    let berth = |args: &[&str]| {
        let mut c = root.cmd(args);
        c.env("DOCKER_CONFIG", config.path());
        c
    };
    import_busybox(&root, "busybox");
    let name = format!("{}/private/busybox:1", registry.addr);
    root.ok(&["tag", "busybox", &name]);
    let out = berth(&["push", &name]).output().unwrap();
    assert!(!out.status.success(), "push without credentials must fail");

    let out = berth(&["login", "-u", "alice", "--password-stdin", &registry.addr])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"wrong\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(!out.status.success(), "a wrong password is refused");

    let out = berth(&["login", "-u", "alice", "-p", "s3cret", &registry.addr])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Login Succeeded"
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&fs::read(config.path().join("config.json")).unwrap()).unwrap();
    assert!(
        saved["auths"][&registry.addr]["auth"].is_string(),
        "{saved}"
    );

    let out = berth(&["push", &name]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = Root::new();
    let mut pull = other.cmd(&["pull", &name]);
    pull.env("DOCKER_CONFIG", config.path());
    let out = pull.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(other.inspect(&name)["Id"], root.inspect(&name)["Id"]);

    let out = berth(&["logout", &registry.addr]).output().unwrap();
    assert!(out.status.success());
    let saved: serde_json::Value =
        serde_json::from_slice(&fs::read(config.path().join("config.json")).unwrap()).unwrap();
    assert!(saved["auths"].get(&registry.addr).is_none(), "{saved}");

    // Podman's auth.json answers when config.json has nothing.
    let auth_file = config.path().join("podman-auth.json");
    let podman = Command::new("podman")
        .args(["login", "--tls-verify=false", "-u", "alice", "-p", "s3cret"])
        .arg("--authfile")
        .arg(&auth_file)
        .arg(&registry.addr)
        .output();
    if !podman.is_ok_and(|o| o.status.success()) {
        eprintln!("podman login unavailable: writing its auth.json by hand");
        let auth = serde_json::json!({"auths": {&registry.addr: {"auth": "YWxpY2U6czNjcmV0"}}});
        fs::write(&auth_file, auth.to_string()).unwrap();
    }
    let again = Root::new();
    let mut pull = again.cmd(&["pull", &name]);
    pull.env("DOCKER_CONFIG", config.path())
        .env("REGISTRY_AUTH_FILE", &auth_file);
    let out = pull.output().unwrap();
    assert!(out.status.success(), "{}", stderr_text(&out));
    assert_eq!(again.inspect(&name)["Id"], root.inspect(&name)["Id"]);
}

#[test]
fn images_move_between_berth_and_docker_through_a_registry() {
    if !need_root() {
        return;
    }
    let Some(_) = docker() else { return };
    let registry = Registry::start(None);
    let root = Root::new();
    let tar = busybox_rootfs_tar().to_str().unwrap().to_string();
    // docker → registry → berth.
    let from_docker = format!("{}/from-docker/busybox:1", registry.addr);
    docker_ok(&["import", "-c", "CMD [\"sh\"]", &tar, &from_docker]);
    docker_ok(&["push", &from_docker]);
    let docker_id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &from_docker])
        .trim()
        .to_string();
    root.ok(&["pull", &from_docker]);
    assert_eq!(root.inspect(&from_docker)["Id"], docker_id);

    // berth → registry → docker, the pulled (gzip) layer pushed as is.
    let to_docker = format!("{}/to-docker/busybox:2", registry.addr);
    root.ok(&["tag", &from_docker, &to_docker]);
    root.ok(&["push", &to_docker]);
    docker_ok(&["rmi", &from_docker]);
    docker_ok(&["pull", &to_docker]);
    assert_eq!(
        docker_ok(&["image", "inspect", "--format", "{{.Id}}", &to_docker]).trim(),
        docker_id
    );
    let _ = Command::new("/usr/bin/docker")
        .env(
            "DOCKER_HOST",
            std::env::var("BERTH_TEST_DOCKER_HOST").unwrap(),
        )
        .args(["rmi", &to_docker])
        .output();
}

/// An image index in the registry: pull picks this host's platform, or the
/// one asked for, and records the index digest as docker does.
#[test]
fn pull_picks_a_platform_from_an_index() {
    if !need_root() || !std::path::Path::new("/usr/bin/skopeo").exists() {
        return;
    }
    let registry = Registry::start(None);
    let root = Root::new();
    let tar = busybox_rootfs_tar().to_str().unwrap().to_string();
    root.ok(&["import", &tar, "multi:amd64"]);
    root.ok(&[
        "import",
        "--platform",
        "linux/arm64",
        "-c",
        "LABEL arch=arm64",
        &tar,
        "multi:arm64",
    ]);
    let layout = tempfile::tempdir().unwrap();
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let archive = layout.path().join(format!("{arch}.tar"));
        root.ok(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            archive.to_str().unwrap(),
            &format!("multi:{arch}"),
        ]);
        tar::Archive::new(fs::File::open(&archive).unwrap())
            .unpack(layout.path())
            .unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(layout.path().join("index.json")).unwrap()).unwrap();
        let mut desc = index["manifests"][0].clone();
        desc.as_object_mut().unwrap().remove("annotations");
        desc["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
        manifests.push(desc);
        fs::remove_file(&archive).unwrap();
    }
    // The multi-platform index is a blob; the layout's index.json names it.
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    let index_bytes = index.to_string();
    let index_hex = sha256_hex(index_bytes.as_bytes());
    fs::write(
        layout.path().join("blobs/sha256").join(&index_hex),
        &index_bytes,
    )
    .unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": format!("sha256:{index_hex}"),
        "size": index_bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"},
    }]});
    fs::write(layout.path().join("index.json"), top.to_string()).unwrap();
    let name = format!("{}/multi/busybox:1", registry.addr);
    let out = Command::new("skopeo")
        .args(["copy", "-q", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:multi", layout.path().display()))
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let host = Root::new();
    let out = host.ok(&["pull", &name]);
    let v = host.inspect(&name);
    assert_eq!(v["Architecture"], "amd64", "{out}");
    assert_eq!(v["Id"], root.inspect("multi:amd64")["Id"]);
    // skopeo may re-serialize the index: the registry's copy is the truth.
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(raw.status.success());
    assert!(
        String::from_utf8_lossy(&raw.stdout).contains("manifests"),
        "the registry holds an index"
    );
    let index_digest = format!("sha256:{}", sha256_hex(&raw.stdout));
    assert_eq!(
        v["RepoDigests"],
        serde_json::json!([format!("{}/multi/busybox@{index_digest}", registry.addr)])
    );

    let arm = Root::new();
    arm.ok(&["pull", "--platform", "linux/arm64", &name]);
    assert_eq!(arm.inspect(&name)["Architecture"], "arm64");
    let err = Root::new().fails(&["pull", "--platform", "linux/s390x", &name]);
    assert!(
        err.contains("no matching manifest for linux/s390x"),
        "{err}"
    );
}
