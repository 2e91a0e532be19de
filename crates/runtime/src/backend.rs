//! Driving the OCI runtime. The engine talks to a [`RuntimeBackend`] so
//! its container life-cycle can be tested without root; [`Runc`] is the
//! real one, calling the `runc` command line the way containerd does.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

use serde::Deserialize;

use crate::RuntimeError;

/// The container's standard streams. The runtime hands them to the
/// container's init process, so they outlive the runtime command itself.
#[derive(Debug)]
pub struct ContainerStdio {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

/// What the runtime knows about a container.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ContainerState {
    /// `creating`, `created`, `running`, `paused` or `stopped`.
    pub status: String,
    /// The init process on the host; 0 once stopped.
    pub pid: u32,
}

/// The OCI runtime operations the engine needs.
pub trait RuntimeBackend: Send + Sync {
    /// Creates and starts the container from `bundle` in one step, its init
    /// inheriting `stdio`, and returns the init's pid. Returns once the
    /// container runs; the init is not a child of the caller.
    fn run_detached(
        &self,
        id: &str,
        bundle: &Path,
        stdio: ContainerStdio,
    ) -> Result<u32, RuntimeError>;
    /// Sends `signal` to the init, or to every process when `all`.
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError>;
    /// Forgets a stopped container, freeing its cgroup; `force` kills a
    /// running one first.
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
    /// The container's state, or `None` if the runtime does not know it.
    fn state(&self, id: &str) -> Result<Option<ContainerState>, RuntimeError>;
    fn pause(&self, id: &str) -> Result<(), RuntimeError>;
    fn resume(&self, id: &str) -> Result<(), RuntimeError>;
    /// Runs another process in a running container, with the container's
    /// namespaces, cgroups and security settings, and `stdio` as its own.
    /// Waits for it and returns its exit code (128+signal when killed),
    /// unless `process.detach`, which returns 0 once it started.
    fn exec(
        &self,
        id: &str,
        process: &ExecProcess,
        stdio: ContainerStdio,
    ) -> Result<i32, RuntimeError>;
}

/// What `exec` runs.
#[derive(Debug, Clone, Default)]
pub struct ExecProcess {
    pub args: Vec<String>,
    /// `KEY=value` entries added to the container's environment.
    pub env: Vec<String>,
    pub cwd: Option<String>,
    /// uid, gid and supplementary gids; the container's user when None.
    pub user: Option<(u32, u32, Vec<u32>)>,
    /// Every capability (`exec --privileged`).
    pub all_capabilities: bool,
    pub detach: bool,
}

/// The `runc` command line (or a compatible runtime such as crun).
#[derive(Debug, Clone)]
pub struct Runc {
    binary: PathBuf,
    /// runc's `--root`: where it keeps container state, private to berth
    /// so `runc list` elsewhere and berth never see each other's containers.
    state_root: PathBuf,
}

/// The pid file and runtime log that `run_detached` keeps in the bundle.
const PID_FILE: &str = "init.pid";
const LOG_FILE: &str = "runc.log";

