use std::path::Path;

use std::io::IsTerminal;

use anyhow::{bail, Result};
use berth_engine::{ExecConfig, ExecStartOptions};

use crate::attach::{attach, parse_detach_keys, terminal_size, AttachOptions};

/// `exec`: a front end over the engine's exec create, start and the
/// attach session the container's monitor serves it on.
#[derive(clap::Args)]
pub struct Args {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
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
        // The process's terminal mirrors this one.
        if !std::io::stdin().is_terminal() && !std::io::stdout().is_terminal() {
            bail!("the input device is not a TTY");
        }
    }
    let detach_keys = parse_detach_keys(&a.detach_keys)?;
    let mut engine = super::open(root)?;
    let attached = !a.detach;
    let config = ExecConfig {
        cmd: a.command,
        env: a.env,
        user: a.user,
        workdir: a.workdir,
        privileged: a.privileged,
        tty: a.tty,
        attach_stdin: a.interactive && attached,
        attach_stdout: attached,
        attach_stderr: attached,
        detach_keys: Some(a.detach_keys),
        console_size: None,
    };
    let id = engine.exec_create(&a.container, config)?;
    let start = ExecStartOptions {
        detach: a.detach,
        tty_size: if a.tty { terminal_size() } else { None },
    };
    let Some(session) = engine.exec_start(&id, start)? else {
        return Ok(0);
    };
    drop(engine);
    let code = attach(
        session,
        AttachOptions {
            stdin: a.interactive,
            tty: a.tty,
            // docker's exec passes no signals on: they end the CLI, and the
            // process goes on.
            sig_proxy: false,
            detach_keys,
        },
    )?;
    Ok(code.unwrap_or(0).clamp(0, 255) as u8)
}
