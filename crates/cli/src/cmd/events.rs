//! `events`: the journal's events, past ones from `--since`, then new ones
//! as they happen until `--until` (or Ctrl-C).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use berth_engine::{parse_timestamp, EventFilter, EventQuery, Filters, Message};
use berth_template::{unescape_format, Template};
use chrono::{DateTime, Local, Offset};

use crate::format::go_json;

#[derive(clap::Args)]
pub struct Args {
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
    /// Filter output based on conditions provided (type=, event=, container=, image=, label=, volume=, network=)
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a Go template, or "json"
    #[arg(long)]
    format: Option<String>,
}

/// docker's line: time (local, nanoseconds), type, action, actor ID and
/// the attributes sorted by name.
fn line(m: &Message) -> String {
    let mut out = format!(
        "{} {} {} {}",
        local_time(m.time_nano),
        m.kind.as_str(),
        m.action,
        m.actor.id
    );
    if !m.actor.attributes.is_empty() {
        let attrs: Vec<String> = m
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!(" ({})", attrs.join(", ")));
    }
    out
}

/// Go's `2006-01-02T15:04:05.000000000Z07:00` in local time: `Z` for UTC.
fn local_time(nanos: i64) -> String {
    let t = DateTime::from_timestamp_nanos(nanos).with_timezone(&Local);
    let zone = if t.offset().fix().local_minus_utc() == 0 {
        "Z".to_string()
    } else {
        t.format("%:z").to_string()
    };
    format!("{}{zone}", t.format("%Y-%m-%dT%H:%M:%S%.9f"))
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let query = EventQuery {
        since: a.since.as_deref().map(parse_timestamp).transpose()?,
        until: a.until.as_deref().map(parse_timestamp).transpose()?,
        filter: EventFilter::new(&Filters::from_cli(&a.filter)?)?,
    };
    let template = match a.format.as_deref().map(unescape_format) {
        Some(f) if f == "json" => None,
        Some(f) => {
            Some(Template::parse(&f).with_context(|| format!("template parsing error: {f}"))?)
        }
        None => None,
    };
    let json = a.format.as_deref() == Some("json");
    let engine = super::open(root)?;
    let mut out = std::io::stdout().lock();
    for m in engine.events(query)? {
        let m = m?;
        let text = if json {
            go_json(&m.to_json())
        } else if let Some(t) = &template {
            t.render(&m.to_json())?
        } else {
            line(&m)
        };
        // A reader that went away (`| head`) ends the stream, as for docker.
        match writeln!(out, "{text}").and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
            r => r?,
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::{Actor, EventType};

    #[test]
    fn lines_are_dockers() {
        let m = Message {
            kind: EventType::Container,
            action: "start".into(),
            actor: Actor {
                id: "abc".into(),
                attributes: [("name", "web"), ("image", "bb:latest")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            scope: "local".into(),
            time_nano: 1_796_643_737_000_000_005,
        };
        let l = line(&m);
        let (time, rest) = l.split_once(' ').unwrap();
        assert_eq!(rest, "container start abc (image=bb:latest, name=web)");
        assert!(time.contains(".000000005"), "{time}");
    }
}
