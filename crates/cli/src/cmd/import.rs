use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use berth_engine::ImportOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    #[arg(value_name = "file|-")]
    source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    if a.source.starts_with("http://") || a.source.starts_with("https://") {
        bail!("importing from a URL is not supported: download the file and import it");
    }
    let reader: Box<dyn Read> = if a.source == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(&a.source).with_context(|| format!("open {}", a.source))?)
    };
    let mut engine = super::open(root)?;
    let id = engine
        .import(
            reader,
            ImportOptions {
                source: a.source.clone(),
                reference: a.reference,
                changes: a.change,
                message: a.message,
                platform: a.platform,
            },
        )
        .with_context(|| format!("import {}", a.source))?;
    println!("{id}");
    Ok(0)
}
