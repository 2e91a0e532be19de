//! End-to-end container tests through the `berth` command: foreground and
//! detached runs on runc, docker's exit codes and security defaults, limits
//! read back from the host's cgroup files, the lifecycle commands, and a
//! monitor killed with SIGKILL.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// A container's cgroup file for a controller, v1 or v2.
fn cgroup_file(id: &str, v1_controller: &str, v1_file: &str, v2_file: &str) -> PathBuf {
    let v1 = Path::new("/sys/fs/cgroup")
        .join(v1_controller)
        .join("berth")
        .join(id)
        .join(v1_file);
    if v1.exists() {
        return v1;
    }
    Path::new("/sys/fs/cgroup/berth").join(id).join(v2_file)
}

#[test]
fn foreground_runs_give_output_and_docker_exit_codes() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let out = root.run(&["run", "--rm", "busybox", "echo", "hello"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_text(&out));
    assert_eq!(stdout_text(&out), "hello\n");
    let out = root.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo to-stderr >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr_text(&out), "to-stderr\n");
    let out = root.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr_text(&out));
    assert!(
        stderr_text(&out).contains("executable file not found"),
        "{}",
        stderr_text(&out)
    );
    let out = root.run(&["run", "--rm", "no-such-image"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_text(&out).contains("Unable to find image 'no-such-image' locally"),
        "{}",
        stderr_text(&out)
    );
    let out = root.run(&["run", "--rm", "--bogus-flag", "busybox"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(root.ok(&["ps", "-a", "-q"]), "", "--rm containers are gone");
    assert!(mounts_under(&root).is_empty(), "{:?}", mounts_under(&root));

    // Without --rm the container stays, exited, with its code and logs.
    let out = root.run(&[
        "run",
        "--name",
        "kept",
        "busybox",
        "sh",
        "-c",
        "echo kept-output; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4));
    let ps = root.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("kept Exited (4) "), "{ps}");
    assert_eq!(root.ok(&["logs", "kept"]), "kept-output\n");
    assert_eq!(root.ok(&["wait", "kept"]).trim(), "4");
}

#[test]
fn containers_get_dockers_security_defaults() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let status = root.ok(&["run", "--rm", "busybox", "cat", "/proc/self/status"]);
    assert!(status.contains("CapEff:\t00000000a80425fb"), "{status}");
    assert!(status.contains("Seccomp:\t2"), "{status}");
    let out = root.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/panic",
    ]);
    assert_ne!(out.status.code(), Some(0), "/proc/sys is read-only");
    // The cgroup hierarchies (v1 controllers, or the v2 tree) are read-only,
    // so container root cannot raise its own limits.
    let script = "d=/sys/fs/cgroup/memory; [ -d $d ] || d=/sys/fs/cgroup; mkdir $d/escape";
    let out = root.run(&["run", "--rm", "busybox", "sh", "-c", script]);
    assert_ne!(out.status.code(), Some(0), "cgroupfs is read-only");
    assert!(
        stderr_text(&out).contains("Read-only file system"),
        "{}",
        stderr_text(&out)
    );
    let out = root.run(&["run", "--rm", "busybox", "unshare", "-m", "true"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "seccomp and capabilities refuse new namespaces"
    );
    assert!(
        root.ok(&["run", "--rm", "busybox", "sh", "-c", "echo $$"])
            .trim()
            == "1",
        "the command is pid 1"
    );

    let dropped = root.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert!(dropped.contains("0000000000000000"), "{dropped}");
    let added = root.ok(&[
        "run",
        "--rm",
        "--cap-add",
        "SYS_ADMIN",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert!(added.contains("00000000a82425fb"), "{added}");
    // --privileged and --cap-add ALL grant what berth itself may give:
    // this host's bounding set (a VM can lack CAP_SYS_RESOURCE).
    let bounding = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .unwrap();
    for flags in [&["--privileged"][..], &["--cap-add", "ALL"]] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "grep", "CapEff", "/proc/self/status"]);
        let all = root.ok(&args);
        assert!(
            all.contains(&bounding),
            "{flags:?}: {all} (host {bounding})"
        );
    }
    let unconfined = root.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "grep",
        "Seccomp:",
        "/proc/self/status",
    ]);
    assert!(unconfined.contains("Seccomp:\t0"), "{unconfined}");
    let out = root.run(&["run", "--rm", "--read-only", "busybox", "touch", "/newfile"]);
    assert_ne!(out.status.code(), Some(0), "--read-only rootfs");
}

#[test]
fn user_env_workdir_and_hostname() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let out = root.ok(&[
        "run",
        "--rm",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "FOO=bar",
        "-h",
        "boxy",
        "busybox",
        "sh",
        "-c",
        "id -u; id -g; pwd; echo $FOO; hostname; cat /etc/hostname; echo $HOME",
    ]);
    assert_eq!(out, "65534\n65534\n/tmp\nbar\nboxy\nboxy\n/nonexistent\n");
    let err = root.fails(&["run", "--rm", "-u", "nosuchuser", "busybox", "true"]);
    assert!(err.contains("unable to find user nosuchuser"), "{err}");
}

