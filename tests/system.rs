//! End-to-end tests of `events`, `info` and `version`: what the journal
//! shows of containers and images changed by other processes, read back
//! with `--since`/`--until`, filters and formats.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// `berth events ARGS` lines, past ones only (`--until` now).
fn past_events(root: &Root, args: &[&str]) -> Vec<String> {
    let mut all = vec!["events", "--since", "0", "--until", "0s"];
    all.extend_from_slice(args);
    root.ok(&all).lines().map(str::to_string).collect()
}

/// "<type> <action> <name>" of each line in docker's format.
fn summary(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let mut words = l.split(' ');
            let (_time, kind, action) =
                (words.next(), words.next().unwrap(), words.next().unwrap());
            let name = l
                .split(&[',', '(', ')', ' '][..])
                .find_map(|w| w.strip_prefix("name="))
                .unwrap_or("");
            format!("{kind} {action} {name}")
        })
        .collect()
}

#[test]
fn events_show_what_other_processes_did() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    // A follower started first sees what later commands do.
    let mut follower = root
        .cmd(&["events", "--filter", "type=container"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let out = root.run(&[
        "run",
        "--rm",
        "--name",
        "web",
        "-l",
        "tier=front",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_text(&out));
    let mut followed = Vec::new();
    while followed.len() < 4 {
        match lines.recv_timeout(Duration::from_secs(10)) {
            Ok(l) => followed.push(l),
            Err(e) => panic!("{e}: followed so far {followed:?}"),
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert_eq!(
        summary(&followed),
        [
            "container create web",
            "container start web",
            "container die web",
            "container destroy web"
        ]
    );
    // docker's line: time, type, action, ID, sorted attributes.
    let (time, rest) = followed[2].split_once(' ').unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.len() >= 30,
        "{time}"
    );
    let id = rest.split(' ').nth(2).unwrap();
    assert_eq!(id.len(), 64);
    assert_eq!(
        rest,
        format!(
            "container die {id} (execDuration=0, exitCode=3, image=busybox, name=web, tier=front)"
        )
    );

    // The same from the journal afterwards, with filters.
    root.ok(&["tag", "busybox", "bb:v2"]);
    root.ok(&["rmi", "bb:v2"]);
    let image_events = summary(&past_events(&root, &["--filter", "type=image"]));
    let n = image_events.len();
    assert_eq!(image_events[n - 2], "image tag bb:v2", "{image_events:?}");
    assert!(
        image_events[n - 1].starts_with("image untag sha256:"),
        "{image_events:?}"
    );
    assert!(
        image_events[0].starts_with("image import"),
        "{image_events:?}"
    );
    assert_eq!(
        summary(&past_events(&root, &["--filter", "event=die"])),
        ["container die web"]
    );
    assert_eq!(past_events(&root, &["--filter", "container=web"]).len(), 4);
    assert_eq!(
        past_events(
            &root,
            &["--filter", "label=tier=front", "--filter", "event=start"]
        )
        .len(),
        1
    );
    assert!(past_events(&root, &["--filter", "label=tier=back"]).is_empty());
    // image= matches the container events of the image too.
    assert_eq!(
        past_events(
            &root,
            &["--filter", "image=busybox", "--filter", "type=container"]
        )
        .len(),
        4
    );

    // --since and --until bound the past events.
    let json = root.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "event=start",
        "--format",
        "json",
    ]);
    let start: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(start["Type"], "container");
    assert_eq!(start["Action"], "start");
    assert_eq!(start["status"], "start");
    assert_eq!(start["from"], "busybox");
    assert_eq!(start["scope"], "local");
    assert_eq!(start["Actor"]["ID"], id);
    assert_eq!(start["Actor"]["Attributes"]["tier"], "front");
    let nanos = start["timeNano"].as_i64().unwrap();
    assert_eq!(start["time"].as_i64().unwrap(), nanos / 1_000_000_000);
    let at = |n: i64| format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000);
    let from_start = root.ok(&["events", "--since", &at(nanos), "--until", "0s"]);
    assert_eq!(
        summary(&from_start.lines().map(str::to_string).collect::<Vec<_>>())[..3],
        [
            "container start web",
            "container die web",
            "container destroy web"
        ]
    );
    let until_start = root.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &at(nanos),
        "--filter",
        "type=container",
    ]);
    assert_eq!(
        summary(&until_start.lines().map(str::to_string).collect::<Vec<_>>()),
        ["container create web", "container start web"]
    );
    let template = root.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "event=die",
        "--format",
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
    ]);
    assert_eq!(template, "web 3\n");

    // Bad input is refused with docker's words, exit 125 as a usage error.
    let bad = root.run(&["events", "--filter", "colour=red", "--until", "0s"]);
    assert!(!bad.status.success());
    assert!(
        stderr_text(&bad).contains("invalid filter 'colour'"),
        "{}",
        stderr_text(&bad)
    );
    let bad = root.run(&["events", "--since", "yesterday"]);
    assert!(
        stderr_text(&bad).contains("failed to parse value as time or duration: \"yesterday\""),
        "{}",
        stderr_text(&bad)
    );
}

