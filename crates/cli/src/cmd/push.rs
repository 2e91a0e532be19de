use std::path::Path;

use anyhow::{Context, Result};
use berth_engine::{PushOptions, RegistryOptions};

use crate::progress;

#[derive(clap::Args)]
pub struct Args {
    /// Push all tagged images in the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Require HTTPS and verify certificates (false: plain HTTP or unverified TLS, as podman)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tls_verify: bool,
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let progress = progress::for_output(a.quiet);
    let opts = PushOptions {
        all_tags: a.all_tags,
        registry: RegistryOptions {
            tls_verify: a.tls_verify,
            ..RegistryOptions::default()
        },
    };
    let pushed = engine
        .push(&a.name, &opts, progress.as_ref())
        .with_context(|| format!("push {}", a.name))?;
    // Quiet output is only the digests, one per pushed tag, for scripts.
    if a.quiet {
        for p in pushed {
            println!("{}", p.digest);
        }
    }
    Ok(0)
}
