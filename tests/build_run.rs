//! End-to-end tests of `RUN` in `berth build` beyond a plain command:
//! heredocs, `--mount=type=cache|bind|secret|tmpfs` and `--network`. Each
//! mount test also checks that the step's layer holds only what the
//! command wrote: no mounted content and no empty mountpoints.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::*;
use sha2::Digest as _;

/// A context directory holding `dockerfile` and `files`.
fn context(root: &Root, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = root.scratch.path().join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for (path, content) in files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    dir
}

fn build(root: &Root, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    root.ok(&args)
}

/// The paths in each layer of `image` (bottom first), from `save`.
fn layers(root: &Root, image: &str) -> Vec<Vec<String>> {
    let archive = root.scratch.path().join("saved.tar");
    root.ok(&["save", "-o", archive.to_str().unwrap(), image]);
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut outer = tar::Archive::new(fs::File::open(&archive).unwrap());
    for entry in outer.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let mut inner = tar::Archive::new(&files[layer.as_str().unwrap()][..]);
            inner
                .entries()
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let path = e.path().unwrap().to_string_lossy().into_owned();
                    path.trim_start_matches("./")
                        .trim_end_matches('/')
                        .to_string()
                })
                .filter(|p| !p.is_empty())
                .collect::<Vec<String>>()
        })
        .map(|mut paths| {
            paths.sort();
            paths
        })
        .collect()
}

/// The paths in the top layer of `image`.
fn top_layer(root: &Root, image: &str) -> Vec<String> {
    layers(root, image).pop().unwrap()
}

fn cat(root: &Root, image: &str, path: &str) -> String {
    root.ok(&["run", "--rm", image, "cat", path])
}

#[test]
fn heredocs_run_as_buildkit_runs_them() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dockerfile = "FROM busybox
ARG NAME=world
ENV GREETING=hello
RUN <<EOF
set -e
echo \"$GREETING $NAME\" > /script.out
echo second line >> /script.out
EOF
RUN <<EOF sh
echo \"stdin of sh: $NAME\" > /stdin.out
EOF
RUN <<-EOT
\techo tabs stripped > /tabs.out
\tEOT
RUN cat <<'EOF' > /quoted.out && cat <<EOF > /unquoted.out
literal $NAME
EOF
expanded $NAME
EOF
RUN <<A cat > /a.out && <<B cat > /b.out
first file
A
second file
B
RUN <<EOF
#!/bin/sh
echo \"interpreter ran $0\" > /shebang.out
EOF
";
    let dir = context(&root, "ctx", dockerfile, &[]);
    build(&root, &dir, &["-t", "docs"]);
    assert_eq!(
        cat(&root, "docs", "/script.out"),
        "hello world\nsecond line\n"
    );
    assert_eq!(cat(&root, "docs", "/stdin.out"), "stdin of sh: world\n");
    assert_eq!(cat(&root, "docs", "/tabs.out"), "tabs stripped\n");
    assert_eq!(cat(&root, "docs", "/quoted.out"), "literal $NAME\n");
    assert_eq!(cat(&root, "docs", "/unquoted.out"), "expanded world\n");
    assert_eq!(cat(&root, "docs", "/a.out"), "first file\n");
    assert_eq!(cat(&root, "docs", "/b.out"), "second file\n");
    assert_eq!(
        cat(&root, "docs", "/shebang.out"),
        "interpreter ran /dev/pipes/EOF\n"
    );
    // The shebang script's mount left nothing behind.
    assert_eq!(top_layer(&root, "docs"), ["shebang.out"]);

    let history = root.ok(&["history", "--no-trunc", "docs"]);
    assert!(
        history.contains("echo second line >> /script.out"),
        "{history}"
    );

    // Bodies are part of the step's key: the same file is all cache hits,
    // an edited body reruns its step and those after it.
    let again = build(&root, &dir, &["-t", "docs"]);
    assert!(!again.contains("Running in"), "{again}");
    fs::write(
        dir.join("Dockerfile"),
        dockerfile.replace("first file", "first file, edited"),
    )
    .unwrap();
    let edited = build(&root, &dir, &["-t", "docs"]);
    assert_eq!(edited.matches("Running in").count(), 2, "{edited}");
    assert_eq!(cat(&root, "docs", "/a.out"), "first file, edited\n");
}

