//! End-to-end tests of how `berth build` runs stages: independent stages in
//! parallel with the classic output still in Dockerfile order, `--target`,
//! ONBUILD triggers, pulling FROM images (`--pull`), `builder prune`, and
//! the `--progress` modes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn context(root: &Root, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = root.path().join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    for (path, content) in files {
        fs::write(dir.join(path), content).unwrap();
    }
    dir
}

fn build(root: &Root, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    root.ok(&args)
}

fn cat(root: &Root, image: &str, path: &str) -> String {
    root.ok(&["run", "--rm", image, "cat", path])
}

/// The numbers of the `Step N/M` lines, in the order they were printed.
fn step_numbers(out: &str) -> Vec<usize> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Step "))
        .filter_map(|l| l.split('/').next()?.parse().ok())
        .collect()
}

/// The first field of `/proc/uptime` as written by a step.
fn uptime(text: &str) -> f64 {
    text.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn independent_stages_run_at_once_and_print_in_order() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let stage = |name: &str| {
        format!(
            "FROM busybox AS {name}\n\
             RUN echo {name}-output; cat /proc/uptime > /start; sleep 1; cat /proc/uptime > /end\n"
        )
    };
    let dockerfile = format!(
        "{}{}FROM busybox\n\
         COPY --from=one /start /one.start\nCOPY --from=one /end /one.end\n\
         COPY --from=two /start /two.start\nCOPY --from=two /end /two.end\n",
        stage("one"),
        stage("two")
    );
    let dir = context(&root, "ctx", &dockerfile, &[]);
    let out = build(&root, &dir, &["--progress", "plain", "-t", "both:1"]);

    let one = (
        uptime(&cat(&root, "both:1", "/one.start")),
        uptime(&cat(&root, "both:1", "/one.end")),
    );
    let two = (
        uptime(&cat(&root, "both:1", "/two.start")),
        uptime(&cat(&root, "both:1", "/two.end")),
    );
    assert!(
        one.0 < two.1 && two.0 < one.1,
        "the stages did not overlap: one {one:?}, two {two:?}\n{out}"
    );

    // Printed as a sequential build: steps in order, each RUN's output
    // under its own step.
    assert_eq!(step_numbers(&out), (1..=9).collect::<Vec<_>>(), "{out}");
    let at = |text: &str| out.find(text).unwrap_or_else(|| panic!("{text}: {out}"));
    assert!(at("Step 2/9") < at("one-output\n") && at("one-output\n") < at("Step 3/9"));
    assert!(at("Step 4/9") < at("two-output\n") && at("two-output\n") < at("Step 5/9"));
    assert!(out.contains("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged both:1"), "{out}");
}

#[test]
fn a_failing_stage_fails_the_build_with_its_line() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dockerfile = "FROM busybox AS slow\nRUN sleep 1\n\
                      FROM busybox AS broken\nRUN echo broken-output; exit 4\n\
                      FROM busybox\nCOPY --from=slow /bin/sh /a\nCOPY --from=broken /bin/sh /b\n";
    let dir = context(&root, "ctx", dockerfile, &[]);
    let out = root.run(&["build", "-t", "never:1", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr_text(&out);
    assert!(
        stderr.contains("Dockerfile:4") && stderr.contains("returned a non-zero code: 4"),
        "{stderr}"
    );
    assert!(stdout_text(&out).contains("broken-output"), "{stderr}");
    root.fails(&["image", "inspect", "never:1"]);
}

#[test]
fn target_runs_only_the_stages_it_needs() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dockerfile = "FROM busybox AS base\nRUN echo base > /base\n\
                      FROM base AS unused\nRUN exit 1\n\
                      FROM busybox AS tool\nRUN echo tool > /tool\n\
                      FROM base AS app\nCOPY --from=tool /tool /tool\nRUN cat /base /tool > /app\n\
                      FROM app\nRUN exit 1\n";
    let dir = context(&root, "ctx", dockerfile, &[]);
    let out = build(&root, &dir, &["--target", "app", "-t", "app:1"]);
    assert_eq!(step_numbers(&out), (1..=7).collect::<Vec<_>>(), "{out}");
    assert!(out.contains("Step 1/7 : FROM busybox AS base"), "{out}");
    assert!(out.contains("Step 3/7 : FROM busybox AS tool"), "{out}");
    assert!(out.contains("Step 5/7 : FROM base AS app"), "{out}");
    assert_eq!(cat(&root, "app:1", "/app"), "base\ntool\n");
}