impl Runc {
    /// `binary` is a name looked up on `PATH` (`runc`) or a path
    /// (`--runtime /opt/bin/crun`); resolving it now turns a missing
    /// runtime into one clear error instead of a failure per container.
    pub fn new(binary: &str, state_root: &Path) -> Result<Runc, RuntimeError> {
        let not_found = || RuntimeError::RuntimeNotFound(binary.to_string());
        let resolved = if binary.contains('/') {
            std::path::absolute(binary)
                .ok()
                .filter(|p| is_executable(p))
        } else {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(binary))
                    .find(|p| is_executable(p))
            })
        };
        let binary = resolved.ok_or_else(not_found)?;
        tracing::debug!(runtime = %binary.display(), "resolved OCI runtime");
        Ok(Runc {
            binary,
            state_root: state_root.to_path_buf(),
        })
    }

    /// The runtime's name for error messages (`runc`, `crun`...).
    fn name(&self) -> String {
        self.binary.file_name().map_or_else(
            || self.binary.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// A runtime command with berth's global options. JSON logs let error
    /// messages be picked out of runc's output reliably.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--root")
            .arg(&self.state_root)
            .args(["--log-format", "json"]);
        command
    }

    /// Runs `runc <subcommand> <args>` with its output captured.
    fn output(&self, subcommand: &str, args: &[&str]) -> Result<Output, RuntimeError> {
        let mut command = self.command();
        command.arg(subcommand).args(args).stdin(Stdio::null());
        tracing::debug!(command = ?command, "calling OCI runtime");
        command
            .output()
            .map_err(|e| RuntimeError::io("run", &self.binary, e))
    }

    /// Runs a subcommand that only reports success or failure.
    fn call(&self, subcommand: &str, id: &str, args: &[&str]) -> Result<(), RuntimeError> {
        let output = self.output(subcommand, args)?;
        if output.status.success() {
            return Ok(());
        }
        let detail = error_messages(&String::from_utf8_lossy(&output.stderr));
        Err(self.failed(subcommand, id, detail, output.status))
    }

    fn failed(
        &self,
        subcommand: &str,
        id: &str,
        detail: String,
        status: ExitStatus,
    ) -> RuntimeError {
        let command = format!("{} {subcommand}", self.name());
        // runc words its own errors "runc run failed: ...": say it once.
        let detail = match detail.strip_prefix(&format!("{command} failed: ")) {
            Some(rest) => rest.to_string(),
            None if detail.is_empty() => status.to_string(),
            None => detail,
        };
        RuntimeError::RuntimeCommand {
            command: format!("{command} {id}"),
            detail,
        }
    }
}

