//! End-to-end tests of `berth build` on a busybox base: the resulting
//! config and files, the step cache, failures, multi-stage targets and the
//! output options.

mod common;

use std::fs;
use std::path::Path;

use common::*;

const DOCKERFILE: &str = "FROM busybox
ARG GREETING=hi
ENV APP_HOME=/app MODE=prod
LABEL team=core
WORKDIR $APP_HOME
COPY hello.txt ./
COPY conf/ ./conf/
RUN echo \"$GREETING $MODE\" > out.txt && cat hello.txt >> out.txt
USER nobody
CMD [\"sh\", \"-c\", \"cat /app/out.txt; ls /app/conf\"]
";

fn context(root: &Root) -> std::path::PathBuf {
    let dir = root.path().join("ctx");
    fs::create_dir_all(dir.join("conf")).unwrap();
    fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    fs::write(dir.join("hello.txt"), "hello\n").unwrap();
    fs::write(dir.join("conf/a.conf"), "a\n").unwrap();
    fs::write(dir.join("conf/secret.key"), "no\n").unwrap();
    fs::write(dir.join(".dockerignore"), "conf/*.key\n").unwrap();
    dir
}

fn build(root: &Root, dir: &Path, extra: &[&str]) -> String {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(dir);
    root.ok(&args)
}

#[test]
fn build_runs_and_caches() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dir = context(&root);
    let out = build(&root, &dir, &["-t", "app:1", "--build-arg", "GREETING=hey"]);
    assert!(out.contains("Step 1/10 : FROM busybox"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged app:1"), "{out}");

    let ran = root.ok(&["run", "--rm", "app:1"]);
    assert_eq!(ran, "hey prod\nhello\na.conf\n");
    let config = &root.inspect("app:1")["Config"];
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"APP_HOME=/app") && env.contains(&"MODE=prod"),
        "{env:?}"
    );
    assert_eq!(config["WorkingDir"], "/app");
    assert_eq!(config["User"], "nobody");
    assert_eq!(config["Labels"]["team"], "core");
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["sh", "-c", "cat /app/out.txt; ls /app/conf"])
    );

    // Nothing changed: every step after FROM comes from the cache.
    let again = build(&root, &dir, &["-t", "app:1", "--build-arg", "GREETING=hey"]);
    assert_eq!(again.matches(" ---> Using cache").count(), 9, "{again}");
    assert!(!again.contains("Running in"), "{again}");

    // Touching keeps the cache; editing busts COPY and what follows.
    let hello = dir.join("hello.txt");
    let file = fs::File::options().append(true).open(&hello).unwrap();
    file.set_modified(std::time::SystemTime::now()).unwrap();
    let touched = build(&root, &dir, &["--build-arg", "GREETING=hey"]);
    assert_eq!(touched.matches(" ---> Using cache").count(), 9, "{touched}");
    fs::write(&hello, "changed\n").unwrap();
    let edited = build(&root, &dir, &["-t", "app:2", "--build-arg", "GREETING=hey"]);
    assert_eq!(edited.matches(" ---> Using cache").count(), 4, "{edited}");
    assert_eq!(
        root.ok(&["run", "--rm", "app:2"]),
        "hey prod\nchanged\na.conf\n"
    );
    // The steps' own images are the cache: listed with -a only.
    let listed = root.ok(&["images", "-q"]);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let all = root.ok(&["images", "-a", "-q"]);
    assert!(all.lines().count() > 3, "{all}");
}

