//! Driving the OCI runtime. The engine talks to a [`RuntimeBackend`] so
//! its container life-cycle can be tested without root; [`Runc`] is the
//! real one, calling the `runc` command line the way containerd does.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

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
    /// Creates and starts the container from `bundle`, its init inheriting
    /// `stdio`, and returns once it runs. The runtime process stays in the
    /// foreground (a child of the caller) until the init exits: it forwards
    /// the signals it gets to the init, removes the container, and exits
    /// with the init's code; hand its exit to [`RuntimeBackend::exit_code`].
    fn run(
        &self,
        id: &str,
        bundle: &Path,
        stdio: ContainerStdio,
    ) -> Result<RunningContainer, RuntimeError>;
    /// The container's exit code from its runtime process's exit, or the
    /// error that made the runtime give up on the container.
    fn exit_code(&self, id: &str, bundle: &Path, exit: RuntimeExit) -> Result<i32, RuntimeError>;
    /// Sends `signal` to the init, or to every process when `all`.
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError>;
    /// Forgets a stopped container, freeing its cgroup; `force` kills a
    /// running one first.
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
    /// The container's state, or `None` if the runtime does not know it.
    fn state(&self, id: &str) -> Result<Option<ContainerState>, RuntimeError>;
    fn pause(&self, id: &str) -> Result<(), RuntimeError>;
    fn resume(&self, id: &str) -> Result<(), RuntimeError>;
    /// Starts another process in a running container, with the container's
    /// namespaces, cgroups and security settings, and `stdio` as its own;
    /// returns while it runs (see [`RunningExec`]).
    fn spawn_exec(
        &self,
        id: &str,
        process: &ExecProcess,
        stdio: ContainerStdio,
    ) -> Result<RunningExec, RuntimeError>;
}

/// The runtimes containers can name (`--runtime`). The engine is given one
/// when it opens and asks it for every backend it uses, so it never names
/// runc itself and its unit tests can hand it a fake
/// (`FakeRuntime` in `fake.rs`, feature `fake`).
pub trait Runtimes: Send + Sync {
    /// The backend for a container's `--runtime`; `""` is the default.
    fn backend(&self, name: &str) -> Result<Arc<dyn RuntimeBackend>, RuntimeError>;
}

/// runc, or the runc-compatible binary a container names, all keeping
/// their state under one `--root`.
#[derive(Debug, Clone)]
pub struct RuncRuntimes {
    state_root: PathBuf,
}

impl RuncRuntimes {
    pub fn new(state_root: &Path) -> RuncRuntimes {
        RuncRuntimes {
            state_root: state_root.to_path_buf(),
        }
    }
}

impl Runtimes for RuncRuntimes {
    fn backend(&self, name: &str) -> Result<Arc<dyn RuntimeBackend>, RuntimeError> {
        let name = if name.is_empty() { "runc" } else { name };
        Ok(Arc::new(Runc::new(name, &self.state_root)?))
    }
}

/// A container started by [`RuntimeBackend::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunningContainer {
    /// The runtime process, a child of the caller.
    pub runtime_pid: u32,
    /// The container's init on the host.
    pub pid: u32,
}

/// How the runtime process of [`RuntimeBackend::run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeExit {
    Code(i32),
    /// The runtime itself was killed: the container may still run.
    Signal(i32),
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
    /// A terminal for the process, mirroring the caller's own (its stdio
    /// must be one).
    pub tty: bool,
    /// For a `tty` process: the terminal's size from the start (see
    /// [`ExecConsole`]).
    pub console: Option<ExecConsole>,
}

/// `runc exec --tty` sizes the process's terminal only after the process
/// started, so a program reading its size at once can get 0x0. With this,
/// runc is given the whole process spec (the container's own, changed as
/// its flags would change it) with `consoleSize`, and sizes the terminal
/// before the process starts.
#[derive(Debug, Clone)]
pub struct ExecConsole {
    /// The container's OCI bundle, whose `config.json` has its process.
    pub bundle: PathBuf,
    pub rows: u16,
    pub cols: u16,
}

