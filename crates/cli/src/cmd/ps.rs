use std::path::Path;

use anyhow::Result;
use berth_engine::ContainerStatus;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::format::{print_rows, since};

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
    /// Filter output (status=, name=, label=, ancestor=, exited=, id=, health=)
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long)]
    last: Option<usize>,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    latest: bool,
}

/// docker's `ps --filter` keys, all of which must match. `health` is the
/// container's health status, `none` without health checks.
fn matches(
    c: &berth_engine::ContainerInfo,
    image_id: Option<&str>,
    health: &str,
    filters: &[(String, String)],
) -> bool {
    let r = &c.record;
    filters.iter().all(|(k, v)| match k.as_str() {
        "health" => health == v,
        "status" => r.status.as_str() == v,
        "name" => r.name.contains(v.trim_start_matches('/')),
        "id" => r.id.starts_with(v.as_str()),
        "exited" => {
            r.status == ContainerStatus::Exited
                && r.exit_code.map(|c| c.to_string()).as_deref() == Some(v.as_str())
        }
        "label" => match v.split_once('=') {
            Some((lk, lv)) => c.options.labels.get(lk).map(String::as_str) == Some(lv),
            None => c.options.labels.contains_key(v.as_str()),
        },
        "ancestor" => c.options.image == *v || image_id == Some(r.image_id.to_string().as_str()),
        _ => false,
    })
}

const HEADERS: &str = r#"{"ID":"CONTAINER ID","Image":"IMAGE","Command":"COMMAND","CreatedAt":"CREATED AT","RunningFor":"CREATED","Status":"STATUS","Ports":"PORTS","Names":"NAMES","State":"STATE","Labels":"LABELS"}"#;

fn parse(t: &Option<String>) -> Option<DateTime<Utc>> {
    t.as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut filters = Vec::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value): {f}"))?;
        if !matches!(
            k,
            "status" | "name" | "id" | "exited" | "label" | "ancestor" | "health"
        ) {
            anyhow::bail!("invalid filter '{k}'");
        }
        if k == "health" && !matches!(v, "starting" | "healthy" | "unhealthy" | "none") {
            anyhow::bail!("Unrecognised filter value for health: {v}");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let mut engine = super::open(root)?;
    // ancestor= also takes an image ID or a name resolving to one.
    let ancestor = filters
        .iter()
        .find(|(k, _)| k == "ancestor")
        .and_then(|(_, v)| engine.resolve_image(v).ok())
        .map(|d| d.to_string());
    // Asking for a status (or an exit code) shows non-running ones too.
    let all = a.all
        || a.latest
        || a.last.is_some()
        || filters.iter().any(|(k, _)| k == "status" || k == "exited");
    let limit = if a.latest { Some(1) } else { a.last };
    let mut rows = Vec::new();
    for c in engine
        .list_containers()?
        .into_iter()
        .take(limit.unwrap_or(usize::MAX))
    {
        let r = &c.record;
        let health = engine.container_health(&r.id).map(|h| h.status);
        let health_status = health.map_or("none", |h| h.as_str());
        if !matches(&c, ancestor.as_deref(), health_status, &filters) {
            continue;
        }
        if !all && !r.status.is_active() {
            continue;
        }
        let status = berth_engine::status_text(r, health, Utc::now());
        let ports = if matches!(
            r.status,
            berth_engine::ContainerStatus::Running | berth_engine::ContainerStatus::Paused
        ) {
            berth_engine::ports_text(&engine.container_ports(&c)?)
        } else {
            String::new()
        };
        let mut command = engine.container_command(&c).join(" ");
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
            "Ports": ports,
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
