use std::path::Path;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    if a.force {
        // Kill them all first: a container's namespaces take the kernel a
        // while to tear down, and this lets those teardowns overlap.
        for c in &a.containers {
            let _ = engine.kill_container(c, 9);
        }
    }
    let mut code = 0;
    for c in &a.containers {
        match engine.remove_container(c, a.force, a.volumes) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