/// A process started by [`RuntimeBackend::spawn_exec`].
///
/// The runtime command runs under a small `/bin/sh` relay that writes its
/// exit code to a file, and the relay's end is watched through a pidfd:
/// the container's monitor, where health checks and `exec`s run, reaps
/// every child it has (it is the container's subreaper), so `waitpid`
/// here could find the exit status already taken. Shareable between
/// threads: one waits for the end while another resizes the terminal.
pub struct RunningExec {
    runc: Runc,
    id: String,
    relay: Mutex<std::process::Child>,
    relay_pid: u32,
    /// `None` when the relay was gone before it could be opened.
    relay_fd: Option<OwnedFd>,
    /// Set up before the relay started, so the pid file's creation is
    /// seen; taken by [`RunningExec::wait_started`].
    start_watch: Mutex<Option<PidFileWatch>>,
    exit_file: PathBuf,
    pid_file: PathBuf,
    log: PathBuf,
    /// The process spec written for an [`ExecConsole`].
    spec: Option<PathBuf>,
}

impl std::fmt::Debug for RunningExec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningExec")
            .field("id", &self.id)
            .field("relay_pid", &self.relay_pid)
            .finish_non_exhaustive()
    }
}

/// Runs the runtime command given as arguments, then writes its exit code
/// to the file named in `$0`.
const EXIT_CODE_RELAY: &str = "\"$@\"; echo \"$?\" > \"$0\"";

impl RunningExec {
    /// Waits up to `timeout` for the process to end; returns its exit code
    /// (128+signal when killed), or `None` if it still runs.
    pub fn wait_timeout(&self, timeout: std::time::Duration) -> Result<Option<i32>, RuntimeError> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        if let Some(fd) = &self.relay_fd {
            let deadline = std::time::Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let left = Timespec::try_from(left).unwrap_or(Timespec {
                    tv_sec: i64::MAX,
                    tv_nsec: 0,
                });
                let mut fds = [PollFd::new(fd, PollFlags::IN)];
                match poll(&mut fds, Some(&left)) {
                    Ok(0) => return Ok(None),
                    Ok(_) => break,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => {
                        return Err(RuntimeError::io("wait for", &self.runc.binary, e.into()))
                    }
                }
            }
        }
        // Reaps the relay, unless a subreaper already did.
        let _ = self
            .relay
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_wait();
        // A relay killed along with the process wrote nothing.
        let code = fs::read_to_string(&self.exit_file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(128 + 9);
        // 255 is also what runc exits with when it could not start the
        // process; only then does it log an error.
        let detail = error_messages(&fs::read_to_string(&self.log).unwrap_or_default());
        if code == 255 && !detail.is_empty() {
            return Err(self.runc.failed_with("exec", &self.id, detail));
        }
        Ok(Some(code))
    }

    /// Kills the process (SIGKILL), and the runtime with it if it is still
    /// starting the process. Collect the end with `wait_timeout`.
    pub fn kill(&self) {
        use rustix::process::{kill_process, Pid, Signal};
        if let Ok(Some(pid)) = read_pid(&self.pid_file) {
            if let Some(pid) = Pid::from_raw(pid as i32) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
        self.signal_relay_group(Signal::KILL);
    }

    /// Signals the relay's process group (the runtime command's), only
    /// while the relay runs: once it is gone, its group id may be
    /// another's.
    fn signal_relay_group(&self, signal: rustix::process::Signal) {
        if self.relay_running() {
            if let Some(group) = rustix::process::Pid::from_raw(self.relay_pid as i32) {
                let _ = rustix::process::kill_process_group(group, signal);
            }
        }
    }

    /// Waits until the runtime started the process; its pid on the host,
    /// or `None` when the runtime ended without starting it (then
    /// [`RunningExec::wait_timeout`] says why). Once only: later calls
    /// read the pid file as it is.
    pub fn wait_started(&self) -> Result<Option<u32>, RuntimeError> {
        let watch = self
            .start_watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let read_err = |e| RuntimeError::io("read", &self.pid_file, e);
        let (Some(watch), Some(relay_fd)) = (watch, &self.relay_fd) else {
            return read_pid(&self.pid_file).map_err(read_err);
        };
        let started = watch.wait(&self.pid_file, relay_fd).map_err(read_err);
        // As in `run`: an inotify descriptor is slow to close.
        std::thread::spawn(move || drop(watch));
        started
    }

    /// Readable once the process (its relay) ended; `None` when it had
    /// ended before it could be watched.
    pub fn exited_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.relay_fd.as_ref().map(|fd| fd.as_fd())
    }

    /// Tells the runtime its terminal (the process's stdio) changed size:
    /// it sizes the process's terminal the same (`tty` processes).
    pub fn notify_resize(&self) {
        self.signal_relay_group(rustix::process::Signal::WINCH);
    }

    fn relay_running(&self) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        self.relay_fd.as_ref().is_some_and(|fd| {
            let mut fds = [PollFd::new(fd, PollFlags::IN)];
            let now = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            matches!(poll(&mut fds, Some(&now)), Ok(0))
        })
    }
}

