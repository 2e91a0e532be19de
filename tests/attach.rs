//! Terminals, attaching and signals: `run -it` through a real pty (made by
//! util-linux's `script`), `attach` to a detached container with input and
//! docker's detach keys, `exec -t`, `--sig-proxy`, and the seccomp filter
//! refusing 32-bit syscalls to a 64-bit image.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `berth ARGS` inside a new pseudo-terminal of `rows`x`cols`, with
/// each piece of `input` typed into it after a pause, as a person would;
/// `script -e` exits with berth's code.
fn in_terminal(root: &Root, args: &str, input: &[&[u8]], size: (u16, u16)) -> Output {
    let command = format!(
        "stty rows {} cols {}; {} --root {} {args}",
        size.0,
        size.1,
        env!("CARGO_BIN_EXE_berth"),
        root.path().display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("BERTH_CONFIG", root.config_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script (util-linux)");
    let mut stdin = child.stdin.take().unwrap();
    let input: Vec<Vec<u8>> = input.iter().map(|i| i.to_vec()).collect();
    std::thread::spawn(move || {
        use std::io::Write;
        for piece in input {
            std::thread::sleep(Duration::from_millis(700));
            let _ = stdin.write_all(&piece);
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    child.wait_with_output().unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_it_gives_the_container_a_terminal_of_the_callers_size() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let out = in_terminal(
        &root,
        "run -it --rm busybox sh -c 'tty; stty size; read line; echo got:$line; exit 5'",
        &[b"hello\r"],
        (33, 101),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("/dev/pts/0"), "{stdout}");
    assert!(stdout.contains("33 101"), "{stdout}");
    assert!(stdout.contains("got:hello"), "{stdout}");
    // Without -i the output still goes through the container's terminal.
    let out = root.run(&["run", "-t", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(text(&out.stdout), "hi\r\n");
    // docker refuses -it without a terminal, and runs nothing.
    let out = root.run(&["run", "-it", "--rm", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("the input device is not a TTY"));
    assert_eq!(root.ok(&["ps", "-aq"]), "");
}

#[test]
fn attach_sends_input_and_detach_keys_leave_it_running() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    root.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "reader",
        "busybox",
        "sh",
        "-c",
        "read line; echo got:$line; exit 3",
    ]);
    let out = root.run_stdin(&["attach", "reader"], b"hello\n");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "got:hello\n");
    assert!(root
        .fails(&["attach", "reader"])
        .contains("You cannot attach to a stopped container"));

    // Ctrl-P Ctrl-Q detaches from a terminal; the shell keeps running.
    root.ok(&["run", "-dit", "--name", "shell", "busybox", "sh"]);
    let out = in_terminal(
        &root,
        "attach shell",
        &[b"echo typed\r", b"\x10\x11"],
        (24, 80),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("typed"), "{}", text(&out.stdout));
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.State.Status}}", "shell"]),
        "running\n"
    );
    // exec -t gets a terminal of its own, of the caller's size from its
    // first instruction on; the user, working directory and environment
    // change as asked.
    let out = in_terminal(
        &root,
        "exec -it -u 12:34 -w /tmp -e EXTRA=yes shell sh -c 'stty size; tty; id -u; id -g; pwd; echo $EXTRA'",
        &[],
        (41, 97),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout).replace('\r', "");
    assert!(stdout.starts_with("41 97\n/dev/pts/"), "{stdout}");
    assert!(stdout.ends_with("\n12\n34\n/tmp\nyes\n"), "{stdout}");
    root.ok(&["rm", "-f", "reader", "shell"]);
}

#[test]
fn signals_reach_the_container_through_the_cli() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let script = "trap 'echo got TERM; exit 9' TERM; echo ready; while true; do sleep 0.1; done";
    let child = root
        .cmd(&["run", "--name", "trap", "busybox", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the container to trap TERM", || {
        text(&root.run(&["logs", "trap"]).stdout).contains("ready")
    });
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("got TERM"));

    // --sig-proxy=false: the signal ends the CLI, not the container.
    let child = root
        .cmd(&[
            "run",
            "--sig-proxy=false",
            "--name",
            "keep",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the second container", || {
        text(&root.run(&["logs", "keep"]).stdout).contains("ready")
    });
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let _ = child.wait_with_output();
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.State.Status}}", "keep"]),
        "running\n"
    );
    root.ok(&["rm", "-f", "trap", "keep"]);
}

#[test]
fn a_64_bit_image_cannot_make_32_bit_syscalls() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    // getpid through the i386 syscall gate, from a 64-bit static binary.
    let source = root.file(
        "int80.c",
        b"#include <stdio.h>\nint main(void){long r;__asm__ volatile(\"int $0x80\":\"=a\"(r):\"a\"(20L));printf(\"pid %ld\\n\",r);return 0;}\n",
    );
    let binary = root.scratch.path().join("bin");
    std::fs::create_dir(&binary).unwrap();
    let built = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(binary.join("int80"))
        .arg(&source)
        .output();
    if !built.is_ok_and(|o| o.status.success()) || !cfg!(target_arch = "x86_64") {
        eprintln!("skipping: needs gcc with static libc on x86_64");
        return;
    }
    let volume = format!("{}:/t:ro", binary.display());
    // The default filter kills the process (SIGSYS, 128+31)...
    let out = root.run(&["run", "--rm", "-v", &volume, "busybox", "/t/int80"]);
    assert_eq!(out.status.code(), Some(159), "{}", text(&out.stderr));
    // ...which seccomp=unconfined allows, as docker's profile would.
    let out = root.run(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "-v",
        &volume,
        "busybox",
        "/t/int80",
    ]);
    assert_eq!(text(&out.stdout), "pid 1\n", "{}", text(&out.stderr));
}
