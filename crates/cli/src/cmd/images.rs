use std::path::Path;

use anyhow::Result;
use berth_engine::ImageFilter;
use serde_json::json;

use crate::format::{go_time, human_size, print_rows, since};

#[derive(clap::Args)]
pub struct Args {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Filter output based on conditions provided (dangling=, reference=, label=, before=, since=, until=)
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a Go template, "table", "table TEMPLATE" or "json"
    #[arg(long)]
    format: Option<String>,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

const HEADERS: &str = r#"{"Containers":"CONTAINERS","CreatedAt":"CREATED AT","CreatedSince":"CREATED","Digest":"DIGEST","ID":"IMAGE ID","Repository":"REPOSITORY","SharedSize":"SHARED SIZE","Size":"SIZE","Tag":"TAG","UniqueSize":"UNIQUE SIZE","VirtualSize":"VIRTUAL SIZE"}"#;

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut filter = ImageFilter::parse(&a.filter)?;
    if let Some(r) = &a.reference {
        filter = filter.with_reference(r);
    }
    filter.all = a.all;
    let engine = super::open(root)?;
    let rows = engine.list_images(&filter)?;
    let values: Vec<_> = rows
        .iter()
        .map(|r| {
            let id = if a.no_trunc {
                r.id.to_string()
            } else {
                r.id.short().to_string()
            };
            json!({
                "Containers": "N/A",
                "CreatedAt": go_time(r.created),
                "CreatedSince": since(r.created),
                "Digest": r.digest.as_deref().unwrap_or("<none>"),
                "ID": id,
                "Repository": r.repository.as_deref().unwrap_or("<none>"),
                "SharedSize": "N/A",
                "Size": human_size(r.size),
                "Tag": r.tag.as_deref().unwrap_or("<none>"),
                "UniqueSize": "N/A",
                "VirtualSize": human_size(r.size),
            })
        })
        .collect();
    let default = if a.quiet {
        "{{.ID}}"
    } else if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let format = if a.quiet { None } else { a.format.as_deref() };
    print_rows(format, default, &serde_json::from_str(HEADERS)?, &values)?;
    Ok(0)
}
