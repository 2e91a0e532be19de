use std::path::Path;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    engine.tag(&a.source, &a.target)?;
    Ok(0)
}
