//! Differential tests of `berth build`: the same Dockerfile and context
//! built by berth and by docker's classic builder (`DOCKER_BUILDKIT=0`) on
//! the same busybox base, then the image configs and the flattened file
//! trees compared; and Dockerfiles docker rejects, which berth must reject
//! with a `Dockerfile:LINE` message. Needs a dockerd at
//! BERTH_TEST_DOCKER_HOST (skipped without one, failed with
//! BERTH_TEST_REQUIRE_DOCKER=1), root and runc.
//!
//! The trees are compared whole, with no paths left out: docker keeps the
//! mount points it adds for a RUN step (/etc/hosts, /etc/resolv.conf,
//! /etc/hostname, /.dockerenv, /dev, /proc, /sys) in the container's init
//! layer, which never becomes part of the image, and berth leaves runc's
//! out of its RUN layers, so neither image has them. Not compared: times,
//! the history (the classic builder writes `/bin/sh -c #(nop) ` texts and
//! a layer for every WORKDIR; berth writes BuildKit's texts and a WORKDIR
//! layer only when the directory is missing) and so the layer count.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use serde_json::Value;

/// The base image's name, the same in docker and in every berth root.
const BASE: &str = "berth-difftest-busybox:1";

/// Config fields compared (MAINTAINER's `author` sits outside `config`
/// and is compared with `architecture` and `os`).
const CONFIG_FIELDS: [&str; 12] = [
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
];

/// One entry of a build context.
enum Ctx<'a> {
    File(&'a str, &'a str, u32),
    Dir(&'a str, u32),
    Link(&'a str, &'a str),
    /// A small tar (see `sample_tar`) piped through a compressor command
    /// (`gzip`, `bzip2`, `xz`), or plain with "".
    Archive(&'a str, &'a str),
    /// Text compressed with gzip: not an archive, so `ADD` copies it.
    Gzipped(&'a str, &'a str),
}

use Ctx::{Archive, Dir, File, Gzipped, Link};

/// `data` through `compressor -c` ("" leaves it as it is).
fn compress(compressor: &str, data: Vec<u8>) -> Vec<u8> {
    if compressor.is_empty() {
        return data;
    }
    let mut child = Command::new(compressor)
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {compressor}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{compressor} failed");
    out.stdout
}

/// A tar with a directory, an executable, a file owned by 1234:5678, a
/// symlink and a hard link to that file (with the same owner: extractors
/// apply a link entry's owner to the shared inode), for `ADD` to extract.
fn sample_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add =
        |name: &str, kind: tar::EntryType, mode: u32, owner: u64, data: &[u8], link: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_uid(owner);
            h.set_gid(owner + 4444);
            h.set_mtime(1_700_000_000);
            h.set_size(data.len() as u64);
            if link.is_empty() {
                b.append_data(&mut h, name, data).unwrap();
            } else {
                b.append_link(&mut h, name, link).unwrap();
            }
        };
    add("pkg/", tar::EntryType::Directory, 0o750, 0, b"", "");
    add(
        "pkg/bin/tool",
        tar::EntryType::Regular,
        0o755,
        0,
        b"#!/bin/sh\n",
        "",
    );
    add(
        "pkg/readme",
        tar::EntryType::Regular,
        0o644,
        1234,
        b"read me\n",
        "",
    );
    add("pkg/link", tar::EntryType::Symlink, 0o777, 0, b"", "readme");
    add(
        "pkg/hard",
        tar::EntryType::Link,
        0o644,
        1234,
        b"",
        "pkg/readme",
    );
    b.into_inner().unwrap()
}

/// Which docker builder a comparison runs against.
#[derive(Clone, Copy)]
enum Builder {
    Classic,
    BuildKit,
}

impl Builder {
    fn env(self) -> &'static str {
        match self {
            Builder::Classic => "0",
            Builder::BuildKit => "1",
        }
    }
}

struct Case<'a> {
    name: &'a str,
    dockerfile: &'a str,
    context: &'a [Ctx<'a>],
    build_args: &'a [&'a str],
    /// Stages built and compared one by one; `None` is the last stage.
    targets: &'a [Option<&'a str>],
    builder: Builder,
    /// A Dockerfile built first, by both, as PARENT (the base of
    /// `dockerfile`'s ONBUILD tests).
    parent: Option<&'a str>,
}

const CASE: Case<'static> = Case {
    name: "",
    dockerfile: "",
    context: &[],
    build_args: &[],
    targets: &[None],
    builder: Builder::Classic,
    parent: None,
};

/// The parent image's name in `Case::parent`.
const PARENT: &str = "berth-difftest-onbuild-parent:1";

fn docker_cmd(builder: Builder) -> Command {
    let mut c = docker().expect("docker");
    c.env("DOCKER_BUILDKIT", builder.env());
    c
}

