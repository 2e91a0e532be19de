use std::path::{Path, PathBuf};

use anyhow::Result;
use berth_engine::SaveFormat;

#[derive(clap::Args)]
pub struct Args {
    /// Write to a file, instead of standard output
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive format: docker-archive (docker's own) or oci-archive
    #[arg(long, default_value = "docker-archive", value_parser = ["docker-archive", "oci-archive"])]
    format: String,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let format = if a.format == "oci-archive" {
        SaveFormat::OciArchive
    } else {
        SaveFormat::DockerArchive
    };
    let engine = super::open(root)?;
    crate::output::write_archive(a.output.as_deref(), |w| {
        engine.save(&a.images, format, w)?;
        Ok(())
    })?;
    Ok(0)
}