#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let parent = context(
        &root,
        "parent",
        "FROM busybox\n\
         ONBUILD COPY hello.txt /from-trigger.txt\n\
         ONBUILD RUN echo triggered > /triggered\n",
        &[("hello.txt", "parent\n")],
    );
    build(&root, &parent, &["-t", "parent:1"]);
    let on_build = &root.inspect("parent:1")["Config"]["OnBuild"];
    assert_eq!(on_build.as_array().map(Vec::len), Some(2), "{on_build}");
    assert!(!root
        .run(&["run", "--rm", "parent:1", "test", "-e", "/triggered"])
        .status
        .success());

    let child = context(
        &root,
        "child",
        "FROM parent:1\nCMD [\"cat\", \"/triggered\"]\n",
        &[("hello.txt", "child\n")],
    );
    let out = build(&root, &child, &["-t", "child:1"]);
    assert!(out.contains("# Executing 2 build triggers"), "{out}");
    assert_eq!(step_numbers(&out), [1, 2], "{out}");
    assert_eq!(root.ok(&["run", "--rm", "child:1"]), "triggered\n");
    assert_eq!(cat(&root, "child:1", "/from-trigger.txt"), "child\n");
    let on_build = &root.inspect("child:1")["Config"]["OnBuild"];
    assert!(
        on_build.is_null() || on_build.as_array().is_some_and(Vec::is_empty),
        "{on_build}"
    );

    // A stage's triggers run in the stage built FROM it.
    let stages = context(
        &root,
        "stages",
        "FROM busybox AS base\nONBUILD RUN echo once > /stage-trigger\n\
         FROM base\nRUN cat /stage-trigger\n",
        &[],
    );
    let out = build(&root, &stages, &["-t", "stages:1"]);
    assert!(out.contains("# Executing 1 build trigger\n"), "{out}");
    assert_eq!(cat(&root, "stages:1", "/stage-trigger"), "once\n");

    // A failing trigger names the child's FROM line.
    build(
        &root,
        &context(
            &root,
            "bad-parent",
            "FROM busybox\nONBUILD RUN exit 7\n",
            &[],
        ),
        &["-t", "bad-parent:1"],
    );
    let bad = context(&root, "bad-child", "# the child\nFROM bad-parent:1\n", &[]);
    let stderr = root.fails(&["build", bad.to_str().unwrap()]);
    assert!(
        stderr.contains("Dockerfile:2") && stderr.contains("returned a non-zero code: 7"),
        "{stderr}"
    );
}

#[test]
fn from_images_are_pulled_when_missing_and_with_pull() {
    let publisher = Root::new();
    if !container_ready(&publisher) {
        return;
    }
    let registry = Registry::start(None);
    let base = format!("{}/test/base:1", registry.addr);
    publisher.ok(&["tag", "busybox", &base]);
    publisher.ok(&["push", &base]);

    let root = Root::new();
    let dir = context(&root, "ctx", &format!("FROM {base}\nCMD [\"true\"]\n"), &[]);
    let out = build(&root, &dir, &["-t", "pulled:1"]);
    assert!(out.contains(": Pulling from "), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {base}")),
        "{out}"
    );
    root.ok(&["image", "inspect", &base]);

    // The registry gets a newer base: only --pull sees it.
    let newer = context(
        &publisher,
        "newer",
        "FROM busybox\nRUN echo newer > /marker\n",
        &[],
    );
    build(&publisher, &newer, &["-t", &base]);
    publisher.ok(&["push", &base]);
    let out = build(&root, &dir, &["-t", "local:1"]);
    assert!(!out.contains("Pulling from"), "{out}");
    assert!(!root
        .run(&["run", "--rm", "local:1", "test", "-e", "/marker"])
        .status
        .success());
    let out = build(&root, &dir, &["--pull", "-t", "fresh:1"]);
    assert!(out.contains(": Pulling from "), "{out}");
    assert_eq!(cat(&root, "fresh:1", "/marker"), "newer\n");
}

