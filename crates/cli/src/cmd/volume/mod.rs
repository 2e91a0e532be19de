//! `volume create|ls|inspect|rm|prune`.

pub mod create;
pub mod inspect;
pub mod ls;
pub mod prune;
pub mod rm;

use serde_json::{json, Value};

use berth_engine::Volume;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a volume
    Create(create::Args),
    /// Display detailed information on one or more volumes
    Inspect(inspect::Args),
    /// List volumes
    #[command(visible_alias = "list", name = "ls")]
    Ls(ls::Args),
    /// Remove all unused local volumes
    Prune(prune::Args),
    /// Remove one or more volumes
    #[command(visible_alias = "remove", name = "rm")]
    Rm(rm::Args),
}

pub fn run(root: &std::path::Path, c: Command) -> anyhow::Result<u8> {
    match c {
        Command::Create(a) => create::run(root, a),
        Command::Inspect(a) => inspect::run(root, a),
        Command::Ls(a) => ls::run(root, a),
        Command::Prune(a) => prune::run(root, a),
        Command::Rm(a) => rm::run(root, a),
    }
}

/// `key=value` (or a bare `key`, for labels) from a flag.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        None if !s.is_empty() => Ok((s.to_string(), String::new())),
        _ => Err(format!("bad format for {s:?}: expected key=value")),
    }
}

/// `-o key=value`: the value may hold more `=` (`o=size=64m`).
pub fn option(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("bad format for option {s:?}: expected key=value")),
    }
}

/// A volume's row for `volume ls` and `system df -v`, with docker's field
/// names. `links` and `size` are known only to `system df`.
pub fn row(v: &Volume, links: Option<usize>, size: Option<u64>) -> Value {
    let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "Availability": "N/A",
        "Driver": v.driver,
        "Group": "N/A",
        "Labels": labels.join(","),
        "Links": links.map(|l| l.to_string()).unwrap_or_else(|| "N/A".into()),
        "Mountpoint": v.mountpoint.to_string_lossy(),
        "Name": v.name,
        "Scope": v.scope(),
        "Size": size.map(crate::format::human_size).unwrap_or_else(|| "N/A".into()),
        "Status": "N/A",
    })
}

/// Column titles of the fields in [`row`].
pub const HEADERS: &str = r#"{"Availability":"AVAILABILITY","Driver":"DRIVER","Group":"GROUP","Labels":"LABELS","Links":"LINKS","Mountpoint":"MOUNTPOINT","Name":"VOLUME NAME","Scope":"SCOPE","Size":"SIZE","Status":"STATUS"}"#;
