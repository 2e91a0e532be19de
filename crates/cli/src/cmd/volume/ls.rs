use std::path::Path;

use anyhow::Result;
use berth_engine::Filters;

use crate::format::print_rows;

#[derive(clap::Args)]
pub struct Args {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a Go template, "table", "table TEMPLATE" or "json"
    #[arg(long)]
    format: Option<String>,
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let filters = Filters::from_cli(&a.filter)?;
    let engine = super::super::open(root)?;
    let volumes = engine.list_volumes(&filters)?;
    if a.quiet {
        for v in &volumes {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    let rows: Vec<_> = volumes.iter().map(|v| super::row(v, None, None)).collect();
    print_rows(
        a.format.as_deref(),
        "table {{.Driver}}\t{{.Name}}",
        &serde_json::from_str(super::HEADERS)?,
        &rows,
    )?;
    Ok(0)
}
