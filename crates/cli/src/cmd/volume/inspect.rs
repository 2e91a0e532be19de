use std::path::Path;

use anyhow::Result;

use crate::format::print_inspect;

#[derive(clap::Args)]
pub struct Args {
    /// Format output using a Go template or "json"
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

/// Prints those found, then fails if any was not (docker's behaviour).
pub fn run(root: &Path, a: Args) -> Result<u8> {
    let engine = super::super::open(root)?;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for name in &a.volumes {
        match engine.inspect_volume(name) {
            Ok(v) => values.push(v),
            Err(e) => errors.push(e),
        }
    }
    if !values.is_empty() || a.format.is_none() {
        print_inspect(a.format.as_deref(), &values)?;
    }
    for e in &errors {
        eprintln!("Error: {e}");
    }
    Ok(u8::from(!errors.is_empty()))
}
