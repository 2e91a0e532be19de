use std::path::Path;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    container: String,
    new_name: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    engine.rename_container(&a.container, &a.new_name)?;
    Ok(0)
}
