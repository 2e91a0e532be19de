use std::fs;
use std::io::{BufWriter, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut engine = super::open(root)?;
    match &a.output {
        Some(path) => {
            // Written beside the destination and renamed at the end, so a
            // failed export never leaves a truncated archive under that name.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("create a file in {}", dir.display()))?;
            let w = engine.export_container(&a.container, BufWriter::new(tmp.as_file()))?;
            w.into_inner()
                .map_err(|e| e.into_error())
                .context("write archive")?
                .sync_all()
                .context("sync archive")?;
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
                .context("set archive permissions")?;
            tmp.persist(path)
                .with_context(|| format!("write {}", path.display()))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut w =
                engine.export_container(&a.container, BufWriter::new(std::io::stdout().lock()))?;
            w.flush().context("write archive to standard output")?;
        }
    }
    Ok(0)
}