/// Imports the busybox rootfs into docker as BASE once per run; an image
/// already there whose only layer is this very tar is kept, so repeated
/// runs leave no dangling images.
fn docker_base() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let tar = busybox_rootfs_tar();
        let diff_id = format!("sha256:{}", sha256_hex(&fs::read(tar).unwrap()));
        let layers = docker()
            .unwrap()
            .args(["image", "inspect", "-f", "{{json .RootFS.Layers}}", BASE])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&layers.stdout).trim() != format!("[\"{diff_id}\"]") {
            docker_ok(&["import", "-c", "CMD [\"sh\"]", tar.to_str().unwrap(), BASE]);
        }
    });
}

/// A berth root with BASE imported, or `None` when the comparison cannot
/// run here (no docker, not root, no runc).
fn setup() -> Option<Root> {
    docker()?;
    let root = Root::new();
    if !container_ready(&root) {
        return None;
    }
    import_busybox(&root, BASE);
    docker_base();
    Some(root)
}

fn write_context(dir: &Path, dockerfile: &str, entries: &[Ctx<'_>]) {
    fs::create_dir_all(dir).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for entry in entries {
        match entry {
            File(path, content, mode) => {
                let path = dir.join(path);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, content).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).unwrap();
            }
            Dir(path, mode) => {
                let path = dir.join(path);
                fs::create_dir_all(&path).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).unwrap();
            }
            Link(path, target) => std::os::unix::fs::symlink(target, dir.join(path)).unwrap(),
            Archive(path, compressor) => {
                fs::write(dir.join(path), compress(compressor, sample_tar())).unwrap();
                fs::set_permissions(dir.join(path), fs::Permissions::from_mode(0o644)).unwrap();
            }
            Gzipped(path, content) => {
                fs::write(
                    dir.join(path),
                    compress("gzip", content.as_bytes().to_vec()),
                )
                .unwrap();
                fs::set_permissions(dir.join(path), fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
    }
}

/// Removes docker images by name when dropped, so a failed comparison
/// leaves nothing in the daemon.
struct DockerImages(Vec<String>);

impl Drop for DockerImages {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = docker()
                .unwrap()
                // Without --no-prune, removing a tag also removes its
                // untagged parents, which the classic builder shares as
                // cache with builds of other tests running at the same
                // time: theirs then fail with "unknown parent image ID".
                .args(["rmi", "-f", "--no-prune", name])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// One node of a flattened image tree. Times are left out: every build
/// stamps its own.
#[derive(Debug, PartialEq)]
struct Node {
    kind: String,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    sha256: String,
    link: String,
}

/// The config document and the flattened file tree of the image in a
/// docker-archive (`docker save` / `berth save`): layers applied in order,
/// whiteouts and opaque directories honoured.
fn flatten(archive: &[u8]) -> (Value, BTreeMap<String, Node>) {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut outer = tar::Archive::new(archive);
    for entry in outer.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config: Value =
        serde_json::from_slice(&files[manifest[0]["Config"].as_str().unwrap()]).unwrap();
    let mut tree: BTreeMap<String, Node> = BTreeMap::new();
    for layer in manifest[0]["Layers"].as_array().unwrap() {
        let data = &files[layer.as_str().unwrap()];
        assert!(
            !data.starts_with(&[0x1f, 0x8b]),
            "layer {layer} is compressed"
        );
        apply_layer(&mut tree, data);
    }
    (config, tree)
}

fn remove_under(tree: &mut BTreeMap<String, Node>, dir: &str, keep_dir: bool) {
    let prefix = format!("{dir}/");
    tree.retain(|path, _| !(path.starts_with(&prefix) || (!keep_dir && path == dir)));
}

fn apply_layer(tree: &mut BTreeMap<String, Node>, layer: &[u8]) {
    let mut added: Vec<(String, Node)> = Vec::new();
    let mut archive = tar::Archive::new(layer);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let raw = entry.path().unwrap().to_string_lossy().into_owned();
        let path = format!("/{}", raw.trim_start_matches("./").trim_end_matches('/'));
        let (parent, base) = path.rsplit_once('/').unwrap();
        if base == ".wh..wh..opq" {
            remove_under(tree, if parent.is_empty() { "" } else { parent }, true);
            continue;
        }
        if let Some(hidden) = base.strip_prefix(".wh.") {
            remove_under(tree, &format!("{parent}/{hidden}"), false);
            continue;
        }
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let kind = header.entry_type();
        let link = header
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut node = Node {
            kind: format!("{kind:?}"),
            mode: header.mode().unwrap() & 0o7777,
            // An all-NUL field is 0 to Go's archive/tar, and the test
            // rootfs tar leaves uid and gid unset.
            uid: header.uid().unwrap_or(0),
            gid: header.gid().unwrap_or(0),
            size: data.len() as u64,
            sha256: if kind.is_file() {
                sha256_hex(&data)
            } else {
                String::new()
            },
            link: if kind.is_symlink() {
                link.clone()
            } else {
                String::new()
            },
        };
        // A hard link is a regular file with its target's content; which
        // of the names a tar writes in full is the writer's choice.
        if kind.is_hard_link() {
            let target = format!("/{}", link.trim_start_matches("./"));
            let found = added
                .iter()
                .find(|(p, _)| *p == target)
                .map(|(_, n)| n)
                .or_else(|| tree.get(&target))
                .unwrap_or_else(|| panic!("hard link {path} to missing {target}"));
            node.kind = "Regular".into();
            node.size = found.size;
            node.sha256 = found.sha256.clone();
        }
        added.push((path, node));
    }
    for (path, node) in added {
        if node.kind != "Directory" {
            remove_under(tree, &path, true);
        }
        tree.insert(path, node);
    }
}

/// A config field, with empty values as `null`: docker's own builders
/// write "nothing" differently (the classic builder `"User": ""` and
/// `"Cmd": []` where BuildKit leaves the key out) and read them alike.
fn field(config: &Value, key: &str) -> Value {
    match config["config"].get(key) {
        None => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::Array(a)) if a.is_empty() => Value::Null,
        Some(Value::Object(o)) if o.is_empty() => Value::Null,
        Some(v) => v.clone(),
    }
}

