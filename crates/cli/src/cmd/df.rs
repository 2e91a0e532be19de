use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::format::{human_size, print_rows};

#[derive(clap::Args)]
pub struct Args {
    /// Format output using a Go template or "json"
    #[arg(long)]
    format: Option<String>,
}

const HEADERS: &str = r#"{"Type":"TYPE","TotalCount":"TOTAL","Active":"ACTIVE","Size":"SIZE","Reclaimable":"RECLAIMABLE"}"#;

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return human_size(part);
    }
    format!("{} ({}%)", human_size(part), part * 100 / whole)
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let engine = super::open(root)?;
    let images = engine.image_space()?;
    let volumes = engine.volume_space()?;
    let row = |t: &str, total: usize, active: usize, size: u64, reclaimable: String| json!({ "Type": t, "TotalCount": total.to_string(), "Active": active.to_string(), "Size": human_size(size), "Reclaimable": reclaimable });
    let rows = vec![
        row(
            "Images",
            images.images,
            images.active_images,
            images.size,
            percent(images.reclaimable, images.size),
        ),
        row("Containers", 0, 0, 0, human_size(0)),
        row(
            "Local Volumes",
            volumes.volumes.len(),
            volumes.active(),
            volumes.size(),
            percent(volumes.reclaimable(), volumes.size()),
        ),
        row("Build Cache", 0, 0, 0, human_size(0)),
    ];
    print_rows(
        a.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        &serde_json::from_str(HEADERS)?,
        &rows,
    )?;
    Ok(0)
}
