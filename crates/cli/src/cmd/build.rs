use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_engine::BuildOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short, long = "tag")]
    tag: Vec<String>,
    /// Name of the Dockerfile (Default is 'PATH/Dockerfile')
    #[arg(short, long)]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Set metadata for an image
    #[arg(long)]
    label: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    /// (berth: none (default) or host)
    #[arg(long, default_value = "none")]
    network: String,
    #[arg(value_name = "PATH")]
    path: PathBuf,
}

/// `--build-arg K=V`; a bare `K` takes this process's value, as docker does.
fn build_args(given: &[String]) -> BTreeMap<String, String> {
    given
        .iter()
        .filter_map(|arg| match arg.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(arg).ok().map(|v| (arg.clone(), v)),
        })
        .collect()
}

fn read_dockerfile(
    context: &Path,
    file: Option<&str>,
) -> Result<(String, String, Option<PathBuf>)> {
    match file {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("read the Dockerfile from standard input")?;
            Ok((text, "Dockerfile".into(), None))
        }
        _ => {
            let path = match file {
                Some(f) => PathBuf::from(f),
                None => context.join("Dockerfile"),
            };
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read Dockerfile {}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "Dockerfile".into());
            Ok((text, name, Some(path)))
        }
    }
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    if !matches!(a.network.as_str(), "none" | "host") {
        bail!(
            "network {:?} is not supported: use --network none or --network host",
            a.network
        );
    }
    if !a.path.is_dir() {
        bail!("unable to prepare context: path {:?} not found", a.path);
    }
    let (dockerfile, dockerfile_name, dockerfile_path) =
        read_dockerfile(&a.path, a.file.as_deref())?;
    let labels = a
        .label
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    let run_output = if a.quiet {
        None
    } else {
        Some(
            std::io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .context("duplicate standard output")?,
        )
    };
    let mut engine = super::open(root)?;
    let mut progress: Box<dyn Write> = if a.quiet {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stdout())
    };
    let id = engine.build(
        BuildOptions {
            context: a.path.clone(),
            dockerfile,
            dockerfile_name,
            dockerfile_path,
            tags: a.tag.clone(),
            build_args: build_args(&a.build_arg),
            target: a.target,
            no_cache: a.no_cache,
            labels,
            network: a.network,
            run_output,
        },
        &mut progress,
    )?;
    if let Some(file) = &a.iidfile {
        std::fs::write(file, id.to_string())
            .with_context(|| format!("write the image ID to {}", file.display()))?;
    }
    if a.quiet {
        println!("{id}");
    } else {
        let hex = id.to_string();
        println!(
            "Successfully built {}",
            &hex.trim_start_matches("sha256:")[..12]
        );
        for tag in &a.tag {
            println!("Successfully tagged {tag}");
        }
    }
    Ok(0)
}
