use std::path::Path;

use anyhow::Result;
use berth_engine::{ContainerListOptions, Engine, ImageFilter};
use serde_json::{json, Value};

use crate::format::{go_time, human_size, human_size4, print_rows, print_value, since};

#[derive(clap::Args)]
pub struct Args {
    /// Format output using a Go template or "json"
    #[arg(long)]
    format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
}

const HEADERS: &str = r#"{"Type":"TYPE","TotalCount":"TOTAL","Active":"ACTIVE","Size":"SIZE","Reclaimable":"RECLAIMABLE"}"#;
const IMAGE_HEADERS: &str = r#"{"Repository":"REPOSITORY","Tag":"TAG","ID":"IMAGE ID","CreatedSince":"CREATED","Size":"SIZE","SharedSize":"SHARED SIZE","UniqueSize":"UNIQUE SIZE","Containers":"CONTAINERS"}"#;
const CONTAINER_HEADERS: &str = r#"{"ID":"CONTAINER ID","Image":"IMAGE","Command":"COMMAND","LocalVolumes":"LOCAL VOLUMES","Size":"SIZE","RunningFor":"CREATED","Status":"STATUS","Names":"NAMES"}"#;
const VOLUME_HEADERS: &str = r#"{"Name":"VOLUME NAME","Links":"LINKS","Size":"SIZE"}"#;

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return human_size(part);
    }
    format!("{} ({}%)", human_size(part), part * 100 / whole)
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    if a.verbose {
        return verbose(&mut engine, a.format.as_deref());
    }
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

/// `system df -v`: a section per kind, docker's columns; with `--format
/// json` (or a template) one object with a list per kind.
fn verbose(engine: &mut Engine, format: Option<&str>) -> Result<u8> {
    let table = !matches!(format, Some(f) if !f.starts_with("table"));
    let shared = engine.image_shared_sizes()?;
    let mut images = Vec::new();
    for i in engine.list_images(&ImageFilter::default())? {
        let (repository, tag) = match i.repo_tags.first().and_then(|t| t.rsplit_once(':')) {
            Some((r, t)) => (r.to_string(), t.to_string()),
            None => ("<none>".into(), "<none>".into()),
        };
        let shared = shared.get(&i.id).copied().unwrap_or(0);
        images.push(json!({
            "Containers": i.containers.to_string(),
            "CreatedAt": go_time(i.created),
            "CreatedSince": since(i.created),
            "Digest": "",
            "ID": if table { i.id.short().to_string() } else { i.id.to_string() },
            "Repository": repository,
            "SharedSize": human_size4(shared),
            "Size": human_size(i.size),
            "Tag": tag,
            "UniqueSize": human_size4(i.size.saturating_sub(shared)),
            "VirtualSize": human_size4(i.size),
        }));
    }
    let mut containers = Vec::new();
    let listed = engine.list_containers(&ContainerListOptions {
        all: true,
        size: true,
        ..Default::default()
    })?;
    for c in listed {
        let mut command = c.command.join(" ");
        if table && command.chars().count() > 20 {
            command = command.chars().take(19).collect::<String>() + "…";
        }
        let volumes: Vec<&str> = c.mounts.iter().filter_map(|m| m.name.as_deref()).collect();
        containers.push(json!({
            "Command": format!("\"{command}\""),
            "CreatedAt": go_time(Some(c.created)),
            "ID": if table { c.id[..12].to_string() } else { c.id.clone() },
            "Image": c.image,
            "LocalVolumes": volumes.len().to_string(),
            "Mounts": volumes.join(","),
            "Names": c.name,
            "RunningFor": since(Some(c.created)),
            "Size": human_size(c.size.unwrap_or(0)),
            "State": c.state.as_str(),
            "Status": c.status,
        }));
    }
    let volumes: Vec<Value> = engine
        .volume_space()?
        .volumes
        .iter()
        .map(|(v, size)| super::volume::row(v, Some(v.containers.len()), Some(*size)))
        .collect();
    if !table {
        let all = json!({
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": [],
        });
        print_value(format.unwrap_or("json"), &all)?;
        return Ok(0);
    }
    println!("Images space usage:\n");
    print_rows(
        None,
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        &serde_json::from_str(IMAGE_HEADERS)?,
        &images,
    )?;
    println!("\nContainers space usage:\n");
    print_rows(
        None,
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        &serde_json::from_str(CONTAINER_HEADERS)?,
        &containers,
    )?;
    println!("\nLocal Volumes space usage:\n");
    print_rows(
        None,
        "table {{.Name}}\t{{.Links}}\t{{.Size}}",
        &serde_json::from_str(VOLUME_HEADERS)?,
        &volumes,
    )?;
    println!("\nBuild cache usage: 0B\n");
    println!("CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED");
    Ok(0)
}
