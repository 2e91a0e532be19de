//! The container's standard streams for one run.

use berth_runtime::backend::ContainerStdio;
use berth_runtime::logfile::Stream;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::process::Stdio;

use crate::container::ContainerInfo;
use crate::EngineError;

/// The container's side of its standard streams for one run, and the
/// monitor's side: where its output is read and its input written.
pub(crate) struct ContainerIo {
    pub(crate) stdio: ContainerStdio,
    pub(crate) outputs: Vec<(Stream, File)>,
    pub(crate) stdin: Option<File>,
    pub(crate) tty: Option<OwnedFd>,
}

impl ContainerIo {
    /// Pipes; or, for `-t`, a terminal whose other side the runtime
    /// takes as its own and mirrors into the container's terminal.
    pub(crate) fn new(
        info: &ContainerInfo,
        size: Option<(u16, u16)>,
    ) -> Result<ContainerIo, EngineError> {
        let io_err = |what: &str, e: std::io::Error| EngineError::io(what.to_string(), e);
        if info.options.tty {
            let (master, slave) = open_terminal(size)?;
            let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| io_err("open a terminal", e));
            let stdio = ContainerStdio {
                stdin: dup(&slave)?.into(),
                stdout: dup(&slave)?.into(),
                stderr: slave.into(),
            };
            return Ok(ContainerIo {
                stdio,
                outputs: vec![(Stream::Stdout, File::from(dup(&master)?))],
                stdin: Some(File::from(dup(&master)?)),
                tty: Some(master),
            });
        }
        let (out_r, out_w) = std::io::pipe().map_err(|e| io_err("create a pipe", e))?;
        let (err_r, err_w) = std::io::pipe().map_err(|e| io_err("create a pipe", e))?;
        let (stdin, writer) = if info.options.interactive {
            let (r, w) = std::io::pipe().map_err(|e| io_err("create a pipe", e))?;
            (Stdio::from(r), Some(File::from(OwnedFd::from(w))))
        } else {
            (Stdio::null(), None)
        };
        Ok(ContainerIo {
            stdio: ContainerStdio {
                stdin,
                stdout: out_w.into(),
                stderr: err_w.into(),
            },
            outputs: vec![
                (Stream::Stdout, File::from(OwnedFd::from(out_r))),
                (Stream::Stderr, File::from(OwnedFd::from(err_r))),
            ],
            stdin: writer,
            tty: None,
        })
    }
}

/// A new terminal of `size` (rows, columns; 24x80 when `None`): its master
/// side, which the monitor keeps, and the other side, which a runtime
/// takes as its own stdio and mirrors into the container's terminal.
pub(crate) fn open_terminal(size: Option<(u16, u16)>) -> Result<(OwnedFd, OwnedFd), EngineError> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let sys = |what: &str, e: rustix::io::Errno| EngineError::io(what.to_string(), e.into());
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .map_err(|e| sys("open a terminal", e))?;
    grantpt(&master).map_err(|e| sys("open a terminal", e))?;
    unlockpt(&master).map_err(|e| sys("open a terminal", e))?;
    let name = ptsname(&master, Vec::new()).map_err(|e| sys("open a terminal", e))?;
    let (rows, cols) = size.unwrap_or((24, 80));
    let winsize = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&master, winsize).map_err(|e| sys("size the terminal", e))?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| sys("open a terminal", e))?;
    Ok((master, slave))
}
