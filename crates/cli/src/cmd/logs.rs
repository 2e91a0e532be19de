use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;

use anyhow::Result;
use berth_engine::{LogStream, LogsOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since timestamp or relative (e.g. 42m)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp or relative (e.g. 42m)
    #[arg(long)]
    until: Option<String>,
    container: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let tail = if a.tail == "all" {
        None
    } else {
        Some(
            a.tail
                .parse::<usize>()
                .map_err(|_| anyhow::anyhow!("invalid --tail value {:?}", a.tail))?,
        )
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let opts = LogsOptions {
        tail,
        since: a.since,
        until: a.until,
        timestamps: a.timestamps,
        follow: a.follow,
    };
    engine.container_logs(&a.container, &opts, &mut |stream, bytes| {
        let _ = match stream {
            LogStream::Stdout => out.write_all(bytes),
            LogStream::Stderr => err.write_all(bytes),
        };
        ControlFlow::Continue(())
    })?;
    Ok(0)
}