#[test]
fn limits_are_set_in_the_hosts_cgroup_files() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let id = root
        .ok(&[
            "run",
            "-d",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "busybox",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    let memory = fs::read_to_string(cgroup_file(
        &id,
        "memory",
        "memory.limit_in_bytes",
        "memory.max",
    ))
    .unwrap();
    let pids = fs::read_to_string(cgroup_file(&id, "pids", "pids.max", "pids.max")).unwrap();
    root.ok(&["rm", "-f", &id]);
    assert_eq!(memory.trim(), "67108864");
    assert_eq!(pids.trim(), "50");
    assert!(
        !cgroup_file(&id, "memory", "memory.limit_in_bytes", "memory.max").exists(),
        "cgroup removed with the container"
    );
}

#[test]
fn detached_lifecycle_logs_stop_wait_rm() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let id = root
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "busybox",
            "sh",
            "-c",
            "echo started; echo warn >&2; while true; do sleep 0.1; done",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "run -d prints the ID: {id}");
    let ps = root.ok(&["ps", "--format", "{{.ID}} {{.Names}} {{.Status}}"]);
    assert!(ps.starts_with(&format!("{} web Up ", &id[..12])), "{ps}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !root.ok(&["logs", "web"]).contains("started") {
        assert!(Instant::now() < deadline, "no output logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = root.run(&["logs", "web"]);
    assert_eq!(stdout_text(&out), "started\n");
    assert_eq!(stderr_text(&out), "warn\n");

    let err = root.fails(&["rm", "web"]);
    assert!(err.contains("container is running"), "{err}");
    let err = root.fails(&["create", "--name", "web", "busybox"]);
    assert!(err.contains("is already in use"), "{err}");
    let err = root.fails(&["rmi", "busybox"]);
    assert!(
        err.contains("container") && err.contains("is using its referenced image"),
        "{err}"
    );

    assert_eq!(root.ok(&["stop", "-t", "1", "web"]).trim(), "web");
    let ps = root.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        ps.starts_with("web Exited (137)"),
        "sh ignores SIGTERM as pid 1, so stop kills it: {ps}"
    );
    assert_eq!(root.ok(&["wait", "web"]).trim(), "137");
    assert_eq!(
        root.ok(&["ps", "-q"]),
        "",
        "ps without -a hides exited containers"
    );

    // start brings it back, detached.
    root.ok(&["start", "web"]);
    assert!(root.ok(&["ps", "--format", "{{.Names}}"]).contains("web"));
    root.ok(&["kill", "web"]);
    assert_eq!(root.ok(&["wait", "web"]).trim(), "137");
    root.ok(&["rm", "web"]);
    assert_eq!(root.ok(&["ps", "-a", "-q"]), "");
    assert!(
        root.entries("containers").is_empty(),
        "{:?}",
        root.entries("containers")
    );
    assert!(mounts_under(&root).is_empty(), "{:?}", mounts_under(&root));
}

#[test]
fn a_killed_monitor_leaves_a_container_that_ps_and_rm_handle() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let id = root
        .ok(&["run", "-d", "busybox", "sleep", "60"])
        .trim()
        .to_string();
    let monitor = kill_monitor(&id);
    // The container outlives its monitor, and says so.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{monitor}")).exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(root
        .ok(&["ps", "--format", "{{.Status}}"])
        .starts_with("Up "));
    // Stopped with no monitor to record it: exited, its code lost.
    root.ok(&["stop", "-t", "1", &id]);
    let status = root.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(status.starts_with("Exited (255) "), "{status}");
    root.ok(&["rm", "-f", &id]);
    assert_eq!(root.ok(&["ps", "-a", "-q"]), "");
    assert!(mounts_under(&root).is_empty(), "{:?}", mounts_under(&root));
}

