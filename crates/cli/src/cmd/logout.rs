use std::path::Path;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Registry host; Docker Hub when omitted
    server: Option<String>,
}

pub fn run(_root: &Path, a: Args) -> Result<u8> {
    let server = a.server.unwrap_or_else(|| "docker.io".to_string());
    if berth_engine::logout(&server)? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}
