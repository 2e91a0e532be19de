use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{bail, Context, Result};
use berth_engine::MonitorOptions;

/// `berth monitor ID`: not for users; `run` and `start` spawn it, its
/// stdin connected to them.
#[derive(clap::Args)]
pub struct Args {
    /// The starting client's end of input is the container's
    #[arg(long)]
    stdin_once: bool,
    /// The starting client's terminal size, ROWSxCOLS
    #[arg(long)]
    tty_size: Option<String>,
    id: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let tty_size = match a.tty_size.as_deref().map(|s| s.split_once('x')) {
        None => None,
        Some(Some((rows, cols))) => Some((rows.parse()?, cols.parse()?)),
        Some(None) => bail!("invalid --tty-size: expected ROWSxCOLS"),
    };
    let starter = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("take the connection to the starting client")?;
    let mut engine = super::open(root)?;
    let opts = MonitorOptions {
        stdin_once: a.stdin_once,
        tty_size,
    };
    let code = engine.run_monitor(&a.id, UnixStream::from(starter), opts)?;
    Ok(code.clamp(0, 255) as u8)
}