#[test]
fn builder_prune_empties_the_cache() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dockerfile = "FROM busybox\nCOPY hello.txt /\n\
                      RUN --mount=type=cache,target=/cache echo kept > /cache/file\n\
                      RUN cat /hello.txt > /copy\n";
    let dir = context(&root, "ctx", dockerfile, &[("hello.txt", "hello\n")]);
    build(&root, &dir, &["-t", "cached:1"]);
    let again = build(&root, &dir, &["-t", "cached:1"]);
    assert_eq!(again.matches(" ---> Using cache").count(), 3, "{again}");
    let build_dir = root.path().join("build");
    assert!(!root.entries("build/cache-mounts").is_empty());

    // Answering no keeps everything.
    let kept = root.run_stdin(&["builder", "prune"], b"n\n");
    assert!(kept.status.success());
    assert!(
        stdout_text(&kept).starts_with("WARNING! This will remove all dangling build cache."),
        "{}",
        stdout_text(&kept)
    );
    let again = build(&root, &dir, &["-t", "cached:1"]);
    assert_eq!(again.matches(" ---> Using cache").count(), 3, "{again}");

    let pruned = root.ok(&["builder", "prune", "-a", "-f"]);
    assert!(pruned.contains("Deleted build cache objects:"), "{pruned}");
    assert!(pruned.contains("Total reclaimed space: "), "{pruned}");
    let files: Vec<_> = fs::read_dir(&build_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .collect();
    assert!(files.is_empty(), "hash caches left: {files:?}");
    assert!(root.entries("build/cache-mounts").is_empty());
    // The tagged image stays; only its steps' cache went.
    assert_eq!(cat(&root, "cached:1", "/copy"), "hello\n");

    let rebuilt = build(&root, &dir, &["-t", "cached:1"]);
    assert!(!rebuilt.contains("Using cache"), "{rebuilt}");

    // Without -a, the steps' images go once nothing tags the result.
    root.ok(&["rmi", "cached:1"]);
    let pruned = root.ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Deleted build cache objects:"), "{pruned}");
    assert_eq!(
        root.ok(&["images", "-a", "-q"]),
        root.ok(&["images", "-q"]),
        "build steps' images left"
    );
    let rebuilt = build(&root, &dir, &[]);
    assert!(!rebuilt.contains("Using cache"), "{rebuilt}");
}

#[test]
fn progress_modes() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dir = context(
        &root,
        "ctx",
        "FROM busybox\nRUN echo from-run\nCMD [\"true\"]\n",
        &[],
    );
    let plain = build(&root, &dir, &["--progress", "plain", "-t", "modes:1"]);
    assert!(plain.contains("Step 1/3 : FROM busybox\n"), "{plain}");
    assert!(plain.contains("Step 2/3 : RUN echo from-run\n"), "{plain}");
    assert!(plain.contains(" ---> Running in "), "{plain}");
    assert!(plain.contains("from-run\n"), "{plain}");
    assert!(plain.contains("Successfully tagged modes:1"), "{plain}");
    // Not on a terminal, auto is plain.
    let auto = build(&root, &dir, &["-t", "modes:1"]);
    assert!(
        auto.contains("Step 2/3 : RUN echo from-run\n ---> Using cache"),
        "{auto}"
    );
    let quiet = build(&root, &dir, &["-q", "--progress", "plain"]);
    assert_eq!(quiet.lines().count(), 1, "{quiet}");
    assert!(quiet.starts_with("sha256:"), "{quiet}");

    let stderr = root.fails(&["build", "--progress", "tty", dir.to_str().unwrap()]);
    assert!(stderr.contains("not a terminal"), "{stderr}");
    // On a terminal (script(1) gives the command one), the live view
    // collapses each step into a line; the final lines still come.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipping the terminal part: script(1) is not installed");
        return;
    }
    let line = format!(
        "{} --root {} build --progress tty --no-cache -t modes:2 {}",
        env!("CARGO_BIN_EXE_berth"),
        root.path().display(),
        dir.display()
    );
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("COLUMNS", "200")
        .env("BERTH_CONFIG", root.config_path())
        .output()
        .unwrap();
    let text = stdout_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("[stage-0 2/3] RUN echo from-run"), "{text}");
    assert!(text.contains("DONE "), "{text}");
    assert!(!text.contains("Step 2/3"), "{text}");
    assert!(text.contains("Successfully tagged modes:2"), "{text}");
}
