use std::path::Path;

use anyhow::{bail, Result};
use berth_engine::StartOptions;

use crate::attach::{attach, parse_detach_keys, terminal_size, AttachOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let info = engine.container(&a.containers[0])?;
        let tty = info.options.tty;
        let stdin = a.interactive && info.options.interactive;
        if super::run::tty_input_refused(tty, stdin) {
            return Ok(1);
        }
        let detach_keys = parse_detach_keys(&a.detach_keys)?;
        let opts = StartOptions {
            attach: true,
            stdin,
            tty_size: if tty { terminal_size() } else { None },
        };
        let session = match engine.start_container(&info.record.id, root, opts)? {
            Some(session) => session,
            // Already running: attach to it instead.
            None => engine.attach_container(&info.record.id)?,
        };
        drop(engine);
        let code = attach(
            session,
            AttachOptions {
                stdin,
                tty,
                sig_proxy: true,
                detach_keys,
            },
        )?;
        return Ok(code.unwrap_or(0).clamp(0, 255) as u8);
    }
    let mut code = 0;
    for c in &a.containers {
        match engine.start_container(c, root, StartOptions::default()) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
