//! `version`: the client's and the server's versions as `docker version`
//! prints them, or `--format` over `{"Client": ..., "Server": ...}`.

use std::fmt::Write as _;

use anyhow::Result;
use berth_engine::{Engine, VersionInfo, API_VERSION};
use serde_json::{json, Value};

use crate::format::print_value;

#[derive(clap::Args)]
pub struct Args {
    /// Format output using a Go template, or "json"
    #[arg(short, long)]
    format: Option<String>,
}

/// The client, which for berth is this same program: its architecture
/// is the server's.
fn client(arch: &str) -> Value {
    json!({
        "Platform": {"Name": "berth"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "Os": "linux",
        "Arch": arch,
        "Context": "default",
    })
}

/// A `label: value` line, values aligned as docker's tabwriter (minimum
/// cell width 20, padding 1) aligns them.
fn row(s: &mut String, label: &str, value: &str) {
    let _ = writeln!(s, "{label:<19} {value}");
}

fn text(server: &VersionInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Client: berth");
    row(&mut s, " Version:", env!("CARGO_PKG_VERSION"));
    row(&mut s, " API version:", API_VERSION);
    row(&mut s, " OS/Arch:", &format!("linux/{}", server.arch));
    row(&mut s, " Context:", "default");
    let _ = writeln!(s, "\nServer: berth");
    for c in &server.components {
        let _ = writeln!(s, " {}:", c.name);
        row(&mut s, "  Version:", &c.version);
        let detail = |k: &str| c.details.get(k).and_then(Value::as_str).unwrap_or("");
        if c.name == "Engine" {
            row(
                &mut s,
                "  API version:",
                &format!(
                    "{} (minimum version {})",
                    detail("ApiVersion"),
                    detail("MinAPIVersion")
                ),
            );
            row(
                &mut s,
                "  OS/Arch:",
                &format!("{}/{}", detail("Os"), detail("Arch")),
            );
            row(&mut s, "  Experimental:", detail("Experimental"));
        } else {
            for (k, v) in &c.details {
                match v.as_str() {
                    Some(v) if !v.is_empty() => row(&mut s, &format!("  {k}:"), v),
                    _ => {}
                }
            }
        }
    }
    s
}

pub fn run(a: Args) -> Result<u8> {
    let server = Engine::version();
    match a.format.as_deref() {
        Some(format) => {
            let value = json!({"Client": client(&server.arch), "Server": server});
            print_value(format, &value)?;
        }
        None => print!("{}", text(&server)),
    }
    Ok(0)
}
