use std::path::{Path, PathBuf};

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    crate::output::write_archive(a.output.as_deref(), |w| {
        engine.export_container(&a.container, w)?;
        Ok(())
    })?;
    Ok(0)
}
