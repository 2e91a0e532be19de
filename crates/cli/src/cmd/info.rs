//! `info`: docker's `docker info` text, or `--format` over the API's JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use berth_engine::SystemInfo;
use serde_json::{json, Value};

use crate::format::{binary_size, print_value};

#[derive(clap::Args)]
pub struct Args {
    /// Format output using a Go template, or "json"
    #[arg(short, long)]
    format: Option<String>,
}

/// docker's `ClientInfo`: the CLI side, which for berth is the same
/// program.
fn client_info() -> Value {
    json!({
        "Debug": false,
        "Version": env!("CARGO_PKG_VERSION"),
        "Context": "default",
        "Plugins": [],
        "Warnings": null,
    })
}

/// The server part of `docker info`'s text, its warnings apart.
fn server_text(i: &SystemInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Server:");
    let _ = writeln!(s, " Containers: {}", i.containers);
    let _ = writeln!(s, "  Running: {}", i.containers_running);
    let _ = writeln!(s, "  Paused: {}", i.containers_paused);
    let _ = writeln!(s, "  Stopped: {}", i.containers_stopped);
    let _ = writeln!(s, " Images: {}", i.images);
    let _ = writeln!(s, " Server Version: {}", i.server_version);
    let _ = writeln!(s, " Storage Driver: {}", i.driver);
    for [k, v] in &i.driver_status {
        let _ = writeln!(s, "  {k}: {v}");
    }
    let _ = writeln!(s, " Logging Driver: {}", i.logging_driver);
    let _ = writeln!(s, " Cgroup Driver: {}", i.cgroup_driver);
    let _ = writeln!(s, " Cgroup Version: {}", i.cgroup_version);
    let _ = writeln!(s, " Plugins:");
    for kind in ["Volume", "Network", "Log"] {
        let names: Vec<&str> = i.plugins[kind]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let _ = writeln!(s, "  {kind}: {}", names.join(" "));
    }
    let _ = writeln!(
        s,
        " Swarm: {}",
        i.swarm["LocalNodeState"].as_str().unwrap_or("inactive")
    );
    let runtimes: Vec<&str> = i.runtimes.keys().map(String::as_str).collect();
    let _ = writeln!(s, " Runtimes: {}", runtimes.join(" "));
    let _ = writeln!(s, " Default Runtime: {}", i.default_runtime);
    let _ = writeln!(s, " Init Binary: {}", i.init_binary);
    let _ = writeln!(s, " Security Options:");
    for opt in &i.security_options {
        let mut fields = opt.split(',').filter_map(|f| f.split_once('='));
        let name = fields.next().map_or(opt.as_str(), |(_, v)| v);
        let _ = writeln!(s, "  {name}");
        for (k, v) in fields {
            let mut key = k.to_string();
            if let Some(first) = key.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            let _ = writeln!(s, "   {key}: {v}");
        }
    }
    let _ = writeln!(s, " Kernel Version: {}", i.kernel_version);
    let _ = writeln!(s, " Operating System: {}", i.operating_system);
    let _ = writeln!(s, " OSType: {}", i.os_type);
    let _ = writeln!(s, " Architecture: {}", i.architecture);
    let _ = writeln!(s, " CPUs: {}", i.ncpu);
    let _ = writeln!(s, " Total Memory: {}", binary_size(i.mem_total));
    let _ = writeln!(s, " Name: {}", i.name);
    let _ = writeln!(s, " Docker Root Dir: {}", i.docker_root_dir);
    let _ = writeln!(s, " Debug Mode: {}", i.debug);
    let _ = writeln!(s, " Experimental: {}", i.experimental_build);
    let _ = writeln!(s, " Live Restore Enabled: {}", i.live_restore_enabled);
    s
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let info = engine.info()?;
    if let Some(format) = a.format.as_deref() {
        let mut value = serde_json::to_value(&info)?;
        value["ClientInfo"] = client_info();
        print_value(format, &value)?;
        return Ok(0);
    }
    print!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n\n{}",
        env!("CARGO_PKG_VERSION"),
        server_text(&info)
    );
    // docker prints the warnings after the text, on standard error.
    if !info.warnings.is_empty() {
        println!();
        for w in &info.warnings {
            eprintln!("{w}");
        }
    }
    Ok(0)
}
