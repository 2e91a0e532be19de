use std::path::Path;

use anyhow::{Context, Result};
use berth_engine::CommitOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    // docker's boolean flag: `-p`/`--pause` alone mean true, `--pause=false`
    // turns it off (a separate `false` word is the container, as in docker).
    #[arg(
        short,
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pause: bool,
    #[arg(value_name = "CONTAINER")]
    container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let id = engine
        .commit_container(
            &a.container,
            CommitOptions {
                reference: a.reference,
                author: a.author,
                message: a.message,
                changes: a.change,
                pause: a.pause,
            },
        )
        .with_context(|| format!("commit {}", a.container))?;
    println!("{id}");
    Ok(0)
}