/// Every difference between docker's image and berth's.
fn differences(docker: &[u8], berth: &[u8]) -> Vec<String> {
    let (docker_config, docker_tree) = flatten(docker);
    let (berth_config, berth_tree) = flatten(berth);
    let mut out = Vec::new();
    for key in CONFIG_FIELDS {
        let (d, b) = (field(&docker_config, key), field(&berth_config, key));
        if d != b {
            out.push(format!("config {key}: docker {d}, berth {b}"));
        }
    }
    for key in ["author", "architecture", "os"] {
        let d = docker_config.get(key).cloned().unwrap_or(Value::Null);
        let b = berth_config.get(key).cloned().unwrap_or(Value::Null);
        if d != b {
            out.push(format!("{key}: docker {d}, berth {b}"));
        }
    }
    for (path, d) in &docker_tree {
        match berth_tree.get(path) {
            None => out.push(format!("{path}: only in docker's image: {d:?}")),
            Some(b) if b != d => out.push(format!("{path}: docker {d:?}, berth {b:?}")),
            Some(_) => {}
        }
    }
    for (path, b) in &berth_tree {
        if !docker_tree.contains_key(path) {
            out.push(format!("{path}: only in berth's image: {b:?}"));
        }
    }
    out
}

/// Builds `case` with docker and with berth and returns every difference,
/// each line prefixed with the case and target.
fn compare(case: &Case<'_>) -> Vec<String> {
    let Some(root) = setup() else {
        return Vec::new();
    };
    let dir = root.scratch.path().join(case.name);
    write_context(&dir, case.dockerfile, case.context);
    let dir = dir.to_str().unwrap();
    let mut differ = Vec::new();
    let _parent_cleanup = DockerImages(vec![PARENT.to_string()]);
    if let Some(parent) = case.parent {
        let parent_dir = root.scratch.path().join("parent");
        write_context(&parent_dir, parent, case.context);
        let parent_dir = parent_dir.to_str().unwrap();
        let built = docker_cmd(case.builder)
            .args(["build", "-q", "-t", PARENT, "--network", "none", parent_dir])
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}: docker build of the parent failed: {}",
            case.name,
            String::from_utf8_lossy(&built.stderr)
        );
        root.ok(&["build", "-q", "-t", PARENT, parent_dir]);
    }
    for target in case.targets {
        let tag = format!(
            "berth-difftest-{}-{}:{}",
            case.name,
            target.unwrap_or("last"),
            std::process::id()
        );
        let _cleanup = DockerImages(vec![tag.clone()]);
        let mut args = vec!["build", "-t", &tag, "--network", "none"];
        for arg in case.build_args {
            args.extend(["--build-arg", arg]);
        }
        if let Some(t) = target {
            args.extend(["--target", t]);
        }
        let built = docker_cmd(case.builder)
            .args(&args)
            .args(["--force-rm", dir])
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}: docker build failed:\n{}{}",
            case.name,
            String::from_utf8_lossy(&built.stdout),
            String::from_utf8_lossy(&built.stderr)
        );
        args.push(dir);
        let ours = root.run(&args);
        if !ours.status.success() {
            differ.push(format!(
                "{} {target:?}: berth build failed where docker succeeded: {}",
                case.name,
                String::from_utf8_lossy(&ours.stderr).trim()
            ));
            continue;
        }
        let docker_archive = docker()
            .unwrap()
            .args(["save", &tag])
            .output()
            .unwrap()
            .stdout;
        let berth_archive = root.run(&["save", &tag]).stdout;
        differ.extend(
            differences(&docker_archive, &berth_archive)
                .into_iter()
                .map(|d| format!("{} {target:?}: {d}", case.name)),
        );
    }
    differ
}

fn assert_same(case: Case<'_>) {
    let differ = compare(&case);
    assert!(
        differ.is_empty(),
        "berth's image differs from docker's:\n{}",
        differ.join("\n")
    );
}

