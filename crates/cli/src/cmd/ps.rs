use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::format::{human_duration, print_rows, since};

#[derive(clap::Args)]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format output using a Go template, "table" or "json"
    #[arg(long)]
    format: Option<String>,
}

const HEADERS: &str = r#"{"ID":"CONTAINER ID","Image":"IMAGE","Command":"COMMAND","CreatedAt":"CREATED AT","RunningFor":"CREATED","Status":"STATUS","Ports":"PORTS","Names":"NAMES","State":"STATE","Labels":"LABELS"}"#;

fn parse(t: &Option<String>) -> Option<DateTime<Utc>> {
    t.as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let mut rows = Vec::new();
    for c in engine.list_containers()? {
        let r = &c.record;
        if !a.all && !matches!(r.status.as_str(), "running" | "restarting") {
            continue;
        }
        let status = match r.status.as_str() {
            "running" => format!(
                "Up {}",
                human_duration(
                    (Utc::now() - parse(&r.started_at).unwrap_or_else(Utc::now)).num_seconds()
                )
            ),
            "exited" => format!(
                "Exited ({}) {}",
                r.exit_code.unwrap_or(0),
                since(parse(&r.finished_at))
            ),
            "restarting" => format!(
                "Restarting ({}) {}",
                r.exit_code.unwrap_or(0),
                since(parse(&r.finished_at))
            ),
            _ => "Created".to_string(),
        };
        let mut command = c.options.cmd.join(" ");
        if let Some(e) = &c.options.entrypoint {
            command = format!("{e} {command}").trim().to_string();
        }
        if !a.no_trunc && command.chars().count() > 20 {
            command = command.chars().take(19).collect::<String>() + "…";
        }
        let labels: Vec<String> = c
            .options
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push(json!({
            "ID": if a.no_trunc { r.id.clone() } else { r.id[..12].to_string() },
            "Image": c.options.image,
            "Command": format!("\"{command}\""),
            "CreatedAt": r.created_at,
            "RunningFor": since(parse(&Some(r.created_at.clone()))),
            "Status": status,
            "Ports": "",
            "Names": r.name,
            "State": r.status,
            "Labels": labels.join(","),
        }));
    }
    let default = if a.quiet {
        "{{.ID}}"
    } else {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    let format = if a.quiet { None } else { a.format.as_deref() };
    print_rows(format, default, &serde_json::from_str(HEADERS)?, &rows)?;
    Ok(0)
}
