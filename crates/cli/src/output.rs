//! Where `save` and `export` write their archives.

use std::fs;
use std::io::{BufWriter, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Writes an archive to `-o FILE` or to standard output. A file is written
/// beside its destination, synced and renamed at the end, so a failure
/// never leaves a truncated archive under that name; standard output must
/// not be a terminal (docker's rule and wording).
pub fn write_archive(
    output: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    match output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("create a file in {}", dir.display()))?;
            let mut w = BufWriter::new(tmp.as_file());
            write(&mut w)?;
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
            let mut w = BufWriter::new(std::io::stdout().lock());
            write(&mut w)?;
            w.flush().context("write archive to standard output")?;
        }
    }
    Ok(())
}