impl Drop for RunningExec {
    fn drop(&mut self) {
        for file in [&self.exit_file, &self.pid_file, &self.log] {
            let _ = fs::remove_file(file);
        }
        if let Some(spec) = &self.spec {
            let _ = fs::remove_file(spec);
        }
        if let Some(watch) = self
            .start_watch
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            std::thread::spawn(move || drop(watch));
        }
    }
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

    /// A runtime command's failure, its message said once (runc words
    /// its own errors "runc run failed: ...").
    fn failed_with(&self, subcommand: &str, id: &str, detail: String) -> RuntimeError {
        let command = format!("{} {subcommand}", self.name());
        let detail = match detail.strip_prefix(&format!("{command} failed: ")) {
            Some(rest) => rest.to_string(),
            None => detail,
        };
        RuntimeError::RuntimeCommand {
            command: format!("{command} {id}"),
            detail,
        }
    }

    fn failed(
        &self,
        subcommand: &str,
        id: &str,
        detail: String,
        status: ExitStatus,
    ) -> RuntimeError {
        let detail = if detail.is_empty() {
            status.to_string()
        } else {
            detail
        };
        self.failed_with(subcommand, id, detail)
    }

    /// `runc exec` for `process`, runc's own errors going to `log` (a
    /// global flag, so before `exec`) rather than to the process's stderr.
    /// With `spec`, the process is that file's (see [`ExecConsole`]).
    fn exec_command(
        &self,
        id: &str,
        process: &ExecProcess,
        log: &Path,
        pid_file: &Path,
        spec: Option<&Path>,
    ) -> Command {
        let mut command = self.command();
        command.arg("--log").arg(log).arg("exec");
        command.arg("--pid-file").arg(pid_file);
        if let Some(spec) = spec {
            command.arg("--process").arg(spec).arg(id);
            return command;
        }
        if process.tty {
            command.arg("--tty");
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
            for cap in grantable_capabilities() {
                command.arg("--cap").arg(cap);
            }
        }
        command.arg(id).args(&process.args);
        command
    }

    /// Writes the process spec of [`ExecConsole`] to `path`.
    fn write_exec_spec(
        path: &Path,
        process: &ExecProcess,
        console: &ExecConsole,
    ) -> Result<(), RuntimeError> {
        let config_path = console.bundle.join("config.json");
        let config: serde_json::Value = std::fs::read(&config_path)
            .map_err(|e| RuntimeError::io("read", &config_path, e))
            .and_then(|bytes| {
                serde_json::from_slice(&bytes)
                    .map_err(|e| RuntimeError::io("parse", &config_path, std::io::Error::other(e)))
            })?;
        let spec = exec_process_spec(&config["process"], process, console);
        std::fs::write(path, spec.to_string()).map_err(|e| RuntimeError::io("write", path, e))
    }
}

/// Every capability this host can grant: asking for one outside the
/// host's bounding set makes runc fail.
fn grantable_capabilities() -> impl Iterator<Item = &'static str> {
    let bounding = host_bounding_set();
    crate::caps::ALL_CAPABILITIES
        .iter()
        .copied()
        .filter(move |cap| crate::caps::capability_mask(&[cap.to_string()]) & bounding != 0)
}