#[test]
fn failures_leave_no_image() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dir = root.path().join("ctx");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN echo out; exit 3\n",
    )
    .unwrap();
    let before = root.ok(&["images", "-q"]);
    let out = root.run(&["build", "-t", "bad:1", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Dockerfile:2"), "{stderr}");
    assert!(stderr.contains("returned a non-zero code: 3"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("out\n"));
    assert_eq!(root.ok(&["images", "-q"]), before);
    root.fails(&["image", "inspect", "bad:1"]);

    fs::write(dir.join("Dockerfile"), "FROM busybox\nENV\n").unwrap();
    let stderr = root.fails(&["build", dir.to_str().unwrap()]);
    assert!(stderr.contains("Dockerfile:2"), "{stderr}");

    // A name a layer would read as a deletion.
    fs::write(dir.join(".wh.passwd"), "x").unwrap();
    fs::write(dir.join("Dockerfile"), "FROM busybox\nCOPY . /etc/\n").unwrap();
    let stderr = root.fails(&["build", "-t", "bad:1", dir.to_str().unwrap()]);
    assert!(stderr.contains("Dockerfile:2"), "{stderr}");
    assert!(stderr.contains("\"/etc/.wh.passwd\""), "{stderr}");
    assert!(stderr.contains("whiteouts"), "{stderr}");
    root.fails(&["image", "inspect", "bad:1"]);

    // Newer frontends' flags berth lacks are refused, never ignored.
    fs::remove_file(dir.join(".wh.passwd")).unwrap();
    for (line, message) in [
        (
            "COPY --exclude=*.md . /app",
            "Dockerfile:2: COPY: --exclude is not supported",
        ),
        (
            "COPY --parents ./ /app",
            "Dockerfile:2: COPY: --parents is not supported",
        ),
        (
            "ADD --exclude=x . /app",
            "Dockerfile:2: ADD: --exclude is not supported",
        ),
    ] {
        fs::write(dir.join("Dockerfile"), format!("FROM busybox\n{line}\n")).unwrap();
        let stderr = root.fails(&["build", "-t", "bad:1", dir.to_str().unwrap()]);
        assert!(stderr.contains(message), "{line}: {stderr}");
    }
    root.fails(&["image", "inspect", "bad:1"]);
}

#[test]
fn targets_quiet_iidfile_and_stdin() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dir = root.path().join("ctx");
    fs::create_dir_all(&dir).unwrap();
    let dockerfile = "FROM busybox AS base\nRUN echo base > /stage\n\
                      FROM base AS final\nRUN echo final >> /stage\n";
    let iid = root.path().join("iid");
    let quiet = root.run_stdin(
        &[
            "build",
            "-q",
            "-f",
            "-",
            "--target",
            "base",
            "--iidfile",
            iid.to_str().unwrap(),
            "-t",
            "staged:base",
            dir.to_str().unwrap(),
        ],
        dockerfile.as_bytes(),
    );
    assert!(
        quiet.status.success(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let id = String::from_utf8(quiet.stdout).unwrap();
    assert!(id.starts_with("sha256:") && id.lines().count() == 1, "{id}");
    assert_eq!(fs::read_to_string(&iid).unwrap(), id.trim());
    assert_eq!(
        root.ok(&["run", "--rm", "staged:base", "cat", "/stage"]),
        "base\n"
    );

    let full = root.run_stdin(
        &[
            "build",
            "-f",
            "-",
            "-t",
            "staged:final",
            dir.to_str().unwrap(),
        ],
        dockerfile.as_bytes(),
    );
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    assert_eq!(
        root.ok(&["run", "--rm", "staged:final", "cat", "/stage"]),
        "base\nfinal\n"
    );
}

/// The README's example app: a two-stage build whose result serves its page.
#[test]
fn example_app_builds_and_serves_its_page() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-web");
    let out = build(
        &root,
        &example,
        &["-t", "hello-web", "--build-arg", "GREETING=hi there"],
    );
    assert!(
        out.contains("Successfully tagged hello-web:latest"),
        "{out}"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let env = format!("PORT={port}");
    root.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "host",
        "-e",
        &env,
        "hello-web",
    ]);
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let out = root.run(&["exec", "web", "wget", "-qO-", &url]);
        if out.status.success() || std::time::Instant::now() > deadline {
            break stdout_text(&out);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(page.contains("<h1>hi there</h1>"), "{page}");
    let ps = root.ok(&["ps", "--no-trunc", "--format", "{{.Command}}"]);
    assert!(
        ps.contains("/bin/sh -c httpd -f -p \"$PORT\" -h /www"),
        "{ps}"
    );
    // The page template stayed in the first stage.
    let files = root.ok(&["exec", "web", "ls", "/www"]);
    assert_eq!(files, "index.html\n");
    root.ok(&["rm", "-f", "web"]);
}

#[test]
fn system_prune_removes_stopped_containers_and_build_cache() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dir = context(&root);
    build(&root, &dir, &["-t", "app:1"]);
    root.ok(&["run", "--name", "done", "app:1"]);
    root.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "60"]);
    let before = root.ok(&["images", "-aq"]).lines().count();
    assert!(before > 2, "build steps are images: {before}");

    let out = root.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    // Build steps' images go with the dangling ones.
    assert!(out.contains("Deleted Images:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    let names = root.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names, "up\n", "a running container stays");
    let images = root.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.contains("app:1") && images.contains("busybox:latest"),
        "{images}"
    );
    let rebuilt = build(&root, &dir, &["-t", "app:1"]);
    assert!(!rebuilt.contains("Using cache"), "{rebuilt}");
    root.ok(&["rm", "-f", "up"]);
}

/// Pids of the processes running exactly `args`.
fn processes_running(args: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = args
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}

#[test]
fn the_next_build_cleans_up_after_a_killed_one() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dir = root.path().join("ctx");
    fs::create_dir_all(&dir).unwrap();
    // A duration no other test sleeps, to find this step's process.
    let sleep = ["sleep", "1717"];
    fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nRUN touch /started && sleep 1717\n",
    )
    .unwrap();
    let mut build = root
        .cmd(&["build", "-q", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = || {
        root.entries("containers").iter().any(|id| {
            root.path()
                .join("containers")
                .join(id)
                .join("upper/started")
                .exists()
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !started() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(started(), "the RUN step never started");
    build.kill().unwrap();
    build.wait().unwrap();
    assert!(
        !mounts_under(&root).is_empty(),
        "the killed step's overlay is left"
    );
    assert!(!processes_running(&sleep).is_empty());

    fs::write(dir.join("Dockerfile"), "FROM busybox\nRUN true\n").unwrap();
    root.ok(&["build", "-q", dir.to_str().unwrap()]);
    assert_eq!(mounts_under(&root), Vec::<String>::new());
    assert_eq!(root.entries("containers"), Vec::<String>::new());
    assert_eq!(processes_running(&sleep), Vec::<u32>::new());
}
