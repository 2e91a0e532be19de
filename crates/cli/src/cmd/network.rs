//! `network create|ls|inspect|rm|prune|connect|disconnect`, docker's flags
//! and output.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use anyhow::Result;
use berth_engine::{Filters, NetworkCreateOptions, NetworkFilter};
use clap::Subcommand;
use ipnet::IpNet;
use serde_json::json;

use crate::format::{print_inspect, print_rows};

#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list", name = "ls")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove", name = "rm")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    ip: Option<std::net::Ipv4Addr>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    ip6: Option<std::net::Ipv6Addr>,
    #[arg(value_name = "NETWORK")]
    network: String,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

#[derive(clap::Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    #[arg(value_name = "NETWORK")]
    network: String,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// docker's `KEY=VALUE` options (`--label`, `-o`); a bare key has an empty
/// value.
fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect()
}

fn cidr(s: &str) -> Result<IpNet, String> {
    s.parse().map_err(|_| format!("invalid CIDR address: {s}"))
}

fn ip(s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| format!("invalid string being converted to IP address: {s}"))
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_parser = cidr)]
    subnet: Vec<IpNet>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_parser = ip)]
    gateway: Vec<IpAddr>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_parser = cidr)]
    ip_range: Vec<IpNet>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Enable IPv6 networking
    #[arg(long)]
    ipv6: bool,
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Set metadata on a network
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    #[arg(value_name = "NETWORK")]
    name: String,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. 'driver=bridge')
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Pretty-print networks using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short, long)]
    verbose: bool,
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(root: &Path, cmd: NetworkCommand) -> Result<u8> {
    match cmd {
        NetworkCommand::Create(a) => create(root, a),
        NetworkCommand::Ls(a) => ls(root, a),
        NetworkCommand::Inspect(a) => inspect(root, a),
        NetworkCommand::Rm(a) => rm(root, a),
        NetworkCommand::Prune(a) => prune(root, a),
        NetworkCommand::Connect(a) => {
            super::open(root)?.connect_network(
                &a.network,
                &a.container,
                &berth_engine::EndpointSettings {
                    aliases: a.alias,
                    ipv4: a.ip,
                    ipv6: a.ip6,
                    mac: None,
                },
            )?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            super::open(root)?.disconnect_network(&a.network, &a.container, a.force)?;
            Ok(0)
        }
    }
}

fn create(root: &Path, a: CreateArgs) -> Result<u8> {
    let mut engine = super::open(root)?;
    let id = engine.create_network(&NetworkCreateOptions {
        name: a.name,
        driver: a.driver,
        subnets: a.subnet,
        gateways: a.gateway,
        ip_ranges: a.ip_range,
        internal: a.internal,
        ipv6: a.ipv6,
        attachable: a.attachable,
        labels: key_values(&a.label),
        options: key_values(&a.opt),
    })?;
    println!("{id}");
    Ok(0)
}

const HEADERS: &str = r#"{"ID":"NETWORK ID","Name":"NAME","Driver":"DRIVER","Scope":"SCOPE","IPv6":"IPV6","Internal":"INTERNAL","Labels":"LABELS","CreatedAt":"CREATED AT"}"#;

fn ls(root: &Path, a: LsArgs) -> Result<u8> {
    let filter = NetworkFilter::for_list(&Filters::from_cli(&a.filter)?)?;
    let mut engine = super::open(root)?;
    let mut rows = Vec::new();
    for n in engine.list_networks(&filter)? {
        let id = if a.no_trunc {
            n.record.id.clone()
        } else {
            n.record.id[..12].to_string()
        };
        let labels: Vec<String> = n
            .config
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push(json!({
            "ID": id,
            "Name": n.record.name,
            "Driver": n.record.driver,
            "Scope": "local",
            "IPv6": n.config.ipv6.to_string(),
            "Internal": n.config.internal.to_string(),
            "Labels": labels.join(","),
            "CreatedAt": n.record.created_at,
        }));
    }
    let default = if a.quiet {
        "{{.ID}}"
    } else {
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
    };
    let format = if a.quiet { None } else { a.format.as_deref() };
    print_rows(format, default, &serde_json::from_str(HEADERS)?, &rows)?;
    Ok(0)
}

fn inspect(root: &Path, a: InspectArgs) -> Result<u8> {
    let mut engine = super::open(root)?;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for n in &a.networks {
        match engine.inspect_network(n) {
            Ok(v) => values.push(v),
            Err(e) => errors.push(e),
        }
    }
    if !values.is_empty() || errors.is_empty() {
        print_inspect(a.format.as_deref(), &values)?;
    }
    for e in &errors {
        eprintln!("Error: {e}");
    }
    Ok(u8::from(!errors.is_empty()))
}

fn rm(root: &Path, a: RmArgs) -> Result<u8> {
    let mut engine = super::open(root)?;
    let mut failed = false;
    for n in &a.networks {
        match engine.remove_network(n) {
            Ok(_) => println!("{n}"),
            Err(e) if a.force && e.kind() == berth_engine::ErrorKind::NotFound => {}
            Err(e) => {
                let e = match e.kind() {
                    berth_engine::ErrorKind::NotFound => format!("No such network: {n}"),
                    _ => e.to_string(),
                };
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

fn prune(root: &Path, a: PruneArgs) -> Result<u8> {
    let filter = NetworkFilter::for_prune(&Filters::from_cli(&a.filter)?)?;
    if !a.force
        && !super::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\n",
        )?
    {
        return Ok(0);
    }
    let mut engine = super::open(root)?;
    let removed = engine.prune_networks(&filter)?;
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for n in &removed {
            println!("{n}");
        }
    }
    Ok(0)
}