/// The process `runc exec` (1.1) would make of the container's own
/// process spec and `process`'s flags: the arguments; the environment
/// with the extra entries after it (the later of two wins); the working
/// directory, user and supplementary groups when given; the capabilities
/// added to every set but the inheritable one; a terminal of the console's
/// size.
fn exec_process_spec(
    container: &serde_json::Value,
    process: &ExecProcess,
    console: &ExecConsole,
) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut spec = container.clone();
    if !spec.is_object() {
        spec = json!({});
    }
    spec["args"] = json!(process.args);
    let mut env: Vec<Value> = spec["env"].as_array().cloned().unwrap_or_default();
    env.extend(process.env.iter().map(|e| json!(e)));
    spec["env"] = Value::Array(env);
    if let Some(cwd) = &process.cwd {
        spec["cwd"] = json!(cwd);
    }
    if let Some((uid, gid, groups)) = &process.user {
        if !spec["user"].is_object() {
            spec["user"] = json!({});
        }
        spec["user"]["uid"] = json!(uid);
        spec["user"]["gid"] = json!(gid);
        if !groups.is_empty() {
            spec["user"]["additionalGids"] = json!(groups);
        }
    }
    if process.all_capabilities {
        for set in ["bounding", "effective", "permitted", "ambient"] {
            let mut caps: Vec<Value> = spec["capabilities"][set]
                .as_array()
                .cloned()
                .unwrap_or_default();
            caps.extend(grantable_capabilities().map(|c| json!(c)));
            if !spec["capabilities"].is_object() {
                spec["capabilities"] = json!({});
            }
            spec["capabilities"][set] = Value::Array(caps);
        }
    }
    spec["terminal"] = json!(true);
    spec["consoleSize"] = json!({"height": console.rows, "width": console.cols});
    spec
}

/// Waits for a file to appear in a directory (inotify) or for a process to
/// exit (pidfd), whichever comes first.
struct PidFileWatch {
    inotify: OwnedFd,
}

impl PidFileWatch {
    /// Watches `dir` before the process that writes the file starts, so
    /// no write can be missed.
    fn new(dir: &Path) -> rustix::io::Result<PidFileWatch> {
        use rustix::fs::inotify;
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC)?;
        inotify::add_watch(
            &fd,
            dir,
            inotify::WatchFlags::MOVED_TO | inotify::WatchFlags::CLOSE_WRITE,
        )?;
        Ok(PidFileWatch { inotify: fd })
    }

    /// The pid written to `pid_file`, or `None` when the writer (whose
    /// pidfd is `pidfd`) exited without writing it.
    fn wait(&self, pid_file: &Path, pidfd: &impl std::os::fd::AsFd) -> io::Result<Option<u32>> {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        loop {
            if let Some(pid) = read_pid(pid_file)? {
                return Ok(Some(pid));
            }
            let mut fds = [
                PollFd::new(&self.inotify, PollFlags::IN),
                PollFd::new(&pidfd, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                Err(rustix::io::Errno::INTR) => continue,
                r => r?,
            };
            if !fds[1].revents().is_empty() {
                return read_pid(pid_file);
            }
            // Drain the events; which file changed is checked above.
            let mut events = rustix::fs::inotify::Reader::new(&self.inotify, &mut buf);
            let _ = events.next();
        }
    }
}

/// The pid in a pid file, `None` while there is no such file (or, from a
/// runtime that does not rename it into place, while it is still empty).
fn read_pid(path: &Path) -> io::Result<Option<u32>> {
    match fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{:?} is not a pid", text.trim()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reaps a child process by pid and says how it ended.
pub fn wait_for(pid: u32) -> RuntimeExit {
    use rustix::process::{waitpid, Pid, WaitOptions};
    let Some(pid) = Pid::from_raw(pid as i32) else {
        return RuntimeExit::Code(255);
    };
    loop {
        match waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => return exit_of(status),
            Err(rustix::io::Errno::INTR) => continue,
            _ => return RuntimeExit::Code(255),
        }
    }
}

/// A wait status as a [`RuntimeExit`].
pub fn exit_of(status: rustix::process::WaitStatus) -> RuntimeExit {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => RuntimeExit::Code(code),
        (None, Some(signal)) => RuntimeExit::Signal(signal),
        _ => RuntimeExit::Code(255),
    }
}

