//! End-to-end tests of `stats`, `port`, `restart` and `rm -v` through the
//! `berth` command on runc.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// Removes the root's containers when a test ends, passed or failed, so
/// none is left running.
struct RemoveContainers<'a>(&'a Root);

impl Drop for RemoveContainers<'_> {
    fn drop(&mut self) {
        let out = self.0.run(&["ps", "-aq", "--no-trunc"]);
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut args = vec!["rm", "-f"];
        args.extend(listed.split_whitespace());
        if args.len() > 2 {
            let _ = self.0.run(&args);
        }
    }
}

/// A table line's cells: the tabwriter pads columns with at least three
/// spaces, while cells such as `0B / 0B` hold single ones.
fn cells(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// `20.5MiB` in bytes.
fn binary_size(s: &str) -> f64 {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let scale = match &s[digits.len()..] {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        unit => panic!("unexpected unit {unit:?} in {s:?}"),
    };
    digits.parse::<f64>().unwrap() * scale
}

fn inspect(root: &Root, format: &str, container: &str) -> String {
    root.ok(&["inspect", "--format", format, container])
        .trim()
        .to_string()
}

#[test]
fn stats_show_dockers_columns_limits_and_usage() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let _cleanup = RemoveContainers(&root);
    let id = root.ok(&[
        "run", "-d", "--name", "lim", "-m", "64m", "busybox", "sleep", "100",
    ]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "hog",
        "--tmpfs",
        "/t",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/t/x bs=1M count=20; sleep 100",
    ]);

    let out = root.ok(&["stats", "--no-stream", "lim"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        cells(lines[0]),
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ],
        "{out}"
    );
    let row = cells(lines[1]);
    assert_eq!(row.len(), 8, "{out}");
    assert_eq!(row[0], id.trim()[..12]);
    assert_eq!(row[1], "lim");
    assert!(row[2].ends_with('%'), "{out}");
    assert!(row[3].ends_with(" / 64MiB"), "the container's limit: {out}");
    assert!(row[4].ends_with('%'), "{out}");
    assert_eq!(row[5], "0B / 0B", "--network none counts nothing: {out}");
    assert!(row[7].parse::<u32>().unwrap() >= 1, "{out}");

    let named = root.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "lim",
    ]);
    let (name, pids) = named.trim().split_once(' ').unwrap();
    assert_eq!(name, "lim");
    assert!(pids.parse::<u32>().unwrap() >= 1, "{named}");
    let json: serde_json::Value = serde_json::from_str(&root.ok(&[
        "container",
        "stats",
        "--no-stream",
        "--no-trunc",
        "--format",
        "json",
        "lim",
    ]))
    .unwrap();
    assert_eq!(json["ID"], id.trim());
    assert_eq!(json["Container"], "lim");
    assert_eq!(json["NetIO"], "0B / 0B");

    // The tmpfs pages are charged to the container's memory cgroup.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let usage = root.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "hog"]);
        let (used, limit) = usage.trim().split_once(" / ").unwrap();
        assert!(
            binary_size(limit) > 0.0,
            "host memory as the limit: {usage}"
        );
        if binary_size(used) >= 15.0 * 1024.0 * 1024.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "20 MiB in a tmpfs not seen: {usage}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Without names: the running ones; -a adds the others, as zeros.
    assert_eq!(
        root.run(&["run", "--name", "done", "busybox", "true"])
            .status
            .code(),
        Some(0)
    );
    let names = root.ok(&["stats", "--no-stream", "--format", "{{.Name}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["hog", "lim"]);
    let all = root.ok(&[
        "stats",
        "--no-stream",
        "-a",
        "--format",
        "{{.Name}} {{.MemUsage}} {{.CPUPerc}} {{.PIDs}}",
    ]);
    assert!(all.lines().any(|l| l == "done 0B / 0B 0.00% 0"), "{all}");
    assert_eq!(all.lines().count(), 3, "{all}");

    let out = root.run(&["stats", "--no-stream", "lim", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing printed when a name is unknown"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container: nope"));

    // Streaming redraws the table in place until interrupted.
    let mut child = root
        .cmd(&["stats", "lim"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2800));
    child.kill().unwrap();
    let mut streamed = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut streamed)
        .unwrap();
    child.wait().unwrap();
    let tables = streamed.matches("\x1b[2J\x1b[HCONTAINER ID").count();
    assert!(tables >= 2, "{streamed:?}");
}