#[test]
fn metadata_instructions() {
    assert_same(Case {
        name: "metadata",
        dockerfile: r#"FROM berth-difftest-busybox:1
MAINTAINER Jane Doe <jane@example.com>
LABEL a=1 "b c"="d e" f=g\ h
LABEL multi.line="one \
two"
EXPOSE 80 443/udp 8000-8002/tcp
EXPOSE 9000/tcp
VOLUME ["/data", "/logs"]
VOLUME /cache /tmp/x
USER 1000:100
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s --retries=4 CMD wget -q -O- localhost || exit 1
SHELL ["/bin/sh", "-e", "-c"]
ONBUILD RUN echo child
ONBUILD LABEL from=parent
ENTRYPOINT ["/bin/echo", "hi"]
CMD ["there"]
"#,
        ..CASE
    });
}

#[test]
fn healthcheck_forms() {
    assert_same(Case {
        name: "health",
        dockerfile: "FROM berth-difftest-busybox:1 AS exec_form
HEALTHCHECK CMD [\"/bin/true\"]
FROM exec_form AS disabled
HEALTHCHECK NONE
FROM berth-difftest-busybox:1 AS shell_form
HEALTHCHECK --retries=1 CMD true
",
        targets: &[Some("exec_form"), Some("disabled"), Some("shell_form")],
        ..CASE
    });
}

#[test]
fn env_syntax_and_substitution() {
    assert_same(Case {
        name: "env",
        dockerfile: r#"FROM berth-difftest-busybox:1
ENV OLD old syntax value
ENV A=1 B="two words" C='single $A' D=a\ b
ENV E=$A F=${A} G=${UNSET:-default} H=${A:-unused} I=${A:+alt} J=${UNSET:+alt}
ENV K=\$A L="\$A" M='$A' N=${A}x${B}
ENV A=changed O=$A
ENV P=${G:-${H}} Q="pre-${B}-post"
ENV EMPTY= AFTER=${EMPTY:-was-empty} AFTER2=${EMPTY:+not-empty}
LABEL label.a=$A label.b="${B}" label.c='$B'
WORKDIR /$A/${G}
EXPOSE ${E}0
USER $A:${A}
STOPSIGNAL ${UNSET:-SIGUSR1}
VOLUME /vol/$G
COPY f.txt /dest/$A/
CMD echo $A ${B}
ENTRYPOINT echo "$HOME"
"#,
        context: &[File("f.txt", "f\n", 0o644)],
        ..CASE
    });
}

#[test]
fn args_before_from_and_per_stage() {
    assert_same(Case {
        name: "args",
        dockerfile: r#"ARG BASE_NAME=berth-difftest-busybox
ARG BASE_TAG
ARG UNUSED_IN_STAGE=meta
FROM ${BASE_NAME}:${BASE_TAG} AS first
ARG BASE_TAG
ARG GIVEN=default-given
ARG DEFAULTED=default
ARG DERIVED=${DEFAULTED}-derived
ENV FROM_ARG=$GIVEN FROM_META=${UNUSED_IN_STAGE:-not-visible} TAG_SEEN=$BASE_TAG
RUN echo "$GIVEN $DEFAULTED $DERIVED $BASE_TAG" > /args.txt
ARG GIVEN
ENV GIVEN=env-wins
RUN echo "$GIVEN" > /env-wins.txt
LABEL derived=$DERIVED
FROM ${BASE_NAME}:${BASE_TAG}
ARG GIVEN
RUN echo "second:$GIVEN:$DEFAULTED" > /second.txt
ENV SEEN=${GIVEN}
"#,
        build_args: &["BASE_TAG=1", "GIVEN=from-cli"],
        targets: &[Some("first"), None],
        ..CASE
    });
}

#[test]
fn workdir_relative_paths() {
    assert_same(Case {
        name: "workdir",
        dockerfile: "FROM berth-difftest-busybox:1
WORKDIR /a
WORKDIR b
WORKDIR ../c/./d/
ENV SUB=e
WORKDIR $SUB
RUN pwd > here.txt
COPY f.txt .
COPY f.txt rel/
WORKDIR /bin
",
        context: &[File("f.txt", "f\n", 0o644)],
        ..CASE
    });
}

#[test]
fn workdir_after_user() {
    // Who owns a directory WORKDIR creates differs between docker's two
    // builders (classic: root; BuildKit: the USER), and berth follows
    // BuildKit in creating WORKDIR's directory, so it is compared with
    // BuildKit.
    assert_same(Case {
        name: "workdir-user",
        dockerfile: "FROM berth-difftest-busybox:1
USER 1000:1000
WORKDIR /home/app/data
USER 0
WORKDIR /root-owned
",
        builder: Builder::BuildKit,
        ..CASE
    });
}

#[test]
fn volume_directories_appear_with_the_next_run() {
    // Classic docker makes a VOLUME's directory when a RUN mounts it (and
    // not before: a COPY after VOLUME does not make it).
    assert_same(Case {
        name: "volume-run",
        dockerfile: "FROM berth-difftest-busybox:1
VOLUME /data /srv/cache
COPY f.txt /f.txt
VOLUME /later
RUN true
",
        context: &[File("f.txt", "f\n", 0o644)],
        ..CASE
    });
}

#[test]
fn copy_files_dirs_wildcards_and_dockerignore() {
    assert_same(Case {
        name: "copy",
        dockerfile: "FROM berth-difftest-busybox:1
COPY a.txt /single
COPY a.txt /into/
COPY a.txt b.sh /many/
COPY dir /dir-contents
COPY dir/ /dir-slash/
COPY *.txt /glob/
COPY dir/*.conf /confs/
COPY dir/sub/?.dat /qmark/
COPY [ab].* /class/
COPY . /whole
COPY link /link-copied
COPY dir /tmp
COPY a.txt /bin/existing-dir-name
",
        context: &[
            File("a.txt", "a\n", 0o644),
            File("b.sh", "#!/bin/sh\necho b\n", 0o755),
            File("secret.txt", "do not copy\n", 0o600),
            File("notes.log", "ignored\n", 0o644),
            File("keep.log", "kept by exception\n", 0o644),
            File("dir/one.conf", "1\n", 0o640),
            File("dir/two.conf", "2\n", 0o644),
            File("dir/build.log", "ignored\n", 0o644),
            File("dir/sub/x.dat", "x\n", 0o644),
            File("dir/sub/xy.dat", "xy\n", 0o644),
            File("dir/sub/deep/z", "z\n", 0o444),
            Dir("dir/empty", 0o700),
            Dir("dir/sub", 0o750),
            Link("dir/to-a", "../a.txt"),
            Link("link", "a.txt"),
            File("top-only", "root level, ignored\n", 0o644),
            File("dir/top-only", "not root level, kept\n", 0o644),
            File(
                ".dockerignore",
                "# comment\nsecret.txt\n**/*.log\n!keep.log\n/top-only\n",
                0o644,
            ),
        ],
        ..CASE
    });
}

