//! `exec` as docker's API has it, through the engine the API server will
//! use: create, start (attached to given streams, detached), resize,
//! inspect; exit codes (a command's own, docker's 126 and 127) recorded by
//! the container's monitor even when the CLI that started the exec is
//! killed; exec instances going with their container.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_engine::{Engine, ErrorKind, ExecConfig, ExecStartOptions};
use common::*;

fn config(cmd: &[&str]) -> ExecConfig {
    ExecConfig {
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        attach_stdout: true,
        attach_stderr: true,
        ..ExecConfig::default()
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates and starts an exec attached to buffers; its output and the
/// code its session ended with, or the start's error.
fn run_exec(engine: &mut Engine, id: &str) -> Result<(String, String, Option<i32>), ErrorKind> {
    let session = engine
        .exec_start(id, ExecStartOptions::default())
        .map_err(|e| e.kind())?
        .expect("an attached start has a session");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = session.copy_streams(None, &mut out, &mut err).unwrap();
    Ok((
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        code,
    ))
}

#[test]
fn exec_create_start_inspect_and_exit_codes() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let container = root
        .ok(&["run", "-d", "--name", "target", "busybox", "sleep", "300"])
        .trim()
        .to_string();
    let mut engine = Engine::open(root.path()).unwrap();

    let ok = engine
        .exec_create("target", config(&["sh", "-c", "echo out; echo err >&2"]))
        .unwrap();
    let before = engine.exec_inspect(&ok).unwrap();
    assert!(!before.running && before.exit_code.is_none() && !before.can_remove);
    assert_eq!(before.container_id, container);
    assert_eq!(
        run_exec(&mut engine, &ok).unwrap(),
        ("out\n".into(), "err\n".into(), Some(0))
    );
    let after = serde_json::to_value(engine.exec_inspect(&ok).unwrap()).unwrap();
    assert_eq!(after["ExitCode"], 0);
    assert_eq!(after["Running"], false);
    assert_eq!(after["Pid"], 0);
    assert_eq!(after["OpenStdout"], true);
    assert_eq!(after["OpenStdin"], false);
    assert_eq!(after["ProcessConfig"]["entrypoint"], "sh");
    assert_eq!(
        after["ProcessConfig"]["arguments"],
        serde_json::json!(["-c", "echo out; echo err >&2"])
    );
    // docker's answer to a second start.
    assert_eq!(run_exec(&mut engine, &ok).unwrap_err(), ErrorKind::Conflict);

    // A command's own code; then docker's 126 and 127 for what cannot run,
    // recorded too.
    for (cmd, code, kind) in [
        (&["sh", "-c", "exit 3"][..], 3, None),
        (&["/etc"][..], 126, Some(ErrorKind::CannotExecute)),
        (
            &["no-such-command"][..],
            127,
            Some(ErrorKind::CommandNotFound),
        ),
    ] {
        let id = engine.exec_create("target", config(cmd)).unwrap();
        match run_exec(&mut engine, &id) {
            Ok((_, _, got)) => assert_eq!((got, kind), (Some(code), None), "{cmd:?}"),
            Err(got) => assert_eq!(Some(got), kind, "{cmd:?}"),
        }
        let inspected = engine.exec_inspect(&id).unwrap();
        assert_eq!(inspected.exit_code, Some(code), "{cmd:?}");
        assert!(!inspected.running && inspected.can_remove);
    }

    // Detached: it runs with a pid, and its code is there once it exits.
    let id = engine
        .exec_create("target", config(&["sh", "-c", "read x < /tmp/go; exit 4"]))
        .unwrap();
    root.ok(&["exec", "target", "mkfifo", "/tmp/go"]);
    let detached = ExecStartOptions {
        detach: true,
        ..ExecStartOptions::default()
    };
    assert!(engine.exec_start(&id, detached).unwrap().is_none());
    let running = engine.exec_inspect(&id).unwrap();
    assert!(running.running && running.pid > 0, "{running:?}");
    assert!(std::path::Path::new(&format!("/proc/{}", running.pid)).exists());
    root.ok(&["exec", "target", "sh", "-c", "echo > /tmp/go"]);
    wait_until("the detached exec's code", || {
        engine.exec_inspect(&id).unwrap().exit_code == Some(4)
    });

    // A terminal of the start's size, resized while it runs.
    let mut tty = config(&["sh", "-c", "stty size; read x; stty size"]);
    tty.tty = true;
    tty.attach_stdin = true;
    let id = engine.exec_create("target", tty).unwrap();
    let session = engine
        .exec_start(
            &id,
            ExecStartOptions {
                detach: false,
                tty_size: Some((11, 22)),
            },
        )
        .unwrap()
        .unwrap();
    let input = session.input();
    let typer = std::thread::spawn({
        let root = root.path().to_path_buf();
        let id = id.clone();
        move || {
            std::thread::sleep(Duration::from_millis(300));
            Engine::open(&root)
                .unwrap()
                .exec_resize(&id, 33, 44)
                .unwrap();
            std::thread::sleep(Duration::from_millis(200));
            input.stdin(b"\r").unwrap();
        }
    });
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        session.copy_streams(None, &mut out, &mut err).unwrap(),
        Some(0)
    );
    typer.join().unwrap();
    let out = String::from_utf8(out).unwrap().replace('\r', "");
    assert!(out.starts_with("11 22\n"), "{out:?}");
    assert!(out.ends_with("33 44\n"), "{out:?}");

    // Exec IDs show on the container, and go with it.
    let ids = root.ok(&["inspect", "-f", "{{json .ExecIDs}}", "target"]);
    assert!(ids.contains(&ok), "{ids}");
    root.ok(&["rm", "-f", "target"]);
    assert_eq!(
        engine.exec_inspect(&ok).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(engine.exec_create("target", config(&["true"])).is_err());
}

#[test]
fn the_exit_code_is_recorded_when_the_starting_cli_is_killed() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&["run", "-d", "--name", "target", "busybox", "sleep", "300"]);
    root.ok(&["exec", "target", "mkfifo", "/tmp/go"]);
    let mut cli = root
        .cmd(&["exec", "target", "sh", "-c", "read x < /tmp/go; exit 42"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut engine = Engine::open(root.path()).unwrap();
    let container = root.ok(&["inspect", "-f", "{{.Id}}", "target"]);
    let mut exec = String::new();
    wait_until("the CLI's exec to run", || {
        engine.exec_ids(container.trim()).iter().any(|id| {
            let running = engine.exec_inspect(id).is_ok_and(|e| e.running);
            if running {
                exec = id.clone();
            }
            running
        })
    });
    cli.kill().unwrap();
    cli.wait().unwrap();
    // Its process goes on without it, and its end is recorded.
    assert!(engine.exec_inspect(&exec).unwrap().running);
    root.ok(&["exec", "target", "sh", "-c", "echo > /tmp/go"]);
    wait_until("the exec's code", || {
        engine.exec_inspect(&exec).unwrap().exit_code == Some(42)
    });
    wait_until("the exec_die event", || {
        root.ok(&[
            "events",
            "--since",
            "0",
            "--until",
            "0s",
            "--filter",
            "event=exec_die",
        ])
        .contains("exitCode=42")
    });
    root.ok(&["rm", "-f", "target"]);
}
