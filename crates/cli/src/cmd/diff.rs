use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let changes = engine.container_diff(&a.container)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for c in &changes {
        writeln!(out, "{} {}", c.kind.letter(), c.path).context("write to standard output")?;
    }
    out.flush().context("write to standard output")?;
    Ok(0)
}
