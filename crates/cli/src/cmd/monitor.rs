use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use berth_engine::MonitorOptions;

/// The hidden first argument that makes berth a container's monitor.
pub const ARG: &str = "__monitor";

/// `berth __monitor ROOT ID [--stdin-once] [--tty-size ROWSxCOLS]`: not
/// for users; `run` and `start` spawn it with its stdin connected to them
/// (see `berth_engine::container`). Its arguments are read without clap:
/// building clap's whole command tree is most of a millisecond, and the
/// monitor is on the way to every container's start.
pub struct Invocation {
    root: PathBuf,
    id: String,
    stdin_once: bool,
    tty_size: Option<(u16, u16)>,
}

impl Invocation {
    /// The monitor's arguments when this process is one; `None` otherwise.
    pub fn from_args(args: &[OsString]) -> Option<Result<Invocation>> {
        if args.get(1).map(OsString::as_os_str) != Some(ARG.as_ref()) {
            return None;
        }
        Some(Self::parse(&args[2..]))
    }

    fn parse(args: &[OsString]) -> Result<Invocation> {
        let [root, id, rest @ ..] = args else {
            bail!("usage: berth {ARG} ROOT ID [--stdin-once] [--tty-size ROWSxCOLS]");
        };
        let mut invocation = Invocation {
            root: PathBuf::from(root),
            id: id.to_string_lossy().into_owned(),
            stdin_once: false,
            tty_size: None,
        };
        let mut rest = rest.iter().map(|a| a.to_string_lossy());
        while let Some(arg) = rest.next() {
            match arg.as_ref() {
                "--stdin-once" => invocation.stdin_once = true,
                "--tty-size" => {
                    let size = rest.next().unwrap_or_default();
                    let Some((rows, cols)) = size.split_once('x') else {
                        bail!("invalid --tty-size {size:?}: expected ROWSxCOLS");
                    };
                    invocation.tty_size = Some((rows.parse()?, cols.parse()?));
                }
                other => bail!("unknown monitor argument {other:?}"),
            }
        }
        Ok(invocation)
    }
}

pub fn run(invocation: Invocation) -> Result<u8> {
    let starter = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("take the connection to the starting client")?;
    let mut engine = super::open(&invocation.root)?;
    let opts = MonitorOptions {
        stdin_once: invocation.stdin_once,
        tty_size: invocation.tty_size,
    };
    let code = engine.run_monitor(&invocation.id, UnixStream::from(starter), opts)?;
    Ok(code.clamp(0, 255) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn only_the_hidden_argument_makes_a_monitor() {
        assert!(Invocation::from_args(&args(&["berth", "run", "x"])).is_none());
        assert!(Invocation::from_args(&args(&["berth"])).is_none());
        let m = Invocation::from_args(&args(&[
            "berth",
            ARG,
            "/r",
            "abc",
            "--stdin-once",
            "--tty-size",
            "33x101",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(m.root, PathBuf::from("/r"));
        assert_eq!(m.id, "abc");
        assert!(m.stdin_once);
        assert_eq!(m.tty_size, Some((33, 101)));
    }

    #[test]
    fn bad_monitor_arguments_are_errors() {
        for bad in [
            &["berth", ARG, "/r"][..],
            &["berth", ARG, "/r", "id", "--tty-size", "33"],
            &["berth", ARG, "/r", "id", "--what"],
        ] {
            assert!(
                Invocation::from_args(&args(bad)).unwrap().is_err(),
                "{bad:?}"
            );
        }
    }
}
