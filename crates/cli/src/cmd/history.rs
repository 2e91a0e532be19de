use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::format::{go_time, human_size, print_rows, since};

#[derive(clap::Args)]
pub struct Args {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a Go template
    #[arg(long)]
    format: Option<String>,
    #[arg(value_name = "IMAGE")]
    image: String,
}

const HEADERS: &str = r#"{"ID":"IMAGE","CreatedSince":"CREATED","CreatedAt":"CREATED AT","CreatedBy":"CREATED BY","Size":"SIZE","Comment":"COMMENT"}"#;

/// docker shortens CREATED BY to 45 characters with an ellipsis.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let engine = super::open(root)?;
    let entries = engine.history(&a.image)?;
    let values: Vec<_> = entries
        .iter()
        .map(|h| {
            let id = match &h.id {
                Some(id) if a.no_trunc => id.to_string(),
                Some(id) => id.short().to_string(),
                None => "<missing>".to_string(),
            };
            let created_by = h.created_by.replace('\t', " ");
            json!({
                "ID": id,
                "CreatedSince": if a.human { since(h.created) } else { go_time(h.created) },
                "CreatedAt": h.created.map(|c| c.to_rfc3339()).unwrap_or_default(),
                "CreatedBy": if a.no_trunc { created_by } else { ellipsis(&created_by, 45) },
                "Size": if a.human { human_size(h.size) } else { h.size.to_string() },
                "Comment": h.comment,
            })
        })
        .collect();
    let default = if a.quiet {
        "{{.ID}}"
    } else {
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    };
    let format = if a.quiet { None } else { a.format.as_deref() };
    print_rows(format, default, &serde_json::from_str(HEADERS)?, &values)?;
    Ok(0)
}