#[test]
fn destinations_through_image_symlinks() {
    // Debian's merged /usr makes /lib a symlink: what is copied to /lib/
    // must land in /usr/lib, not replace the link with a directory. The
    // links come from the context, as a RUN step would leave BuildKit's
    // mountpoints (/dev, /proc, /sys) in its layer.
    let dockerfile = "FROM berth-difftest-busybox:1
COPY tree/ /
COPY links/ /
COPY a.txt /lib2/
COPY a.txt /abs/sub/new.txt
COPY dir /lib2
COPY a.txt /usr/lib2/up/via-relative
COPY a.txt /real/filelink
COPY a.txt /dangling/
WORKDIR /abs/work
COPY a.txt rel.txt
WORKDIR /lib2/sub
";
    for builder in [Builder::Classic, Builder::BuildKit] {
        assert_same(Case {
            name: "symlinked-dest",
            dockerfile,
            context: &[
                File("a.txt", "a\n", 0o644),
                File("dir/d.txt", "d\n", 0o600),
                Dir("tree/usr/lib2", 0o755),
                Dir("tree/real/deep", 0o755),
                Dir("tree/usr", 0o755),
                Dir("tree/real", 0o755),
                Dir("tree", 0o755),
                Dir("links", 0o755),
                File("tree/real/target", "old\n", 0o644),
                Link("tree/real/filelink", "target"),
                Link("tree/usr/lib2/up", "../../real/deep"),
                Link("links/lib2", "usr/lib2"),
                Link("links/abs", "/real"),
                Link("links/dangling", "/nowhere/dir"),
            ],
            builder,
            ..CASE
        });
    }
}

#[test]
fn copy_with_the_dockerfile_ignored_and_excluded_dirs() {
    assert_same(Case {
        name: "ignore",
        dockerfile: "FROM berth-difftest-busybox:1
COPY . /all/
",
        context: &[
            File("kept", "k\n", 0o644),
            File("build/out/skip", "s\n", 0o644),
            File("build/out/keep.me", "k\n", 0o644),
            File("build/other", "o\n", 0o644),
            File("docs/a.md", "a\n", 0o644),
            File("docs/b.txt", "b\n", 0o644),
            File(
                ".dockerignore",
                "Dockerfile\n.dockerignore\nbuild\n!build/out/keep.me\ndocs/*.md\n",
                0o644,
            ),
        ],
        ..CASE
    });
}

#[test]
fn add_local_files_and_archives() {
    assert_same(Case {
        name: "add",
        dockerfile: "FROM berth-difftest-busybox:1
ADD plain.txt /added/
ADD files.tar /tar/
ADD files.tar.gz /gz/
ADD files.tar.bz2 /bz2
ADD files.tar.xz /xz/
ADD files.tar /renamed.tar
ADD --chown=5:6 plain.txt /owned-plain
ADD *.txt /glob/
ADD plain.gz /not-a-tar/
",
        context: &[
            File("plain.txt", "plain\n", 0o600),
            File("other.txt", "other\n", 0o644),
            Archive("files.tar", ""),
            Archive("files.tar.gz", "gzip"),
            Archive("files.tar.bz2", "bzip2"),
            Archive("files.tar.xz", "xz"),
            Gzipped("plain.gz", "plain text\n"),
        ],
        ..CASE
    });
}