#[test]
fn port_without_published_ports_and_rm_volumes() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let _cleanup = RemoveContainers(&root);
    root.ok(&["create", "--name", "p", "busybox"]);
    assert_eq!(root.ok(&["port", "p"]), "");
    assert_eq!(root.ok(&["container", "port", "p"]), "");
    for (port, shown) in [("80", "80/tcp"), ("53/udp", "53/udp"), ("443/", "443/tcp")] {
        let out = root.run(&["port", "p", port]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("Error: No public port '{shown}' published for p\n")
        );
    }
    assert!(root
        .fails(&["port", "nope"])
        .contains("No such container: nope"));

    assert_eq!(root.ok(&["rm", "-v", "p"]), "p\n");
    root.ok(&["create", "--name", "q", "busybox"]);
    assert_eq!(root.ok(&["container", "rm", "--volumes", "q"]), "q\n");
    assert_eq!(root.ok(&["ps", "-aq"]), "");
}

#[test]
fn restart_stops_and_starts_again() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let _cleanup = RemoveContainers(&root);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "r",
        "busybox",
        "sh",
        "-c",
        "echo run; trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let first = inspect(&root, "{{.State.StartedAt}}", "r");
    assert_eq!(root.ok(&["restart", "r"]), "r\n");
    assert_eq!(
        inspect(&root, "{{.State.Status}} {{.RestartCount}}", "r"),
        "running 0",
        "a manual restart is not counted, as in docker"
    );
    assert_ne!(inspect(&root, "{{.State.StartedAt}}", "r"), first);
    let deadline = Instant::now() + Duration::from_secs(10);
    while root.ok(&["logs", "r"]) != "run\nrun\n" {
        assert!(Instant::now() < deadline, "{}", root.ok(&["logs", "r"]));
        std::thread::sleep(Duration::from_millis(50));
    }

    // An exited container is just started.
    assert_eq!(
        root.run(&[
            "run",
            "--name",
            "once",
            "busybox",
            "sh",
            "-c",
            "echo once; exit 3"
        ])
        .status
        .code(),
        Some(3)
    );
    assert_eq!(root.ok(&["container", "restart", "once"]), "once\n");
    assert_eq!(root.ok(&["wait", "once"]).trim(), "3");
    assert_eq!(root.ok(&["logs", "once"]), "once\nonce\n");

    // SIGTERM ignored: -t 1 bounds the wait before SIGKILL.
    root.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; sleep 100",
    ]);
    let before = inspect(&root, "{{.State.StartedAt}}", "stubborn");
    let start = Instant::now();
    assert_eq!(root.ok(&["restart", "-t", "1", "stubborn"]), "stubborn\n");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(inspect(&root, "{{.State.Status}}", "stubborn"), "running");
    assert_ne!(inspect(&root, "{{.State.StartedAt}}", "stubborn"), before);

    // -s replaces the stop signal: SIGKILL ends it long before -t 30.
    let start = Instant::now();
    root.ok(&["restart", "-s", "KILL", "-t", "30", "stubborn"]);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(inspect(&root, "{{.State.Status}}", "stubborn"), "running");

    // A paused container is thawed, stopped and started.
    root.ok(&["pause", "stubborn"]);
    root.ok(&["restart", "-t", "1", "stubborn"]);
    assert_eq!(inspect(&root, "{{.State.Status}}", "stubborn"), "running");

    let out = root.run(&["restart", "nope", "r"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "r\n",
        "the others still restart"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container: nope"));
}

#[test]
fn restart_keeps_an_auto_removed_container_until_it_stops() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let _cleanup = RemoveContainers(&root);
    root.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "tmp",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    root.ok(&["exec", "tmp", "touch", "/kept"]);
    assert_eq!(root.ok(&["restart", "-t", "5", "tmp"]), "tmp\n");
    assert_eq!(inspect(&root, "{{.State.Status}}", "tmp"), "running");
    // docker keeps the writable layer across a restart.
    root.ok(&["exec", "tmp", "ls", "/kept"]);
    root.ok(&["stop", "-t", "5", "tmp"]);
    assert_eq!(root.ok(&["ps", "-aq"]), "", "removed once it stops");
}
