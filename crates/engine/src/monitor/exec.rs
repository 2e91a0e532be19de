//! The monitor's side of `exec`: it listens on the container's exec
//! socket, starts each exec'd process with the runtime, copies its streams
//! to and from the client that started it, and records its exit code the
//! moment it ends, whether that client is still there or not.
//!
//! The monitor owns exec'd processes because it outlives every client (a
//! CLI may be killed, an API connection dropped) and is already the
//! container's subreaper with a place in its directory; a relay per exec
//! would be one more process per exec doing the same. The process runs
//! under the runtime's exit-code relay (see `RunningExec`), watched by
//! pidfd, so the monitor's reaping of its children cannot take its
//! status.

use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use berth_runtime::backend::{
    ContainerStdio, ExecConsole, ExecProcess, RunningExec, RuntimeBackend,
};
use berth_runtime::StartFailure;

use super::hub::Hub;
use super::io::open_terminal;
use crate::container::attach::{
    failed_payload, kind, read_frame, socket_path, write_frame, EXEC_SOCKET,
};
use crate::container::exec::{ExecRecord, ExecRequest, ExecStatus};
use crate::container::{now_rfc3339, ContainerInfo};
use crate::events::ContainerAction;
use crate::{Engine, EngineError};

/// A started exec, for resizing its terminal.
struct Started {
    process: Arc<RunningExec>,
    /// The terminal's master side, for a `tty` exec.
    tty: Option<OwnedFd>,
}

/// The execs of one container's monitor.
pub(crate) struct ExecServer {
    root: PathBuf,
    dir: PathBuf,
    info: ContainerInfo,
    runtime: Arc<dyn RuntimeBackend>,
    hub: Arc<Hub>,
    /// Execs being started or running, by ID (`None` until started): a
    /// second start of one is refused.
    active: Mutex<HashMap<String, Option<Arc<Started>>>>,
    /// Notified whenever an exec leaves `active`.
    left: Condvar,
    /// The monitor's handle on the events journal for its exec threads,
    /// opened at the first event.
    journal: Mutex<Option<Engine>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes an exec from the active ones when its thread is done with it.
struct Claim<'a> {
    server: &'a ExecServer,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(&self.server.active).remove(&self.id);
        self.server.left.notify_all();
    }
}

/// What the monitor reads and writes of a started exec.
struct ExecIo {
    stdio: ContainerStdio,
    /// Output pipes (or the terminal) with the frame kind each goes out as.
    outputs: Vec<(u8, File)>,
    stdin: Option<File>,
    tty: Option<OwnedFd>,
}

impl ExecIo {
    /// A terminal of `size`, or pipes; input only when the client sends it.
    fn new(tty: bool, stdin: bool, size: Option<(u16, u16)>) -> Result<ExecIo, EngineError> {
        let io_err = |e| EngineError::io("set up the exec's streams", e);
        if tty {
            let (master, slave) = open_terminal(size)?;
            let dup = |fd: &OwnedFd| fd.try_clone().map_err(io_err);
            return Ok(ExecIo {
                stdio: ContainerStdio {
                    stdin: dup(&slave)?.into(),
                    stdout: dup(&slave)?.into(),
                    stderr: slave.into(),
                },
                outputs: vec![(kind::STDOUT, File::from(dup(&master)?))],
                stdin: stdin.then(|| dup(&master).map(File::from)).transpose()?,
                tty: Some(master),
            });
        }
        let (out_r, out_w) = std::io::pipe().map_err(io_err)?;
        let (err_r, err_w) = std::io::pipe().map_err(io_err)?;
        let (stdin_r, stdin_w) = if stdin {
            let (r, w) = std::io::pipe().map_err(io_err)?;
            (Stdio::from(r), Some(File::from(OwnedFd::from(w))))
        } else {
            (Stdio::null(), None)
        };
        Ok(ExecIo {
            stdio: ContainerStdio {
                stdin: stdin_r,
                stdout: out_w.into(),
                stderr: err_w.into(),
            },
            outputs: vec![
                (kind::STDOUT, File::from(OwnedFd::from(out_r))),
                (kind::STDERR, File::from(OwnedFd::from(err_r))),
            ],
            stdin: stdin_w,
            tty: None,
        })
    }
}

/// Sets a terminal's size and has the runtime pass it on.
fn resize(started: &Started, rows: u16, cols: u16) {
    let Some(tty) = &started.tty else {
        return;
    };
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    if rustix::termios::tcsetwinsize(tty.as_fd(), size).is_ok() {
        started.process.notify_resize();
    }
}

