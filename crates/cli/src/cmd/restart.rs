use std::path::Path;
use std::time::Duration;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Signal to send to the container (default: its stop signal)
    #[arg(short, long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container (default: the container's --stop-timeout, else 10)
    #[arg(short, long)]
    time: Option<u64>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let signal = a
        .signal
        .as_deref()
        .map(berth_engine::parse_signal)
        .transpose()?;
    let mut engine = super::open(root)?;
    let mut code = 0;
    for c in &a.containers {
        match engine.restart_container(c, a.time.map(Duration::from_secs), signal, root) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