#[test]
fn cache_mounts_persist_outside_the_image() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dockerfile = "FROM busybox
RUN --mount=type=cache,target=/var/cache/app \\
    echo run >> /var/cache/app/log && cp /var/cache/app/log /seen
";
    let dir = context(&root, "ctx", dockerfile, &[]);
    build(&root, &dir, &["-t", "cached"]);
    assert_eq!(cat(&root, "cached", "/seen"), "run\n");
    // A new run of the step (--no-cache) sees what the first one left.
    build(&root, &dir, &["--no-cache", "-t", "cached"]);
    assert_eq!(cat(&root, "cached", "/seen"), "run\nrun\n");
    assert_eq!(top_layer(&root, "cached"), ["seen"]);
    assert_eq!(root.entries("build/cache-mounts").len(), 1);

    // Mode and owner apply to a new cache; a relative target is under the
    // WORKDIR; an id shares a cache between targets.
    let dockerfile = "FROM busybox
WORKDIR /work
RUN --mount=type=cache,target=rel,id=shared,mode=0700,uid=123,gid=45 \\
    stat -c '%a %u %g' /work/rel > /owner && echo x > /work/rel/file
RUN --mount=type=cache,target=/other,id=shared,sharing=locked cat /other/file > /shared
";
    let dir = context(&root, "ctx2", dockerfile, &[]);
    build(&root, &dir, &["-t", "cached2"]);
    assert_eq!(cat(&root, "cached2", "/owner"), "700 123 45\n");
    assert_eq!(cat(&root, "cached2", "/shared"), "x\n");
    assert_eq!(top_layer(&root, "cached2"), ["shared"]);
    let work = layers(&root, "cached2");
    assert!(
        !work.iter().flatten().any(|p| p.starts_with("work/rel")),
        "{work:?}"
    );
}

#[test]
fn bind_mounts_read_the_context_without_keeping_it() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dockerfile = "FROM busybox AS base
RUN --mount=type=bind,source=conf/app.conf,target=/mnt/app.conf cat /mnt/app.conf > /copied
RUN --mount=target=/src ls /src/conf > /listing
RUN --mount=target=/src,rw echo scribble > /src/conf/app.conf && rm /src/keep.txt
FROM busybox AS other
RUN --mount=from=0,source=/copied,target=/from-stage cp /from-stage /again
";
    let dir = context(
        &root,
        "ctx",
        dockerfile,
        &[
            ("conf/app.conf", "setting=1\n"),
            ("conf/private.key", "hidden\n"),
            ("keep.txt", "kept\n"),
            (".dockerignore", "conf/*.key\n"),
        ],
    );
    build(&root, &dir, &["--target", "base", "-t", "bound"]);
    build(&root, &dir, &["-t", "bound:other"]);
    assert_eq!(cat(&root, "bound", "/copied"), "setting=1\n");
    // .dockerignore'd files are not in the mount.
    assert_eq!(cat(&root, "bound", "/listing"), "app.conf\n");
    // Writes to a rw bind are thrown away.
    assert_eq!(
        fs::read_to_string(dir.join("conf/app.conf")).unwrap(),
        "setting=1\n"
    );
    assert!(dir.join("keep.txt").exists());
    assert_eq!(cat(&root, "bound:other", "/again"), "setting=1\n");
    let all = layers(&root, "bound:latest");
    let n = all.len();
    assert_eq!(all[n - 3], ["copied"]);
    assert_eq!(all[n - 2], ["listing"]);
    assert!(all[n - 1].is_empty(), "{:?}", all[n - 1]);
    assert_eq!(top_layer(&root, "bound:other"), ["again"]);

    // The mounted file's content is in the step's key, its mtime is not.
    let again = build(&root, &dir, &["--target", "base", "-t", "bound"]);
    assert!(!again.contains("Running in"), "{again}");
    let conf = dir.join("conf/app.conf");
    fs::write(&conf, "setting=1\n").unwrap();
    let touched = build(&root, &dir, &["--target", "base", "-t", "bound"]);
    assert!(!touched.contains("Running in"), "{touched}");
    fs::write(&conf, "setting=2\n").unwrap();
    let edited = build(&root, &dir, &["--target", "base", "-t", "bound"]);
    assert!(edited.contains("Running in"), "{edited}");
    assert_eq!(cat(&root, "bound", "/copied"), "setting=2\n");

    fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN --mount=source=missing.txt,target=/m true\n",
    )
    .unwrap();
    let stderr = root.fails(&["build", dir.to_str().unwrap()]);
    assert!(stderr.contains("Dockerfile:2"), "{stderr}");
}

