use std::path::Path;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

/// Removes each in turn, printing its name; fails if any could not be.
pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::super::open(root)?;
    let mut code = 0;
    for name in &a.volumes {
        match engine.remove_volume(name, a.force) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
