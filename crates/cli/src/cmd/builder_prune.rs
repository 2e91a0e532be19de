use std::path::Path;

use anyhow::Result;

use crate::format::human_size;

#[derive(clap::Args)]
pub struct Args {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all build cache."
        } else {
            "WARNING! This will remove all dangling build cache."
        };
        if !super::confirm(&format!("{warning} "))? {
            return Ok(0);
        }
    }
    let mut engine = super::open(root)?;
    let pruned = engine.prune_build_cache(a.all)?;
    if !pruned.images.is_empty() {
        println!("Deleted build cache objects:");
        for id in &pruned.images {
            println!("{}", id.to_string().trim_start_matches("sha256:"));
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(pruned.reclaimed));
    Ok(0)
}
