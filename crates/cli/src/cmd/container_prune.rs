use std::path::Path;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    if !a.force && !super::confirm("WARNING! This will remove all stopped containers.\n")? {
        return Ok(0);
    }
    let mut engine = super::open(root)?;
    let removed = engine.prune_containers()?;
    if !removed.is_empty() {
        println!("Deleted Containers:");
        for id in &removed {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: 0B");
    Ok(0)
}
