use std::path::Path;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let mut code = 0;
    for c in &a.containers {
        match engine.start_container(c, a.attach, root) {
            Ok(Some(exit)) => code = exit.clamp(0, 255) as u8,
            Ok(None) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
