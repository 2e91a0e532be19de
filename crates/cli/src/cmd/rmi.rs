use std::path::Path;

use anyhow::Result;
use berth_engine::RmiEvent;

#[derive(clap::Args)]
pub struct Args {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents (berth keeps none)
    #[arg(long)]
    no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    // --no-prune keeps untagged parents; berth records no parent images yet.
    let _ = a.no_prune;
    let mut engine = super::open(root)?;
    let mut failed = false;
    for name in &a.images {
        match engine.remove_image(name, a.force) {
            Ok(events) => {
                for e in events {
                    match e {
                        RmiEvent::Untagged(t) => println!("Untagged: {t}"),
                        RmiEvent::Deleted(d) => println!("Deleted: {d}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}