#[test]
fn many_runs_at_once_on_one_root() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let children: Vec<_> = (0..6)
        .map(|i| {
            root.cmd(&[
                "run",
                "--rm",
                "busybox",
                "sh",
                "-c",
                &format!("echo run-{i}"),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_text(&out));
        assert_eq!(stdout_text(&out), format!("run-{i}\n"));
    }
}

#[test]
fn bind_and_tmpfs_mounts_and_inspect() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let host = root.scratch.path().join("shared");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("in"), b"from the host\n").unwrap();
    let bind = format!("{}:/data", host.display());
    let out = root.ok(&[
        "run",
        "--rm",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "cat /data/in; echo from-container > /data/out",
    ]);
    assert_eq!(out, "from the host\n");
    assert_eq!(
        fs::read(host.join("out")).unwrap(),
        b"from-container\n",
        "a bind mount writes through"
    );
    let ro = format!("{}:/data:ro", host.display());
    let out = root.run(&["run", "--rm", "-v", &ro, "busybox", "touch", "/data/nope"]);
    assert_ne!(out.status.code(), Some(0), "a :ro bind mount is read-only");
    let out = root.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/scratch",
        "--mount",
        "type=tmpfs,target=/small,tmpfs-size=1m",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /(scratch|small) ' /proc/mounts",
    ]);
    assert!(
        out.contains("/scratch tmpfs")
            && out.contains("/small tmpfs")
            && out.contains("size=1024k"),
        "{out}"
    );
    let err = root.fails(&["run", "--rm", "-v", "relative:/x", "busybox", "true"]);
    assert!(err.contains("invalid mount"), "{err}");

    let out = root.run(&[
        "run",
        "--name",
        "looked-at",
        "-v",
        &bind,
        "-e",
        "A=1",
        "busybox",
        "sh",
        "-c",
        "exit 2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", "looked-at"])).unwrap();
    let c = &v[0];
    assert_eq!(c["Name"], "/looked-at");
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["ExitCode"], 2);
    assert_eq!(c["Path"], "sh");
    assert_eq!(c["Args"], serde_json::json!(["-c", "exit 2"]));
    assert_eq!(c["Mounts"][0]["Destination"], "/data");
    assert!(c["Config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("A=1")));
    assert_eq!(
        root.ok(&["inspect", "--type", "image", "--format", "{{.Id}}", "busybox"])
            .len(),
        72
    );
    root.ok(&["rm", "looked-at"]);
}

#[test]
fn exec_runs_commands_in_a_running_container() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&[
        "run", "-d", "--name", "target", "-e", "BASE=1", "busybox", "sleep", "60",
    ]);
    assert_eq!(root.ok(&["exec", "target", "echo", "hi"]), "hi\n");
    let out = root.run(&[
        "exec",
        "-e",
        "X=2",
        "target",
        "sh",
        "-c",
        "echo $BASE $X; exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(stdout_text(&out), "1 2\n");
    assert_eq!(
        root.ok(&[
            "exec",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "target",
            "sh",
            "-c",
            "id -u; pwd"
        ]),
        "65534\n/tmp\n"
    );
    assert!(root
        .ok(&["exec", "target", "cat", "/proc/self/status"])
        .contains("CapEff:\t00000000a80425fb"));
    assert_eq!(
        root.ok(&[
            "exec",
            "target",
            "sh",
            "-c",
            "echo $$ > /dev/null; cat /proc/1/cmdline | tr '\\0' ' '"
        ]),
        "sleep 60 "
    );
    let out = root.run(&["exec", "target", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr_text(&out));
    root.ok(&[
        "exec",
        "-d",
        "target",
        "sh",
        "-c",
        "echo detached > /tmp/marker",
    ]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while root
        .run(&["exec", "target", "cat", "/tmp/marker"])
        .status
        .code()
        != Some(0)
    {
        assert!(Instant::now() < deadline, "exec -d never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    root.ok(&["stop", "-t", "0", "target"]);
    let err = root.fails(&["exec", "target", "true"]);
    assert!(err.contains("is not running"), "{err}");
    root.ok(&["rm", "target"]);
}

#[test]
fn init_top_rename_and_container_prune() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    // tini (or docker-init) is pid 1 and the command runs under it.
    if std::path::Path::new("/usr/bin/tini-static").exists()
        || std::path::Path::new("/usr/bin/docker-init").exists()
    {
        let out = root.ok(&[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$",
        ]);
        let mut lines = out.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("/sbin/docker-init -- sh -c"),
            "{out}"
        );
        assert_ne!(
            lines.next(),
            Some("1"),
            "the command is not pid 1 under --init"
        );
    }
    root.ok(&["run", "-d", "--name", "first", "busybox", "sleep", "60"]);
    let top = root.ok(&["top", "first"]);
    assert!(top.lines().next().unwrap().contains("PID"), "{top}");
    assert!(top.contains("sleep 60"), "{top}");
    root.ok(&["rename", "first", "second"]);
    assert_eq!(
        root.ok(&["container", "ls", "--format", "{{.Names}}"])
            .trim(),
        "second"
    );
    let out = root.run(&["run", "--name", "finished", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(0));
    let err = root.fails(&["rename", "second", "finished"]);
    assert!(err.contains("is already in use"), "{err}");
    let pruned = root.ok(&["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert_eq!(
        root.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(),
        "second",
        "running containers survive prune"
    );
    root.ok(&["rm", "-f", "second"]);
}

#[test]
fn follow_logs_ulimits_and_stop_signal() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line $i; sleep 0.2; done",
    ]);
    // -f keeps reading until the container ends.
    assert_eq!(
        root.ok(&["logs", "-f", "talker"]),
        "line 1\nline 2\nline 3\n"
    );
    assert_eq!(root.ok(&["logs", "--tail", "1", "talker"]), "line 3\n");
    let stamped = root.ok(&["logs", "-t", "talker"]);
    assert!(
        stamped
            .lines()
            .all(|l| l.len() > 31 && l.as_bytes()[4] == b'-' && l.ends_with(char::is_numeric)),
        "{stamped}"
    );

    assert_eq!(
        root.ok(&[
            "run",
            "--rm",
            "--ulimit",
            "nofile=512:1024",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn"
        ]),
        "512\n1024\n"
    );
    let out = root.run(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=999999999",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_text(&out).contains("exceeds the current hard limit"),
        "{}",
        stderr_text(&out)
    );

    root.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        "--stop-signal",
        "USR1",
        "--stop-timeout",
        "5",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 0' USR1; while true; do sleep 0.1; done",
    ]);
    std::thread::sleep(Duration::from_millis(200));
    root.ok(&["stop", "polite"]);
    assert_eq!(
        root.ok(&["wait", "polite"]).trim(),
        "0",
        "the stop signal ended it, not SIGKILL"
    );
    assert_eq!(root.ok(&["logs", "polite"]), "got-usr1\n");
}

