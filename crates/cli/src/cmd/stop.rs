use std::path::Path;
use std::time::Duration;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Seconds to wait for stop before killing it (default: the container's --stop-timeout, else 10)
    #[arg(short, long)]
    time: Option<u64>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let mut code = 0;
    for c in &a.containers {
        match engine.stop_container(c, a.time.map(Duration::from_secs)) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
