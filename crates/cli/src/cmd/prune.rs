use std::path::Path;

use anyhow::Result;
use berth_engine::{Filters, ImageFilter, RmiEvent};

use crate::format::human_size;

#[derive(clap::Args)]
pub struct Args {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (until=, label=)
    #[arg(long = "filter")]
    filter: Vec<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let filter = ImageFilter::new(&Filters::from_cli(&a.filter)?)?;
    if !a.force {
        let warning = if a.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !super::confirm(&format!("{warning}\n"))? {
            return Ok(0);
        }
    }
    let mut engine = super::open(root)?;
    let removed = engine.prune_images(a.all, &filter)?;
    if !removed.events.is_empty() {
        println!("Deleted Images:");
        for e in &removed.events {
            match e {
                RmiEvent::Untagged(t) => println!("untagged: {t}"),
                RmiEvent::Deleted(d) => println!("deleted: {d}"),
            }
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(removed.reclaimed));
    Ok(0)
}
