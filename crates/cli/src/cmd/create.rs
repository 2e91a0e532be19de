use std::path::Path;

use anyhow::Result;

pub fn run(root: &Path, a: super::run::CreateArgs) -> Result<u8> {
    let opts = a.options()?;
    let mut engine = super::open(root)?;
    println!("{}", engine.create_container(a.name.as_deref(), opts)?);
    Ok(0)
}
