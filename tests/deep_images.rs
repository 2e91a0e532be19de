//! Images as deep as docker allows (125 layers) run whatever the length of
//! `--root`; deeper ones are refused where they would enter the store
//! (load, pull, build, commit), with the numbers, leaving nothing behind.

mod common;

use std::fs;
use std::process::Command;

use common::*;

/// Layers of the test images above the busybox base: each adds
/// `/layers/N` and overwrites `/order`, so the top one must win.
fn deep_archive(layers: usize, tag: &str) -> Vec<u8> {
    let mut tars = vec![fs::read(busybox_rootfs_tar()).unwrap()];
    for i in 1..layers {
        let (name, order) = (format!("layers/{i}"), i.to_string());
        tars.push(raw_tar(&[
            Entry::Dir("layers/"),
            Entry::File(&name, b"x"),
            Entry::File("order", order.as_bytes()),
        ]));
    }
    docker_archive(&tars, tag)
}

/// What a refused image could have left in the store.
fn store_contents(root: &Root) -> (Vec<String>, Vec<String>, Vec<String>, String) {
    (
        root.entries("tmp"),
        root.entries("layers"),
        root.entries("blobs/sha256"),
        root.ok(&["images", "-a", "-q"]),
    )
}

#[test]
fn the_deepest_image_runs_under_a_long_root_and_deeper_ones_stay_out() {
    let root = Root::with_long_path(400);
    if !container_ready(&root) {
        return;
    }
    let deepest = root.file("deepest.tar", &deep_archive(125, "deepest:1"));
    root.ok(&["load", "-i", &deepest]);
    let out = root.ok(&[
        "run",
        "--rm",
        "deepest:1",
        "sh",
        "-c",
        "cat /order; echo; ls /layers | wc -l",
    ]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["124", "124"]);

    // A stopped container's files come from a detached mount of all its
    // layers.
    root.ok(&["create", "--name", "stopped", "deepest:1"]);
    let copied = root.scratch.path().join("order");
    root.ok(&["cp", "stopped:/order", copied.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&copied).unwrap(), "124");

    let before = store_contents(&root);
    let err = root.fails(&["commit", "stopped", "deeper:commit"]);
    assert!(
        err.contains("max depth exceeded: the image has 126 layers, more than the 125"),
        "{err}"
    );
    let context = root.scratch.path().join("context");
    fs::create_dir(&context).unwrap();
    fs::write(context.join("Dockerfile"), "FROM deepest:1\nCOPY f /f\n").unwrap();
    fs::write(context.join("f"), "f").unwrap();
    let err = root.fails(&["build", "-t", "deeper:build", context.to_str().unwrap()]);
    assert!(err.contains("the image has 126 layers"), "{err}");
    let deeper = root.file("deeper.tar", &deep_archive(126, "deeper:1"));
    let err = root.fails(&["load", "-i", &deeper]);
    assert!(
        err.contains("max depth exceeded: the image has 126 layers, more than the 125"),
        "{err}"
    );
    assert_eq!(store_contents(&root), before, "nothing left behind");
    assert!(mounts_under(&root).is_empty(), "{:?}", mounts_under(&root));
}

#[test]
fn pull_refuses_a_deeper_image_before_downloading_it() {
    if !need_root() {
        return;
    }
    if !std::path::Path::new("/usr/bin/skopeo").exists() {
        eprintln!("skipping: skopeo is not installed");
        return;
    }
    let registry = Registry::start(None);
    let root = Root::new();
    let archive = root.file("deeper.tar", &deep_archive(126, "deeper:1"));
    let name = format!("{}/test/deeper:1", registry.addr);
    let out = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("docker-archive:{archive}"))
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", stderr_text(&out));
    let err = root.fails(&["pull", &name]);
    assert!(
        err.contains("max depth exceeded: the image has 126 layers"),
        "{err}"
    );
    assert!(root.entries("blobs/sha256").is_empty());
    assert!(root.entries("tmp").is_empty());
}
