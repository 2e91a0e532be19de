use std::path::Path;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `pause` (or `unpause` when `resume`).
pub fn run(root: &Path, a: Args, resume: bool) -> Result<u8> {
    let mut engine = super::open(root)?;
    let mut code = 0;
    for c in &a.containers {
        let done = if resume {
            engine.unpause_container(c)
        } else {
            engine.pause_container(c)
        };
        match done {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
