//! The stream between a container's monitor and the clients attached to
//! it: the CLI that started it, and `attach` (on `attach.sock`), and the
//! clients starting an `exec` (on `exec.sock`, whose first frame is
//! [`kind::EXEC_START`]; the rest is the same stream, for the exec'd
//! process).
//!
//! Each frame is an 8-byte header, docker's "stdcopy" one (kind, three zero
//! bytes, payload length as a big-endian u32), then the payload. The
//! monitor sends output and events; clients send input and requests.

use berth_runtime::StartFailure;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::EngineError;

/// The monitor's socket for attaching to the container, in the
/// container's directory.
pub(crate) const SOCKET: &str = "attach.sock";
/// The monitor's socket for starting `exec`s, beside it.
pub(crate) const EXEC_SOCKET: &str = "exec.sock";

/// The path of the socket `name` in `dir` through a descriptor of `dir`
/// (kept open while the path is used), since a socket path may not be
/// longer than 108 bytes and a `--root` can be.
pub(crate) fn socket_path(
    dir: &Path,
    name: &str,
) -> Result<(std::os::fd::OwnedFd, String), EngineError> {
    use std::os::fd::AsRawFd;
    let dirfd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| EngineError::io(format!("open {}", dir.display()), e.into()))?;
    let path = format!("/proc/self/fd/{}/{name}", dirfd.as_raw_fd());
    Ok((dirfd, path))
}

/// Frame kinds. Output kinds match docker's stream numbers.
pub(crate) mod kind {
    pub const STDIN: u8 = 0;
    pub const STDOUT: u8 = 1;
    pub const STDERR: u8 = 2;
    /// The container runs (empty payload).
    pub const STARTED: u8 = 3;
    /// It could not start: the payload is docker's exit code for why (a
    /// big-endian i32: 125, 126 or 127), then the message.
    pub const FAILED: u8 = 4;
    /// It exited: the payload is its code, a big-endian i32.
    pub const EXIT: u8 = 5;
    /// The client's terminal size: rows then columns, big-endian u16s.
    pub const RESIZE: u8 = 6;
    /// A signal for the container, a big-endian i32.
    pub const SIGNAL: u8 = 7;
    /// The client's input ended.
    pub const CLOSE_STDIN: u8 = 8;
    /// Start an exec (the first frame on the exec socket): the payload is
    /// a JSON `ExecStartRequest`.
    pub const EXEC_START: u8 = 9;
    /// Resize a running exec's terminal (the first frame on the exec
    /// socket): a JSON `ExecRequest` with the size.
    pub const EXEC_RESIZE: u8 = 10;
}

/// Frames larger than this are refused: output is sent in pieces of at
/// most 32 KiB, and nothing else is big.
const MAX_FRAME: usize = 1 << 20;

/// A `FAILED` frame's payload.
pub(crate) fn failed_payload(failure: StartFailure, message: &str) -> Vec<u8> {
    let mut payload = failure.exit_code().to_be_bytes().to_vec();
    payload.extend_from_slice(message.as_bytes());
    payload
}

pub(crate) fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(8 + payload.len());
    frame.extend_from_slice(&[kind, 0, 0, 0]);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    w.write_all(&frame)
}

/// The next frame, or `None` at a clean end of the stream.
pub(crate) fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 8];
    let mut filled = 0;
    while filled < header.len() {
        match r.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
}

fn be_i32(payload: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(payload.get(..4)?.try_into().ok()?))
}

/// What an attached client hears from the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachEvent {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Started,
    /// The container could not start, and why.
    Failed {
        failure: StartFailure,
        message: String,
    },
    /// The container exited with this code.
    Exit(i32),
}

/// A connection to a container's monitor.
pub struct AttachSession {
    stream: UnixStream,
    input: AttachInput,
}

/// The sending half of an [`AttachSession`], shareable between threads.
#[derive(Clone)]
pub struct AttachInput {
    stream: Arc<Mutex<UnixStream>>,
}

fn lost(e: io::Error) -> EngineError {
    EngineError::io("talk to the container monitor", e)
}

impl AttachSession {
    pub(crate) fn new(stream: UnixStream) -> Result<AttachSession, EngineError> {
        let writer = stream.try_clone().map_err(lost)?;
        Ok(AttachSession {
            stream,
            input: AttachInput {
                stream: Arc::new(Mutex::new(writer)),
            },
        })
    }