impl RuntimeBackend for Runc {
    /// runc's own stderr is the container's, so its errors are read back
    /// from a log file in the bundle instead.
    fn run_detached(
        &self,
        id: &str,
        bundle: &Path,
        stdio: ContainerStdio,
    ) -> Result<u32, RuntimeError> {
        let pid_file = bundle.join(PID_FILE);
        let log_file = bundle.join(LOG_FILE);
        // runc appends to its log: start empty so only this run's errors show.
        match fs::remove_file(&log_file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(RuntimeError::io("remove", &log_file, e))
            }
            _ => {}
        }
        let mut command = self.command();
        command
            .arg("--log")
            .arg(&log_file)
            .args(["run", "--detach", "--pid-file"])
            .arg(&pid_file)
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(stdio.stderr);
        tracing::debug!(command = ?command, "starting container");
        let status = command
            .status()
            .map_err(|e| RuntimeError::io("run", &self.binary, e))?;
        if !status.success() {
            let log = fs::read_to_string(&log_file).unwrap_or_default();
            return Err(self.failed("run", id, error_messages(&log), status));
        }
        let text =
            fs::read_to_string(&pid_file).map_err(|e| RuntimeError::io("read", &pid_file, e))?;
        let pid = text.trim().parse().map_err(|_| {
            RuntimeError::io(
                "read",
                &pid_file,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{:?} is not a pid", text.trim()),
                ),
            )
        })?;
        tracing::info!(id, pid, "container started");
        Ok(pid)
    }

    fn exec(
        &self,
        id: &str,
        process: &ExecProcess,
        stdio: ContainerStdio,
    ) -> Result<i32, RuntimeError> {
        // runc's own errors go to a log file (a global flag, so before
        // `exec`), not to the process's stderr.
        let log = self
            .state_root
            .join(format!("exec-{}-{id}.log", std::process::id()));
        let mut command = self.command();
        command.arg("--log").arg(&log).arg("exec");
        if process.detach {
            command.arg("--detach");
        }
        for e in &process.env {
            command.arg("--env").arg(e);
        }
        if let Some(cwd) = &process.cwd {
            command.arg("--cwd").arg(cwd);
        }
        if let Some((uid, gid, groups)) = &process.user {
            command.arg("--user").arg(format!("{uid}:{gid}"));
            for g in groups {
                command.arg("--additional-gids").arg(g.to_string());
            }
        }
        if process.all_capabilities {
            // Every capability this host can grant: asking for one outside
            // the host's bounding set makes runc fail.
            let bounding = host_bounding_set();
            for cap in crate::caps::ALL_CAPABILITIES {
                if crate::caps::capability_mask(&[cap.to_string()]) & bounding != 0 {
                    command.arg("--cap").arg(cap);
                }
            }
        }
        command.arg(id).args(&process.args);
        command
            .stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(stdio.stderr);
        tracing::debug!(command = ?command, "calling OCI runtime");
        let status = command
            .status()
            .map_err(|e| RuntimeError::io("run", &self.binary, e));
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        let status = status?;
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        // 255 is also what runc exits with when it could not start the
        // process; only then does it log an error.
        let detail = error_messages(&logged);
        if code == 255 && !detail.is_empty() {
            return Err(self.failed("exec", id, detail, status));
        }
        Ok(code)
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let signal = signal.to_string();
        let mut args = Vec::with_capacity(3);
        if all {
            args.push("--all");
        }
        args.extend([id, signal.as_str()]);
        self.call("kill", id, &args)
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        if force {
            self.call("delete", id, &["--force", id])
        } else {
            self.call("delete", id, &[id])
        }
    }

    fn state(&self, id: &str) -> Result<Option<ContainerState>, RuntimeError> {
        let output = self.output("state", &[id])?;
        if !output.status.success() {
            let detail = error_messages(&String::from_utf8_lossy(&output.stderr));
            if detail.contains("does not exist") {
                return Ok(None);
            }
            return Err(self.failed("state", id, detail, output.status));
        }
        serde_json::from_slice(&output.stdout)
            .map(Some)
            .map_err(|e| RuntimeError::RuntimeCommand {
                command: format!("{} state {id}", self.name()),
                detail: format!("unreadable state: {e}"),
            })
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.call("pause", id, &[id])
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.call("resume", id, &[id])
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One line of runc's `--log-format json` output.
#[derive(Deserialize)]
struct LogLine {
    level: String,
    msg: String,
}

/// The error messages in runc's output: the `msg` of JSON error lines,
/// and any plain text (a runtime that ignores `--log-format`) as it is.
/// Warnings and debug chatter are left out.
/// The capability bounding set of this process (`CapBnd` in
/// /proc/self/status); all bits when it cannot be read.
fn host_bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

fn error_messages(output: &str) -> String {
    let mut messages: Vec<String> = Vec::new();
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let message = match serde_json::from_str::<LogLine>(line) {
            Ok(entry) if matches!(entry.level.as_str(), "error" | "fatal" | "panic") => entry.msg,
            Ok(_) => continue,
            Err(_) => line.to_string(),
        };
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
    messages.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell script answering like runc 1.1, recording its arguments in
    /// `<root>/calls`; checked in (executable) rather than written by the
    /// tests, since executing a file another thread just wrote can fail
    /// with ETXTBSY.
    const FAKE_RUNC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fake-runc");

    struct Fixture {
        dir: tempfile::TempDir,
        runc: Runc,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let runc = Runc::new(FAKE_RUNC, dir.path()).unwrap();
            Fixture { dir, runc }
        }

        fn root(&self) -> String {
            self.dir.path().display().to_string()
        }

        fn calls(&self) -> Vec<String> {
            fs::read_to_string(self.dir.path().join("calls"))
                .unwrap()
                .lines()
                .map(|l| l.replace(&self.root(), "ROOT"))
                .collect()
        }

        /// The container's stdout and stderr go to files of those names.
        fn stdio(&self) -> ContainerStdio {
            let file =
                |name: &str| Stdio::from(fs::File::create(self.dir.path().join(name)).unwrap());
            ContainerStdio {
                stdin: Stdio::null(),
                stdout: file("stdout"),
                stderr: file("stderr"),
            }
        }

        fn read(&self, name: &str) -> String {
            fs::read_to_string(self.dir.path().join(name)).unwrap()
        }
    }

    #[test]
    fn binary_is_resolved_on_path_or_refused() {
        let root = Path::new("/run/berth/runc");
        let runc = Runc::new("sh", root).unwrap();
        assert!(runc.binary.is_absolute() && runc.binary.ends_with("sh"));
        for missing in ["no-such-runtime-7f3a", "/nonexistent/runc", ""] {
            let err = Runc::new(missing, root).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("runtime {missing} not found: install {missing} or pass --runtime PATH")
            );
        }
        // A file that is not executable is no runtime either.
        let err = Runc::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"), root).unwrap_err();
        assert!(matches!(err, RuntimeError::RuntimeNotFound(_)), "{err}");
    }

    #[test]
    fn run_detached_passes_stdio_and_reads_the_pid() {
        let f = Fixture::new();
        let bundle = f.dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        assert_eq!(
            f.runc.run_detached("abc", &bundle, f.stdio()).unwrap(),
            4242
        );
        assert_eq!(
            f.calls(),
            [
                "--root ROOT --log-format json --log ROOT/bundle/runc.log run --detach \
              --pid-file ROOT/bundle/init.pid --bundle ROOT/bundle abc"
            ]
        );
        assert_eq!(f.read("stdout"), "init says hello\n");
    }

    #[test]
    fn run_failure_reports_the_runtime_log() {
        let f = Fixture::new();
        let bundle = f.dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        fs::write(
            bundle.join(LOG_FILE),
            "{\"level\":\"error\",\"msg\":\"stale\"}\n",
        )
        .unwrap();
        let err = f
            .runc
            .run_detached("fail-me", &bundle, f.stdio())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "fake-runc run fail-me failed: exec: nope: executable file not found in $PATH"
        );
        // runc also prints the error on its stderr, which is the container's.
        assert_eq!(
            f.read("stderr"),
            "exec: nope: executable file not found in $PATH\n"
        );
    }

    #[test]
    fn state_is_parsed_and_unknown_containers_are_none() {
        let f = Fixture::new();
        assert_eq!(
            f.runc.state("abc").unwrap(),
            Some(ContainerState {
                status: "running".into(),
                pid: 4242
            })
        );
        assert_eq!(f.runc.state("gone").unwrap(), None);
        assert_eq!(
            f.calls(),
            [
                "--root ROOT --log-format json state abc",
                "--root ROOT --log-format json state gone"
            ]
        );
    }

    #[test]
    fn control_commands_pass_their_flags() {
        let f = Fixture::new();
        f.runc.kill("abc", 15, false).unwrap();
        f.runc.kill("abc", 9, true).unwrap();
        f.runc.delete("abc", false).unwrap();
        f.runc.delete("abc", true).unwrap();
        f.runc.pause("abc").unwrap();
        f.runc.resume("abc").unwrap();
        let calls: Vec<String> = f
            .calls()
            .iter()
            .map(|c| c.replace("--root ROOT --log-format json ", ""))
            .collect();
        assert_eq!(
            calls,
            [
                "kill abc 15",
                "kill --all abc 9",
                "delete abc",
                "delete --force abc",
                "pause abc",
                "resume abc"
            ]
        );
    }

    #[test]
    fn failures_carry_the_runtime_error() {
        let f = Fixture::new();
        let err = f.runc.kill("fail-me", 9, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "fake-runc kill fail-me failed: exec: nope: executable file not found in $PATH"
        );
        let err = f.runc.pause("fail-me").unwrap_err();
        assert_eq!(
            err.to_string(),
            "fake-runc pause fail-me failed: container not running"
        );
    }

    #[test]
    fn error_messages_keep_errors_and_plain_text() {
        let output = "{\"level\":\"warning\",\"msg\":\"chatter\",\"time\":\"t\"}\n\
                      {\"level\":\"error\",\"msg\":\"container does not exist\",\"time\":\"t\"}\n\
                      container does not exist\n\
                      \n\
                      panic: plain text\n";
        assert_eq!(
            error_messages(output),
            "container does not exist; panic: plain text"
        );
        assert_eq!(error_messages(""), "");
    }
}