/// The client of one exec; `None` once it went away.
struct Client {
    stream: Option<UnixStream>,
    stdout: bool,
    stderr: bool,
}

impl Client {
    fn send(&mut self, frame_kind: u8, payload: &[u8]) {
        let wanted = match frame_kind {
            kind::STDOUT => self.stdout,
            kind::STDERR => self.stderr,
            _ => true,
        };
        if let (true, Some(stream)) = (wanted, self.stream.as_mut()) {
            if write_frame(stream, frame_kind, payload).is_err() {
                self.stream = None;
            }
        }
    }
}

impl ExecServer {
    pub(crate) fn new(
        root: PathBuf,
        dir: PathBuf,
        info: ContainerInfo,
        runtime: Arc<dyn RuntimeBackend>,
        hub: Arc<Hub>,
    ) -> Arc<ExecServer> {
        Arc::new(ExecServer {
            root,
            dir,
            info,
            runtime,
            hub,
            active: Mutex::new(HashMap::new()),
            left: Condvar::new(),
            journal: Mutex::new(None),
        })
    }

    /// Listens on the container's exec socket for as long as the monitor
    /// lives.
    pub(crate) fn listen(self: &Arc<ExecServer>) -> Result<(), EngineError> {
        let _ = std::fs::remove_file(self.dir.join(EXEC_SOCKET));
        let (_dirfd, path) = socket_path(&self.dir, EXEC_SOCKET)?;
        let listener = UnixListener::bind(path).map_err(|e| {
            EngineError::io(
                format!("listen on {}", self.dir.join(EXEC_SOCKET).display()),
                e,
            )
        })?;
        let server = Arc::clone(self);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = Arc::clone(&server);
                std::thread::spawn(move || server.serve(stream));
            }
        });
        Ok(())
    }

    /// Waits up to `timeout` for the running execs to end and be
    /// recorded; the container has exited, so they are ending.
    pub(crate) fn finish(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut active = lock(&self.active);
        while !active.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    count = active.len(),
                    "execs still running as the monitor ends"
                );
                return;
            }
            active = self
                .left
                .wait_timeout(active, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn serve(self: Arc<ExecServer>, mut stream: UnixStream) {
        let Ok(Some((request_kind, payload))) = read_frame(&mut stream) else {
            return;
        };
        let Ok(request) = serde_json::from_slice::<ExecRequest>(&payload) else {
            return;
        };
        match request_kind {
            kind::EXEC_START => self.start(stream, request),
            kind::EXEC_RESIZE => {
                let started = lock(&self.active).get(&request.id).cloned().flatten();
                if let (Some(started), Some((rows, cols))) = (started, request.tty_size) {
                    resize(&started, rows, cols);
                }
            }
            _ => {}
        }
    }

    fn emit(&self, action: ContainerAction) {
        let mut journal = lock(&self.journal);
        if journal.is_none() {
            *journal = Engine::open(&self.root)
                .map_err(|e| tracing::warn!(error = %e, "exec events not recorded"))
                .ok();
        }
        if let Some(engine) = journal.as_ref() {
            engine.emit_current(&self.info, action);
        }
    }

    fn save(&self, record: &ExecRecord) {
        if let Err(e) = record.write(&self.dir) {
            tracing::warn!(exec = %record.id, error = %e, "cannot record the exec");
        }
    }

    /// Takes exec `id` for starting: it exists, was never started, and
    /// the container runs.
    fn claim(&self, id: &str) -> Result<(ExecRecord, Claim<'_>), String> {
        let mut active = lock(&self.active);
        let record = match ExecRecord::read(&self.dir, id) {
            Ok(Some(record)) => record,
            Ok(None) => return Err(format!("No such exec instance: {id}")),
            Err(e) => return Err(e.to_string()),
        };
        // The record says Exited before the finished exec's claim is
        // dropped, so the record is asked first: an exec that has run
        // says so even while its claim is still being let go.
        if record.status != ExecStatus::Exited && active.contains_key(id) {
            return Err(format!("Error: Exec command {id} is already running"));
        }
        match record.status {
            ExecStatus::Created => {}
            ExecStatus::Running => {
                return Err(format!("Error: Exec command {id} is already running"))
            }
            ExecStatus::Exited => return Err(format!("Error: Exec command {id} has already run")),
        }
        if !self.hub.container_running() {
            return Err(format!("container {} is not running", self.info.record.id));
        }
        active.insert(id.to_string(), None);
        Ok((
            record,
            Claim {
                server: self,
                id: id.to_string(),
            },
        ))
    }

    /// The process `record` asks for, for the runtime.
    fn process(&self, record: &ExecRecord, size: (u16, u16)) -> Result<ExecProcess, EngineError> {
        let config = &record.config;
        let user = match &config.user {
            Some(u) => {
                let r = berth_runtime::user::resolve_user(&self.dir.join("rootfs"), u, &[])?;
                Some((r.uid, r.gid, r.additional_gids))
            }
            None => None,
        };
        Ok(ExecProcess {
            args: config.cmd.clone(),
            env: config.env.clone(),
            cwd: config.workdir.clone(),
            user,
            all_capabilities: config.privileged,
            tty: config.tty,
            console: config.tty.then(|| ExecConsole {
                bundle: self.dir.clone(),
                rows: size.0,
                cols: size.1,
            }),
        })
    }

    fn spawn(
        &self,
        record: &ExecRecord,
        request: &ExecRequest,
    ) -> Result<(Arc<RunningExec>, ExecIo), EngineError> {
        let size = request.tty_size.unwrap_or((24, 80));
        let process = self.process(record, size)?;
        let stdin = record.config.attach_stdin && !request.detach;
        let mut io = ExecIo::new(record.config.tty, stdin, Some(size))?;
        let stdio = std::mem::replace(
            &mut io.stdio,
            ContainerStdio {
                stdin: Stdio::null(),
                stdout: Stdio::null(),
                stderr: Stdio::null(),
            },
        );
        let running = self
            .runtime
            .spawn_exec(&self.info.record.id, &process, stdio)?;
        Ok((Arc::new(running), io))
    }

    /// Starts exec `request.id` for the client on `stream`, then serves it
    /// until the process ends and its exit is recorded.
    fn start(&self, stream: UnixStream, request: ExecRequest) {
        let mut client = Client {
            stream: Some(stream),
            stdout: false,
            stderr: false,
        };
        let (mut record, _claim) = match self.claim(&request.id) {
            Ok(claimed) => claimed,
            Err(message) => {
                client.send(kind::FAILED, &failed_payload(StartFailure::Other, &message));
                return;
            }
        };
        client.stdout = record.config.attach_stdout && !request.detach;
        client.stderr = record.config.attach_stderr && !request.detach;
        self.emit(ContainerAction::ExecStart {
            exec_id: record.id.clone(),
            command: record.config.cmd.clone(),
        });
        let spawned = self.spawn(&record, &request).and_then(|(process, io)| {
            match process.wait_started() {
                Ok(Some(pid)) => Ok((process, io, Some(pid))),
                // The runtime ended first: it says why, or how it ended.
                Ok(None) => match process.wait_timeout(FOREVER) {
                    Err(e) => Err(e.into()),
                    Ok(_) => Ok((process, io, None)),
                },
                Err(e) => {
                    process.kill();
                    Err(e.into())
                }
            }
        });
        let (process, io, pid) = match spawned {
            Ok(started) => started,
            Err(e) => {
                let failure = e.start_failure();
                self.exited(&mut record, failure.exit_code());
                client.send(kind::FAILED, &failed_payload(failure, &e.to_string()));
                return;
            }
        };
        record.status = ExecStatus::Running;
        record.pid = pid;
        record.monitor_pid = Some(std::process::id());
        record.started_at = Some(now_rfc3339());
        self.save(&record);
        let started = Arc::new(Started {
            process: Arc::clone(&process),
            tty: io.tty.as_ref().and_then(|t| t.try_clone().ok()),
        });
        lock(&self.active).insert(record.id.clone(), Some(Arc::clone(&started)));
        client.send(kind::STARTED, &[]);
        if request.detach {
            client.stream = None;
        }
        if let Some(reader) = client.stream.as_ref().and_then(|s| s.try_clone().ok()) {
            let stdin = io.stdin;
            let started = Arc::clone(&started);
            std::thread::spawn(move || serve_input(reader, stdin, &started));
        }
        copy_output(io.outputs, &process, &mut client);
        let code = match process.wait_timeout(FOREVER) {
            Ok(Some(code)) => code,
            Ok(None) => 255,
            Err(e) => e.start_failure().exit_code(),
        };
        self.exited(&mut record, code);
        client.send(kind::EXIT, &code.to_be_bytes());
        if let Some(stream) = &client.stream {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Records that the exec ended with `code`.
    fn exited(&self, record: &mut ExecRecord, code: i32) {
        record.status = ExecStatus::Exited;
        record.exit_code = Some(code);
        record.pid = None;
        record.finished_at = Some(now_rfc3339());
        self.save(record);
        self.emit(ContainerAction::ExecDie {
            exec_id: record.id.clone(),
            exit_code: code,
        });
    }
}

/// Stops taking execs and waits a little for the running ones to be
/// recorded (the container has exited, so they are ending) when the
/// monitor is done with its container.
pub(crate) struct FinishOnDrop(pub(crate) Arc<ExecServer>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0.dir.join(EXEC_SOCKET));
        self.0.finish(Duration::from_secs(5));
    }
}

