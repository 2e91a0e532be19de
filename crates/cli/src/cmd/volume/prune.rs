use std::path::Path;

use anyhow::Result;
use berth_engine::Filters;

use crate::format::human_size;

#[derive(clap::Args)]
pub struct Args {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let filters = Filters::from_cli(&a.filter)?;
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all local volumes not used by at least one container.\n"
        } else {
            "WARNING! This will remove anonymous local volumes not used by at least one container.\n"
        };
        if !super::super::confirm(warning)? {
            return Ok(0);
        }
    }
    let mut engine = super::super::open(root)?;
    let pruned = engine.prune_volumes(a.all, &filters)?;
    print_pruned(&pruned);
    println!("Total reclaimed space: {}", human_size(pruned.reclaimed));
    Ok(0)
}

/// docker's `Deleted Volumes:` section (nothing when none were).
pub fn print_pruned(pruned: &berth_engine::VolumesPruned) {
    if !pruned.volumes.is_empty() {
        println!("Deleted Volumes:");
        for v in &pruned.volumes {
            println!("{v}");
        }
        println!();
    }
}
