use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use berth_engine::{ContainerListOptions, Engine, StatsSample};
use serde_json::{json, Value};

use crate::format::{binary_size, human_size, print_rows};

#[derive(clap::Args)]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format output using a Go template, "table" or "json"
    #[arg(long)]
    format: Option<String>,
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const HEADERS: &str = r#"{"Container":"CONTAINER","Name":"NAME","ID":"CONTAINER ID","CPUPerc":"CPU %","MemUsage":"MEM USAGE / LIMIT","MemPerc":"MEM %","NetIO":"NET I/O","BlockIO":"BLOCK I/O","PIDs":"PIDS"}"#;

/// The first table compares two readings this far apart, so CPU % has an
/// interval to be measured over; later ones compare with the previous table.
const FIRST_INTERVAL: Duration = Duration::from_millis(500);
const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// A container to show: how the user named it (docker's `.Container`)
/// and what to look it up by.
struct Target {
    label: String,
    key: String,
}

/// The containers named, or (without names) those running, or all with
/// `-a`; listed again on every refresh so new ones appear.
fn targets(engine: &mut Engine, a: &Args) -> Result<Vec<Target>> {
    if !a.containers.is_empty() {
        return Ok(a
            .containers
            .iter()
            .map(|c| Target {
                label: c.clone(),
                key: c.clone(),
            })
            .collect());
    }
    let listed = engine.list_containers(&ContainerListOptions {
        all: a.all,
        ..Default::default()
    })?;
    Ok(listed
        .into_iter()
        .map(|c| Target {
            label: c.id[..12].to_string(),
            key: c.id,
        })
        .collect())
}

fn percent(v: f64) -> String {
    format!("{v:.2}%")
}

/// Keys in Go's sorted map order, which `--format json` prints.
fn row(target: &Target, sample: &StatsSample, cpu: f64, no_trunc: bool) -> Value {
    json!({
        "BlockIO": format!("{} / {}", human_size(sample.block_read), human_size(sample.block_write)),
        "CPUPerc": percent(cpu),
        "Container": target.label,
        "ID": if no_trunc { sample.id.clone() } else { sample.id[..12].to_string() },
        "MemPerc": percent(sample.memory_percent()),
        "MemUsage": format!("{} / {}", binary_size(sample.memory_usage), binary_size(sample.memory_limit)),
        "Name": sample.name,
        "NetIO": format!("{} / {}", human_size(sample.net_rx), human_size(sample.net_tx)),
        "PIDs": sample.pids.to_string(),
    })
}

/// docker's row for a container whose usage could not be read.
fn unreadable_row(target: &Target) -> Value {
    json!({
        "BlockIO": "--",
        "CPUPerc": "--",
        "Container": target.label,
        "ID": target.label,
        "MemPerc": "--",
        "MemUsage": "-- / --",
        "Name": "--",
        "NetIO": "--",
        "PIDs": "--",
    })
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    // Named containers must all exist, as docker checks before printing.
    let mut missing = Vec::new();
    for c in &a.containers {
        if let Err(e) = engine.container(c) {
            missing.push(e.to_string());
        }
    }
    if !missing.is_empty() {
        anyhow::bail!("{}", missing.join("\n"));
    }
    let format = match a.format.as_deref() {
        None | Some("table") => DEFAULT_TABLE,
        Some(f) => f,
    };
    let headers: Value = serde_json::from_str(HEADERS)?;
    let mut previous: HashMap<String, StatsSample> = HashMap::new();
    for t in targets(&mut engine, &a)? {
        if let Ok(sample) = engine.container_stats(&t.key) {
            previous.insert(t.key, sample);
        }
    }
    let mut interval = FIRST_INTERVAL;
    loop {
        std::thread::sleep(interval);
        interval = REFRESH_INTERVAL;
        let mut rows = Vec::new();
        let mut current = HashMap::new();
        for t in targets(&mut engine, &a)? {
            match engine.container_stats(&t.key) {
                Ok(sample) => {
                    let cpu = sample.cpu_percent(previous.get(&t.key));
                    rows.push(row(&t, &sample, cpu, a.no_trunc));
                    current.insert(t.key, sample);
                }
                Err(e) => {
                    tracing::debug!(container = %t.label, error = %e, "cannot read stats");
                    rows.push(unreadable_row(&t));
                }
            }
        }
        previous = current;
        if !a.no_stream {
            // Redraw in place, as docker does: clear the screen, cursor home.
            let mut out = std::io::stdout().lock();
            out.write_all(b"\x1b[2J\x1b[H")?;
            out.flush()?;
        }
        print_rows(Some(format), DEFAULT_TABLE, &headers, &rows)?;
        if a.no_stream {
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_dockers_columns() {
        let target = Target {
            label: "web".into(),
            key: "web".into(),
        };
        let json = row(&target, &sample_for_test(), 12.346, false);
        assert_eq!(json["Container"], "web");
        assert_eq!(json["Name"], "web");
        assert_eq!(json["ID"], "0123456789ab");
        assert_eq!(json["CPUPerc"], "12.35%");
        assert_eq!(json["MemUsage"], "1.5MiB / 64MiB");
        assert_eq!(json["MemPerc"], "2.34%");
        assert_eq!(json["NetIO"], "0B / 0B");
        assert_eq!(json["BlockIO"], "12.3kB / 0B");
        assert_eq!(json["PIDs"], "3");
        assert_eq!(unreadable_row(&target)["MemUsage"], "-- / --");
    }

    fn sample_for_test() -> StatsSample {
        StatsSample {
            id: "0123456789abcdef".into(),
            name: "web".into(),
            memory_usage: 1_572_864,
            memory_limit: 64 << 20,
            net_rx: 0,
            net_tx: 0,
            block_read: 12_345,
            block_write: 0,
            pids: 3,
            container_cpu_ns: 0,
            system_cpu_ns: 0,
            online_cpus: 2,
        }
    }
}