#[test]
fn restart_policies_bring_containers_back_until_stopped() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = root.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.RestartCount}}",
            "flaky",
        ]);
        if state.trim() == "exited 2" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "on-failure:2 did not end after two restarts: {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        root.ok(&["logs", "flaky"]),
        "run\nrun\nrun\n",
        "one first run and two restarts"
    );
    assert_eq!(
        root.ok(&[
            "inspect",
            "--format",
            "{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}",
            "flaky"
        ])
        .trim(),
        "1 on-failure"
    );

    root.ok(&[
        "run",
        "-d",
        "--name",
        "forever",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.1",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while root
        .ok(&["inspect", "--format", "{{.RestartCount}}", "forever"])
        .trim()
        .parse::<u32>()
        .unwrap()
        < 2
    {
        assert!(Instant::now() < deadline, "always did not restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    root.ok(&["stop", "forever"]);
    let count = root.ok(&["inspect", "--format", "{{.RestartCount}}", "forever"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        root.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.RestartCount}}",
            "forever"
        ]),
        format!("exited {count}"),
        "a stopped container stays stopped"
    );

    let err = root.fails(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert!(
        err.contains("Conflicting options: --restart and --rm"),
        "{err}"
    );
    let err = root.fails(&["run", "--restart", "sometimes", "busybox", "true"]);
    assert!(err.contains("sometimes"), "{err}");
}

#[test]
fn pause_unpause_and_ps_filters() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&[
        "run", "-d", "--name", "sleeper", "-l", "tier=web", "busybox", "sleep", "60",
    ]);
    let out = root.run(&["run", "--name", "quitter", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    root.ok(&["pause", "sleeper"]);
    assert!(root
        .ok(&["ps", "--format", "{{.Status}}"])
        .trim()
        .ends_with("(Paused)"));
    assert_eq!(
        root.ok(&["inspect", "--format", "{{.State.Paused}}", "sleeper"])
            .trim(),
        "true"
    );
    let err = root.fails(&["exec", "sleeper", "true"]);
    assert!(err.contains("is paused"), "{err}");
    root.ok(&["unpause", "sleeper"]);
    assert_eq!(root.ok(&["exec", "sleeper", "echo", "awake"]), "awake\n");

    let names = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["ps", "--format", "{{.Names}}"];
        full.extend_from_slice(args);
        let mut v: Vec<String> = root.ok(&full).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), ["sleeper"]);
    assert_eq!(names(&["-a"]), ["quitter", "sleeper"]);
    assert_eq!(names(&["--filter", "status=exited"]), ["quitter"]);
    // As docker, exited= alone lists only running containers (none match).
    assert_eq!(names(&["--filter", "exited=3"]), Vec::<String>::new());
    assert_eq!(names(&["-a", "--filter", "exited=3"]), ["quitter"]);
    assert_eq!(names(&["-a", "--filter", "label=tier=web"]), ["sleeper"]);
    assert_eq!(names(&["-a", "--filter", "name=quit"]), ["quitter"]);
    assert_eq!(
        names(&["-a", "--filter", "ancestor=busybox"]),
        ["quitter", "sleeper"]
    );
    assert_eq!(names(&["-l"]), ["quitter"]);
    assert_eq!(names(&["-n", "2"]).len(), 2);
    // A paused container can still be stopped.
    root.ok(&["pause", "sleeper"]);
    root.ok(&["stop", "-t", "1", "sleeper"]);
    assert_eq!(names(&[]), Vec::<String>::new());
}
