use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_engine::{CopyIn, CopyOptions, CopyOut};

use crate::format::human_size;

#[derive(clap::Args)]
pub struct Args {
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Suppress progress output during copy. Progress output is
    /// automatically suppressed if no terminal is attached
    #[arg(short, long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH, SRC_PATH or -
    #[arg(value_name = "SRC")]
    source: String,
    /// DEST_PATH, - or CONTAINER:DEST_PATH
    #[arg(value_name = "DEST")]
    destination: String,
}

/// Docker's reading of a `cp` argument: `CONTAINER:PATH`, unless it is an
/// absolute path or starts with `.` (so `./a:b` is a local file).
fn split_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((container, path)) if !container.is_empty() && !container.starts_with('.') => {
            (Some(container), path)
        }
        _ => (None, arg),
    }
}

/// A local path made absolute, keeping a trailing `/` or `/.`, which
/// docker's rules read.
fn local_path(p: &str) -> Result<PathBuf> {
    let p = Path::new(p);
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("find the current directory")?
        .join(p))
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    if a.source.is_empty() {
        bail!("source can not be empty");
    }
    if a.destination.is_empty() {
        bail!("destination can not be empty");
    }
    let opts = CopyOptions {
        follow_link: a.follow_link,
        archive: a.archive,
    };
    let (from, src) = split_arg(&a.source);
    let (to, dest) = split_arg(&a.destination);
    let copied = match (from, to) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some(container), None) if dest == "-" => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            super::open(root)?.copy_from_container(
                container,
                src,
                CopyOut::Tar(&mut out),
                &opts,
            )?;
            out.flush().context("write to standard output")?;
            return Ok(0);
        }
        (Some(container), None) => super::open(root)?.copy_from_container(
            container,
            src,
            CopyOut::Path(&local_path(dest)?),
            &opts,
        )?,
        (None, Some(container)) if src == "-" => {
            let mut input = std::io::stdin().lock();
            super::open(root)?.copy_to_container(container, CopyIn::Tar(&mut input), dest, &opts)?
        }
        (None, Some(container)) => super::open(root)?.copy_to_container(
            container,
            CopyIn::Path(&local_path(src)?),
            dest,
            &opts,
        )?,
    };
    // Docker reports on standard error, and only to a terminal unless -q.
    if !a.quiet && std::io::stdout().is_terminal() {
        eprintln!(
            "Successfully copied {} to {}",
            human_size(copied.size),
            copied.destination
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_as_docker_splits_them() {
        assert_eq!(split_arg("c1:/etc/passwd"), (Some("c1"), "/etc/passwd"));
        assert_eq!(split_arg("c1:etc"), (Some("c1"), "etc"));
        assert_eq!(split_arg("c1:"), (Some("c1"), ""));
        assert_eq!(split_arg("/tmp/a:b"), (None, "/tmp/a:b"));
        assert_eq!(split_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_arg("file"), (None, "file"));
        assert_eq!(split_arg("-"), (None, "-"));
    }

    #[test]
    fn local_paths_keep_a_trailing_slash_or_dot() {
        assert!(local_path("dir/.")
            .unwrap()
            .to_string_lossy()
            .ends_with("/dir/."));
        assert!(local_path("dir/")
            .unwrap()
            .to_string_lossy()
            .ends_with("/dir/"));
        assert_eq!(local_path("/abs").unwrap(), PathBuf::from("/abs"));
    }
}