#[test]
fn copy_chown_numeric() {
    // The directories a `COPY --chown` of a directory creates above its
    // destination are root's under the classic builder and the --chown
    // owner's under BuildKit (for a file both chown them); berth follows
    // BuildKit, so this case is compared with BuildKit (the same goes for
    // the directory `ADD --chown` extracts an archive into; the archive's
    // own entries keep their owners under both). `--chmod` is BuildKit's
    // alone (the classic builder refuses it).
    assert_same(Case {
        name: "chown",
        dockerfile: "FROM berth-difftest-busybox:1
COPY --chown=1000:1001 a.txt /owned/a.txt
COPY --chown=7 dir /new/parents/dir/
COPY --chown=0:42 a.txt /tmp/
COPY --chown=5:5 dir /tmp/
COPY --chmod=640 a.txt /chmod/a
COPY --chmod=700 --chown=3:3 dir /chmod-dir/
ADD --chown=5:6 files.tar /owned-archive/
",
        context: &[
            File("a.txt", "a\n", 0o640),
            File("dir/x", "x\n", 0o600),
            Dir("dir/inner", 0o711),
            File("dir/inner/y", "y\n", 0o644),
            Archive("files.tar", ""),
        ],
        builder: Builder::BuildKit,
        ..CASE
    });
}

#[test]
fn run_writes_and_deletes() {
    assert_same(Case {
        name: "run",
        dockerfile: r#"FROM berth-difftest-busybox:1
RUN mkdir -p /work/sub && echo hello > /work/sub/file && chmod 600 /work/sub/file \
 && ln -s sub/file /work/link && ln /work/sub/file /work/hard && chown 12:34 /work/sub \
 && mkfifo /work/fifo && touch /work/empty && chmod 4755 /work/empty
RUN rm /work/sub/file /bin/vi && rm -r /tmp && mkdir /tmp && chmod 1777 /tmp
RUN rm -r /work/sub && mkdir /work/sub && echo new > /work/sub/again
COPY a.txt /work/copied
RUN rm /work/copied && echo replaced > /work/link
RUN ["/bin/sh", "-c", "echo exec form > /exec.txt"]
SHELL ["/bin/sh", "-c", "-e"]
RUN echo "$0" > /shell.txt
ENV FROM_ENV=env-value
ARG FROM_ARG=arg-value
RUN echo "$FROM_ENV $FROM_ARG" > /vars.txt && echo "$HOME" > /home.txt
USER 1000
RUN id -u > /tmp/uid
"#,
        context: &[File("a.txt", "a\n", 0o644)],
        ..CASE
    });
}

#[test]
fn entrypoint_and_cmd() {
    assert_same(Case {
        name: "entrycmd",
        dockerfile: r#"FROM berth-difftest-busybox:1 AS entrypoint_resets_inherited_cmd
ENTRYPOINT ["/bin/echo"]
FROM berth-difftest-busybox:1 AS cmd_then_entrypoint_keeps_cmd
CMD ["a", "b"]
ENTRYPOINT ["/bin/echo"]
FROM cmd_then_entrypoint_keeps_cmd AS child_entrypoint_resets_parent_cmd
ENTRYPOINT /bin/echo shell form
FROM berth-difftest-busybox:1 AS shell_forms_with_shell
SHELL ["/bin/ash", "-c"]
CMD echo cmd
ENTRYPOINT echo entry
FROM berth-difftest-busybox:1 AS empty_forms
ENTRYPOINT []
CMD []
FROM berth-difftest-busybox:1 AS invalid_json_is_shell
CMD [not json]
"#,
        targets: &[
            Some("entrypoint_resets_inherited_cmd"),
            Some("cmd_then_entrypoint_keeps_cmd"),
            Some("child_entrypoint_resets_parent_cmd"),
            Some("shell_forms_with_shell"),
            Some("empty_forms"),
            Some("invalid_json_is_shell"),
        ],
        ..CASE
    });
}

#[test]
fn multi_stage_copy_from() {
    assert_same(Case {
        name: "stages",
        dockerfile: "FROM berth-difftest-busybox:1 AS builder
RUN mkdir -p /out/bin && echo built > /out/result && echo tool > /out/bin/tool \
 && chmod 755 /out/bin/tool && ln -s result /out/alias && chown -R 3:4 /out/bin
FROM berth-difftest-busybox:1 AS unused
RUN echo never > /never
FROM berth-difftest-busybox:1
COPY --from=builder /out /app
COPY --from=builder /out/result /single
COPY --from=0 /out/bin/ /bin2/
COPY --from=builder --chown=9:9 /out/bin /owned
COPY --from=berth-difftest-busybox:1 /etc/passwd /passwd-from-image
COPY --from=builder /out/alias /alias-copied
",
        ..CASE
    });
}

#[test]
fn onbuild_triggers_run_in_the_child() {
    assert_same(Case {
        name: "onbuild",
        parent: Some(
            "FROM berth-difftest-busybox:1
ENV PARENT_ENV=p
ONBUILD COPY a.txt /from-trigger/
ONBUILD RUN echo \"$PARENT_ENV $CHILD_ARG\" > /trigger-ran
ONBUILD ENV TRIGGERED=yes
ONBUILD LABEL from.trigger=1
",
        ),
        dockerfile: "FROM berth-difftest-onbuild-parent:1
ENV CHILD=c
ONBUILD RUN echo grandchild
",
        context: &[File("a.txt", "a\n", 0o644)],
        ..CASE
    });
}

