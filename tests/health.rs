//! End-to-end tests of container health checks through the `berth`
//! command: `--health-*` flags and an image's HEALTHCHECK, the state that
//! `inspect` and `ps` show while the container's monitor runs the checks,
//! timeouts, `--no-healthcheck`, and docker's errors for bad flags.

mod common;

use std::time::{Duration, Instant};

use chrono::DateTime;
use common::*;
use serde_json::{json, Value};

fn inspect(root: &Root, name: &str) -> Value {
    let v: Value = serde_json::from_str(&root.ok(&["inspect", name])).expect("inspect json");
    v[0].clone()
}

/// Polls `inspect` until the container's health status is `status`;
/// returns `State.Health` then.
fn wait_for_health(root: &Root, name: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = inspect(root, name)["State"]["Health"].clone();
        if health["Status"] == status {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became {status}: {health:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ps(root: &Root, args: &[&str]) -> String {
    let mut all = vec!["ps", "--format", "{{.Names}} {{.Status}}"];
    all.extend_from_slice(args);
    root.ok(&all)
}

fn last_result(health: &Value) -> Value {
    health["Log"].as_array().unwrap().last().unwrap().clone()
}

#[test]
fn failing_checks_make_it_unhealthy_and_a_passing_one_healthy() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--health-cmd",
        "echo out; echo err >&2; test -e /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "60",
    ]);
    // A check long in coming: starting until then.
    root.ok(&[
        "run",
        "-d",
        "--name",
        "patient",
        "--health-cmd",
        "true",
        "--health-interval",
        "1h",
        "busybox",
        "sleep",
        "60",
    ]);
    let health = inspect(&root, "patient")["State"]["Health"].clone();
    assert_eq!(
        health,
        json!({"Status": "starting", "FailingStreak": 0, "Log": []})
    );
    let patient = ps(&root, &["--filter", "name=patient"]);
    assert!(
        patient.starts_with("patient Up ") && patient.ends_with(" (health: starting)\n"),
        "{patient}"
    );

    let health = wait_for_health(&root, "web", "unhealthy");
    assert!(health["FailingStreak"].as_u64().unwrap() >= 2, "{health:#}");
    let result = last_result(&health);
    assert_eq!(result["ExitCode"], 1);
    // Both streams, in whichever order the runtime passed them on.
    let mut lines: Vec<&str> = result["Output"].as_str().unwrap().lines().collect();
    lines.sort();
    assert_eq!(lines, ["err", "out"], "{result:#}");
    let start = DateTime::parse_from_rfc3339(result["Start"].as_str().unwrap()).unwrap();
    let end = DateTime::parse_from_rfc3339(result["End"].as_str().unwrap()).unwrap();
    assert!(start <= end, "{result:#}");
    let web = ps(&root, &["--filter", "name=web"]);
    assert!(
        web.starts_with("web Up ") && web.ends_with(" (unhealthy)\n"),
        "{web}"
    );
    assert_eq!(
        ps(&root, &["--filter", "health=unhealthy"]).trim(),
        ps(&root, &["--filter", "name=web"]).trim()
    );

    root.ok(&["exec", "web", "touch", "/tmp/ok"]);
    let health = wait_for_health(&root, "web", "healthy");
    assert_eq!(health["FailingStreak"], 0);
    assert_eq!(last_result(&health)["ExitCode"], 0);
    assert_eq!(last_result(&health)["Output"].as_str().unwrap().len(), 8);
    let healthy = ps(&root, &["--filter", "health=healthy"]);
    assert!(
        healthy.starts_with("web Up ") && healthy.ends_with(" (healthy)\n"),
        "{healthy}"
    );
    assert_eq!(healthy.lines().count(), 1, "{healthy}");
    assert_eq!(ps(&root, &["--filter", "health=none"]), "");
    // Each change of status is an event, as in docker.
    let changes = root.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "container=web",
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(
        changes, "health_status: unhealthy\nhealth_status: healthy\n",
        "{changes}"
    );
    // The log keeps the last five results.
    std::thread::sleep(Duration::from_millis(1500));
    let health = inspect(&root, "web")["State"]["Health"].clone();
    assert_eq!(health["Log"].as_array().unwrap().len(), 5, "{health:#}");

    assert_eq!(
        inspect(&root, "web")["Config"]["Healthcheck"],
        json!({
            "Test": ["CMD-SHELL", "echo out; echo err >&2; test -e /tmp/ok"],
            "Interval": 200_000_000,
            "Retries": 2,
        })
    );

    // Paused, it is not checked and counts as unhealthy, as in docker.
    root.ok(&["pause", "web"]);
    wait_for_health(&root, "web", "unhealthy");
    root.ok(&["unpause", "web"]);
    wait_for_health(&root, "web", "healthy");

    // A stopped container's checks stop; docker then calls it unhealthy.
    root.ok(&["kill", "web"]);
    root.ok(&["wait", "web"]);
    assert_eq!(
        inspect(&root, "web")["State"]["Health"]["Status"],
        "unhealthy"
    );
    root.ok(&["rm", "-f", "web", "patient"]);
}

