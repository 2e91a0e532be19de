//! `completion bash|zsh|fish`: a shell completion script for berth's
//! commands and flags, as `docker completion` prints one (clap_complete
//! writes it from the same definitions the parser uses).

use std::io::Write;

use anyhow::{Context, Result};
use clap_complete::Shell;

#[derive(clap::Args)]
pub struct Args {
    /// The shell to complete in
    shell: CompletionShell,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// Prints the script for `berth`, whose definition is `command`.
pub fn run(a: Args, mut command: clap::Command) -> Result<u8> {
    let shell = match a.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    // Into memory first: clap_complete panics when its writer fails, and
    // a script piped into `head` is no error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "berth", &mut script);
    match std::io::stdout().write_all(&script) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        written => written.map(|()| 0).context("write the completion script"),
    }
}
