use std::path::Path;

use anyhow::Result;

use crate::attach::{attach, parse_detach_keys, AttachOptions};

/// `attach CONTAINER`: this terminal's input, output and signals connected
/// to a running container's.
#[derive(clap::Args)]
pub struct Args {
    /// Do not attach STDIN
    #[arg(long)]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value = "true", action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
    container: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let detach_keys = parse_detach_keys(&a.detach_keys)?;
    let mut engine = super::open(root)?;
    let info = engine.container(&a.container)?;
    let stdin = !a.no_stdin && info.options.interactive;
    if super::run::tty_input_refused(info.options.tty, stdin) {
        return Ok(1);
    }
    let session = engine.attach_container(&info.record.id)?;
    drop(engine);
    let code = attach(
        session,
        AttachOptions {
            stdin,
            tty: info.options.tty,
            sig_proxy: a.sig_proxy,
            detach_keys,
        },
    )?;
    Ok(code.unwrap_or(0).clamp(0, 255) as u8)
}