#[test]
fn secrets_reach_run_and_nothing_else() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let secret = root.file("token.txt", b"s3cr3t-value");
    // The commands compare digests, so the Dockerfile (and the history made
    // from it) never holds the values themselves.
    let digest = |value: &str| hex::encode(sha2::Sha256::digest(value.as_bytes()));
    let dockerfile = format!(
        "FROM busybox
RUN --mount=type=secret,id=token \\
    test \"$(sha256sum < /run/secrets/token)\" = '{token}  -' && \\
    stat -c '%a %u' /run/secrets/token > /perm && echo used > /used
RUN --mount=type=secret,id=token,target=/etc/app/token,mode=0440,uid=7 \\
    --mount=type=secret,id=from-env,env=API_KEY \\
    stat -c '%a %u' /etc/app/token > /perm2 && \\
    test \"$(printf %s \"$API_KEY\" | sha256sum)\" = '{env}  -'
RUN --mount=type=secret,id=absent echo optional secrets may be missing
",
        token = digest("s3cr3t-value"),
        env = digest("env-value"),
    );
    let dir = context(&root, "ctx", &dockerfile, &[]);
    let out = root
        .cmd(&[
            "build",
            "--secret",
            &format!("id=token,src={secret}"),
            "--secret",
            "id=from-env,env=BERTH_TEST_SECRET",
            "-t",
            "secretive",
            dir.to_str().unwrap(),
        ])
        .env("BERTH_TEST_SECRET", "env-value")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cat(&root, "secretive", "/perm"), "400 0\n");
    assert_eq!(cat(&root, "secretive", "/perm2"), "440 7\n");
    let all = layers(&root, "secretive");
    let n = all.len();
    assert_eq!(all[n - 3], ["perm", "used"]);
    assert_eq!(all[n - 2], ["perm2"]);
    assert!(all[n - 1].is_empty(), "{:?}", all[n - 1]);
    let history = root.ok(&["history", "--no-trunc", "secretive"]);
    let inspect = root.ok(&["image", "inspect", "secretive"]);
    for text in [&history, &inspect] {
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(!text.contains("env-value"), "{text}");
    }

    fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=secret,id=token,required true\n",
    )
    .unwrap();
    let stderr = root.fails(&["build", dir.to_str().unwrap()]);
    assert!(
        stderr.contains("Dockerfile:2") && stderr.contains("secret token is required"),
        "{stderr}"
    );
}

#[test]
fn tmpfs_mounts_and_network_modes() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dockerfile = "FROM busybox
RUN --mount=type=tmpfs,target=/scratch/space,size=1m \\
    echo data > /scratch/space/file && df -k /scratch/space | tail -1 | awk '{print $1, $2}' > /df
RUN --network=none cat /proc/net/dev > /none.dev
RUN --network=host cat /proc/net/dev > /host.dev
";
    let dir = context(&root, "ctx", dockerfile, &[]);
    build(&root, &dir, &["-t", "scratchy"]);
    assert_eq!(cat(&root, "scratchy", "/df"), "tmpfs 1024\n");
    let all = layers(&root, "scratchy");
    let n = all.len();
    assert_eq!(all[n - 3], ["df"]);

    let interfaces = |dev: &str| -> Vec<String> {
        let mut names: Vec<String> = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|n| n.trim().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(interfaces(&cat(&root, "scratchy", "/none.dev")), ["lo"]);
    assert_eq!(
        interfaces(&cat(&root, "scratchy", "/host.dev")),
        interfaces(&fs::read_to_string("/proc/net/dev").unwrap())
    );
}
