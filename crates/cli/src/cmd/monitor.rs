use std::path::Path;

use anyhow::Result;

/// `berth monitor ID`: not for users; `run` and `start` spawn it.
#[derive(clap::Args)]
pub struct Args {
    /// Also copy the container's output to this process's stdout/stderr
    #[arg(long)]
    attach: bool,
    id: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    match engine.run_monitor(&a.id, a.attach) {
        Ok(code) => Ok(code.clamp(0, 255) as u8),
        Err(e) => {
            let e = anyhow::Error::from(e);
            eprintln!("Error: {e:#}");
            Ok(super::run::start_failure_code(&e))
        }
    }
}