    /// Connects to the socket `name` of the monitor of the container
    /// whose directory is `dir`.
    pub(crate) fn connect(dir: &Path, name: &str) -> Result<AttachSession, EngineError> {
        let (_dirfd, path) = socket_path(dir, name)?;
        let stream = UnixStream::connect(path).map_err(lost)?;
        AttachSession::new(stream)
    }

    /// The next event; `None` when the monitor closed the connection.
    pub fn next_event(&mut self) -> Result<Option<AttachEvent>, EngineError> {
        loop {
            let Some((k, payload)) = read_frame(&mut self.stream).map_err(lost)? else {
                return Ok(None);
            };
            return Ok(Some(match k {
                kind::STDOUT => AttachEvent::Stdout(payload),
                kind::STDERR => AttachEvent::Stderr(payload),
                kind::STARTED => AttachEvent::Started,
                kind::FAILED => AttachEvent::Failed {
                    failure: match be_i32(&payload) {
                        Some(127) => StartFailure::CommandNotFound,
                        Some(126) => StartFailure::CannotExecute,
                        _ => StartFailure::Other,
                    },
                    message: String::from_utf8_lossy(payload.get(4..).unwrap_or_default()).into(),
                },
                kind::EXIT => AttachEvent::Exit(be_i32(&payload).unwrap_or(255)),
                // Kinds a newer monitor may send are skipped.
                _ => continue,
            }));
        }
    }

    /// Waits until the container runs; its start error otherwise.
    pub(crate) fn wait_started(&mut self) -> Result<(), EngineError> {
        loop {
            match self.next_event()? {
                Some(AttachEvent::Started) => return Ok(()),
                Some(AttachEvent::Failed { failure, message }) => {
                    return Err(EngineError::StartFailed { message, failure })
                }
                Some(_) => {}
                None => {
                    return Err(EngineError::StartFailed {
                        message: "the container monitor exited before the container started".into(),
                        failure: StartFailure::Other,
                    })
                }
            }
        }
    }

    pub fn input(&self) -> AttachInput {
        self.input.clone()
    }

    /// Copies the session to given streams until the process exits, for a
    /// caller with no terminal (the API's hijacked connection, a test):
    /// `stdin` (if any) to the process, ending its input at its end; the
    /// process's output to `stdout` and `stderr`. Returns the exit code;
    /// `None` when the monitor went away first.
    pub fn copy_streams(
        mut self,
        stdin: Option<Box<dyn Read + Send>>,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> Result<Option<i32>, EngineError> {
        if let Some(mut stdin) = stdin {
            let input = self.input();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match stdin.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if input.stdin(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = input.close_stdin();
            });
        }
        let out_err = |e| EngineError::io("write the process's output", e);
        loop {
            match self.next_event()? {
                Some(AttachEvent::Stdout(data)) => stdout.write_all(&data).map_err(out_err)?,
                Some(AttachEvent::Stderr(data)) => stderr.write_all(&data).map_err(out_err)?,
                Some(AttachEvent::Started) => {}
                Some(AttachEvent::Exit(code)) => return Ok(Some(code)),
                Some(AttachEvent::Failed { failure, message }) => {
                    return Err(EngineError::StartFailed { message, failure })
                }
                None => return Ok(None),
            }
        }
    }

