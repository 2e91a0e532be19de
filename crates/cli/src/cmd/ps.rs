use std::path::Path;

use anyhow::Result;
use berth_engine::{ContainerFilter, ContainerListOptions, Filters, MountKind};
use serde_json::json;

use crate::format::{go_time, human_size, print_rows, since};

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
    /// Filter output (id=, name=, label=, status=, ancestor=, exited=, health=, before=, since=, volume=, network=, publish=, expose=)
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long)]
    last: Option<usize>,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    latest: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

const HEADERS: &str = r#"{"ID":"CONTAINER ID","Image":"IMAGE","Command":"COMMAND","CreatedAt":"CREATED AT","RunningFor":"CREATED","Status":"STATUS","Ports":"PORTS","Names":"NAMES","State":"STATE","Labels":"LABELS","Mounts":"MOUNTS","Networks":"NETWORKS","LocalVolumes":"LOCAL VOLUMES","Size":"SIZE"}"#;

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let opts = ContainerListOptions {
        all: a.all,
        limit: if a.latest { Some(1) } else { a.last },
        size: a.size,
        filter: ContainerFilter::new(&Filters::from_cli(&a.filter)?)?,
    };
    let mut engine = super::open(root)?;
    let rows: Vec<_> = engine
        .list_containers(&opts)?
        .into_iter()
        .map(|c| {
            let mut command = c.command.join(" ");
            if !a.no_trunc && command.chars().count() > 20 {
                command = command.chars().take(19).collect::<String>() + "…";
            }
            let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            // docker names a mount by its volume, else its host path.
            let mounts: Vec<String> = c
                .mounts
                .iter()
                .filter(|m| m.kind != MountKind::Tmpfs)
                .map(|m| {
                    let name = m.name.clone().unwrap_or_else(|| m.source.clone());
                    if !a.no_trunc && name.chars().count() > 15 {
                        name.chars().take(14).collect::<String>() + "…"
                    } else {
                        name
                    }
                })
                .collect();
            let local_volumes = c
                .mounts
                .iter()
                .filter(|m| m.kind == MountKind::Volume)
                .count();
            json!({
                "ID": if a.no_trunc { c.id.clone() } else { c.id[..12].to_string() },
                "Image": c.image,
                "Command": format!("\"{command}\""),
                "CreatedAt": go_time(Some(c.created)),
                "RunningFor": since(Some(c.created)),
                "Status": c.status,
                "Ports": berth_engine::ports_text(&c.ports),
                "Names": c.name,
                "State": c.state,
                "Labels": labels.join(","),
                "Mounts": mounts.join(","),
                "Networks": c.networks.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(","),
                "LocalVolumes": local_volumes.to_string(),
                "Size": c.size.map(human_size).unwrap_or_default(),
            })
        })
        .collect();
    let default = if a.quiet {
        "{{.ID}}"
    } else if a.size {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    let format = if a.quiet { None } else { a.format.as_deref() };
    print_rows(format, default, &serde_json::from_str(HEADERS)?, &rows)?;
    Ok(0)
}
