use std::path::Path;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let mut code = 0;
    for c in &a.containers {
        match engine.wait_container(c, None) {
            Ok(exit) => println!("{}", exit.unwrap_or(0)),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