impl RuntimeBackend for Runc {
    /// runc's own stderr is the container's, so its errors are read back
    /// from a log file in the bundle instead. runc writes the pid file once
    /// the container is created (renaming it into place), so the container
    /// runs when the file appears; a runc that exits first could not start
    /// it.
    fn run(
        &self,
        id: &str,
        bundle: &Path,
        stdio: ContainerStdio,
    ) -> Result<RunningContainer, RuntimeError> {
        let pid_file = bundle.join(PID_FILE);
        let log_file = bundle.join(LOG_FILE);
        // runc appends to its log, and a restarted container's bundle has
        // the last run's pid file: start from neither.
        for stale in [&log_file, &pid_file] {
            match fs::remove_file(stale) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(RuntimeError::io("remove", stale, e))
                }
                _ => {}
            }
        }
        let watch =
            PidFileWatch::new(bundle).map_err(|e| RuntimeError::io("watch", bundle, e.into()))?;
        let mut command = self.command();
        command
            .arg("--log")
            .arg(&log_file)
            .args(["run", "--pid-file"])
            .arg(&pid_file)
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(stdio.stderr);
        tracing::debug!(command = ?command, "starting container");
        let child = command
            .spawn()
            .map_err(|e| RuntimeError::io("run", &self.binary, e))?;
        // This process's copies of the container's stdio close here, or
        // the container's output would never reach end-of-file.
        drop(command);
        let runtime_pid = child.id();
        let started = rustix::process::Pid::from_raw(runtime_pid as i32)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))
            .and_then(|pid| {
                Ok(rustix::process::pidfd_open(
                    pid,
                    rustix::process::PidfdFlags::empty(),
                )?)
            })
            .and_then(|pidfd| watch.wait(&pid_file, &pidfd));
        // Closing an inotify descriptor waits for an RCU grace period
        // (10-20 ms here): not on the way to the container's start.
        std::thread::spawn(move || drop(watch));
        match started {
            Ok(Some(pid)) => {
                tracing::info!(id, pid, "container started");
                Ok(RunningContainer { runtime_pid, pid })
            }
            Ok(None) => {
                let exit = wait_for(runtime_pid);
                let log = fs::read_to_string(&log_file).unwrap_or_default();
                let detail = match error_messages(&log) {
                    d if d.is_empty() => format!("{} exited ({exit:?})", self.name()),
                    d => d,
                };
                Err(self.failed_with("run", id, detail))
            }
            Err(e) => Err(RuntimeError::io("read", &pid_file, e)),
        }
    }

    fn exit_code(&self, id: &str, bundle: &Path, exit: RuntimeExit) -> Result<i32, RuntimeError> {
        match exit {
            RuntimeExit::Signal(signal) => Ok(128 + signal),
            RuntimeExit::Code(0) => Ok(0),
            RuntimeExit::Code(code) => {
                // runc exits non-zero both for an init that did and for its
                // own failures after the container was created (an exec
                // that failed); only the latter are logged as errors.
                let log = fs::read_to_string(bundle.join(LOG_FILE)).unwrap_or_default();
                match error_messages(&log) {
                    d if d.is_empty() => Ok(code),
                    d => Err(self.failed_with("run", id, d)),
                }
            }
        }
    }

    fn spawn_exec(
        &self,
        id: &str,
        process: &ExecProcess,
        stdio: ContainerStdio,
    ) -> Result<RunningExec, RuntimeError> {
        static SPAWNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = |ext: &str| {
            self.state_root
                .join(format!("exec-{}-{n}-{id}.{ext}", std::process::id()))
        };
        let (exit_file, pid_file, log) = (file("exit"), file("pid"), file("log"));
        let spec = match (&process.console, process.tty) {
            (Some(console), true) => {
                let path = file("process.json");
                Self::write_exec_spec(&path, process, console)?;
                Some(path)
            }
            _ => None,
        };
        let runtime = self.exec_command(id, process, &log, &pid_file, spec.as_deref());
        let mut relay = Command::new("/bin/sh");
        relay
            .arg("-c")
            .arg(EXIT_CODE_RELAY)
            .arg(&exit_file)
            .arg(runtime.get_program())
            .args(runtime.get_args())
            .stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(stdio.stderr);
        // Its own process group, so a kill reaches a runtime still setting
        // the process up.
        std::os::unix::process::CommandExt::process_group(&mut relay, 0);
        let start_watch = PidFileWatch::new(&self.state_root)
            .map_err(|e| RuntimeError::io("watch", &self.state_root, e.into()))?;
        tracing::debug!(command = ?relay, "calling OCI runtime");
        let spawned = relay.spawn();
        // This process's copies of the process's stdio close here, or its
        // output would never reach end-of-file.
        drop(relay);
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                if let Some(spec) = &spec {
                    let _ = fs::remove_file(spec);
                }
                return Err(RuntimeError::io("run", &self.binary, e));
            }
        };
        let relay_pid = child.id();
        let relay_fd = rustix::process::Pid::from_raw(relay_pid as i32).and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
        Ok(RunningExec {
            runc: self.clone(),
            id: id.to_string(),
            relay: Mutex::new(child),
            relay_pid,
            relay_fd,
            start_watch: Mutex::new(Some(start_watch)),
            exit_file,
            pid_file,
            log,
            spec,
        })
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
    use std::time::Duration;

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
    fn run_passes_stdio_and_reads_the_pid() {
        let f = Fixture::new();
        let bundle = f.dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        let running = f.runc.run("abc", &bundle, f.stdio()).unwrap();
        assert_eq!(running.pid, 4242);
        let exit = wait_for(running.runtime_pid);
        assert_eq!(exit, RuntimeExit::Code(0));
        assert_eq!(f.runc.exit_code("abc", &bundle, exit).unwrap(), 0);
        assert_eq!(
            f.calls(),
            [
                "--root ROOT --log-format json --log ROOT/bundle/runc.log run \
              --pid-file ROOT/bundle/init.pid --bundle ROOT/bundle abc"
            ]
        );
        assert_eq!(f.read("stdout"), "init says hello\n");
    }

    #[test]
    fn exit_codes_pass_through_and_late_failures_are_errors() {
        let f = Fixture::new();
        let bundle = f.dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        let running = f.runc.run("exit-3", &bundle, f.stdio()).unwrap();
        let exit = wait_for(running.runtime_pid);
        assert_eq!(f.runc.exit_code("exit-3", &bundle, exit).unwrap(), 3);
        assert_eq!(
            f.runc
                .exit_code("exit-3", &bundle, RuntimeExit::Signal(9))
                .unwrap(),
            137
        );
        let running = f.runc.run("exec-fails", &bundle, f.stdio()).unwrap();
        let exit = wait_for(running.runtime_pid);
        let err = f.runc.exit_code("exec-fails", &bundle, exit).unwrap_err();
        assert_eq!(
            err.to_string(),
            "fake-runc run exec-fails failed: unable to start container process: exec: /x: permission denied"
        );
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
        let err = f.runc.run("fail-me", &bundle, f.stdio()).unwrap_err();
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
    fn exec_specs_are_the_containers_process_changed_as_runcs_flags_change_it() {
        let container = serde_json::json!({
            "terminal": false,
            "user": {"uid": 0, "gid": 0, "additionalGids": [10]},
            "args": ["sh"],
            "env": ["PATH=/bin", "A=1"],
            "cwd": "/",
            "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"],
                             "inheritable": [], "permitted": ["CAP_CHOWN"], "ambient": []},
            "noNewPrivileges": true,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
        });
        let console = ExecConsole {
            bundle: PathBuf::from("/unused"),
            rows: 41,
            cols: 97,
        };
        let mut process = ExecProcess {
            args: vec!["stty".into(), "size".into()],
            env: vec!["A=2".into()],
            tty: true,
            ..ExecProcess::default()
        };
        let spec = exec_process_spec(&container, &process, &console);
        assert_eq!(spec["args"], serde_json::json!(["stty", "size"]));
        assert_eq!(spec["env"], serde_json::json!(["PATH=/bin", "A=1", "A=2"]));
        assert_eq!(spec["terminal"], true);
        assert_eq!(
            spec["consoleSize"],
            serde_json::json!({"height": 41, "width": 97})
        );
        // What no flag changes stays the container's.
        assert_eq!(spec["user"], container["user"]);
        assert_eq!(spec["cwd"], "/");
        assert_eq!(spec["capabilities"], container["capabilities"]);
        assert_eq!(spec["noNewPrivileges"], true);
        assert_eq!(spec["rlimits"], container["rlimits"]);

        process.cwd = Some("/tmp".into());
        process.user = Some((1000, 1001, vec![]));
        process.all_capabilities = true;
        let spec = exec_process_spec(&container, &process, &console);
        assert_eq!(spec["cwd"], "/tmp");
        assert_eq!(
            spec["user"],
            serde_json::json!({"uid": 1000, "gid": 1001, "additionalGids": [10]})
        );
        let caps = |set: &str| spec["capabilities"][set].as_array().unwrap().len();
        assert!(caps("bounding") > 1 && caps("ambient") > 0, "{spec}");
        assert_eq!(caps("inheritable"), 0);
        process.user = Some((1000, 1001, vec![5, 6]));
        let spec = exec_process_spec(&container, &process, &console);
        assert_eq!(spec["user"]["additionalGids"], serde_json::json!([5, 6]));
    }

    /// What `spawn_exec` left in the state root besides the call log.
    fn exec_files(f: &Fixture) -> Vec<String> {
        fs::read_dir(f.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("exec-"))
            .collect()
    }

    #[test]
    fn spawned_exec_reports_its_exit_code_and_output() {
        let f = Fixture::new();
        let process = ExecProcess {
            args: vec!["check".into(), "-q".into()],
            ..ExecProcess::default()
        };
        let running = f.runc.spawn_exec("sick", &process, f.stdio()).unwrap();
        let pid = running.wait_started().unwrap();
        assert!(pid.is_some_and(|p| p > 1), "{pid:?}");
        assert!(running.exited_fd().is_some());
        assert_eq!(
            running.wait_timeout(Duration::from_secs(10)).unwrap(),
            Some(3)
        );
        drop(running);
        assert_eq!(f.read("stdout"), "exec says hello\n");
        assert_eq!(f.read("stderr"), "exec complains\n");
        let calls = f.calls();
        let files = format!("ROOT/exec-{}-", std::process::id());
        assert_eq!(calls.len(), 1);
        assert!(
            calls[0].starts_with(&format!("--root ROOT --log-format json --log {files}"))
                && calls[0].contains(&format!("-sick.log exec --pid-file {files}"))
                && calls[0].ends_with("-sick.pid sick check -q"),
            "{calls:?}"
        );
        // The relay's files go with it.
        assert_eq!(exec_files(&f), Vec::<String>::new());
    }

    #[test]
    fn a_spawned_terminal_exec_gets_the_whole_process_spec_with_its_size() {
        let f = Fixture::new();
        let bundle = f.dir.path().join("bundle");
        fs::create_dir(&bundle).unwrap();
        fs::write(
            bundle.join("config.json"),
            r#"{"process":{"args":["sh"],"env":["A=1"],"cwd":"/"}}"#,
        )
        .unwrap();
        let process = ExecProcess {
            args: vec!["stty".into(), "size".into()],
            tty: true,
            console: Some(ExecConsole {
                bundle,
                rows: 41,
                cols: 97,
            }),
            ..ExecProcess::default()
        };
        let running = f.runc.spawn_exec("abc", &process, f.stdio()).unwrap();
        assert_eq!(
            running.wait_timeout(Duration::from_secs(10)).unwrap(),
            Some(0)
        );
        let call = &f.calls()[0];
        let spec = call
            .split(" --process ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap()
            .replace("ROOT", &f.root());
        assert!(call.ends_with(" abc"), "{call}");
        let written: serde_json::Value = serde_json::from_slice(&fs::read(&spec).unwrap()).unwrap();
        assert_eq!(written["args"], serde_json::json!(["stty", "size"]));
        assert_eq!(
            written["consoleSize"],
            serde_json::json!({"height": 41, "width": 97})
        );
        drop(running);
        assert!(!Path::new(&spec).exists(), "the spec goes with the exec");
    }

    #[test]
    fn spawned_exec_can_be_killed_after_a_timeout() {
        let f = Fixture::new();
        let started = std::time::Instant::now();
        let running = f
            .runc
            .spawn_exec("slow", &ExecProcess::default(), f.stdio())
            .unwrap();
        assert_eq!(
            running.wait_timeout(Duration::from_millis(200)).unwrap(),
            None
        );
        running.kill();
        assert_eq!(
            running.wait_timeout(Duration::from_secs(10)).unwrap(),
            Some(137)
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn spawned_exec_that_cannot_start_is_an_error() {
        let f = Fixture::new();
        let running = f
            .runc
            .spawn_exec("refused", &ExecProcess::default(), f.stdio())
            .unwrap();
        // It never started, so it has no pid.
        assert_eq!(running.wait_started().unwrap(), None);
        let err = running.wait_timeout(Duration::from_secs(10)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "fake-runc exec refused failed: exec: nope: executable file not found in $PATH"
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