/// A Dockerfile docker rejects, the line berth must name, and the context.
struct Rejected<'a> {
    name: &'a str,
    dockerfile: &'a str,
    line: usize,
}

const REJECTED: &[Rejected<'static>] = &[
    Rejected {
        name: "unknown instruction",
        dockerfile: "FROM berth-difftest-busybox:1\nFROB x\n",
        line: 2,
    },
    Rejected {
        name: "ENV without a value",
        dockerfile: "FROM berth-difftest-busybox:1\nENV\n",
        line: 2,
    },
    Rejected {
        name: "ENV old syntax without a value",
        dockerfile: "FROM berth-difftest-busybox:1\nLABEL a=b\nENV JUSTKEY\n",
        line: 3,
    },
    Rejected {
        name: "LABEL without =",
        dockerfile: "FROM berth-difftest-busybox:1\nLABEL novalue\n",
        line: 2,
    },
    Rejected {
        name: "missing COPY source",
        dockerfile: "FROM berth-difftest-busybox:1\nCOPY missing.txt /\n",
        line: 2,
    },
    Rejected {
        name: "COPY wildcard matching nothing",
        dockerfile: "FROM berth-difftest-busybox:1\nCOPY *.nomatch /\n",
        line: 2,
    },
    Rejected {
        name: "COPY source outside the context",
        dockerfile: "FROM berth-difftest-busybox:1\nCOPY ../outside /\n",
        line: 2,
    },
    Rejected {
        name: "COPY with one argument",
        dockerfile: "FROM berth-difftest-busybox:1\nCOPY onlyone\n",
        line: 2,
    },
    Rejected {
        name: "COPY unknown flag",
        dockerfile: "FROM berth-difftest-busybox:1\nCOPY --bogus=1 f /\n",
        line: 2,
    },
    Rejected {
        name: "COPY --exclude (a newer frontend's)",
        dockerfile: "FROM berth-difftest-busybox:1\nCOPY --exclude=*.md f /\n",
        line: 2,
    },
    Rejected {
        name: "COPY --parents (a newer frontend's)",
        dockerfile: "FROM berth-difftest-busybox:1\nCOPY --parents f /\n",
        line: 2,
    },
    Rejected {
        name: "COPY --from unknown stage",
        dockerfile: "FROM berth-difftest-busybox:1\nCOPY --from=nosuchstage /x /y\n",
        line: 2,
    },
    Rejected {
        name: "ADD missing source",
        dockerfile: "FROM berth-difftest-busybox:1\nADD missing.tar /\n",
        line: 2,
    },
    Rejected {
        name: "RUN exits non-zero",
        dockerfile: "FROM berth-difftest-busybox:1\nRUN echo partial > /p\nRUN exit 3\n",
        line: 3,
    },
    Rejected {
        name: "instruction before FROM",
        dockerfile: "ARG X=1\nRUN echo\nFROM berth-difftest-busybox:1\n",
        line: 2,
    },
    // docker 20.10's daemon panics on this one (a nil dereference in the
    // classic builder); the request fails all the same.
    Rejected {
        name: "only ARG, no FROM",
        dockerfile: "ARG X=1\n",
        line: 1,
    },
    Rejected {
        name: "FROM without an image",
        dockerfile: "FROM\n",
        line: 1,
    },
    Rejected {
        name: "WORKDIR without a path",
        dockerfile: "FROM berth-difftest-busybox:1\nWORKDIR\n",
        line: 2,
    },
    Rejected {
        name: "SHELL not in JSON form",
        dockerfile: "FROM berth-difftest-busybox:1\nSHELL /bin/sh -c\n",
        line: 2,
    },
    Rejected {
        name: "HEALTHCHECK with a bad duration",
        dockerfile: "FROM berth-difftest-busybox:1\nHEALTHCHECK --interval=often CMD true\n",
        line: 2,
    },
    Rejected {
        name: "HEALTHCHECK unknown flag",
        dockerfile: "FROM berth-difftest-busybox:1\nHEALTHCHECK --bogus=1 CMD true\n",
        line: 2,
    },
    Rejected {
        name: "EXPOSE a bad port",
        dockerfile: "FROM berth-difftest-busybox:1\nEXPOSE http\n",
        line: 2,
    },
    Rejected {
        name: "EXPOSE a bad protocol",
        dockerfile: "FROM berth-difftest-busybox:1\nEXPOSE 80/xtp\n",
        line: 2,
    },
    Rejected {
        name: "STOPSIGNAL unknown signal",
        dockerfile: "FROM berth-difftest-busybox:1\nSTOPSIGNAL SIGNOPE\n",
        line: 2,
    },
    Rejected {
        name: "ONBUILD FROM",
        dockerfile: "FROM berth-difftest-busybox:1\nONBUILD FROM busybox\n",
        line: 2,
    },
    Rejected {
        name: "ONBUILD ONBUILD",
        dockerfile: "FROM berth-difftest-busybox:1\nONBUILD ONBUILD RUN true\n",
        line: 2,
    },
    Rejected {
        name: "ONBUILD MAINTAINER",
        dockerfile: "FROM berth-difftest-busybox:1\nONBUILD MAINTAINER me\n",
        line: 2,
    },
    Rejected {
        name: "unterminated variable",
        dockerfile: "FROM berth-difftest-busybox:1\nENV A=${B\n",
        line: 2,
    },
    Rejected {
        name: "bad escape directive",
        dockerfile: "# escape=ab\nFROM berth-difftest-busybox:1\n",
        line: 1,
    },
    Rejected {
        name: "duplicate stage name",
        dockerfile: "FROM berth-difftest-busybox:1 AS a\nFROM berth-difftest-busybox:1 AS a\n",
        line: 2,
    },
    Rejected {
        name: "stage name starting with a digit",
        dockerfile: "FROM berth-difftest-busybox:1 AS 1bad\n",
        line: 1,
    },
    Rejected {
        name: "COPY --from its own stage",
        dockerfile: "FROM berth-difftest-busybox:1\nCOPY --from=0 /bin/sh /x\n",
        line: 2,
    },
    Rejected {
        name: "HEALTHCHECK negative retries",
        dockerfile: "FROM berth-difftest-busybox:1\nHEALTHCHECK --retries=-1 CMD true\n",
        line: 2,
    },
    Rejected {
        name: "HEALTHCHECK without arguments",
        dockerfile: "FROM berth-difftest-busybox:1\nHEALTHCHECK\n",
        line: 2,
    },
    Rejected {
        name: "HEALTHCHECK unknown type",
        dockerfile: "FROM berth-difftest-busybox:1\nHEALTHCHECK FOO\n",
        line: 2,
    },
    Rejected {
        name: "MAINTAINER without a name",
        dockerfile: "FROM berth-difftest-busybox:1\nMAINTAINER\n",
        line: 2,
    },
    Rejected {
        name: "EXPOSE without a port",
        dockerfile: "FROM berth-difftest-busybox:1\nEXPOSE\n",
        line: 2,
    },
    Rejected {
        name: "VOLUME without a path",
        dockerfile: "FROM berth-difftest-busybox:1\nVOLUME\n",
        line: 2,
    },
    Rejected {
        name: "VOLUME empty string",
        dockerfile: "FROM berth-difftest-busybox:1\nVOLUME [\"\"]\n",
        line: 2,
    },
    Rejected {
        name: "ARG without a name",
        dockerfile: "FROM berth-difftest-busybox:1\nARG\n",
        line: 2,
    },
    Rejected {
        name: "STOPSIGNAL without a signal",
        dockerfile: "FROM berth-difftest-busybox:1\nSTOPSIGNAL\n",
        line: 2,
    },
    Rejected {
        name: "USER without a user",
        dockerfile: "FROM berth-difftest-busybox:1\nUSER\n",
        line: 2,
    },
    Rejected {
        name: "LABEL blank name",
        dockerfile: "FROM berth-difftest-busybox:1\nLABEL =x\n",
        line: 2,
    },
    Rejected {
        name: "ENV blank name",
        dockerfile: "FROM berth-difftest-busybox:1\nENV =x\n",
        line: 2,
    },
    Rejected {
        name: "required variable unset",
        dockerfile: "FROM berth-difftest-busybox:1\nENV A=${B:?err}\n",
        line: 2,
    },
    Rejected {
        name: "base image that does not exist",
        dockerfile: "FROM berth-difftest-nosuch:1\n",
        line: 1,
    },
];