/// Long enough to mean "until it ends" without overflowing a deadline.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Passes the client's input, end of input and terminal sizes on until it
/// goes away; then the process's input ends (not a terminal's, which has
/// no end to pass on).
fn serve_input(mut client: UnixStream, stdin: Option<File>, started: &Started) {
    let mut stdin = stdin;
    let tty = started.tty.is_some();
    while let Ok(Some((k, payload))) = read_frame(&mut client) {
        match k {
            kind::STDIN => {
                if let Some(writer) = stdin.as_mut() {
                    if writer.write_all(&payload).is_err() {
                        stdin = None;
                    }
                }
            }
            kind::CLOSE_STDIN if !tty => stdin = None,
            kind::RESIZE if payload.len() == 4 => {
                let rows = u16::from_be_bytes([payload[0], payload[1]]);
                let cols = u16::from_be_bytes([payload[2], payload[3]]);
                resize(started, rows, cols);
            }
            _ => {}
        }
    }
}

/// Copies the process's output to the client until the process ends,
/// then what it left in the pipes: not until every holder of the pipes
/// closed them, so a background child of the process does not keep the
/// exec going (as with docker, whose exec ends with its process).
fn copy_output(outputs: Vec<(u8, File)>, process: &RunningExec, client: &mut Client) {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut open: Vec<(u8, File)> = outputs
        .into_iter()
        .filter(|(_, f)| rustix::fs::fcntl_setfl(f, rustix::fs::OFlags::NONBLOCK).is_ok())
        .collect();
    let mut buf = vec![0u8; 32 * 1024];
    // Reads what `file` holds now; false at its end.
    let mut drain = |frame_kind: u8, mut file: &File, client: &mut Client| loop {
        match file.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => client.send(frame_kind, &buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            // A terminal reads EIO once its other side is closed.
            Err(_) => return false,
        }
    };
    let Some(exited) = process.exited_fd() else {
        // It ended before it could be watched: what it wrote is there.
        for (k, f) in &open {
            drain(*k, f, client);
        }
        return;
    };
    loop {
        let (ready, ended) = {
            let mut fds: Vec<PollFd<'_>> = open
                .iter()
                .map(|(_, f)| PollFd::new(f, PollFlags::IN))
                .collect();
            fds.push(PollFd::new(&exited, PollFlags::IN));
            match poll(&mut fds, None) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "waiting for exec output failed");
                    return;
                }
            }
            let ended = !fds[open.len()].revents().is_empty();
            let ready: Vec<bool> = fds[..open.len()]
                .iter()
                .map(|fd| !fd.revents().is_empty())
                .collect();
            (ready, ended)
        };
        if ended {
            for (k, f) in &open {
                drain(*k, f, client);
            }
            return;
        }
        let mut still_open = Vec::with_capacity(open.len());
        for ((k, f), ready) in open.into_iter().zip(ready) {
            if !ready || drain(k, &f, client) {
                still_open.push((k, f));
            }
        }
        open = still_open;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::attach::AttachSession;
    use crate::container::exec::ExecConfig;
    use crate::container::ContainerOptions;
    use crate::ErrorKind;
    use berth_runtime::backend::Runc;
    use berth_store::ContainerRecord;

    /// berth-runtime's stand-in for runc: its exec prints a line on each
    /// stream and exits 0, 3 for container `sick`, and fails to start the
    /// process (runc's 255 and error) for container `refused`.
    const FAKE_RUNC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/testdata/fake-runc");

    struct Fixture {
        _root: tempfile::TempDir,
        dir: PathBuf,
        hub: Arc<Hub>,
        server: Arc<ExecServer>,
    }

    fn fixture(container: &str) -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("containers").join(container);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(root.path().join("runc")).unwrap();
        let runtime: Arc<dyn RuntimeBackend> =
            Arc::new(Runc::new(FAKE_RUNC, &root.path().join("runc")).unwrap());
        let info = ContainerInfo {
            record: ContainerRecord {
                id: container.into(),
                name: "target".into(),
                image_id: format!("sha256:{}", "0".repeat(64)).parse().unwrap(),
                config: "{}".into(),
                status: crate::container::ContainerStatus::Running,
                created_at: now_rfc3339(),
                started_at: None,
                finished_at: None,
                pid: None,
                monitor_pid: None,
                exit_code: None,
                restart_count: 0,
            },
            options: ContainerOptions::default(),
        };
        let hub = Hub::new(runtime.clone(), container, false);
        // As if a run of the container were under way.
        hub.set_input(None, None, 1);
        let server = ExecServer::new(
            root.path().to_path_buf(),
            dir.clone(),
            info,
            runtime,
            Arc::clone(&hub),
        );
        server.listen().unwrap();
        Fixture {
            _root: root,
            dir,
            hub,
            server,
        }
    }

    impl Fixture {
        fn create(&self, n: u8) -> ExecRecord {
            let record = ExecRecord {
                id: format!("{n:02x}").repeat(32),
                container_id: "c".into(),
                config: ExecConfig {
                    cmd: vec!["check".into()],
                    attach_stdout: true,
                    attach_stderr: true,
                    ..ExecConfig::default()
                },
                created_at: now_rfc3339(),
                status: ExecStatus::Created,
                pid: None,
                monitor_pid: None,
                exit_code: None,
                started_at: None,
                finished_at: None,
            };
            record.write(&self.dir).unwrap();
            record
        }

        fn start(&self, id: &str, detach: bool) -> Result<AttachSession, EngineError> {
            let mut session = AttachSession::connect(&self.dir, EXEC_SOCKET)?;
            let request = ExecRequest {
                id: id.into(),
                detach,
                tty_size: None,
            };
            let payload = serde_json::to_vec(&request).unwrap();
            session.input().send_frame(kind::EXEC_START, &payload)?;
            session.wait_started()?;
            Ok(session)
        }

        fn record(&self, id: &str) -> ExecRecord {
            ExecRecord::read(&self.dir, id).unwrap().unwrap()
        }
    }

    #[test]
    fn an_exec_streams_its_output_and_its_exit_code_is_recorded() {
        let f = fixture("sick");
        let record = f.create(1);
        let session = f.start(&record.id, false).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = session.copy_streams(None, &mut out, &mut err).unwrap();
        assert_eq!(code, Some(3));
        assert_eq!(String::from_utf8(out).unwrap(), "exec says hello\n");
        assert_eq!(String::from_utf8(err).unwrap(), "exec complains\n");
        let done = f.record(&record.id);
        assert_eq!(done.status, ExecStatus::Exited);
        assert_eq!(done.exit_code, Some(3));
        assert_eq!(done.monitor_pid, Some(std::process::id()));
        assert!(done.started_at.is_some() && done.finished_at.is_some());
        // An exec runs once.
        let err = f
            .start(&record.id, false)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("has already run"), "{err}");
    }

    #[test]
    fn a_process_that_cannot_run_is_recorded_with_dockers_code() {
        let f = fixture("refused");
        let record = f.create(2);
        let err = f.start(&record.id, false).err().expect("refused");
        assert_eq!(err.start_failure(), StartFailure::CommandNotFound);
        assert_eq!(err.kind(), ErrorKind::CommandNotFound);
        assert!(
            err.to_string().contains("executable file not found"),
            "{err}"
        );
        assert_eq!(f.record(&record.id).exit_code, Some(127));
    }

    #[test]
    fn a_detached_exec_is_recorded_without_its_client() {
        let f = fixture("abc");
        let record = f.create(3);
        drop(f.start(&record.id, true).unwrap());
        f.server.finish(Duration::from_secs(10));
        let done = f.record(&record.id);
        assert_eq!((done.status, done.exit_code), (ExecStatus::Exited, Some(0)));
    }

    #[test]
    fn nothing_starts_while_the_container_does_not_run() {
        let f = fixture("abc");
        let record = f.create(4);
        f.hub.set_input(None, None, 0);
        let err = f
            .start(&record.id, false)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("container abc is not running"), "{err}");
        assert_eq!(f.record(&record.id).status, ExecStatus::Created);
        let err = f
            .start(&"f".repeat(64), false)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("No such exec instance"), "{err}");
    }
}
