use std::path::Path;

use std::io::IsTerminal;

use anyhow::{bail, Result};
use berth_engine::ExecOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Keep STDIN open
    #[arg(short, long)]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    if a.tty && !a.detach {
        // The runtime gives the process a terminal mirroring this one.
        if !std::io::stdin().is_terminal() && !std::io::stdout().is_terminal() {
            bail!("the input device is not a TTY");
        }
    }
    let mut engine = super::open(root)?;
    let opts = ExecOptions {
        cmd: a.command,
        env: a.env,
        user: a.user,
        workdir: a.workdir,
        detach: a.detach,
        interactive: a.interactive,
        privileged: a.privileged,
        tty: a.tty,
        tty_size: if a.tty {
            crate::attach::terminal_size()
        } else {
            None
        },
    };
    let code = engine.exec_container(&a.container, &opts)?;
    Ok(code.clamp(0, 255) as u8)
}
