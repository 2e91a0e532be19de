use std::path::Path;

use anyhow::Result;

use crate::format::print_inspect;

#[derive(clap::Args)]
pub struct Args {
    /// Format output using a Go template or "json"
    #[arg(short, long)]
    format: Option<String>,
    /// Return JSON for the specified type only (container, image or volume)
    #[arg(long = "type", value_parser = ["container", "image", "volume"])]
    kind: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// Prints what could be found, then fails if anything could not: docker's
/// behaviour, so `inspect a b` still shows `a` when `b` is missing.
pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for name in &a.images {
        let found = match a.kind.as_deref() {
            Some("image") => engine.inspect_image(name),
            Some("volume") => engine.inspect_volume(name),
            Some(_) => engine.inspect_container(name),
            // docker looks for a container first, then an image, then a
            // volume; the error is the image's.
            None => engine.inspect_container(name).or_else(|_| {
                engine
                    .inspect_image(name)
                    .or_else(|e| engine.inspect_volume(name).map_err(|_| e))
            }),
        };
        match found {
            Ok(v) => values.push(v),
            Err(e) => errors.push(e),
        }
    }
    if !values.is_empty() || errors.is_empty() {
        print_inspect(a.format.as_deref(), &values)?;
    }
    for e in &errors {
        eprintln!("Error: {e}");
    }
    Ok(u8::from(!errors.is_empty()))
}
