mod tty;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_engine::{BuildOptions, BuildProgress, BuildSecret, ClassicOutput, RegistryOptions};

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
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Set type of progress output (auto, plain, tty). Use plain to show
    /// container output
    #[arg(long, default_value = "auto", value_parser = ["auto", "plain", "tty"])]
    progress: String,
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
    /// (default: the default bridge; none or host)
    #[arg(long, default_value = "default")]
    network: String,
    /// Secret to expose to the build: id=mysecret[,src=/local/secret]
    /// or id=mysecret,env=VAR
    #[arg(long)]
    secret: Vec<String>,
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

/// `--secret id=ID[,type=file|env][,src=PATH][,env=VAR]`, read as docker's
/// buildx reads it: with neither `src` nor `env`, the variable named by the
/// id if it is set, else the file. A variable that is not set gives no
/// secret (a RUN that requires it fails); a file that cannot be read fails
/// now.
fn secrets(given: &[String]) -> Result<BTreeMap<String, BuildSecret>> {
    let mut secrets = BTreeMap::new();
    for spec in given {
        let (mut id, mut kind, mut src, mut env) = (None, None, None, None);
        for field in spec.split(',') {
            let Some((key, value)) = field.split_once('=') else {
                bail!("invalid secret {spec:?}: field '{field}' must be a key=value pair");
            };
            match key.to_lowercase().as_str() {
                "type" if matches!(value, "file" | "env") => kind = Some(value.to_string()),
                "type" => bail!("invalid secret {spec:?}: unsupported secret type {value:?}"),
                "id" => id = Some(value.to_string()),
                "source" | "src" => src = Some(value.to_string()),
                "env" => env = Some(value.to_string()),
                other => bail!("invalid secret {spec:?}: unexpected key '{other}' in '{field}'"),
            }
        }
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            bail!("invalid secret {spec:?}: secret ID missing");
        };
        if kind.as_deref() == Some("env") && env.is_none() {
            env = src.take();
        }
        if src.is_some() && env.is_some() {
            bail!("invalid secret {spec:?}: cannot use both file and env secret sources");
        }
        if src.is_none() && env.is_none() {
            if std::env::var_os(&id).is_some() {
                env = Some(id.clone());
            } else {
                src = Some(id.clone());
            }
        }
        if let Some(var) = env {
            if let Some(value) = std::env::var_os(&var) {
                secrets.insert(id, BuildSecret::new(value.into_encoded_bytes()));
            }
        } else if let Some(path) = src {
            let value =
                std::fs::read(&path).with_context(|| format!("read secret {id} from {path}"))?;
            secrets.insert(id, BuildSecret::new(value));
        }
    }
    Ok(secrets)
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

/// `--progress`: the live view when asked for, or with `auto` when standard
/// output and error are both terminals, so a script capturing either gets
/// docker's classic lines; `-q` shows nothing.
fn progress_display(quiet: bool, mode: &str) -> Result<Box<dyn BuildProgress>> {
    let terminal = std::io::stderr().is_terminal();
    Ok(match mode {
        _ if quiet => Box::new(ClassicOutput::new(std::io::sink())),
        "tty" if !terminal => bail!("--progress tty: standard error is not a terminal"),
        "tty" => Box::new(tty::LiveView::new()),
        "auto" if terminal && std::io::stdout().is_terminal() => Box::new(tty::LiveView::new()),
        _ => Box::new(ClassicOutput::new(std::io::stdout())),
    })
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    if !matches!(a.network.as_str(), "default" | "bridge" | "none" | "host") {
        bail!(
            "network {:?} is not supported for RUN steps: use default, bridge, none or host",
            a.network
        );
    }
    if !a.path.is_dir() {
        bail!("unable to prepare context: path {:?} not found", a.path);
    }
    let (dockerfile, dockerfile_name, dockerfile_path) =
        read_dockerfile(&a.path, a.file.as_deref())?;
    let secrets = secrets(&a.secret)?;
    let labels = a
        .label
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    let progress = progress_display(a.quiet, &a.progress)?;
    let mut engine = super::open(root)?;
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
            pull: a.pull,
            secrets,
            registry: RegistryOptions::default(),
        },
        progress.as_ref(),
    )?;
    // The live view clears itself before the final lines.
    drop(progress);
    if let Some(file) = &a.iidfile {
        std::fs::write(file, id.to_string())
            .with_context(|| format!("write the image ID to {}", file.display()))?;
    }
    // Otherwise the progress display printed "Successfully built ...".
    if a.quiet {
        println!("{id}");
    }
    Ok(0)
}
