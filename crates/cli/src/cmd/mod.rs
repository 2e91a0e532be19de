//! One module per command.

pub mod df;
pub mod history;
pub mod images;
pub mod import;
pub mod inspect;
pub mod load;
pub mod login;
pub mod logout;
pub mod prune;
pub mod pull;
pub mod push;
pub mod rmi;
pub mod save;
pub mod tag;

use std::path::Path;

use anyhow::{Context, Result};
use berth_engine::Engine;

pub fn open(root: &Path) -> Result<Engine> {
    Engine::open(root).with_context(|| format!("open berth state at {}", root.display()))
}