#[test]
fn rejected_dockerfiles() {
    let Some(root) = setup() else {
        return;
    };
    let mut failures = Vec::new();
    for (i, case) in REJECTED.iter().enumerate() {
        let dir = root.scratch.path().join(format!("rejected-{i}"));
        write_context(&dir, case.dockerfile, &[File("f", "f\n", 0o644)]);
        fs::write(root.scratch.path().join("outside"), "outside\n").unwrap();
        let dir = dir.to_str().unwrap();
        let tag = format!("berth-difftest-rejected-{i}:{}", std::process::id());
        let _cleanup = DockerImages(vec![tag.clone()]);
        let docker_out = docker_cmd(Builder::Classic)
            .args(["build", "--network", "none", "--force-rm", "-t", &tag, dir])
            .output()
            .unwrap();
        assert!(
            !docker_out.status.success(),
            "{}: docker accepted it, so it does not belong here",
            case.name
        );
        let ours = root.run(&["build", "-t", &tag, dir]);
        let stderr = String::from_utf8_lossy(&ours.stderr);
        let wanted = format!("Dockerfile:{}", case.line);
        if ours.status.success() {
            failures.push(format!("{}: berth accepted it", case.name));
        } else if !stderr.contains(&wanted) {
            failures.push(format!(
                "{}: berth's message lacks {wanted}: {}",
                case.name,
                stderr.trim()
            ));
        }
        if root.run(&["image", "inspect", &tag]).status.success() {
            failures.push(format!("{}: berth left the tag {tag}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "rejections that differ from docker's:\n{}",
        failures.join("\n")
    );
}
