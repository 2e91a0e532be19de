use std::path::Path;

use anyhow::Result;
use berth_engine::{Filters, ImageFilter, RmiEvent};

use crate::format::human_size;

#[derive(clap::Args)]
pub struct Args {
    /// Remove all unused images, not just dangling ones, and all build cache
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
}

/// `system prune`: `container prune`, `image prune` and `builder prune` in
/// one go, in docker's order and with docker's output.
pub fn run(root: &Path, a: Args) -> Result<u8> {
    if !a.force {
        let (images, cache) = if a.all {
            (
                "all images without at least one container associated to them",
                "all build cache",
            )
        } else {
            ("all dangling images", "unused build cache")
        };
        let volumes = if a.volumes {
            "  - all anonymous volumes not used by at least one container\n"
        } else {
            ""
        };
        let warning = format!(
            "WARNING! This will remove:\n  - all stopped containers\n{volumes}  - {images}\n  - {cache}\n\n"
        );
        if !super::confirm(&warning)? {
            return Ok(0);
        }
    }
    let mut engine = super::open(root)?;
    let containers = engine.prune_containers()?;
    if !containers.is_empty() {
        println!("Deleted Containers:");
        for id in &containers {
            println!("{id}");
        }
        println!();
    }
    // After the containers, so their anonymous volumes are unused by now.
    let volumes = if a.volumes {
        let pruned = engine.prune_volumes(false, &Filters::default())?;
        super::volume::prune::print_pruned(&pruned);
        pruned.reclaimed
    } else {
        0
    };
    let images = engine.prune_images(a.all, &ImageFilter::default())?;
    if !images.events.is_empty() {
        println!("Deleted Images:");
        for e in &images.events {
            match e {
                RmiEvent::Untagged(t) => println!("untagged: {t}"),
                RmiEvent::Deleted(d) => println!("deleted: {d}"),
            }
        }
        println!();
    }
    let cache = engine.prune_build_cache(a.all)?;
    if !cache.images.is_empty() {
        println!("Deleted build cache objects:");
        for id in &cache.images {
            println!("{}", id.to_string().trim_start_matches("sha256:"));
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(volumes + images.reclaimed + cache.reclaimed)
    );
    Ok(0)
}
