//! One module per command.

pub mod attach;
pub mod build;
pub mod builder_prune;
pub mod commit;
pub mod completion;
pub mod container_prune;
pub mod cp;
pub mod create;
pub mod df;
pub mod diff;
pub mod events;
pub mod exec;
pub mod export;
pub mod health_args;
pub mod history;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod login;
pub mod logout;
pub mod logs;
pub mod monitor;
pub mod network;
pub mod pause;
pub mod port;
pub mod prune;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod serve;
pub mod start;
pub mod stats;
pub mod stop;
pub mod system_prune;
pub mod tag;
pub mod top;
pub mod version;
pub mod volume;
pub mod wait;

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, Result};
use berth_engine::Engine;

pub fn open(root: &Path) -> Result<Engine> {
    Engine::open(root).with_context(|| format!("open berth state at {}", root.display()))
}

/// Asks docker's `Are you sure you want to continue? [y/N]` after
/// `warning` (which ends in the space or newline docker puts there); true
/// for a yes.
pub fn confirm(warning: &str) -> Result<bool> {
    print!("{warning}Are you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}