    /// Stops reading: a blocked [`AttachSession::next_event`] in another
    /// thread returns `None`.
    pub fn detach(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

impl AttachInput {
    pub(crate) fn send_frame(&self, kind: u8, payload: &[u8]) -> Result<(), EngineError> {
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        write_frame(&mut *stream, kind, payload).map_err(lost)
    }

    /// Bytes for the container's standard input.
    pub fn stdin(&self, data: &[u8]) -> Result<(), EngineError> {
        for chunk in data.chunks(32 * 1024) {
            self.send_frame(kind::STDIN, chunk)?;
        }
        Ok(())
    }

    /// The client's input ended.
    pub fn close_stdin(&self) -> Result<(), EngineError> {
        self.send_frame(kind::CLOSE_STDIN, &[])
    }

    /// The client's terminal has this many rows and columns.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), EngineError> {
        let mut payload = rows.to_be_bytes().to_vec();
        payload.extend_from_slice(&cols.to_be_bytes());
        self.send_frame(kind::RESIZE, &payload)
    }

    /// A signal for the container's main process.
    pub fn signal(&self, signal: i32) -> Result<(), EngineError> {
        self.send_frame(kind::SIGNAL, &signal.to_be_bytes())
    }

    /// Detaches the other half (see [`AttachSession::detach`]).
    pub fn detach(&self) {
        let stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_events_decode() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut monitor = a;
        let mut session = AttachSession::new(b).unwrap();
        write_frame(&mut monitor, kind::STARTED, &[]).unwrap();
        write_frame(&mut monitor, kind::STDOUT, b"hello\n").unwrap();
        write_frame(&mut monitor, 42, b"future kind").unwrap();
        write_frame(&mut monitor, kind::STDERR, b"oops").unwrap();
        write_frame(&mut monitor, kind::EXIT, &3i32.to_be_bytes()).unwrap();
        drop(monitor);
        session.wait_started().unwrap();
        assert_eq!(
            session.next_event().unwrap(),
            Some(AttachEvent::Stdout(b"hello\n".to_vec()))
        );
        assert_eq!(
            session.next_event().unwrap(),
            Some(AttachEvent::Stderr(b"oops".to_vec()))
        );
        assert_eq!(session.next_event().unwrap(), Some(AttachEvent::Exit(3)));
        assert_eq!(session.next_event().unwrap(), None);
    }

    #[test]
    fn input_frames_reach_the_monitor() {
        let (a, b) = UnixStream::pair().unwrap();
        let session = AttachSession::new(b).unwrap();
        let input = session.input();
        input.stdin(b"ls\n").unwrap();
        input.resize(24, 80).unwrap();
        input.signal(2).unwrap();
        input.close_stdin().unwrap();
        drop(session);
        drop(input);
        let mut monitor = a;
        let mut frames = Vec::new();
        while let Some(f) = read_frame(&mut monitor).unwrap() {
            frames.push(f);
        }
        assert_eq!(
            frames,
            [
                (kind::STDIN, b"ls\n".to_vec()),
                (kind::RESIZE, vec![0, 24, 0, 80]),
                (kind::SIGNAL, 2i32.to_be_bytes().to_vec()),
                (kind::CLOSE_STDIN, vec![]),
            ]
        );
    }

    #[test]
    fn a_failed_start_and_a_vanished_monitor_are_errors() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut session = AttachSession::new(b).unwrap();
        let mut payload = 127i32.to_be_bytes().to_vec();
        payload.extend_from_slice(b"exec: \"nope\": executable file not found");
        write_frame(&mut a, kind::FAILED, &payload).unwrap();
        let err = session.wait_started().unwrap_err();
        assert!(
            err.to_string().contains("executable file not found"),
            "{err}"
        );
        assert_eq!(err.kind(), crate::ErrorKind::CommandNotFound);
        drop(a);
        let err = session.wait_started().unwrap_err();
        assert!(err.to_string().contains("monitor exited"), "{err}");
    }

    #[test]
    fn given_streams_get_the_output_and_send_the_input() {
        let (a, b) = UnixStream::pair().unwrap();
        let session = AttachSession::new(b).unwrap();
        let monitor = std::thread::spawn(move || {
            let mut monitor = a;
            let mut input = Vec::new();
            while let Some((k, payload)) = read_frame(&mut monitor).unwrap() {
                match k {
                    kind::STDIN => input.extend(payload),
                    kind::CLOSE_STDIN => break,
                    _ => {}
                }
            }
            write_frame(&mut monitor, kind::STDOUT, &input).unwrap();
            write_frame(&mut monitor, kind::STDERR, b"warn").unwrap();
            write_frame(&mut monitor, kind::EXIT, &7i32.to_be_bytes()).unwrap();
        });
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let stdin: Box<dyn Read + Send> = Box::new(&b"typed"[..]);
        let code = session
            .copy_streams(Some(stdin), &mut out, &mut err)
            .unwrap();
        monitor.join().unwrap();
        assert_eq!(code, Some(7));
        assert_eq!(out, b"typed");
        assert_eq!(err, b"warn");
    }

    #[test]
    fn oversized_and_truncated_frames_are_refused() {
        let mut big = vec![kind::STDOUT, 0, 0, 0];
        big.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(read_frame(&mut &big[..]).is_err());
        assert!(read_frame(&mut &[1u8, 0, 0][..]).is_err());
        assert!(read_frame(&mut &[][..]).unwrap().is_none());
    }
}