#[test]
fn lifecycle_events_and_a_rename_the_monitor_keeps() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&["run", "-d", "--name", "w1", "busybox", "sleep", "60"]);
    root.ok(&["exec", "w1", "true"]);
    root.ok(&["pause", "w1"]);
    root.ok(&["unpause", "w1"]);
    root.ok(&["rename", "w1", "w2"]);
    root.ok(&["kill", "-s", "USR1", "w2"]);
    root.ok(&["stop", "-t", "1", "w2"]);
    // The monitor recorded the exit without undoing the rename.
    assert_eq!(root.ok(&["ps", "-a", "--format", "{{.Names}}"]), "w2\n");
    root.ok(&["rm", "w2"]);
    let got = root.ok(&[
        "events", "--since", "0", "--until", "0s", "--filter", "type=container", "--format",
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.signal}}{{.Actor.Attributes.exitCode}}{{.Actor.Attributes.oldName}}",
    ]);
    let got: Vec<String> = got
        .lines()
        .map(|l| l.replace("<no value>", "").trim_end().to_string())
        .collect();
    assert_eq!(
        got,
        [
            "create w1",
            "start w1",
            "exec_create: true w1",
            "exec_start: true w1",
            "exec_die w1 0",
            "pause w1",
            "unpause w1",
            "rename w2 w1",
            "kill w2 10",
            "kill w2 15",
            "kill w2 9",
            "die w2 137",
            "stop w2",
            "destroy w2",
        ]
    );
}

#[test]
fn info_and_version_answer() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&["create", "--name", "idle", "busybox", "true"]);
    root.ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "60"]);
    let text = root.ok(&["info"]);
    for line in [
        "Client:",
        " Context:    default",
        "Server:",
        " Containers: 2",
        "  Running: 1",
        "  Paused: 0",
        "  Stopped: 1",
        " Images: 1",
        " Storage Driver: overlay2",
        " Logging Driver: json-file",
        " Cgroup Driver: cgroupfs",
        " Default Runtime: runc",
        " OSType: linux",
        &format!(" Docker Root Dir: {}", root.path().display()),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing from\n{text}"
        );
    }
    assert!(
        text.contains("\n Total Memory: ") && text.contains("GiB\n"),
        "{text}"
    );
    let info: serde_json::Value =
        serde_json::from_str(&root.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(info["Containers"], 2);
    assert_eq!(info["ContainersRunning"], 1);
    assert_eq!(info["ContainersStopped"], 1);
    assert_eq!(info["Images"], 1);
    assert_eq!(info["OSType"], "linux");
    assert_eq!(info["DefaultRuntime"], "runc");
    assert_eq!(info["Runtimes"]["runc"]["path"], "runc");
    assert!(info["NCPU"].as_u64().unwrap() >= 1);
    assert!(info["MemTotal"].as_u64().unwrap() > 0);
    assert!(["1", "2"].contains(&info["CgroupVersion"].as_str().unwrap()));
    assert!(info["KernelVersion"].as_str().unwrap().starts_with(
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap()
            .trim()
    ));
    assert!(info["SecurityOptions"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("name=seccomp,profile=builtin")));
    assert!(info["Warnings"].is_array());
    assert_eq!(
        root.ok(&[
            "system",
            "info",
            "--format",
            "{{.ContainersPaused}} {{.Driver}}"
        ]),
        "0 overlay2\n"
    );
    root.ok(&["rm", "-f", "busy"]);

    let text = root.ok(&["version"]);
    assert!(text.starts_with("Client: berth\n Version:  "), "{text}");
    assert!(
        text.contains("\n  API version:      1.45 (minimum version 1.24)\n"),
        "{text}"
    );
    assert!(text.contains("\n runc:\n  Version:  "), "{text}");
    let version: serde_json::Value =
        serde_json::from_str(&root.ok(&["version", "--format", "json"])).unwrap();
    assert_eq!(version["Server"]["ApiVersion"], "1.45");
    assert_eq!(version["Server"]["MinAPIVersion"], "1.24");
    assert_eq!(version["Server"]["Components"][0]["Name"], "Engine");
    assert_eq!(version["Client"]["ApiVersion"], "1.45");
    assert_eq!(
        root.ok(&["version", "--format", "{{.Server.Version}}"]),
        format!("{}\n", version["Client"]["Version"].as_str().unwrap())
    );
}