#[test]
fn a_check_past_its_timeout_is_killed_and_fails() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 5",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "60",
    ]);
    let health = wait_for_health(&root, "slow", "unhealthy");
    assert_eq!(health["FailingStreak"], 1);
    let result = last_result(&health);
    assert_eq!(result["ExitCode"], -1);
    assert_eq!(result["Output"], "Health check exceeded timeout (300ms)");
    let start = DateTime::parse_from_rfc3339(result["Start"].as_str().unwrap()).unwrap();
    let end = DateTime::parse_from_rfc3339(result["End"].as_str().unwrap()).unwrap();
    assert!(
        (end - start).num_milliseconds() < 3000,
        "the check was not cut short: {result:#}"
    );
    // Killed checks do not pile up in the container.
    std::thread::sleep(Duration::from_millis(1500));
    let processes = root.ok(&["exec", "slow", "ps"]);
    let sleeping = processes.lines().filter(|l| l.contains("sleep 5")).count();
    assert!(sleeping <= 1, "{processes}");
    root.ok(&["rm", "-f", "slow"]);
    // Each check's runtime files went with it.
    let left: Vec<String> = root
        .entries("runc")
        .into_iter()
        .filter(|e| e.starts_with("exec-"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

#[test]
fn a_restart_starts_the_checks_over() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    // Healthy in its first run; in the second, failing checks within the
    // start period leave it starting.
    root.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:1",
        "--health-cmd",
        "test -e /tmp/up",
        "--health-interval",
        "200ms",
        "--health-start-interval",
        "200ms",
        "--health-start-period",
        "1h",
        "busybox",
        "sh",
        "-c",
        "[ -e /tmp/again ] && exec sleep 60; touch /tmp/again /tmp/up; sleep 2; rm /tmp/up; exit 1",
    ]);
    wait_for_health(&root, "flaky", "healthy");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = inspect(&root, "flaky");
        let health = &c["State"]["Health"];
        let failed_after_restart = health["Log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ExitCode"] == 1);
        if c["RestartCount"] == 1 && c["State"]["Running"] == true && failed_after_restart {
            assert_eq!(health["Status"], "starting", "{health:#}");
            assert_eq!(health["FailingStreak"], 0, "{health:#}");
            // The first run's results are kept.
            assert_eq!(health["Log"][0]["ExitCode"], 0, "{health:#}");
            break;
        }
        assert!(Instant::now() < deadline, "no restart seen: {c:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
    root.ok(&["rm", "-f", "flaky"]);
}

#[test]
fn an_images_healthcheck_applies_unless_turned_off() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&["create", "--name", "base", "busybox"]);
    root.ok(&[
        "commit",
        "-c",
        "HEALTHCHECK --interval=200ms CMD true",
        "base",
        "checked:1",
    ]);
    assert_eq!(
        root.inspect("checked:1")["Config"]["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "true"], "Interval": 200_000_000})
    );

    root.ok(&["run", "-d", "--name", "img", "checked:1", "sleep", "60"]);
    let health = wait_for_health(&root, "img", "healthy");
    assert_eq!(last_result(&health)["ExitCode"], 0);
    // The container's own settings go over the image's.
    root.ok(&[
        "run",
        "-d",
        "--name",
        "tuned",
        "--health-retries",
        "7",
        "checked:1",
        "sleep",
        "60",
    ]);
    assert_eq!(
        inspect(&root, "tuned")["Config"]["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "true"], "Interval": 200_000_000, "Retries": 7})
    );
    wait_for_health(&root, "tuned", "healthy");

    root.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "checked:1",
        "sleep",
        "60",
    ]);
    root.ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "60"]);
    std::thread::sleep(Duration::from_millis(600));
    let off = inspect(&root, "off");
    assert_eq!(off["State"].get("Health"), None, "{off:#}");
    // docker's merge fills in the image's other settings.
    assert_eq!(
        off["Config"]["Healthcheck"],
        json!({"Test": ["NONE"], "Interval": 200_000_000})
    );
    let plain = inspect(&root, "plain");
    assert_eq!(plain["State"].get("Health"), None);
    assert_eq!(plain["Config"].get("Healthcheck"), None);
    let none = ps(&root, &["--filter", "health=none"]);
    let mut names: Vec<&str> = none.lines().map(|l| l.split(' ').next().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["off", "plain"]);
    let plain = ps(&root, &["--filter", "name=plain"]);
    assert!(!plain.contains('('), "{plain}");
    root.ok(&["rm", "-f", "img", "tuned", "off", "plain"]);
}

#[test]
fn bad_health_flags_are_refused_with_dockers_code() {
    let root = Root::new();
    for (args, message) in [
        (
            &["--health-interval", "abc"][..],
            "time: invalid duration \"abc\"",
        ),
        (
            &["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck conflicts with --health-* options",
        ),
        (
            &["--health-timeout", "500us"],
            "Timeout in Healthcheck cannot be less than 1ms",
        ),
        (
            &["--health-retries", "-2"],
            "--health-retries cannot be negative",
        ),
    ] {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        all.extend(["busybox", "true"]);
        let out = root.run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        if args[0] == "--health-interval" {
            assert!(stderr.contains("--health-interval"), "{stderr}");
        }
    }
}

#[test]
fn a_container_whose_monitor_is_gone_is_unhealthy_not_stale() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let id = root
        .ok(&[
            "run",
            "-d",
            "--name",
            "orphan",
            "--health-cmd",
            "true",
            "--health-interval",
            "100ms",
            "busybox",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    wait_for_health(&root, "orphan", "healthy");
    kill_monitor(&id);
    // Nothing checks it any more: it still runs, and says it is not known
    // healthy.
    let health = wait_for_health(&root, "orphan", "unhealthy");
    let last = last_result(&health);
    assert!(
        last["Output"].as_str().unwrap().contains("monitor"),
        "{health:#}"
    );
    assert!(
        ps(&root, &[]).starts_with("orphan Up "),
        "{}",
        ps(&root, &[])
    );
    assert!(ps(&root, &[]).contains("(unhealthy)"));
    // Marked once, however often it is looked at.
    let again = inspect(&root, "orphan")["State"]["Health"].clone();
    assert_eq!(again["Log"], health["Log"]);
    root.ok(&["rm", "-f", "orphan"]);
}
