use std::path::Path;

use anyhow::Result;
use berth_engine::VolumeOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_parser = super::key_value)]
    labels: Vec<(String, String)>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_parser = super::option)]
    opts: Vec<(String, String)>,
    /// Specify volume name
    #[arg(long = "name", hide = true)]
    name_flag: Option<String>,
    #[arg(value_name = "VOLUME")]
    name: Option<String>,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    if let (Some(flag), Some(arg)) = (&a.name_flag, &a.name) {
        if flag != arg {
            anyhow::bail!(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg"
            );
        }
    }
    let mut engine = super::super::open(root)?;
    let volume = engine.create_volume(VolumeOptions {
        name: a.name.or(a.name_flag),
        driver: Some(a.driver),
        options: a.opts.into_iter().collect(),
        labels: a.labels.into_iter().collect(),
    })?;
    println!("{}", volume.name);
    Ok(0)
}
