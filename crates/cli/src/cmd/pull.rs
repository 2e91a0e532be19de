use std::path::Path;

use anyhow::{Context, Result};
use berth_engine::{PullOptions, RegistryOptions};

use crate::progress;

#[derive(clap::Args)]
pub struct Args {
    /// Download all tagged images in the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Require HTTPS and verify certificates (false: plain HTTP or unverified TLS, as podman)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tls_verify: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let progress = progress::for_output(a.quiet);
    let opts = PullOptions {
        platform: a.platform,
        all_tags: a.all_tags,
        registry: RegistryOptions {
            tls_verify: a.tls_verify,
            ..RegistryOptions::default()
        },
    };
    let pulled = engine
        .pull(&a.name, &opts, progress.as_ref())
        .with_context(|| format!("pull {}", a.name))?;
    // Status lines go through the progress display so they land below
    // its bars; the names are printed once the bars are done.
    for p in &pulled {
        if p.up_to_date {
            progress.message(&format!("Status: Image is up to date for {}", p.name));
        } else {
            progress.message(&format!("Status: Downloaded newer image for {}", p.name));
        }
    }
    drop(progress);
    for p in &pulled {
        println!("{}", p.full_name);
    }
    Ok(0)
}
