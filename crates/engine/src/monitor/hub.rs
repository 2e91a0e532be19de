//! The monitor's side of the attach stream: the clients attached to one
//! container, its output fanned out to them, their input, terminal sizes
//! and signals passed on to the container.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use berth_runtime::backend::RuntimeBackend;

use crate::container::attach::{kind, read_frame, write_frame, SOCKET};
use crate::EngineError;

/// Where a client's input goes: the write end of the container's stdin
/// pipe, or its terminal.
#[derive(Default)]
struct Input {
    stdin: Option<File>,
    /// The terminal's master side, for window sizes.
    tty: Option<OwnedFd>,
}

pub(crate) struct Hub {
    clients: Mutex<Vec<UnixStream>>,
    input: Mutex<Input>,
    /// The runtime process of the current run: it passes SIGWINCH on to
    /// the container's terminal.
    runtime_pid: AtomicU32,
    /// Close the container's stdin when the client that started it ends
    /// its input (`run -i`), as docker's StdinOnce does.
    stdin_once: bool,
    runtime: Arc<dyn RuntimeBackend>,
    id: String,
}

impl Hub {
    pub(crate) fn new(runtime: Arc<dyn RuntimeBackend>, id: &str, stdin_once: bool) -> Arc<Hub> {
        Arc::new(Hub {
            clients: Mutex::new(Vec::new()),
            input: Mutex::new(Input::default()),
            runtime_pid: AtomicU32::new(0),
            stdin_once,
            runtime,
            id: id.to_string(),
        })
    }

    /// Listens on the container directory's socket for `attach` clients,
    /// for as long as the monitor lives.
    pub(crate) fn listen(self: &Arc<Hub>, dir: &Path) -> Result<(), EngineError> {
        let _ = std::fs::remove_file(dir.join(SOCKET));
        let (_dirfd, path) = crate::container::attach::socket_path(dir, SOCKET)?;
        let listener = UnixListener::bind(path)
            .map_err(|e| EngineError::io(format!("listen on {}", dir.join(SOCKET).display()), e))?;
        let hub = Arc::clone(self);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                hub.add_client(stream);
            }
        });
        Ok(())
    }

    /// Sends the container's output and events to `stream`, and passes its
    /// input on.
    pub(crate) fn add_client(self: &Arc<Hub>, stream: UnixStream) {
        let Ok(reader) = stream.try_clone() else {
            return;
        };
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(stream);
        let hub = Arc::clone(self);
        std::thread::spawn(move || hub.serve_input(reader));
    }

    fn serve_input(&self, mut client: UnixStream) {
        while let Ok(Some((k, payload))) = read_frame(&mut client) {
            match k {
                kind::STDIN => {
                    let mut input = self.input.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(stdin) = input.stdin.as_mut() {
                        if stdin.write_all(&payload).is_err() {
                            input.stdin = None;
                        }
                    }
                }
                kind::CLOSE_STDIN if self.stdin_once => {
                    let mut input = self.input.lock().unwrap_or_else(|p| p.into_inner());
                    // A terminal has no end of input to pass on.
                    if input.tty.is_none() {
                        input.stdin = None;
                    }
                }
                kind::RESIZE if payload.len() == 4 => {
                    let rows = u16::from_be_bytes([payload[0], payload[1]]);
                    let cols = u16::from_be_bytes([payload[2], payload[3]]);
                    self.resize(rows, cols);
                }
                kind::SIGNAL if payload.len() == 4 => {
                    let signal =
                        i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                    if let Err(e) = self.runtime.kill(&self.id, signal, false) {
                        tracing::warn!("forward signal {signal}: {e}");
                    }
                }
                _ => {}
            }
        }
    }

    fn resize(&self, rows: u16, cols: u16) {
        let input = self.input.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tty) = input.tty.as_ref() else {
            return;
        };
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        if rustix::termios::tcsetwinsize(tty.as_fd(), size).is_err() {
            return;
        }
        // The runtime sizes the container's terminal like its own (ours).
        let pid = self.runtime_pid.load(Ordering::Relaxed);
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::WINCH);
        }
    }

    /// Whether the container runs now (between a run's start and its
    /// end).
    pub(crate) fn container_running(&self) -> bool {
        self.runtime_pid.load(Ordering::Relaxed) != 0
    }

    /// A new run's input side and runtime process.
    pub(crate) fn set_input(&self, stdin: Option<File>, tty: Option<OwnedFd>, runtime_pid: u32) {
        *self.input.lock().unwrap_or_else(|p| p.into_inner()) = Input { stdin, tty };
        self.runtime_pid.store(runtime_pid, Ordering::Relaxed);
    }

    /// Sends one frame to every client; a client that cannot take it is
    /// dropped.
    pub(crate) fn broadcast(&self, kind: u8, payload: &[u8]) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.retain_mut(|c| write_frame(c, kind, payload).is_ok());
    }
}
