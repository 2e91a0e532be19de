use std::fs::File;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_engine::LoadSource;

#[derive(clap::Args)]
pub struct Args {
    /// Read from a tar archive file (or an OCI layout directory) instead of standard input
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let source = match &a.input {
        Some(p) if p.is_dir() => LoadSource::Directory(p.clone()),
        Some(p) => LoadSource::Stream(Box::new(
            File::open(p).with_context(|| format!("open {}", p.display()))?,
        )),
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            LoadSource::Stream(Box::new(std::io::stdin().lock()))
        }
    };
    let mut engine = super::open(root)?;
    let what = a
        .input
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "standard input".into());
    let loaded = engine
        .load(source)
        .with_context(|| format!("load {what}"))?;
    if !a.quiet {
        for img in loaded {
            for (tag, old) in &img.moved_tags {
                println!("The image {tag} already exists, renaming the old one with ID {old} to empty string");
            }
            if img.tags.is_empty() {
                println!("Loaded image ID: {}", img.id);
            }
            for tag in &img.tags {
                println!("Loaded image: {tag}");
            }
        }
    }
    Ok(0)
}
